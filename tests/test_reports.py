"""results.json data, class statistics and the HTML site, including a real headless browser."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from grader.errors import GraderError
from grader.models import ERROR_KINDS, ExecutionError, FailingCase, RunSummary, SubmissionResult, Verdict
from grader.outputs.reports.formatting import grouped_notes
from grader.outputs.reports.html import TEMPLATES, render_site
from grader.outputs.reports.outcomes import outcome_of
from grader.outputs.reports.written import written_answer_html
from grader.outputs.reports.serialize import result_from_data, result_to_data, summary_from_data, summary_to_data
from grader.outputs.reports.statistics import dashboard, student_file_name
from tests.page_checks import BODY_FONT, LAYOUT_PROBLEMS, MATH_PROOF, TICK_BOXES, showcase_summary
from tests.sample_results import OVERFLOW_CASE, sample_class, sample_summary, verdict


def strict_loads(text: str) -> object:
    """json.loads that rejects bare NaN/Infinity, as JavaScript's JSON.parse does."""
    def refuse(name: str) -> None:
        raise ValueError(f"non-strict JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def test_every_sample_result_round_trips_through_strict_json() -> None:
    for result in sample_class():
        data = strict_loads(json.dumps(result_to_data(result), allow_nan=False))
        again = result_from_data(data)
        assert result_to_data(again) == data
        assert again.total == result.total and again.max_score == result.max_score


def test_round_trip_keeps_every_field_of_a_verdict() -> None:
    bob = sample_class()[1]
    again = result_from_data(strict_loads(json.dumps(result_to_data(bob))))
    # Equal dataclasses except for the NaN inside the overflow case's "got".
    assert again.verdicts[:2] == bob.verdicts[:2]
    assert again.manual == bob.manual and again.isolation == bob.isolation and again.digest == bob.digest
    got = again.verdicts[2].failing[0].got
    assert math.isnan(got[2]) and got[:2] == [0.0, 0.0]


def test_arrays_and_non_finite_values_become_strict_json() -> None:
    case = FailingCase(
        arguments={"z": np.array([1.0, 757.0, -np.inf])},
        expected=np.array([[np.nan, np.inf]]),
        got=np.float64(-np.inf),
        tag="stress",
        replay="grader check .",
    )
    result = SubmissionResult("x", (verdict("p3a", "incorrect", 0.0, failing=[case]),))
    data = result_to_data(result)
    failing = data["problems"][0]["failing"][0]
    assert failing["arguments"] == {"z": [1.0, 757.0, "-Infinity"]}
    assert failing["expected"] == [["NaN", "Infinity"]]
    assert failing["got"] == "-Infinity"
    restored = result_from_data(strict_loads(json.dumps(data, allow_nan=False))).verdicts[0].failing[0]
    assert restored.got == -math.inf and math.isnan(restored.expected[0][0])


def test_results_json_follows_the_design_schema() -> None:
    data = strict_loads(json.dumps(summary_to_data(sample_summary()), allow_nan=False))
    assert set(data) >= {"rubric", "seed", "submissions"}
    bob = data["submissions"][1]
    assert {key: bob[key] for key in ("id", "total", "max", "error")} == {"id": "bob", "total": 42.5, "max": 60.0, "error": None}
    p1 = bob["problems"][0]
    assert {key: p1[key] for key in ("id", "status", "score", "max", "function", "misconceptions", "cases")} == {
        "id": "p1", "status": "partial", "score": 7.5, "max": 10.0, "function": "mlp_params",
        "misconceptions": ["input-as-layer"], "cases": {"passed": 2, "total": 20},
    }
    assert data["submissions"][5]["error"]["kind"] == "unreadable"
    assert data["submissions"][3]["problems"][4]["error"]["kind"] == "timeout"
    assert result_to_data(summary_from_data(data).results[1]) == bob


def test_dashboard_counts_mistakes_clusters_and_statuses() -> None:
    board = dashboard(sample_summary())
    first = board.misconceptions[0]
    assert (first.misconception_id, first.count, first.percent_text) == ("fc-F-minus-2", 3, "38%")
    assert first.sentence == "38% of students (3 of 8) counted F − 2 FC transitions in p2."
    assert [student for student, _ in first.students] == ["bob", "carol", "grace"]
    (cluster,) = board.clusters
    assert cluster.sentence == "2 students share this unexplained answer to p1."
    assert [student for student, _ in cluster.students] == ["dave", "erin"]
    p1 = board.problems[0]
    assert {count.tone: count.count for count in p1.counts} == {
        "correct": 4, "partial": 1, "incorrect": 2, "missing": 1, "error": 0}
    assert p1.pass_rate_text == "50%"
    assert sum(int(item.count_text or 0) for item in board.histogram.bins) == 8
    assert board.histogram.bins[0].count_text == "1"  # frank, unreadable, scored 0
    numbers = {number.label: (number.value_text, number.detail) for number in board.summary}
    assert numbers["Awaiting a person"] == ("4", "4 manual items")
    assert numbers["Students"] == ("8", "1 could not be read")


@pytest.mark.parametrize("student_id", ["../../index", "a/b", "..", "CON", "<img>", "", "x" * 300, "-rf", "--all"])
def test_student_file_names_stay_in_the_folder(student_id: str) -> None:
    name = student_file_name(student_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.html", name) and len(name) < 100
    assert name != "index.html" and not name.lower().startswith("con.")
    assert not name.startswith("-")  # `rm students/*` would read it as an option


def test_distinct_ids_never_share_a_page() -> None:
    names = [student_file_name(student) for student in ("a/b", "a_b", "a b", "a?b")]
    assert len(set(names)) == 4
    # An id spelled like another's suffixed page name: one student overwrote the other's page.
    taken = student_file_name("dave x").removesuffix(".html")
    assert student_file_name(taken) != student_file_name("dave x")


def test_site_escapes_hostile_output_and_never_leaves_the_folder(tmp_path: Path) -> None:
    hostile = SubmissionResult("../../evil<script>", sample_class()[6].verdicts, stdout="<script>alert(1)</script>")
    summary = sample_summary()
    summary = RunSummary(summary.rubric, summary.seed, (*summary.results, hostile), extra=summary.extra)
    out = tmp_path / "site"
    written = render_site(summary, out)
    assert len(written) == 1 + len(summary.results)
    assert all(path.resolve().is_relative_to(out.resolve()) for path in written)
    assert sorted(path.name for path in (out / "students").iterdir()) == sorted(path.name for path in written[1:])
    for path in written:
        page = path.read_text(encoding="utf-8")
        # The dashboard's own table script is the only one, and student text cannot add another.
        assert page.lower().count("<script") == (1 if path.name == "index.html" else 0)
        assert not re.search(r"(src|href)=\"(https?:)?//", page)  # no CDN, no external font
    grace = (out / "students" / "grace.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in grace
    assert "&lt;img src=x onerror=alert(1)&gt;" in grace
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "../../evil&lt;script&gt;" in index and '<html lang="en">' in index


def test_an_id_with_a_bidi_override_cannot_pass_for_another_on_a_page(tmp_path: Path) -> None:
    # "eve\u202egnp" showed as "evepng" on the pages; the terminal already wrote it out.
    lookalike = SubmissionResult("eve\u202egnp", sample_class()[6].verdicts)
    summary = sample_summary()
    render_site(RunSummary(summary.rubric, summary.seed, (*summary.results, lookalike), extra=summary.extra), tmp_path)
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "\u202e" not in index and "eve\\u202egnp" in index


def test_student_page_shows_mistakes_cases_and_manual_text(tmp_path: Path) -> None:
    render_site(sample_summary(), tmp_path)
    bob = (tmp_path / "students" / "bob.html").read_text(encoding="utf-8")
    assert "counted the input as a layer" in bob and "Use (L − 1)·(h² + h)." in bob
    assert "[0.0, 0.0, NaN, 0.0]" in bob and OVERFLOW_CASE.replay.replace("'", "&#39;").replace('"', "&#34;") in bob
    assert "awaiting a person" in bob and "The proof is a little bit unorthodox" in bob
    alice = (tmp_path / "students" / "alice.html").read_text(encoding="utf-8")
    assert "9 / 10" in alice and "clear and complete" in alice
    dave = (tmp_path / "students" / "dave.html").read_text(encoding="utf-8")
    assert "yours adds 64" in dave and "Timed out: cross_entropy_grad ran past 5 s" in dave


def test_captured_output_is_capped(tmp_path: Path) -> None:
    noisy = SubmissionResult("noisy", sample_class()[0].verdicts, stdout="spam\n" * 100_000)
    render_site(RunSummary({}, 1, (noisy,)), tmp_path)
    page = (tmp_path / "students" / "noisy.html").read_text(encoding="utf-8")
    assert len(page) < 40_000 and "more characters not shown" in page


CHROMIUM = Path("/usr/bin/chromium")
WIDTHS = (1400, 390)


def _save_screenshot(page: object, tmp_path: Path, name: str) -> Path:
    """A full-page screenshot into the test's folder and, with GRADER_SCREENSHOTS=dir, there too."""
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    if folder := os.environ.get("GRADER_SCREENSHOTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / name)
    return path


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """Headless Chromium that may load only local files; asserts afterwards that nothing leaked."""
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium is not installed at /usr/bin/chromium")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-extensions"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _open(browser: object, url: str, width: int, *, scripts: bool = True) -> tuple[object, list[str]]:
    """A page at `url` in a window `width` px wide; the list collects CSP violations and leaks."""
    complaints: list[str] = []
    page = browser.new_page(viewport={"width": width, "height": 900}, java_script_enabled=scripts)  # type: ignore[attr-defined]

    def only_local_files(route: object) -> None:
        if route.request.url.startswith("file://"):  # type: ignore[attr-defined]
            route.continue_()  # type: ignore[attr-defined]
        else:
            complaints.append(f"fetched {route.request.url}")  # type: ignore[attr-defined]
            route.abort()  # type: ignore[attr-defined]

    page.route("**/*", only_local_files)
    page.on("console", lambda message: complaints.append(message.text) if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: complaints.append(f"script error: {error}"))
    page.add_init_script("document.addEventListener('securitypolicyviolation', (event) => "
                         "console.error('Content Security Policy violation: ' + event.violatedDirective));")
    page.goto(url)
    return page, complaints


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
def test_pages_read_well_at_desktop_and_phone_widths(browser: object, tmp_path: Path, width: int) -> None:
    render_site(showcase_summary(), tmp_path / "site")
    for name, url in (("index", tmp_path / "site" / "index.html"), ("hana", tmp_path / "site" / "students" / "hana.html"),
                      ("bob", tmp_path / "site" / "students" / "bob.html")):
        page, complaints = _open(browser, url.as_uri(), width)
        for details in page.locator("details").all():  # folded text must read well too
            details.evaluate("element => { element.open = true; }")
        assert page.evaluate(LAYOUT_PROBLEMS) == [], f"{name} at {width}px"
        assert page.evaluate("getComputedStyle(document.body).fontFamily") == BODY_FONT
        for details in page.locator("details").all():
            details.evaluate("element => { element.open = false; }")
        _save_screenshot(page, tmp_path, f"{name}-{width}.png")
        assert complaints == [], f"{name} at {width}px"
        page.close()
    assert (tmp_path / f"index-{width}.png").stat().st_size > 10_000


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
def test_dashboard_answers_the_three_questions_above_the_fold(browser: object, tmp_path: Path, width: int) -> None:
    render_site(showcase_summary(), tmp_path / "site")
    page, complaints = _open(browser, (tmp_path / "site" / "index.html").as_uri(), width)
    fold = {1400: 900, 390: 3 * 900}[width]  # a phone scrolls; it must not scroll past 33 cards first
    for panel in ("#summary", "#histogram", "#problem-bars", "#mistakes li", "#needs-help li"):
        box = page.locator(panel).first.bounding_box()
        assert box and box["y"] + min(box["height"], 60) < fold, panel
    assert page.locator("#histogram .bins li").count() == 10
    ticks = page.evaluate(TICK_BOXES)
    assert [text for text, _, _ in ticks] == [str(edge) for edge in range(0, 101, 10)]
    assert all(right + 2 <= left for (_, _, right), (_, left, _) in zip(ticks, ticks[1:])), ticks
    assert page.locator("#problem-bars li").count() == 5
    # Every chart label lies inside its panel (an SVG cut "18% full, 18% partia" at its edge).
    outside = page.evaluate("""() => Array.from(document.querySelectorAll("#scores *, #by-problem *"))
      .filter((element) => element.getClientRects().length && getComputedStyle(element).clip === "auto")
      .filter((element) => {
        const box = element.getBoundingClientRect(), panel = element.closest(".panel").getBoundingClientRect();
        return box.left < panel.left - 12 || box.right > panel.right + 12;
      }).map((element) => element.textContent)""")
    assert outside == []
    assert page.locator("#problems-table tbody tr").count() == 5
    assert page.get_by_text("counted F − 2 FC transitions").is_visible()
    help_list = page.locator("#needs-help").inner_text()
    assert "frank" in help_list and "timed out: p3c" in help_list and "out of memory: p1" in help_list
    assert "alice" not in help_list
    assert page.locator("#problems-table th", has_text="Needs review").count() == 1
    assert complaints == []


@pytest.mark.browser
def test_student_table_sorts_and_filters_and_reads_without_its_script(browser: object, tmp_path: Path) -> None:
    render_site(showcase_summary(), tmp_path / "site")
    page, complaints = _open(browser, (tmp_path / "site" / "index.html").as_uri(), 1400)
    names = page.locator("#students-table tbody tr:visible th a")
    assert names.all_inner_texts()[:3] == ["alice", "bob", "carol"]
    page.locator("#students-table thead button", has_text="Total").click()
    assert names.all_inner_texts()[:3] == ["frank", "dave", "hana"]  # 0, 30 and 30 points: lowest first
    assert page.locator("#students-table thead th", has_text="Total").get_attribute("aria-sort") == "ascending"
    page.locator("#students-table thead button", has_text="Total").click()
    assert names.all_inner_texts()[:2] == ["zoë o'neil", "alice"]  # 60 and 59 points
    page.locator("#students-filter").fill("timed out")
    assert names.all_inner_texts() == ["dave"]
    assert page.locator("#students-shown").inner_text() == "1 of 10 students shown"
    page.locator("#students-filter").fill("needs help")
    assert sorted(names.all_inner_texts()) == ["dave", "frank", "hana"]
    page.locator("#students-filter").fill("")
    assert names.count() == 10
    assert complaints == []  # the table script ran under the page's CSP

    bare, complaints = _open(browser, (tmp_path / "site" / "index.html").as_uri(), 1400, scripts=False)
    assert bare.locator("#students-table tbody tr").count() == 10
    assert not bare.locator("#students-filter").is_visible()  # no control that would do nothing
    assert bare.locator("#students-table thead button").count() == 0
    assert complaints == []


@pytest.mark.browser
def test_student_pages_show_math_outcomes_and_counted_notes(browser: object, tmp_path: Path) -> None:
    render_site(showcase_summary(), tmp_path / "site")
    page, complaints = _open(browser, (tmp_path / "site" / "students" / "hana.html").as_uri(), 1400)
    formulas = page.locator(".written math")
    assert formulas.count() == 5 and page.locator('.written math[display="block"]').count() == 1
    box = formulas.first.bounding_box()
    assert box and box["width"] > 20 and box["height"] > 10
    assert page.locator(".written").inner_text().count("alert(1)") == 0  # \text{<script>} sanitized away
    assert page.locator('[data-outcome="memory"]').inner_text() == "⚠ Out of memory"
    assert page.locator('[data-outcome="exception"]').inner_text() == "⚠ Raised an error"
    assert page.get_by_text("× 23").count() == 1
    assert page.get_by_text("a float; counts are integers").filter(visible=True).count() == 1  # the rest folded
    assert complaints == []

    page.goto((tmp_path / "site" / "students" / "grace.html").as_uri())
    assert page.locator("#stdout").inner_text().startswith("<script>alert('pwned')</script>")
    assert page.locator("table.failing").count() == 0  # grace's mistakes had no failing cases
    page.goto((tmp_path / "site" / "students" / "bob.html").as_uri())
    assert page.locator("table.failing tbody tr").count() == 2
    page.emulate_media(media="print")
    _save_screenshot(page, tmp_path, "bob-print.png")
    assert not page.get_by_role("navigation").is_visible()  # print hides the breadcrumb


def test_an_empty_class_still_renders_a_dashboard(tmp_path: Path) -> None:
    (index,) = render_site(RunSummary({"title": "Nobody yet"}, 0, ()), tmp_path)
    page = index.read_text(encoding="utf-8")
    assert "Nobody yet" in page and "0 students" in page and "No catalogued mistake was found." in page


def test_summary_extras_sit_at_the_top_level_and_come_back() -> None:
    summary = sample_summary()
    data = summary_to_data(RunSummary(summary.rubric, 3, (), extra={"run_identity": "abc:3", "jobs": 2}))
    assert data["run_identity"] == "abc:3" and data["jobs"] == 2
    assert dict(summary_from_data(data).extra) == {"run_identity": "abc:3", "jobs": 2}
    with pytest.raises(GraderError, match="seed"):
        summary_to_data(RunSummary({}, 3, (), extra={"seed": 4}))


def test_the_stylesheet_and_script_reach_the_page_unescaped(tmp_path: Path) -> None:
    # finalize= turned Markup back into text: `.charts > div` arrived as `.charts &gt; div`.
    render_site(showcase_summary(), tmp_path)
    for page in (tmp_path / "index.html", tmp_path / "students" / "hana.html"):
        style = page.read_text(encoding="utf-8").split("<style>")[1].split("</style>")[0]
        assert '"Segoe UI"' in style and ".written > :first-child" in style and "&gt;" not in style


def test_only_the_table_script_is_allowed_and_by_its_hash(tmp_path: Path) -> None:
    render_site(showcase_summary(), tmp_path)
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    script = index.split("<script>")[1].split("</script>")[0]
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', index)
    assert policy and f"script-src 'sha256-{digest}'" in policy.group(1).replace("&#39;", "'")
    assert "default-src 'none'" in policy.group(1).replace("&#39;", "'")
    hana = (tmp_path / "students" / "hana.html").read_text(encoding="utf-8")
    assert "script-src &#39;none&#39;" in hana or "script-src 'none'" in hana


@pytest.mark.parametrize(("kind", "label"), [
    ("timeout", "Timed out"), ("memory", "Out of memory"), ("exception", "Raised an error"),
    ("crash", "Crashed"), ("exit", "Exited early"), ("syntax", "Syntax error"),
    ("invalid-output", "Invalid output"), ("unreadable", "Unreadable"),
])
def test_each_way_a_problem_fails_has_its_own_words(kind: str, label: str, tmp_path: Path) -> None:
    failed = verdict("p3c", "error", 0.0, error=ExecutionError(kind, "what the sandbox said"), passed=0)  # type: ignore[arg-type]
    outcome = outcome_of(failed)
    assert (outcome.label, outcome.tone) == (label, "error")
    render_site(RunSummary({}, 1, (SubmissionResult("x", (failed,)),)), tmp_path)
    page = (tmp_path / "students" / "x.html").read_text(encoding="utf-8")
    assert f"⚠ {label}</span>" in page and f"{label}: what the sandbox said" in page and "Did not run" not in page
    assert {outcome_of(verdict("p1", "error", 0.0, error=ExecutionError(other, ""))).label  # type: ignore[arg-type]
            for other in ERROR_KINDS} == {label for label in {
                "Timed out", "Out of memory", "Raised an error", "Crashed", "Exited early", "Syntax error",
                "Invalid output", "Unreadable"}}


def test_a_review_status_slots_in_with_its_own_words_colour_and_column() -> None:
    board = dashboard(showcase_summary())
    assert [heading for _, _, heading in board.columns][-1] == "Needs review"
    assert {count.tone: count.count for count in board.problems[0].counts}["review"] == 1
    ivan = next(row for row in board.table.rows if row.student_id == "ivan")
    assert (ivan.cells[0].label, ivan.cells[0].tone) == ("Needs review", "review")
    assert "1 answer to review" in dict((number.label, number.detail) for number in board.summary)["Awaiting a person"]
    assert "status-review" in (TEMPLATES / "report.css").read_text(encoding="utf-8")
    assert [heading for _, _, heading in dashboard(sample_summary()).columns][-1] == "Could not run"


def test_repeated_notes_are_collapsed_with_a_count() -> None:
    notes = [f"returned {value}.0, a float; counts are integers" for value in range(6, 29)] + ["graded the alias f"] * 2
    (floats, alias) = grouped_notes(notes)
    assert (floats.text, floats.count_text, len(floats.variants)) == (notes[0], "× 23", 22)
    assert (alias.text, alias.count_text, alias.variants) == ("graded the alias f", "× 2", ())
    assert grouped_notes(["once"])[0].count_text == ""


def test_who_needs_help_lists_failures_and_low_scores_lowest_first() -> None:
    board = dashboard(showcase_summary())
    entries = {entry.student_id: entry.reasons for entry in board.needs_help}
    assert list(entries) == ["frank", "dave", "hana"]
    assert entries["frank"][0] == "Unreadable: solution.ipynb is not valid JSON (line 1, column 1)"
    assert entries["dave"] == ("timed out: p3c",)  # 30 of 60 is not below half
    assert entries["hana"] == ("out of memory: p1", "raised an error: p2")
    assert board.more_needs_help == () and board.more_needs_help_text == ""


def test_roster_students_who_handed_in_nothing_come_first_under_who_needs_help(tmp_path: Path) -> None:
    # Issue 13: `--roster` lists who handed in nothing (results.json's intake); the dashboard
    # asked "who needs help" without them, though they need it most.
    summary = showcase_summary()
    absent = RunSummary(summary.rubric, summary.seed, summary.results,
                        extra={**summary.extra, "intake": {"no_submission": ["zoe-absent"]}})
    board = dashboard(absent)
    first = board.needs_help[0]
    assert (first.student_id, first.link, first.score_text) == ("zoe-absent", "", "no submission")
    assert [entry.student_id for entry in board.needs_help][1:] == ["frank", "dave", "hana"]
    assert dict((number.label, number.value_text) for number in board.summary)["Need help"] == "4"
    render_site(absent, tmp_path)
    page = (tmp_path / "index.html").read_text()
    assert "zoe-absent" in page and 'href="students/zoe-absent' not in page


def test_only_the_most_common_mistakes_come_first() -> None:
    titles = {f"m{index}": f"mistake {index}" for index in range(9)}
    results = [SubmissionResult(f"s{index}", (
        Verdict("p1", "MLP", "partial", 5.0, 10.0, "f", misconceptions=tuple(f"m{other}" for other in range(index + 1))),
    )) for index in range(9)]
    board = dashboard(RunSummary({}, 1, tuple(results), extra={"misconception_titles": titles}))
    assert [item.misconception_id for item in board.top_mistakes] == ["m0", "m1", "m2", "m3", "m4"]
    assert [item.count for item in board.top_mistakes] == [9, 8, 7, 6, 5]
    assert len(board.more_mistakes) == 4 and board.more_mistakes_text == "4 more mistakes"


def test_written_math_becomes_sanitized_mathml() -> None:
    html = str(written_answer_html(MATH_PROOF))
    assert html.count("<math") == 5 and '<math display="block">' in html
    assert "<mi>ℝ</mi>" in html and "<mfrac>" in html and "<strong>Claim.</strong>" in html
    # latex2mathml copies \text{...} unescaped; the sanitizer removes the script it made.
    assert "<script" not in html and "alert" not in html and "<mtext>if&nbsp;x&lt;0</mtext>" in html


@pytest.mark.parametrize("hostile", [
    "$\\text{</math><img src=x onerror=alert(1)>}$",
    "$\\href{javascript:alert(1)}{x}$",
    "<script>alert(1)</script> <img src=x onerror=alert(1)>",
    "[click](javascript:alert(1)) ![x](http://example.org/x.png)",
    "$\\text{<a href='http://example.org' style='x'>y</a>}$",
])
def test_hostile_written_answers_keep_no_markup_that_acts(hostile: str) -> None:
    found: list[tuple[str, list[str]]] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, [name for name, _ in attrs]))

    html = str(written_answer_html(hostile))
    Tags().feed(html)
    assert found and not [tag for tag, _ in found if tag in {"script", "img", "a", "style", "iframe"}], html
    assert not [name for _, names in found for name in names if name.startswith("on") or name in {"href", "src", "style"}]


def test_latex_too_long_deep_or_broken_is_shown_as_its_source() -> None:
    bomb = "$" + "{" * 3000 + "x" + "}" * 3000 + "$"  # latex2mathml recursed past Python's limit
    deep = "$" + "{" * 30 + "x" + "}" * 30 + "$"  # converts, but deeper than MAX_NESTING
    long = "$" + "x+" * 600 + "x$"  # converts, but longer than MAX_FORMULA
    broken = "$\\frac{$"
    for text in (bomb, deep, long, broken):
        html = str(written_answer_html(text))
        assert "<math" not in html and '<code class="tex">' in html
    assert str(written_answer_html("x" * 20_001)).startswith('<p class="plain-text">')


def test_latex_conversion_stops_when_an_answer_runs_out_of_time() -> None:
    ticks = iter(range(100))  # each formula takes "0.4 s" on this clock; an answer may take 1 s
    html = str(written_answer_html("$a$ $b$ $c$ $d$", clock=lambda: next(ticks) * 0.4))
    assert html.count("<math") == 2 and html.count('<code class="tex">') == 2
