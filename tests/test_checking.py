"""Checking: exact counts, arrays within tolerance, NaN only where the reference has it, modules."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from grader.stages import cases, checking
from grader.models import CallResult, ExecutionError, ProblemKey, ProblemOutcome
from tests.test_cases import CONVENTIONS, ToyMlp, ToySoftmax, rubric_for


def count_key() -> ProblemKey:
    problem = ToyMlp()
    return cases.public_key(problem, rubric_for(problem), CONVENTIONS)


def array_key() -> ProblemKey:
    problem = ToySoftmax()
    return cases.public_key(problem, rubric_for(problem), CONVENTIONS)


def outcome_of(key: ProblemKey, values: list[object]) -> ProblemOutcome:
    return ProblemOutcome(key.problem_id, key.function, tuple(CallResult(value=v) for v in values))


def test_counts_compare_exactly() -> None:
    key = count_key()
    right = list(key.expected)
    wrong = [int(v) + 1 for v in right]  # type: ignore[arg-type]
    assert checking.check(key, outcome_of(key, right)).passed == len(key.cases) - 4  # probes excluded
    result = checking.check(key, outcome_of(key, wrong))
    assert not any(c.passed for c in result.checks)


def test_integral_float_is_accepted_with_a_note_and_other_types_are_wrong() -> None:
    key = count_key()
    counts = [int(v) for v in key.expected]  # type: ignore[arg-type]
    expected = counts[0]
    values = [float(counts[0]), counts[1] + 0.5, True, str(counts[3]), np.array(counts[4]), np.array([counts[5]])]
    checks = checking.check(key, outcome_of(key, values + counts[len(values):])).checks
    assert checks[0].passed and checks[0].note == f"returned {float(expected)!r}, a float; counts are integers"
    assert not checks[1].passed and "not a whole number" in checks[1].note
    assert not checks[2].passed and "a bool" in checks[2].note  # True is an int to Python, not a count
    assert not checks[3].passed and "str" in checks[3].note
    assert checks[4].passed  # a 0-d array is a scalar
    assert not checks[5].passed and "shape (1,)" in checks[5].note


def test_none_and_errors_fail_with_the_error_attached() -> None:
    key = count_key()
    crash = ExecutionError("exception", "division by zero", exception_type="ZeroDivisionError")
    results = (CallResult(value=None), CallResult(error=crash)) + tuple(
        CallResult(value=v) for v in key.expected[2:])
    checks = checking.check(key, ProblemOutcome(key.problem_id, key.function, results)).checks
    assert not checks[0].passed and checks[0].error == checking.RETURNED_NONE
    assert not checks[1].passed and checks[1].error is crash
    assert all(c.passed for c in checks[2:])


def test_problem_level_error_fails_every_case_without_a_result() -> None:
    key = count_key()
    timeout = ExecutionError("timeout", "took longer than 5 s")
    outcome = ProblemOutcome(key.problem_id, key.function, (CallResult(value=key.expected[0]),), error=timeout)
    checks = checking.check(key, outcome).checks
    assert checks[0].passed
    assert all(not c.passed and c.error is timeout for c in checks[1:])


def test_arrays_compare_by_shape_then_tolerance() -> None:
    key = array_key()
    right = [np.asarray(v) for v in key.expected]
    nudged = [v * (1 + 1e-9) for v in right]
    assert checking.check(key, outcome_of(key, nudged)).passed == len(key.cases)
    off = [v + 1e-3 for v in right]
    assert checking.check(key, outcome_of(key, off)).passed == 0
    column = [v.reshape(-1, 1) for v in right]
    checks = checking.check(key, outcome_of(key, column)).checks
    assert not checks[0].passed and checks[0].note == "returned shape (3, 1); expected shape (3,)"
    assert not checking.check(key, outcome_of(key, ["text"] * len(right))).checks[0].passed


def test_lists_are_fine_and_the_parent_owns_a_float64_copy() -> None:
    key = array_key()
    student_array = np.asarray(key.expected[0]).astype(np.float32)
    checks = checking.check(key, outcome_of(key, [student_array] + list(key.expected[1:]))).checks
    assert checks[0].passed
    assert checking.as_array(student_array) is not student_array
    assert checking.as_array(student_array).dtype == np.float64  # type: ignore[union-attr]


def test_nan_is_wrong_unless_the_reference_has_it_at_that_place() -> None:
    expected = np.array([0.1, np.nan, np.inf])
    assert checking.arrays_agree(np.array([0.1, np.nan, np.inf]), expected, 1e-6, 1e-9)
    assert not checking.arrays_agree(np.array([0.1, np.nan, -np.inf]), expected, 1e-6, 1e-9)
    assert not checking.arrays_agree(np.array([np.nan, np.nan, np.inf]), expected, 1e-6, 1e-9)
    assert not checking.arrays_agree(np.array([0.1, 0.5, np.inf]), expected, 1e-6, 1e-9)
    key = array_key()
    overflow_index = next(i for i, c in enumerate(key.cases) if 757.0 in c.arguments["z"])  # type: ignore[operator]
    values = list(key.expected)
    values[overflow_index] = np.array([0.0, 0.0, np.nan, 0.0])
    assert not checking.check(key, outcome_of(key, values)).checks[overflow_index].passed


def test_modules_compare_parameters_exactly_and_output_shape() -> None:
    key = replace(count_key(), kind="module",
                  expected=tuple({"parameters": int(v), "output_shape": (2, 10)} for v in count_key().expected))  # type: ignore[arg-type]
    right = [{"parameters": int(v["parameters"]), "output_shape": [2, 10]} for v in key.expected]  # type: ignore[index]
    check = checking.check(key, outcome_of(key, right))  # type: ignore[arg-type]
    assert check.passed == check.total and all(c.passed for c in check.checks)
    wrong_shape = [dict(v, output_shape=(2, 9)) for v in right]
    checks = checking.check(key, outcome_of(key, wrong_shape)).checks  # type: ignore[arg-type]
    assert not checks[0].passed and "output has shape (2, 9)" in checks[0].note
    wrong_count = [dict(v, parameters=v["parameters"] + 1) for v in right]  # type: ignore[operator]
    assert checking.check(key, outcome_of(key, wrong_count)).passed == 0  # type: ignore[arg-type]


def test_mutated_input_is_noted_on_a_passing_case() -> None:
    key = count_key()
    results = (CallResult(value=key.expected[0], mutated_input=True),) + tuple(
        CallResult(value=v) for v in key.expected[1:])
    check = checking.check(key, ProblemOutcome(key.problem_id, key.function, results))
    assert check.checks[0].passed and check.checks[0].note == "changed its input array in place"


def test_numbers_past_int64_or_float64_are_no_answer_not_a_crash() -> None:
    # 1e19 is integral but no count; 10**400 is no float64: both stopped the run once.
    assert checking.as_count(1e19) == (None, "returned an integer of 20 digits; no count of parameters is that large")
    assert checking.as_array(10**400) is None



# --------------------------------------------------------------------------- precision policy

from reference import PROBLEMS  # noqa: E402
from grader.stages.precision import PRECISIONS  # noqa: E402
from tests.fixture_students import grade_fixture, load_fixture  # noqa: E402
from tests.fixture_students import outcome_of as _outcome_of  # noqa: E402


def outcome_of_fixture(key: ProblemKey, name: str) -> ProblemOutcome:
    return _outcome_of(key, load_fixture(name))


def real_key(problem_id: str, precision: str = "float32", student: str = "ada") -> ProblemKey:
    problem = PROBLEMS[problem_id]
    policy = rubric_for(problem, tolerance=PRECISIONS[precision], precision=precision)  # type: ignore[arg-type]
    return cases.build_key(problem, policy, CONVENTIONS, student_id=student, seed=11,
                           tags=("public", "hidden", "stress"))


@pytest.mark.parametrize("fixture", ["float32_torch_softmax.py", "float32_numpy_softmax.py"])
@pytest.mark.parametrize("problem_id", ["p3a", "p3b", "p3c"])
def test_float32_answers_are_right_under_the_default_precision(fixture: str, problem_id: str) -> None:
    # torch's default float32 scored 0/10 on 3(b) and 3(c): 2.5e-6 against a tolerance of 1e-6.
    check, found = grade_fixture(real_key(problem_id), fixture)
    assert check.passed == check.total, [c.note for c in check.checks if not c.passed]
    assert found.misconceptions == () and found.explanation == ""


@pytest.mark.parametrize("problem_id", ["p3b", "p3c"])
def test_float32_answers_fail_a_float64_rubric_and_are_told_why(problem_id: str) -> None:
    check, found = grade_fixture(real_key(problem_id, "float64"), "float32_torch_softmax.py")
    assert check.passed < check.total
    assert "precision" in found.faults and "float32 precision only" in found.explanation
    assert found.cluster_key is None  # float noise is no shared answer


def test_a_float32_answer_that_is_right_carries_the_note_that_float32_was_accepted() -> None:
    key = real_key("p3b")
    check, _ = grade_fixture(key, "float32_torch_softmax.py")
    note = checking.precision_note(key, check)
    assert "float32 precision" in note and 'precision = "float32"' in note
    exact, _ = grade_fixture(key, "../../../submissions/alan_turing_torch.py")  # float64 torch
    assert checking.precision_note(key, exact) == ""


@pytest.mark.parametrize("problem_id", ["p3a", "p3b", "p3c"])
def test_every_catalogued_mistake_stays_distinguishable_at_float32_precision(problem_id: str) -> None:
    # On the class-wide cases every student gets, each combination differs from the reference.
    key = real_key(problem_id)
    shared = [index for index, case in enumerate(key.cases) if case.tag in ("public", "stress")]
    rows = key.variant_outputs
    for row, combination in enumerate(key.combinations[1:], start=1):
        assert any(not checking.arrays_agree(np.asarray(rows[row][index]), np.asarray(rows[0][index]),  # type: ignore[index]
                                             *key.tolerance) for index in shared), combination


@pytest.mark.parametrize("problem_id", ["p3a", "p3b", "p3c"])
def test_every_catalogued_mistake_in_float32_is_still_named_as_itself(problem_id: str) -> None:
    from grader.stages import diagnosis
    key = real_key(problem_id)
    for row, combination in enumerate(key.combinations):
        if len(combination) != 1:
            continue
        values = [np.asarray(value, dtype=np.float32).astype(np.float64) for value in key.variant_outputs[row]]  # type: ignore[index]
        outcome = ProblemOutcome(key.problem_id, key.function, tuple(CallResult(value=v) for v in values))
        assert diagnosis.diagnose(key, checking.check(key, outcome)).misconceptions == combination


@pytest.mark.parametrize("problem_id", ["p3a", "p3b", "p3c"])
def test_a_float32_naive_softmax_is_still_named_on_the_stress_logits(problem_id: str) -> None:
    # float32's exp overflows at 88.7, not 709, and underflows sooner: on 757 and -1000 the
    # NaN pattern is the float64 naive softmax's, so the mistake keeps its name.
    from grader.stages import diagnosis
    key = real_key(problem_id)
    check = checking.check(key, outcome_of_fixture(key, "float32_naive_softmax.py"))
    assert diagnosis.diagnose(key, check).misconceptions == ("naive-exp-overflow",)
