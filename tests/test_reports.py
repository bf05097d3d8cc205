"""results.json data, class statistics and the HTML site, including a real headless browser."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from grader.errors import GraderError
from grader.models import FailingCase, RunSummary, SubmissionResult
from grader.reports.html import render_site
from grader.reports.serialize import result_from_data, result_to_data, summary_from_data, summary_to_data
from grader.reports.statistics import dashboard, student_file_name
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
    assert dict(p1.counts) == {"correct": 4, "partial": 1, "incorrect": 2, "missing": 1, "error": 0, "review": 0}
    assert p1.pass_rate_text == "50%"
    assert sum(int(bar.value_text or 0) for bar in board.histogram.bars) == 8
    assert board.histogram.bars[0].value_text == "1"  # frank, unreadable, scored 0
    assert board.awaiting_count == 4


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
        assert "<script" not in page.lower()
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
    assert "yours adds 64" in dave and "timeout: cross_entropy_grad ran past 5 s" in dave


def test_captured_output_is_capped(tmp_path: Path) -> None:
    noisy = SubmissionResult("noisy", sample_class()[0].verdicts, stdout="spam\n" * 100_000)
    render_site(RunSummary({}, 1, (noisy,)), tmp_path)
    page = (tmp_path / "students" / "noisy.html").read_text(encoding="utf-8")
    assert len(page) < 40_000 and "more characters not shown" in page


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium is not installed at /usr/bin/chromium")
def test_pages_read_well_in_a_real_browser_without_network(tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    render_site(sample_summary(), tmp_path / "site")
    leaked: list[str] = []

    def only_local_files(route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        if url.startswith("file://"):
            route.continue_()  # type: ignore[attr-defined]
        else:
            leaked.append(url)
            route.abort()  # type: ignore[attr-defined]

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-extensions"],
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900}, java_script_enabled=True)
            page.route("**/*", only_local_files)
            page.goto((tmp_path / "site" / "index.html").as_uri())
            page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
            for chart in ("#histogram", "#pass-rates"):
                box = page.locator(chart).bounding_box()
                assert page.locator(chart).is_visible() and box and box["width"] > 100 and box["height"] > 50
            assert page.locator("#histogram rect.bar").count() == 10
            assert page.locator("#pass-rates rect.seg-correct").count() == 5
            assert page.locator("#problems-table tbody tr").count() == 5
            assert page.locator("#students-table tbody tr").count() == 8
            sentence = page.get_by_text("38% of students (3 of 8) counted F − 2 FC transitions in p2.")
            assert sentence.is_visible()
            assert page.get_by_text("2 students share this unexplained answer to p1.").is_visible()

            page.locator("#students-table a", has_text="grace").click()
            page.wait_for_url("**/students/grace.html")
            page.screenshot(path=str(tmp_path / "grace.png"), full_page=True)
            assert page.locator("#stdout").inner_text().startswith("<script>alert('pwned')</script>")
            assert page.locator("table.failing").count() == 0  # grace's mistakes had no failing cases
            assert page.get_by_text("counted F − 2 FC transitions").is_visible()
            assert page.get_by_text("8 / 10").is_visible()

            page.goto((tmp_path / "site" / "students" / "bob.html").as_uri())
            assert page.locator("table.failing tbody tr").count() == 2
            assert page.get_by_text("awaiting a person").is_visible()
            page.emulate_media(media="print")
            page.screenshot(path=str(tmp_path / "bob-print.png"), full_page=True)
            assert not page.get_by_role("navigation").is_visible()  # print hides the breadcrumb
        finally:
            browser.close()
    assert leaked == []
    assert (tmp_path / "index.png").stat().st_size > 10_000


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
