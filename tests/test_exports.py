"""Exports: results.json, grades.csv, Gradescope, and `grader check`'s text, JSON, JUnit, GitHub."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from grader.models import SubmissionResult
from grader.outputs.reports.exports import (
    check_json,
    check_text,
    github_annotations,
    job_summary_markdown,
    junit_xml,
    write_grades_csv,
    write_gradescope,
    write_results_json,
)
from tests.sample_results import MISCONCEPTION_TITLES, sample_class, sample_summary, verdict

ALICE, BOB, CAROL, DAVE, ERIN, FRANK, GRACE, ZOE = sample_class()


def refuse_constant(name: str) -> None:
    raise ValueError(f"non-strict JSON constant {name}")


def test_results_json_is_strict_json(tmp_path: Path) -> None:
    path = write_results_json(sample_summary(), tmp_path / "results.json")
    data = json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse_constant)
    assert [entry["id"] for entry in data["submissions"]][:3] == ["alice", "bob", "carol"]
    assert data["submissions"][1]["problems"][2]["failing"][0]["got"] == [0.0, 0.0, "NaN", 0.0]


def test_grades_csv_has_a_column_per_problem_and_manual_item(tmp_path: Path) -> None:
    path = write_grades_csv(sample_summary(), tmp_path / "grades.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["student_id", "p1", "p2", "p3a", "p3b", "p3c", "p3a-proof", "total", "max", "status"]
    bob = rows[1]
    assert (bob["student_id"], bob["p1"], bob["p2"], bob["p3a-proof"], bob["total"], bob["max"]) == (
        "bob", "7.5", "7", "", "42.5", "60"
    )
    assert rows[0]["p3a-proof"] == "9" and rows[7]["student_id"] == "zoë o'neil"


def test_grades_csv_defuses_formula_student_ids(tmp_path: Path) -> None:
    evil = SubmissionResult('=HYPERLINK("http://x","y")', ALICE.verdicts)
    summary = type(sample_summary())({}, 1, (evil,))
    with write_grades_csv(summary, tmp_path / "grades.csv").open(newline="", encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["student_id"] == "'=HYPERLINK(\"http://x\",\"y\")"


def test_gradescope_files_follow_the_results_format(tmp_path: Path) -> None:
    written = write_gradescope(sample_summary(), tmp_path / "gradescope", MISCONCEPTION_TITLES)
    assert len(written) == 8 and all(path.parent == tmp_path / "gradescope" for path in written)
    bob = json.loads((tmp_path / "gradescope" / "bob.json").read_text(encoding="utf-8"))
    assert bob["score"] == 42.5 and "Awaiting a person: p3a-proof" in bob["output"]
    assert [test["name"] for test in bob["tests"]][0] == "p1: Parameters of an MLP"
    for test in bob["tests"]:
        assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in ("passed", "failed")
    assert "counted the input as a layer" in bob["tests"][0]["output"]
    alice = json.loads((tmp_path / "gradescope" / "alice.json").read_text(encoding="utf-8"))
    assert alice["tests"][-1]["name"].startswith("p3a-proof") and alice["tests"][-1]["score"] == 9.0


def test_check_text_marks_problems_and_says_how_to_fix() -> None:
    text = check_text(BOB, MISCONCEPTION_TITLES)
    lines = text.splitlines()
    assert lines[0] == "bob: 42.5 / 60 points"
    assert lines[1].startswith("✗ p1 Parameters of an MLP: partial, 7.5/10")
    assert "counted the input as a layer (L − 2 hidden transitions) [input-as-layer]: The input is not a layer" in text
    assert "failing case: z=[1.0, 3.5, 757.0, -5.0] → expected [0.0, 0.0, 1.0, 0.0], got [0.0, 0.0, NaN, 0.0]" in text
    assert "replay: grader check . --problem p3a" in text
    assert "✓ p3b Softmax Jacobian: correct, 10/10" in text
    assert "p3a-proof 3(a) proof: softmax is a probability distribution: awaiting a person" in text
    assert "yours adds 64" in check_text(DAVE) and "timeout: cross_entropy_grad" in check_text(DAVE)
    assert "could not be graded: unreadable" in check_text(FRANK)


def test_check_json_is_the_results_entry() -> None:
    data = json.loads(check_json(ERIN), parse_constant=refuse_constant)
    assert data["id"] == "erin" and data["problems"][2]["misconceptions"] == ["naive-exp-overflow"]


def test_junit_xml_has_a_testcase_per_problem_and_failures_with_messages() -> None:
    root = ElementTree.fromstring(junit_xml(DAVE, MISCONCEPTION_TITLES).encode("utf-8"))
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "dave"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("5", "1", "1")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases][0] == "p1 Parameters of an MLP"
    failure = cases[0].find("failure")
    assert failure is not None and "yours adds 64" in failure.get("message", "")
    assert "replay: grader check . --problem p1" in (failure.text or "")
    error = cases[4].find("error")
    assert error is not None and error.get("type") == "error" and "timeout" in error.get("message", "")
    assert cases[1].find("failure") is None and cases[1].find("error") is None
    assert suite.findtext("system-out") == "epoch 1\n" * 3


def test_junit_xml_survives_control_characters_in_student_output() -> None:
    hostile = SubmissionResult("x]]><!--", (verdict("p1", "correct", 10.0),), stdout="\x00\x1b[31mred\x07</system-out>")
    root = ElementTree.fromstring(junit_xml(hostile))
    assert root.find("testsuite").get("name") == "x]]><!--"
    assert "red" in root.findtext("testsuite/system-out") and "</system-out>" in root.findtext("testsuite/system-out")


def test_github_annotations_escape_per_the_workflow_command_rules() -> None:
    lines = github_annotations(BOB, "sub/solution.py", MISCONCEPTION_TITLES).splitlines()
    assert len(lines) == 5  # one command per problem: no raw newline splits a message
    first = lines[0]
    assert first.startswith("::error file=sub/solution.py,title=p1 Parameters of an MLP%3A partial::")
    assert "%0Afailing case: N=32" in first and "\n" not in first
    assert lines[3].startswith("::notice file=sub/solution.py,title=p3b Softmax Jacobian%3A correct::")
    tricky = SubmissionResult("t", (verdict("p1", "incorrect", 0.0, explanation="100% wrong\r\nreally, truly: yes"),))
    (line,) = github_annotations(tricky, "a,b:c.py").splitlines()
    assert line == ("::error file=a%2Cb%3Ac.py,title=p1 Parameters of an MLP%3A incorrect::"
                    "100%25 wrong%0D%0Areally, truly: yes")


def test_github_annotations_point_at_the_line_that_defines_each_function() -> None:
    places = {"p1": ("sub/solution.py", 12, None), "p3b": ("sub/homework.ipynb", 111, "cell 8"),
              "p2": ("sub/solution.py", None, None)}
    lines = github_annotations(BOB, "sub/solution.py", MISCONCEPTION_TITLES, places).splitlines()
    assert lines[0].startswith("::error file=sub/solution.py,line=12,title=p1 Parameters of an MLP%3A partial::")
    assert lines[1].startswith("::error file=sub/solution.py,title=p2 ")  # defined nowhere: the file
    assert lines[3].startswith("::notice file=sub/homework.ipynb,line=111,"
                               "title=p3b Softmax Jacobian (cell 8)%3A correct::")
    assert lines[2].startswith("::") and "line=" not in lines[2]  # no place known: the graded file


def test_job_summary_markdown_tables_problems_and_lists_fixes() -> None:
    markdown = job_summary_markdown(CAROL, MISCONCEPTION_TITLES)
    assert markdown.startswith("## grader check: 41 / 60 points")
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 5 and rows[4].startswith("| ❌ | p3b Softmax Jacobian | incorrect | 0 / 10")
    assert "### p2 Parameters of a CNN" in markdown and "- left out the output layer's biases [output-no-bias]" in markdown
    piped = SubmissionResult("p", (verdict("p1", "incorrect", 0.0, explanation="a | b <img>"),))
    assert "a \\| b &lt;img&gt;" in job_summary_markdown(piped)


def test_a_student_id_with_control_characters_is_written_out_in_grades_csv() -> None:
    from grader.outputs.reports.exports import _spreadsheet_safe

    # `cat grades.csv` must not run an id's escape sequence (OSC 52 sets the clipboard).
    assert _spreadsheet_safe("\x1b]52;c;WA==\x07eve") == "\\x1b]52;c;WA==\\x07eve"
    assert _spreadsheet_safe("=HYPERLINK()") == "'=HYPERLINK()"



# --------------------------------------------------------------------------- LMS grade uploads

from grader.stages.intake import StudentRecord  # noqa: E402
from grader.stages.lms_layouts import Member  # noqa: E402
from grader.outputs.reports import lms_exports  # noqa: E402
from grader.outputs.reports.serialize import result_from_data, result_to_data  # noqa: E402

#: The columns each LMS documents for its grade import, written out here from its docs (not
#: imported from the module under test, so a renamed column fails).
CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "HW1 (12345)"]
GRADESCOPE_HEADER = ["Name", "SID", "Email", "Total Score"]
MOODLE_HEADER = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                 "Grade can be changed", "Last modified (submission)", "Last modified (grade)", "Feedback comments"]


def class_records() -> dict[str, StudentRecord]:
    return {
        "alice": StudentRecord("alice", "submitted", "canvas", "Alice Liddell", "alice@example.edu", "S1", "A",
                               lms_user_id="23456", submitted_at="2026-10-01T20:00:00-04:00"),
        "bob": StudentRecord("bob", "submitted", "canvas", "=HYPERLINK(\"http://x\")", "bob@example.edu", "S2",
                             lms_user_id="23457",
                             members=(Member("bob", "Bob", "bob@example.edu", "S2"),
                                      Member("zed", "Zed", "zed@example.edu", "S9"))),
        "nadia": StudentRecord("nadia", "no submission", "canvas", "Nadia Boulanger", "nadia@example.edu", "S3",
                               lms_user_id="23458"),
    }


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_the_canvas_upload_has_canvass_columns_and_a_blank_for_no_submission(tmp_path: Path) -> None:
    results = {"alice": ALICE, "bob": BOB}
    rows = read_rows(lms_exports.canvas_csv(tmp_path / "canvas.csv", results, class_records(), "HW1 (12345)"))
    assert rows[0] == CANVAS_HEADER
    by_id = {row[1]: row for row in rows[1:]}
    assert by_id["23456"][0] == "Alice Liddell" and by_id["23456"][2] == "S1" and float(by_id["23456"][5]) == ALICE.total
    assert by_id["23458"][5] == ""  # no submission: Canvas keeps what it has
    assert by_id["23457"][0].startswith("'=")  # a formula in a name is text


def test_the_gradescope_upload_gives_every_group_member_the_score(tmp_path: Path) -> None:
    results = {"alice": ALICE, "bob": BOB}
    rows = read_rows(lms_exports.gradescope_csv(tmp_path / "gs.csv", results, class_records()))
    assert rows[0] == GRADESCOPE_HEADER
    by_sid = {row[1]: row for row in rows[1:]}
    assert by_sid["S2"][3] == by_sid["S9"][3] != ""
    assert by_sid["S3"][3] == "" and by_sid["S1"][2] == "alice@example.edu"


def test_the_moodle_worksheet_matches_participants_and_says_no_submission(tmp_path: Path) -> None:
    results = {"alice": ALICE}
    rows = read_rows(lms_exports.moodle_csv(tmp_path / "moodle.csv", results, class_records(),
                                            {"alice": "50/60; p1 correct"}, 60.0))
    assert rows[0] == MOODLE_HEADER
    by_identifier = {row[0]: row for row in rows[1:]}
    alice = by_identifier["Participant 23456"]
    assert alice[3] == "Submitted for grading" and alice[4] == f"{ALICE.total:.2f}" and alice[5] == "60.00"
    assert alice[9] == "50/60; p1 correct"
    assert by_identifier["Participant 23458"][3] == "No submission" and by_identifier["Participant 23458"][4] == ""


def test_a_late_penalty_lowers_the_total_and_survives_results_json() -> None:
    from dataclasses import replace

    late = replace(ALICE, late_penalty=0.1, late_note="late by 1 day: -10%")
    assert late.total == pytest.approx(0.9 * ALICE.total)
    again = result_from_data(result_to_data(late))
    assert again.total == pytest.approx(late.total) and again.late_note == "late by 1 day: -10%"


def test_grades_csv_says_which_students_were_late_unreadable_or_handed_in_nothing(tmp_path: Path) -> None:
    from dataclasses import replace

    summary = sample_summary()
    late = replace(summary.results[0], late_penalty=0.1, late_note="late by 2 hours: -10%")
    summary = replace(summary, results=(late, *summary.results[1:]),
                      extra={**summary.extra, "intake": {"no_submission": ["nadia"]}})
    with write_grades_csv(summary, tmp_path / "grades.csv").open(newline="", encoding="utf-8") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert rows["alice"]["status"] == "late: late by 2 hours: -10%"
    assert rows["bob"]["status"] == "graded"
    assert [row["status"] for row in rows.values()].count("unreadable") == 1
    assert rows["nadia"]["status"] == "no submission" and rows["nadia"]["total"] == "" and rows["nadia"]["max"] == "60"
