"""Normalise the text of a written answer before the grammar reads it, noting every liberty.

The rules are the ones a reader applies without thinking: `$` and `\\left` are layout, `x`
between operands is ×, `[ ]` and `\\{ \\}` are brackets, the answer is the right-hand side of
the last `=`, and words after the formula ("for ∀ i = 1 … k") are not part of it. Each rule
that changes what was written leaves a `Note`; a rule that guesses (`lossy`) makes an answer
that matches nothing go to a person instead of being scored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Note:
    """One liberty taken while reading; `lossy` when the reading may not be what was meant."""

    text: str
    lossy: bool = False


UNICODE = {
    "×": r" \times ", "·": r" \cdot ", "⋅": r" \cdot ", "∙": r" \cdot ", "−": "-", "–": "-", "—": "-",
    "δ": r"\delta ", "Σ": r"\sum ", "∑": r"\sum ", "²": "^{2}", "³": "^{3}", "≠": r" \neq ", "∀": r" \forall ",
    "…": r" \dots ", "⋯": r" \cdots ", "⋮": r" \vdots ", "ŷ": r"\hat{y}", "ᵀ": "^{T}", "∘": "o", "°": "o",
    "ᵢ": "_{i}", "ₖ": "_{k}", "ⱼ": "_{j}", "\u00a0": " ",
}
#: Layout only: removed.
LAYOUT = re.compile(r"\$|(?<!\\)\\[,;:! ]|\\left\s*\.|\\right\s*\.|\\left|\\right|\\[bB]igg?[lr]?|\\displaystyle|~|\\limits")
#: Commands whose argument is the content: `\mathrm{Zi}` is Zi, `\text{diag}` is diag.
WRAPPERS = re.compile(r"\\(?:text|textrm|textit|textbf|mathrm|mathit|mathbf|boldsymbol|bm|operatorname|mathsf)\s*\{([^{}]*)\}")
HTML_SCRIPTS = re.compile(r"<(sup|sub)>(.*?)</\1>", re.IGNORECASE)
ENVIRONMENT = re.compile(r"\\(begin|end)\s*\{\s*(cases|[bBpvV]?matrix|array|aligned)\s*\}(\{[^{}]*\})?")
#: Function names, whichever case the student wrote them in.
FUNCTION_WORDS = ("softmax", "diag", "exp", "log", "ln", "sqrt")
FUNCTION_WORD = re.compile(r"(?<![A-Za-z])\\?(" + "|".join(FUNCTION_WORDS) + r")(?![A-Za-z])", re.IGNORECASE)
#: Words that start prose after a formula; inside a cases environment "if"/"otherwise" are kept.
PROSE = re.compile(r"\\q?quad|\\forall|\\text\b|\\in\b|(?<![A-Za-z\\])(?:for|where|since|with|when|as|from|and|"
                   r"because|which|i\.e|assuming|here|is|are|the|each|all|every)(?![A-Za-z])", re.IGNORECASE)
PROSE_CASES = re.compile(r"^(?P<first>.+?)\s*(?:,\s*)?\bif\b\s*(?P<condition>[^,;]+?)\s*[,;]\s*(?:and\s+)?"
                         r"(?P<second>.+?)\s*(?:,\s*)?\b(?:otherwise|else)\b\.?\s*$", re.IGNORECASE)
X_RUN = re.compile(r"(?<![\\A-Za-z])[A-Za-z]+")
DOT_PRODUCT = re.compile(r"(?<=[A-Za-z0-9)}])\.(?=[A-Za-z({\\])|(?<=[A-Za-z)}])\.(?=[0-9])")
#: A parenthesised superscript is a label, not a power: n^{(o)} is "n out", h^{(l)} layer l's h.
LABEL = re.compile(r"\^\s*\{\s*\(\s*([A-Za-z0-9]+)\s*\)\s*\}|\^\s*\(\s*([A-Za-z]+)\s*\)")
#: Longest formula read at all: a page of LaTeX is ~2,000 characters; a student's 5 MB line is no formula.
MAX_LENGTH = 2_000


def replace_unicode(text: str) -> str:
    return "".join(UNICODE.get(character, character) for character in text)


def unwrap(text: str) -> str:
    """`\\text{...}`-like wrappers replaced by their content, innermost first."""
    for _ in range(10):
        unwrapped = WRAPPERS.sub(lambda match: f" {match.group(1)} ", text)
        if unwrapped == text:
            break
        text = unwrapped
    return text


def times_for_x(text: str, notes: list[Note]) -> str:
    """`x` between operands is multiplication in this problem set (no variable is called x)."""
    found = False

    def split(match: re.Match[str]) -> str:
        nonlocal found
        run = match.group(0)
        if run.lower() in FUNCTION_WORDS or run.lower() in ("begin", "end", "otherwise", "else", "if", "matrix", "cases"):
            return run
        if run == "X" or ("x" in run and not run.startswith("exp")):
            found = True
            return re.sub(r"x|^X$", r" \\times ", run)
        return run

    text = X_RUN.sub(split, text)
    if found:
        notes.append(Note("read x between operands as ×"))
    return text


def top_level_parts(text: str, separator: str) -> list[str]:
    """`text` split on `separator` where no bracket or environment is open."""
    parts, depth, start, index = [], 0, 0, 0
    while index < len(text):
        character = text[index]
        if character in "({[" or text.startswith(r"\begin", index):
            depth += 1
        elif character in ")}]" or text.startswith(r"\end", index):
            depth -= 1
        elif depth == 0 and text.startswith(separator, index) and text[index - 1:index] not in ("<", ">", "!", "\\"):
            parts.append(text[start:index])
            start = index + len(separator)
        index += 1
    parts.append(text[start:])
    return parts


def cut_prose(text: str, notes: list[Note]) -> str:
    """The formula without the words after it ("for ∀ i = 1 … k", "\\quad where ...")."""
    depth_environment = 0
    for match in PROSE.finditer(text):
        before = text[:match.start()]
        depth_environment = before.count(r"\begin") - before.count(r"\end")
        if depth_environment > 0 or before.count("{") > before.count("}"):
            continue  # "if"/"for" inside a cases environment or a subscript is no trailing text
        if not before.strip():
            continue
        dropped = " ".join(text[match.start():].split())
        notes.append(Note(f"dropped the trailing text {dropped[:80]!r}"))
        return before.rstrip(" ,;.")
    return text


def prose_cases(text: str, notes: list[Note]) -> str:
    """"p_i(1-p_i) if i = k, -p_i p_k otherwise" as a cases environment."""
    match = PROSE_CASES.match(text.strip())
    if match is None:
        return text
    notes.append(Note("read the case split written in words as cases"))
    return (rf"\begin{{cases}} {match.group('first')} & {match.group('condition')} \\ "
            rf"{match.group('second')} & otherwise \end{{cases}}")


def right_hand_side(text: str, notes: list[Note]) -> str:
    """The answer is what follows the last top-level `=` ("J = diag(p) - pp^T" is diag(p) - pp^T)."""
    parts = top_level_parts(text, "=")
    if len(parts) == 1:
        return text
    answer = next((part for part in reversed(parts) if part.strip()), "")
    if answer.strip() and any(part.strip() for part in parts[:-1]):
        notes.append(Note(f"read the right-hand side of {parts[0].strip()[:40]!r} = ..."))
    return answer


def prepare(raw: str) -> tuple[str, list[Note]]:
    """The text of one answer ready for the grammar, and the notes of what was changed."""
    notes: list[Note] = []
    text = replace_unicode(raw)
    text = HTML_SCRIPTS.sub(lambda match: ("^{" if match.group(1).lower() == "sup" else "_{") + match.group(2) + "}", text)
    text = ENVIRONMENT.sub(lambda match: " \\" + match.group(1) + "{" + ("cases" if match.group(2) == "cases" else "matrix") + "} ", text)
    text = LAYOUT.sub(" ", text)
    text = re.sub(r"\\[dt]frac", r"\\frac", text).replace(r"\circ", "o").replace(r"\widehat", r"\hat")
    text = text.replace("**", "^").replace(r"\{", "(").replace(r"\}", ")").replace("[", "(").replace("]", ")")
    text = text.replace(r"\lbrack", "(").replace(r"\rbrack", ")").replace(r"\ne ", r"\neq ").replace("!=", r"\neq ")
    text = unwrap(text)
    text = LABEL.sub(lambda match: "_{" + (match.group(1) or match.group(2)) + "}", text)
    text = FUNCTION_WORD.sub(lambda match: f" {match.group(1).lower().replace('ln', 'log')} ", text)
    text = prose_cases(" ".join(text.split()), notes)
    text = cut_prose(text, notes)
    text = right_hand_side(text, notes)
    text = DOT_PRODUCT.sub(r" \\cdot ", text)
    text = times_for_x(text, notes)
    return " ".join(text.split()), notes
