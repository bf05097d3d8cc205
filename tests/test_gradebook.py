"""The SQLite gradebook: resume after kill -9, rubric separation, manual points and their errors."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.errors import GradebookError
from grader.models import SubmissionResult, Verdict
from grader.outputs.gradebook import Gradebook
from grader.outputs.reports.serialize import result_to_data
from tests.sample_results import sample_class, synthetic_result

RUBRIC = "rubric-digest-one"
OTHER_RUBRIC = "rubric-digest-two"
TESTS = Path(__file__).parent
ROOT = TESTS.parent


def comparable(results: list) -> list[dict]:
    """Results as data: NaN-safe equality (NaN != NaN in the dataclasses themselves)."""
    return [result_to_data(result) for result in results]


def test_saved_results_come_back_sorted_and_current(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "book.sqlite") as book:
        for result in reversed(sample_class()):
            book.save(result, RUBRIC)
        assert book.is_current("bob", sample_class()[1].digest, RUBRIC)
        assert not book.is_current("bob", "another digest", RUBRIC)
        assert not book.is_current("bob", sample_class()[1].digest, OTHER_RUBRIC)
        assert not book.is_current("nobody", "x", RUBRIC)
        loaded = book.results(RUBRIC)
    expected = sorted(sample_class(), key=lambda result: result.student_id)
    assert comparable(loaded) == comparable(expected)


def test_a_damaged_row_is_left_out_and_graded_again_not_a_stopped_report(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "book.sqlite") as book:
        for result in sample_class():
            book.save(result, RUBRIC)
    bob = sample_class()[1]
    with sqlite3.connect(tmp_path / "book.sqlite") as connection:  # a disk error, a hand edit
        connection.execute("UPDATE results SET result = '{\"student_id\": \"bob\", ' WHERE student_id = 'bob'")
    with Gradebook(tmp_path / "book.sqlite") as book:
        assert "bob" not in [result.student_id for result in book.results(RUBRIC)]
        assert not book.is_current("bob", bob.digest, RUBRIC)  # so the next run grades bob again


def test_results_of_another_rubric_are_ignored_not_mixed(tmp_path: Path) -> None:
    alice, bob = sample_class()[:2]
    with Gradebook(tmp_path / "book.sqlite") as book:
        book.save(alice, RUBRIC)
        book.save(bob, OTHER_RUBRIC)
        assert [result.student_id for result in book.results(RUBRIC)] == ["alice"]
        assert [result.student_id for result in book.results(OTHER_RUBRIC)] == ["bob"]
        assert book.results("never used") == []


def test_a_regraded_submission_replaces_its_old_result(tmp_path: Path) -> None:
    first, second = synthetic_result(1), synthetic_result(3)  # partial, then correct p1
    renamed = type(second)(first.student_id, second.verdicts, second.manual, digest="new digest")
    with Gradebook(tmp_path / "book.sqlite") as book:
        book.save(first, RUBRIC)
        book.save(renamed, RUBRIC)
        (only,) = book.results(RUBRIC)
        assert only.digest == "new digest" and only.verdicts[0].status == "correct"
        assert not book.is_current(first.student_id, first.digest, RUBRIC)


def test_runs_are_recorded_with_settings_and_finish_time(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "book.sqlite") as book:
        run = book.start_run(RUBRIC, {"seed": 7, "out": tmp_path})
        assert book.runs()[0]["finished"] is None  # a killed run stays unfinished
        book.finish_run(run)
        (record,) = book.runs()
    assert record["rubric_digest"] == RUBRIC
    assert record["settings"] == {"seed": 7, "out": str(tmp_path)}
    assert record["finished"]


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_manual_points_are_applied_and_survive_a_rerun(tmp_path: Path) -> None:
    book = Gradebook(tmp_path / "book.sqlite")
    for result in sample_class():
        book.save(result, RUBRIC)
    points = write_csv(tmp_path / "manual.csv", "student_id,item_id,points,comment\nbob,p3a-proof,7.5,good idea\n"
                       "dave,p3a-proof,0,\n")
    assert book.import_manual(points) == 2
    book.close()
    # A rerun (after a change of rubric here) saves fresh results with unscored manual items.
    with Gradebook(tmp_path / "book.sqlite") as book:
        for result in sample_class():
            book.save(result, OTHER_RUBRIC)
        by_student = {result.student_id: result for result in book.results(OTHER_RUBRIC)}
    assert by_student["bob"].manual[0].score == 7.5
    assert by_student["bob"].manual[0].comment == "good idea"
    assert by_student["bob"].total == 42.5 + 7.5
    assert by_student["dave"].manual[0].score == 0.0
    assert by_student["erin"].manual[0].score is None  # still awaiting a person
    assert by_student["alice"].manual[0].score == 9.0  # untouched: the pipeline's value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("student_id,item_id,points\nbob,p3a-prof,5\n", r"(?s)row 2: unknown item_id 'p3a-prof'.*did you mean \"p3a-proof\""),
        ("student_id,item_id,points\nalice,p3a-proof,9\nbbo,p3a-proof,5\n", r"(?s)row 3: unknown student_id 'bbo'.*did you mean \"bob\""),
        ("student_id,item_id,points\nbob,p3a-proof,seven\n", r"row 2: points 'seven'"),
        ("student_id,item_id,points\nbob,p3a-proof,11\n", r"row 2: points '11' .* from 0 to 10"),
        ("student_id,item_id,points\nbob,p3a-proof,nan\n", r"row 2: points 'nan'"),
        ("student,item,points\nbob,p3a-proof,5\n", r"missing column\(s\) item_id, student_id"),
        # Each of these once lost points or text without a word:
        ("student_id,item_id,points,comment\nbob,p3a-proof,4,good, but no induction\n", r"row 2: more fields"),
        ("student_id,item_id,points\nbob,p3a-proof,4\nbob,p3a-proof,6\n", r"row 3: bob already has points"),
        ("student_id;item_id;points\nbob;p3a-proof;4\n", r"header read was 'student_id;item_id;points'"),
        ("studentid,item,points\n", r"missing column"),  # a wrong header and no rows imported 0
    ],
)
def test_bad_manual_rows_name_file_row_and_value(tmp_path: Path, text: str, expected: str) -> None:
    with Gradebook(tmp_path / "book.sqlite") as book:
        for result in sample_class():
            book.save(result, RUBRIC)
        path = write_csv(tmp_path / "points.csv", text)
        with pytest.raises(GradebookError, match=expected) as raised:
            book.import_manual(path)
        assert str(path) in str(raised.value)
        # Nothing of a bad file is imported, not even its good rows.
        assert all(result.manual[0].score in (None, 9.0, 6.0, 8.0, 10.0) for result in book.results(RUBRIC))
        assert {result.student_id: result.manual[0].score for result in book.results(RUBRIC)}["alice"] == 9.0


def awaiting_review(result: SubmissionResult, *problem_ids: str, digest: str | None = None) -> SubmissionResult:
    """`result` with the written answers of `problem_ids` awaiting review (no score yet)."""
    verdicts = tuple(dataclasses.replace(verdict, status="review", score=0.0, explanation="needs review: unreadable")
                     if verdict.problem_id in problem_ids else verdict for verdict in result.verdicts)
    return dataclasses.replace(result, verdicts=verdicts, digest=result.digest if digest is None else digest)


def class_with_reviews() -> list[SubmissionResult]:
    """The sample class, with alice's p2 and p3b and erin's p1 awaiting review."""
    found = {result.student_id: result for result in sample_class()}
    found["alice"] = awaiting_review(found["alice"], "p2", "p3b")
    found["erin"] = awaiting_review(found["erin"], "p1")
    return list(found.values())


def verdict_of(results: list[SubmissionResult], student_id: str, problem_id: str) -> Verdict:
    result = next(result for result in results if result.student_id == student_id)
    return next(verdict for verdict in result.verdicts if verdict.problem_id == problem_id)


def test_points_for_an_answer_awaiting_review_decide_it_and_survive_a_rerun(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "book.sqlite") as book:
        for result in class_with_reviews():
            book.save(result, RUBRIC)
        alice_before = next(result for result in book.results(RUBRIC) if result.student_id == "alice").total
        points = write_csv(tmp_path / "points.csv", "student_id,item_id,points,comment\n"
                           "alice,p2,7,counts the weights but not the biases\nalice,p3b,10,\nerin,p1,0,no formula\n"
                           "bob,p3a-proof,5,\n")
        assert book.import_manual(points) == 4
    # A rerun (after a change of rubric here) saves fresh results in which they await review again.
    with Gradebook(tmp_path / "book.sqlite") as book:
        for result in class_with_reviews():
            book.save(result, OTHER_RUBRIC)
        results = book.results(OTHER_RUBRIC)
    p2, p3b, erin_p1 = verdict_of(results, "alice", "p2"), verdict_of(results, "alice", "p3b"), verdict_of(results, "erin", "p1")
    assert (p2.status, p2.score, p2.explanation) == ("partial", 7.0, "counts the weights but not the biases")
    assert p2.notes[-1] == "Points awarded by a person after review: 7 of 10 (counts the weights but not the biases)"
    assert (p3b.status, p3b.score, p3b.explanation) == ("correct", 10.0, "")
    assert (erin_p1.status, erin_p1.score) == ("incorrect", 0.0)
    alice = next(result for result in results if result.student_id == "alice")
    assert alice.total == alice_before + 17.0  # counted in the total now
    assert verdict_of(results, "bob", "p2").status == "partial"  # untouched


def test_a_decision_is_dropped_with_a_note_when_the_answer_is_graded_again(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "book.sqlite") as book:
        for result in class_with_reviews():
            book.save(result, RUBRIC)
        book.import_manual(write_csv(tmp_path / "points.csv", "student_id,item_id,points\nalice,p2,7\nerin,p1,4\n"))
        # alice changed her file and it still cannot be read; erin's answer is now read by the grader.
        found = {result.student_id: result for result in sample_class()}
        book.save(awaiting_review(found["alice"], "p2", "p3b", digest="sha256:changed"), RUBRIC)
        book.save(found["erin"], RUBRIC)
        results = book.results(RUBRIC)
    p2, erin_p1 = verdict_of(results, "alice", "p2"), verdict_of(results, "erin", "p1")
    assert (p2.status, p2.score) == ("review", 0.0)
    assert p2.notes[-1] == "Points a person awarded after review (7 of 10) were dropped: the submission changed since it was read"
    assert (erin_p1.status, erin_p1.score) == (found["erin"].verdicts[0].status, found["erin"].verdicts[0].score)
    assert erin_p1.notes[-1].endswith("were dropped: the answer was graded automatically when the submission "
                                      "was graded again")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("student_id,item_id,points\nbob,p2,5\n",
         r"(?s)row 2: p2 was graded automatically for bob; only a problem awaiting review takes manual points"
         r".*awaiting review: none"),
        ("student_id,item_id,points\nalice,p2,5\nalice,p1,5\n",
         r"(?s)row 3: p1 was graded automatically for alice.*awaiting review: p2, p3b"),
        ("student_id,item_id,points\nalice,p22,5\n", r"(?s)row 2: unknown item_id 'p22'.*did you mean \"p2\""),
        ("student_id,item_id,points\nalice,p2,11\n", r"row 2: points '11' for p2 is not a number from 0 to 10"),
        ("student_id,item_id,points\nalice,p2,-1\n", r"row 2: points '-1' for p2"),
        ("student_id,item_id,points\nalice,p2,4\nalice,p2,6\n", r"row 3: alice already has points for p2"),
    ],
)
def test_bad_review_rows_name_the_row_the_student_and_the_problem(tmp_path: Path, text: str, expected: str) -> None:
    with Gradebook(tmp_path / "book.sqlite") as book:
        for result in class_with_reviews():
            book.save(result, RUBRIC)
        with pytest.raises(GradebookError, match=expected):
            book.import_manual(write_csv(tmp_path / "points.csv", text))
        assert verdict_of(book.results(RUBRIC), "alice", "p2").status == "review"  # nothing imported


def test_review_rows_are_checked_against_the_run_the_report_shows(tmp_path: Path) -> None:
    """An older run's result (another rubric) where p2 awaited review does not let points in."""
    with Gradebook(tmp_path / "book.sqlite") as book:
        for result in class_with_reviews():
            book.save(result, RUBRIC)
        for result in sample_class():
            book.save(result, OTHER_RUBRIC)
        points = write_csv(tmp_path / "points.csv", "student_id,item_id,points\nalice,p2,7\n")
        with pytest.raises(GradebookError, match="p2 was graded automatically for alice"):
            book.import_manual(points, OTHER_RUBRIC)
        assert book.import_manual(points, RUBRIC) == 1
        assert verdict_of(book.results(RUBRIC), "alice", "p2").score == 7.0


