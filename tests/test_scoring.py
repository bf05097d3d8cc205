"""Scoring: the rubric decides points; failing cases are JSON-ready and replayable; manual items."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader.stages import checking, diagnosis, scoring
from grader.errors import RubricError, UsageError
from grader.models import CallResult, Case, ExecutionError, ProblemOutcome, Verdict
from grader.rubric import ManualRubric, MisconceptionPolicy, ProblemRubric
from tests.test_cases import CONVENTIONS, ToyMlp, ToySoftmax, rubric_for
from tests.test_checking import real_key
from tests.test_diagnosis import outcome_from, reference_mlp, toy_key

#: The seed write-up (shared/seed/homework-writeup.md), copied here: tests read only the repository.
WRITE_UP = Path(__file__).parent / "fixtures" / "written" / "homework_writeup.md"


def grade(rubric: ProblemRubric, function: object, problem: ToyMlp | ToySoftmax | None = None,
          **options: object) -> Verdict:
    key = toy_key(problem or ToyMlp())
    outcome = outcome_from(key, function)  # type: ignore[arg-type]
    check = checking.check(key, outcome)
    return scoring.score(rubric, key, check, diagnosis.diagnose(key, check), outcome, **options)  # type: ignore[arg-type]


def input_as_layer(N: int, L: int, h: int, n: int) -> int:
    return reference_mlp(N, L, h, n) - (h * h + h)


def both_mistakes(N: int, L: int, h: int, n: int) -> int:
    return input_as_layer(N, L, h, n) - n


def test_correct_answer_earns_full_points() -> None:
    verdict = grade(rubric_for(ToyMlp()), reference_mlp)
    assert (verdict.status, verdict.score, verdict.max_score) == ("correct", 10.0, 10.0)
    assert verdict.passed == verdict.total and not verdict.failing


def test_integral_floats_earn_the_note_credit() -> None:
    verdict = grade(rubric_for(ToyMlp(), note_credit=0.9), lambda **a: float(reference_mlp(**a)))
    assert verdict.status == "correct" and verdict.score == pytest.approx(9.0)
    assert any("a float; counts are integers" in note for note in verdict.notes)


def test_deductions_add_and_floor_at_zero() -> None:
    problem = ToyMlp()
    rubric = rubric_for(problem)  # 0.25 each
    one = grade(rubric, input_as_layer)
    assert (one.status, one.score, one.misconceptions) == ("partial", 7.5, ("input-as-layer",))
    assert one.feedback == ("The input is not a layer.",)
    two = grade(rubric, both_mistakes)
    assert (two.status, two.score) == ("partial", 5.0)
    assert two.misconceptions == ("input-as-layer", "output-no-bias")
    harsh = rubric_for(problem, misconceptions={
        "input-as-layer": MisconceptionPolicy(0.75), "output-no-bias": MisconceptionPolicy(0.5)})
    floored = grade(harsh, both_mistakes)
    assert (floored.status, floored.score) == ("incorrect", 0.0)


def test_missing_deduction_is_an_instructor_error() -> None:
    rubric = rubric_for(ToyMlp(), misconceptions={"output-no-bias": MisconceptionPolicy(0.25)})
    with pytest.raises(RubricError, match="input-as-layer"):
        grade(rubric, input_as_layer)


def test_unexplained_answer_earns_credit_by_fraction_passed() -> None:
    rubric = rubric_for(ToyMlp(), unexplained_credit=0.5)
    # Right on small images only: wrong on the stress case and on hidden cases with N > 16.
    verdict = grade(rubric, lambda N, L, h, n: reference_mlp(N, L, h, n) + (N > 16))
    assert verdict.status == "partial" and not verdict.misconceptions
    assert 0 < verdict.passed < verdict.total
    assert verdict.score == pytest.approx(10.0 * 0.5 * verdict.passed / verdict.total)
    assert verdict.explanation and verdict.cluster_key


def test_missing_function_scores_zero() -> None:
    key = toy_key(ToyMlp())
    outcome = ProblemOutcome(key.problem_id, None, ())
    check = checking.check(key, outcome)
    verdict = scoring.score(rubric_for(ToyMlp()), key, check, diagnosis.diagnose(key, check), outcome)
    assert (verdict.status, verdict.score, verdict.function) == ("missing", 0.0, None)


def test_problem_level_error_earns_the_error_credit() -> None:
    key = toy_key(ToyMlp())
    timeout = ExecutionError("timeout", "took longer than 5 s")
    outcome = ProblemOutcome(key.problem_id, key.function, (), error=timeout)
    check = checking.check(key, outcome)
    verdict = scoring.score(rubric_for(ToyMlp(), error_credit=0.1), key, check,
                            diagnosis.diagnose(key, check), outcome)
    assert (verdict.status, verdict.score, verdict.error) == ("error", pytest.approx(1.0), timeout)


def test_failing_cases_are_json_ready_replayable_and_shrunk_first() -> None:
    key = toy_key(ToySoftmax())
    outcome = outcome_from(key, lambda z: np.exp(z) / np.exp(z).sum())
    check = checking.check(key, outcome)
    failing_check = next(c for c in check.checks if not c.passed)
    shrunk = (Case(key.problem_id, {"z": np.array([757.0])}, "shrink"), np.array([1.0]), np.array([np.nan]))
    verdict = scoring.score(rubric_for(ToySoftmax()), key, check, diagnosis.diagnose(key, check), outcome,
                            shrunk=shrunk, student="submissions/alice smith.py")
    assert verdict.misconceptions == ("naive-exp-overflow",)
    assert verdict.failing[0].shrunk and verdict.failing[0].got == ["NaN"]
    assert verdict.failing[1].arguments == {"z": failing_check.case.arguments["z"].tolist()}  # type: ignore[union-attr]
    assert len(verdict.failing) <= scoring.MAX_FAILING
    json.dumps([vars(case) for case in verdict.failing], allow_nan=False)  # strict JSON
    words = shlex.split(verdict.failing[0].replay)
    assert words[:4] == ["grader", "replay", "submissions/alice smith.py", "toy-softmax"]
    assert words[4] == "--args" and json.loads(words[5]) == {"z": [757.0]}


def test_a_huge_array_answer_is_kept_as_its_shape_and_first_numbers() -> None:
    # 6 million numbers on every case, under the protocol's caps: kept whole, two such
    # students took the grader to 16.7 GB and wrote a 750 MB results.json.
    verdict = grade(rubric_for(ToySoftmax()), lambda z: np.zeros((300, 200)), ToySoftmax())
    assert verdict.failing and all(isinstance(case.got, str) for case in verdict.failing)
    assert verdict.failing[0].got.startswith("array of shape (300, 200), 60,000 numbers: [0.0, 0.0")
    assert len(json.dumps([case.got for case in verdict.failing])) < 2_000
    small = grade(rubric_for(ToySoftmax()), lambda z: np.zeros(len(z) + 1), ToySoftmax())
    assert isinstance(small.failing[0].got, list)  # an ordinary wrong answer stays whole


def test_a_count_of_4300_digits_is_a_wrong_answer_in_words() -> None:
    # str() of an int past 4,300 digits raises: a student's 10**4300 - 1 of alternating sign
    # stopped the run in diagnosis ("adds 2 * 10**4300") and could not be written to JSON.
    huge = 10**4300 - 1
    verdict = grade(rubric_for(ToyMlp()), lambda N, L, h, n: huge if (N + L + h + n) % 2 else -huge)
    assert verdict.status == "incorrect" and verdict.score < verdict.max_score
    assert verdict.failing[0].got == "an integer of 4,300 digits"
    assert checking.as_count(huge) == (None, "returned an integer of 4,300 digits; no count of parameters is that large")
    json.dumps([case.got for case in verdict.failing])


def test_a_written_answer_is_kept_up_to_20000_characters() -> None:
    item = scoring.score_manual(ManualRubric("p3a-proof", "Proof", 5.0, r"3\(a\)"),
                                ["## 3(a)\n" + "x" * 50_000], None, "")
    assert len(item.student_text) < 20_100 and item.student_text.endswith("30,008 more characters not shown]")


def test_replay_command_format() -> None:
    command = scoring.replay_command("submissions/alice.py", "p2", {"N": 4, "L": 1, "z": np.array([1.0, 2.0])})
    assert command == """grader replay submissions/alice.py p2 --args '{"N": 4, "L": 1, "z": [1.0, 2.0]}'"""


def test_a_crash_on_every_case_is_an_error_verdict() -> None:
    def broken(N: int, L: int, h: int, n: int) -> int:
        raise ValueError("not yet")

    verdict = grade(rubric_for(ToyMlp(), error_credit=0.0), broken)
    assert verdict.status == "error" and verdict.error is not None
    assert verdict.error.exception_type == "ValueError"
    assert verdict.failing[0].got == "ValueError: not yet"


# --------------------------------------------------------------------------- manual items


def test_manual_item_finds_the_students_section() -> None:
    texts = (WRITE_UP.read_text(),)
    item = scoring.score_manual(ManualRubric("p3a-proof", "Softmax proof", 5.0, r"3\(a\)"), texts, None, "")
    assert item.student_text.startswith("# Problem 3(a):")
    assert "inference rather than a solid mathematical proof" in item.student_text
    assert "Problem 3(b)" not in item.student_text
    assert item.score is None and item.max_score == 5.0


def test_manual_section_ends_at_same_level_heading_and_ignores_code_fences() -> None:
    texts = ("## Proof 3(a)\nline one\n```python\n# not a heading\n```\n### detail\nmore",
             "## Problem 3(b)\nother")
    text = scoring.find_section(r"3\(a\)", texts)
    assert "# not a heading" in text and "more" in text and "other" not in text
    assert scoring.find_section(r"4\(z\)", texts) == ""


def test_awarded_points_outside_the_item_are_refused() -> None:
    rubric = ManualRubric("p3a-proof", "Softmax proof", 5.0, r"3\(a\)")
    assert scoring.score_manual(rubric, (), 4.5, "good").score == 4.5
    with pytest.raises(UsageError, match="0 to 5.0"):
        scoring.score_manual(rubric, (), 6.0, "")


def test_scoring_sees_only_plain_outcomes() -> None:
    """A value that claims equality with everything never reaches a comparison (sandbox converts)."""
    key = toy_key(ToyMlp())

    class Sneaky:
        def __eq__(self, other: object) -> bool:
            return True

    outcome = ProblemOutcome(key.problem_id, key.function, tuple(CallResult(value=Sneaky()) for _ in key.cases))  # type: ignore[arg-type]
    check = checking.check(key, outcome)
    verdict = scoring.score(rubric_for(ToyMlp()), key, check, diagnosis.diagnose(key, check), outcome)
    assert verdict.passed == 0 and verdict.status == "incorrect"


def test_heading_closing_hashes_are_dropped() -> None:
    texts = ["## Problem 3(a) ##\nThe proof.", "## Problem 3(b)\nOther."]
    assert scoring.find_section(r"problem 3\(a\)$", texts) == "## Problem 3(a) ##\nThe proof."


def test_a_heading_a_megabyte_long_does_not_hang_the_grader() -> None:
    # `(.*?)[ \t#]*$` backtracked quadratically, in the grader's process: a line of 100,000
    # spaces took 30 s, this one ~50 minutes. Linear now (~10 ms); the limit only tells a hang
    # from an answer, it measures no speed.
    code = ("from grader.stages import scoring\n"
            "print(len(scoring.find_section('^x', ['# x' + ' ' * 1_000_000 + 'y'])))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.stdout.strip() == str(len("# x") + 1_000_000 + 1)


def test_the_default_manual_heading_on_a_megabyte_of_spaces_does_not_hang_the_grader() -> None:
    # The rubric's `3\s*[.(]?\s*a` backtracked quadratically over a heading's 100,000 spaces
    # (45 s; an hour at the 1 MB text cap): a heading is searched in its first 200 characters.
    code = ("from grader.stages import scoring; from grader.rubric import default_rubric_path, load_rubric\n"
            "item = load_rubric(default_rubric_path()).manual[0]\n"
            "print(repr(scoring.find_section(item.heading, ['# 3' + ' ' * 1_000_000 + 'x'])))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.stdout.strip() == "''", done.stderr


def test_a_module_report_with_a_count_of_4290_digits_is_shown_as_its_digit_count() -> None:
    assert scoring.shown({"parameters": 10**4290, "output_shape": (2, 10)}) == {
        "parameters": "an integer of 4,291 digits", "output_shape": [2, 10]}



def found_as(rubric: ProblemRubric, function: object, **how: object) -> Verdict:
    """The verdict of `function` found under a near name or imported, as the sandbox reports it."""
    from dataclasses import replace

    key = toy_key(ToyMlp())
    outcome = replace(outcome_from(key, function), **how)  # type: ignore[arg-type]
    check = checking.check(key, outcome)
    return scoring.how_found(rubric, key, outcome,
                             scoring.score(rubric, key, check, diagnosis.diagnose(key, check), outcome))


def test_a_near_name_is_graded_with_a_note_and_costs_what_the_rubric_says() -> None:
    near = dict(function_used="calc_mlp_params", near_name=True, other_candidates=("num_mlp_parameters",))
    free = found_as(rubric_for(ToyMlp()), reference_mlp, **near)
    assert (free.status, free.score, free.function) == ("correct", 10.0, "calc_mlp_params")
    assert free.notes[0] == ("graded calc_mlp_params() as mlp_params(): no function has the asked-for name and "
                             "calc_mlp_params is close to it; also close: num_mlp_parameters")
    costly = found_as(rubric_for(ToyMlp(), near_name_deduction=0.1), reference_mlp, **near)
    assert costly.score == pytest.approx(9.0) and costly.notes[0].endswith("(-1 points under the rubric)")
    # A deduction never takes a wrong answer below zero.
    wrong = found_as(rubric_for(ToyMlp(), near_name_deduction=0.5, unexplained_credit=0.0), lambda **a: 0, **near)
    assert wrong.score == 0.0


def test_an_imported_function_is_graded_and_the_rubric_decides_whether_it_counts() -> None:
    imported = dict(imported_from="scipy.special.softmax")
    default = found_as(rubric_for(ToyMlp()), reference_mlp, **imported)
    assert default.score == 10.0 and "scipy.special.softmax, imported, not written" in default.notes[0]
    refused = found_as(rubric_for(ToyMlp(), imported_deduction=1.0), reference_mlp, **imported)
    assert refused.score == 0.0 and refused.notes[0].endswith("(-10 points under the rubric)")
    plain = found_as(rubric_for(ToyMlp()), reference_mlp)
    assert plain.notes == () and plain.score == 10.0


def test_a_float32_answer_earns_full_points_with_a_note_saying_float32_was_accepted() -> None:
    from tests.fixture_students import load_fixture, outcome_of

    key = real_key("p3b")
    outcome = outcome_of(key, load_fixture("float32_torch_softmax.py"))
    check = checking.check(key, outcome)
    verdict = scoring.score(rubric_for(ToySoftmax()), key, check, diagnosis.diagnose(key, check), outcome)
    assert (verdict.status, verdict.score) == ("correct", 10.0)
    assert any("float32 precision" in note for note in verdict.notes)


# --------------------------------------------------------------------------- resource limits

ALLOCATOR = ExecutionError("exception", "RuntimeError: [enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: "
                           "can't allocate memory: you tried to allocate 2466250752 bytes. Error code 12 "
                           "(Cannot allocate memory)", exception_type="RuntimeError")


def p1_outcome(key: object, stopped: ExecutionError, on_large: bool = True) -> ProblemOutcome:
    """p1 counted right on every case but the largest (or the smallest), which `stopped` stopped."""
    from reference import PROBLEMS

    results = []
    sizes = [case.footprint.values if case.footprint else 0 for case in key.cases]  # type: ignore[attr-defined]
    victim = sizes.index(max(sizes) if on_large else min(sizes))
    for index, case in enumerate(key.cases):  # type: ignore[attr-defined]
        value = PROBLEMS["p1"].reference(case.arguments, CONVENTIONS)
        results.append(CallResult(error=stopped) if index == victim else CallResult(value=value))
    return ProblemOutcome("p1", "mlp_params", tuple(results))


def test_one_case_stopped_by_memory_is_partial_with_the_size_it_asked_for() -> None:
    # Counting p1 by building nn.Linear layers: 22 of 23 right, 1.91/10 and an allocator message.
    key = real_key("p1")
    outcome = p1_outcome(key, ALLOCATOR)
    check = checking.check(key, outcome)
    verdict = scoring.score(rubric_for(ToyMlp()), key, check, diagnosis.diagnose(key, check), outcome)
    assert verdict.status == "partial" and verdict.score == pytest.approx(9.0)  # resource_credit 0.9
    assert "Every case your function finished is right" in verdict.explanation
    assert "3·224²·4096 = 617 million weights of the first hidden layer" in verdict.explanation
    assert "2.3 GiB" in verdict.explanation and "multiply the sizes" in verdict.explanation
    shown = json.dumps([case.got for case in verdict.failing])
    assert "DefaultCPUAllocator" not in verdict.explanation + shown and "617 million" in shown


def test_the_resource_credit_is_the_rubrics() -> None:
    key = real_key("p1")
    outcome = p1_outcome(key, ExecutionError("memory", "ran out of memory (MemoryError)", "MemoryError"))
    check = checking.check(key, outcome)
    verdict = scoring.score(rubric_for(ToyMlp(), resource_credit=0.5), key, check, diagnosis.diagnose(key, check),
                            outcome)
    assert (verdict.status, verdict.score) == ("partial", pytest.approx(5.0))


def test_memory_running_out_on_a_small_case_is_not_a_resource_story() -> None:
    # Large cases finished, the smallest did not: the size cannot be why; no resource credit.
    key = real_key("p1")
    outcome = p1_outcome(key, ExecutionError("memory", "ran out of memory (MemoryError)", "MemoryError"),
                         on_large=False)
    check = checking.check(key, outcome)
    verdict = scoring.score(rubric_for(ToyMlp()), key, check, diagnosis.diagnose(key, check), outcome)
    assert "Every case your function finished" not in verdict.explanation and verdict.score < 5


def test_a_process_stopped_on_the_largest_case_names_it_and_the_unrun_cases() -> None:
    key = real_key("p1")
    order = sorted(range(len(key.cases)), key=lambda i: key.cases[i].footprint.values)  # type: ignore[union-attr]
    killed = ExecutionError("timeout", "problem p1 took longer than 5 s and was stopped")
    results = [CallResult()] * len(key.cases)
    from reference import PROBLEMS
    for position, index in enumerate(order):  # the run order: the largest case last but one
        stop = len(order) - 2
        results[index] = CallResult(value=PROBLEMS["p1"].reference(key.cases[index].arguments, CONVENTIONS)) \
            if position < stop else CallResult(error=killed)
    outcome = ProblemOutcome("p1", "mlp_params", tuple(results), error=killed)
    check = checking.check(key, outcome)
    verdict = scoring.score(rubric_for(ToyMlp()), key, check, diagnosis.diagnose(key, check), outcome)
    assert verdict.status == "partial" and "ran out of time" in verdict.explanation
    assert "The case after it was not run" in verdict.explanation
    assert verdict.score == pytest.approx(10 * 0.9 * (verdict.total - 1) / verdict.total)
