"""The way out (`grader/outputs/reports/release.py`): what a student's released page may carry."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.models import ExecutionError, FailingCase
from grader.outputs.reports.release import released_result, student_replay, without_paths
from tests.sample_results import sample_class

INSTRUCTOR = "grader replay /home/prof/hw1/out/intake/hoppergrace p3b --args '{\"z\": [1.0, 2.0]}'"


def test_a_public_cases_replay_names_the_students_repository_and_the_public_bundle() -> None:
    assert student_replay(INSTRUCTOR, "public") == (
        "grader replay . p3b --args '{\"z\": [1.0, 2.0]}' --bundle public.json")
    assert student_replay(INSTRUCTOR.replace("intake/hoppergrace", "class/ada.ipynb"), "stress").startswith(
        "grader replay ada.ipynb p3b")


@pytest.mark.parametrize("tag", ["hidden", "shrink"])
def test_a_case_the_public_bundle_does_not_hold_gets_no_replay_command(tag: str) -> None:
    # Replayed against public.json it would be refused; its inputs are on the page instead.
    assert student_replay(INSTRUCTOR, tag) == ""


def test_absolute_folders_are_cut_to_the_file_name() -> None:
    text = 'File "/tmp/grader-zygote-x1/child/hw1.py", line 3, in softmax (see /home/prof/out/intake/a/)'
    assert without_paths(text) == 'File "hw1.py", line 3, in softmax (see )'
    assert without_paths("3 / 4 and x/y stay") == "3 / 4 and x/y stay"


def test_a_released_result_carries_no_path_in_errors_output_or_cases() -> None:
    base = sample_class()[1]
    verdict = base.verdicts[0]
    case = FailingCase({"N": 2}, 5, "AxisError: /srv/grading/tmp/x.py broke", "public",
                       "grader replay /srv/grading/class/bob.py p1 --args '{\"N\": 2}'")
    damaged = verdict.__class__(**{**verdict.__dict__, "failing": (case,),
                                   "error": ExecutionError("exception", "in /srv/grading/tmp/x.py",
                                                           detail="Traceback: /srv/grading/tmp/x.py")})
    result = base.__class__(**{**base.__dict__, "verdicts": (damaged,), "stdout": "saved to /srv/grading/tmp/out.npy"})
    released = released_result(result)
    text = repr(released)
    assert "/srv/grading" not in text
    assert released.verdicts[0].failing[0].replay == "grader replay bob.py p1 --args '{\"N\": 2}' --bundle public.json"
    assert Path("x.py").name in released.verdicts[0].error.message  # type: ignore[union-attr]