def test_a_file_that_is_not_a_gradebook_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "book.sqlite"
    path.write_bytes(b"this is a CSV, not SQLite\n" * 100)
    with pytest.raises(GradebookError, match="cannot open the gradebook"):
        Gradebook(path)


WRITER = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from grader.outputs.gradebook import Gradebook
from tests.sample_results import synthetic_result
book = Gradebook(sys.argv[1])
for index in range(int(sys.argv[2])):
    result = synthetic_result(index)
    if not book.is_current(result.student_id, result.digest, "resume-rubric"):
        book.save(result, "resume-rubric")
"""


def run_writer(path: Path, count: int) -> subprocess.Popen[bytes]:
    script = WRITER.format(root=str(ROOT), tests=str(TESTS))
    return subprocess.Popen([sys.executable, "-c", script, str(path), str(count)])


def saved_count(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute("SELECT count(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # the writer has not created the tables yet


def test_a_run_killed_with_sigkill_resumes_to_identical_results(tmp_path: Path) -> None:
    total = 3000
    path = tmp_path / "killed.sqlite"
    writer = run_writer(path, total)
    try:
        while saved_count(path) < 40:  # wait for real progress; no clock in the assertion
            assert writer.poll() is None, "the writer ended before it could be killed"
            time.sleep(0.01)
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.wait()
    assert writer.returncode == -signal.SIGKILL

    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Gradebook(path) as book:
        survived = book.results("resume-rubric")
    assert 40 <= len(survived) < total, "the kill must land mid-way for this test to mean anything"
    # Every survivor is whole and exactly what was written, and they are a prefix of the loop.
    assert comparable(survived) == comparable([synthetic_result(index) for index in range(len(survived))])

    resumed = run_writer(path, total)
    assert resumed.wait() == 0
    clean = tmp_path / "clean.sqlite"
    with Gradebook(clean) as book:
        for index in range(total):
            book.save(synthetic_result(index), "resume-rubric")
        expected = comparable(book.results("resume-rubric"))
    with Gradebook(path) as book:
        assert comparable(book.results("resume-rubric")) == expected
