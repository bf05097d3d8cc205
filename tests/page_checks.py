"""What the browser tests measure on a rendered page, and the class they render.

`LAYOUT_PROBLEMS` runs inside Chromium and lists every way a page reads badly: the document wider
than the window, text cut by `overflow: hidden` or an ellipsis, a number wrapped mid-digit
("805258 / 216" on two lines), a header or label word broken ("Expec ted"), the body not in the
intended sans-serif (the escaped stylesheet fell back to a serif font).
"""

from __future__ import annotations

from dataclasses import replace

from grader.models import ExecutionError, ManualItem, RunSummary, SubmissionResult
from tests.sample_results import PROBLEMS, all_correct, ordered, sample_summary, verdict

#: The body font the stylesheet declares; an escaped stylesheet leaves the browser's serif default.
BODY_FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'

LAYOUT_PROBLEMS = r"""
() => {
  const problems = [];
  const describe = (element) => element.tagName.toLowerCase() + (element.id ? "#" + element.id : "")
    + (element.className && typeof element.className === "string" ? "." + element.className.split(" ").join(".") : "");
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) {
    problems.push(`the page is ${root.scrollWidth}px wide in a ${root.clientWidth}px window`);
  }
  const font = getComputedStyle(document.body).fontFamily;
  if (!/sans-serif$/.test(font)) { problems.push(`body font is ${font}`); }
  // Text for screen readers only (clipped to 1px on purpose) is not text cut.
  const forScreenReaders = (element) => {
    for (let node = element; node; node = node.parentElement) {
      if (getComputedStyle(node).clip !== "auto") { return true; }
    }
    return false;
  };
  const shown = (element) => element.getClientRects().length > 0 && !forScreenReaders(element);
  for (const element of document.querySelectorAll("body *")) {
    if (!shown(element) || !element.textContent.trim()) { continue; }
    const style = getComputedStyle(element);
    const clips = ["hidden", "clip"].includes(style.overflowX) || style.textOverflow === "ellipsis";
    if (clips && element.scrollWidth > element.clientWidth + 1) {
      problems.push(`text cut in ${describe(element)}: "${element.textContent.trim().slice(0, 40)}"`);
    }
  }
  // Does the text from `start` to `end` of `node` sit on more than one line?
  const range = document.createRange();
  const wraps = (node, start, end) => {
    range.setStart(node, start);
    range.setEnd(node, end);
    const rects = Array.from(range.getClientRects()).filter((rect) => rect.width > 0);
    return rects.some((rect) => Math.abs(rect.top - rects[0].top) > rects[0].height / 2);
  };
  const numbers = /(?<![\w.,])\d+(?:[.,]\d+)*(?: \/ \d+(?:[.,]\d+)*)?(?![\w])/g;
  // A word ends at a space, a hyphen or a slash (lines may break there); longer tokens (ids,
  // paths, digests) may break anywhere to fit.
  const words = /(?<![^\s\-–—\/])[^\s\-–—\/]{1,20}(?![^\s\-–—\/])/g;
  const labels = "th, h1, h2, h3, dt, caption, summary, .tick, .legend, .problem-figures, .problem-name, .share, .status";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const parent = node.parentElement;
    if (!parent || !shown(parent) || parent.closest("script, style, pre")) { continue; }
    for (const match of node.data.matchAll(numbers)) {
      if (wraps(node, match.index, match.index + match[0].length)) {
        problems.push(`number wrapped in ${describe(parent)}: "${match[0]}"`);
      }
    }
    if (!parent.closest(labels)) { continue; }
    for (const match of node.data.matchAll(words)) {
      if (wraps(node, match.index, match.index + match[0].length)) {
        problems.push(`word broken in ${describe(parent)}: "${match[0]}"`);
      }
    }
  }
  return problems;
}
"""

#: Each tick label's box: labels that overlap ran together ("80–8990–100").
TICK_BOXES = """
() => Array.from(document.querySelectorAll("#histogram .tick")).map((tick) => {
  const box = tick.getBoundingClientRect();
  return [tick.textContent, box.left, box.right];
})
"""

#: The written answer of the showcase student: Markdown with inline and display math.
MATH_PROOF = (
    "**Claim.** For any $z \\in \\mathbb{R}^K$, $p_i = e^{z_i} / \\sum_k e^{z_k}$ is a distribution.\n\n"
    "**Proof.** Each term is positive, and\n\n$$\\sum_i p_i = \\frac{1}{S}\\sum_i e^{z_i} = 1.$$\n\n"
    "An injected $\\text{<script>alert(1)</script>}$ is dropped, and $\\text{if x<0}$ stays."
)


def showcase_summary() -> RunSummary:
    """The sample class plus two students a page must show well: every way code fails to run,
    one note repeated 23 times, a written proof with math, and an answer awaiting review."""
    sample = sample_summary()
    memory = ExecutionError("memory", "mlp_params used more than 2048 MiB")
    exception = ExecutionError("exception", "TypeError: unsupported operand type(s)", exception_type="TypeError")
    floats = [f"returned {value}.0, a float; counts are integers" for value in range(6, 29)]
    hana = SubmissionResult(
        "hana",
        ordered([
            verdict("p1", "error", 0.0, error=memory, passed=0),
            verdict("p2", "error", 0.0, error=exception, passed=0),
            verdict("p3a", "correct", 10.0, notes=floats),
            *all_correct("p1", "p2", "p3a"),
        ]),
        (ManualItem("p3a-proof", "3(a) proof: softmax is a probability distribution", 10.0, None, "", MATH_PROOF),),
        isolation=sample.isolation,
    )
    review = verdict("p1", "correct", 0.0, explanation="wrote “n(h+1) + L h^2”; best reading: (L − 1)(h² + h) + …")
    ivan = SubmissionResult(
        "ivan",
        ordered([replace(review, status="review"), *all_correct("p1")]),  # the formulas part's new status
        isolation=sample.isolation,
    )
    assert set(PROBLEMS) == {item.problem_id for item in hana.verdicts}
    return RunSummary(sample.rubric, sample.seed, (*sample.results, hana, ivan), sample.isolation,
                      sample.warnings, sample.started, extra=sample.extra)
