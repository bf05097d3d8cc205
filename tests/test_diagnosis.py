"""Diagnosis: smallest matching combination, sensitivity sentences, structural faults, crash stories."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest

from grader.stages import cases, checking, diagnosis
from grader.models import CallResult, Diagnosis, ExecutionError, ProblemKey, ProblemOutcome
from tests.test_cases import CONVENTIONS, ToyMlp, ToySoftmax, rubric_for


def toy_key(problem: ToyMlp | ToySoftmax, student: str = "alice") -> ProblemKey:
    return cases.build_key(problem, rubric_for(problem), CONVENTIONS, student_id=student, seed=9,
                           tags=("public", "hidden", "stress"))


def outcome_from(key: ProblemKey, function: Callable[..., object]) -> ProblemOutcome:
    """What the sandbox would report for a student function (values already plain data)."""
    results = []
    for case in key.cases:
        try:
            with np.errstate(all="ignore"):
                value = function(**case.arguments)
            results.append(CallResult(value=value))
        except Exception as error:  # a student's failure is data
            results.append(CallResult(error=ExecutionError(
                "exception", str(error), exception_type=type(error).__name__)))
    return ProblemOutcome(key.problem_id, key.function, tuple(results))


def diagnose_function(key: ProblemKey, function: Callable[..., object]) -> Diagnosis:
    return diagnosis.diagnose(key, checking.check(key, outcome_from(key, function)))


def outcome_from_row(key: ProblemKey, row: int) -> ProblemOutcome:
    outputs = key.variant_outputs
    values = [int(v) for v in np.asarray(outputs)[row]] if key.kind != "array" else list(outputs[row])  # type: ignore[index]
    return ProblemOutcome(key.problem_id, key.function, tuple(CallResult(value=v) for v in values))


def reference_mlp(N: int, L: int, h: int, n: int) -> int:
    return (3 * N * N + 1) * h + (L - 1) * (h * h + h) + (h + 1) * n


# --------------------------------------------------------------------------- counts


@pytest.mark.parametrize("problem", [ToyMlp(), ToySoftmax()], ids=lambda p: p.id)
def test_every_combination_is_diagnosed_as_itself_or_a_smaller_twin(problem: ToyMlp) -> None:
    key = toy_key(problem)
    for row, combination in enumerate(key.combinations):
        found = diagnosis.diagnose(key, checking.check(key, outcome_from_row(key, row)))
        if len(combination) <= 1:
            assert found.misconceptions == combination, combination
        elif found.misconceptions != combination:
            # naive exp + linear normalisation never calls exp: linear alone is the smaller name.
            twin = key.combinations.index(found.misconceptions)
            assert len(found.misconceptions) < len(combination)
            pairs = zip(outcome_from_row(key, twin).results, outcome_from_row(key, row).results)
            assert all(checking.arrays_agree(np.asarray(a.value, dtype=float), np.asarray(b.value, dtype=float),
                                             *key.tolerance) for a, b in pairs)


def test_write_up_style_answer_is_input_as_layer() -> None:
    key = toy_key(ToyMlp())
    found = diagnose_function(key, lambda N, L, h, n: (3 * N * N + 1) * h + (L - 2) * (h * h + h) + (h * n + n))
    assert found.misconceptions == ("input-as-layer",)
    assert found.cluster_key is None  # explained answers need no cluster


def test_right_answer_has_no_diagnosis() -> None:
    key = toy_key(ToyMlp())
    assert diagnose_function(key, reference_mlp) == Diagnosis()


def test_a_count_beyond_int64_is_explained_not_a_crash_of_the_run() -> None:
    # A student's 10**30 reached numpy's int64 comparison and stopped the whole class's run.
    found = diagnose_function(toy_key(ToyMlp()), lambda N, L, h, n: 10**30)
    assert found.misconceptions == () and found.explanation


def test_sensitivity_names_the_parameter_and_the_numbers() -> None:
    key = toy_key(ToyMlp())
    # Two parameters short per output node: no catalogued mistake does that.
    found = diagnose_function(key, lambda N, L, h, n: reference_mlp(N, L, h, n) - 2 * n)
    assert found.misconceptions == ()
    base = next(case for case in key.cases if case.tag == "hidden").arguments
    h = base["h"]
    assert f"Adding one output node should add {h + 1} parameters; yours adds {h - 1}" in found.explanation
    assert found.cluster_key is not None


def test_biggest_sensitivity_difference_comes_first() -> None:
    key = toy_key(ToyMlp())
    found = diagnose_function(key, lambda N, L, h, n: reference_mlp(N, L, h, n) - n - 1000 * L)
    assert found.explanation.index("hidden layer") < found.explanation.index("output node")


def test_constant_offset_is_named() -> None:
    key = toy_key(ToyMlp())
    found = diagnose_function(key, lambda N, L, h, n: reference_mlp(N, L, h, n) + 7)
    assert "always +7 from the right count" in found.explanation
    assert found.faults == ("constant-offset",)


def test_identical_unexplained_answers_share_a_cluster_across_students() -> None:
    wrong = lambda N, L, h, n: reference_mlp(N, L, h, n) + 3 * h  # noqa: E731
    other = lambda N, L, h, n: reference_mlp(N, L, h, n) + 5 * h  # noqa: E731
    alice, bob = toy_key(ToyMlp(), "alice"), toy_key(ToyMlp(), "bob")
    assert diagnose_function(alice, wrong).cluster_key == diagnose_function(bob, wrong).cluster_key
    assert diagnose_function(alice, wrong).cluster_key != diagnose_function(alice, other).cluster_key


def test_cluster_ignores_floating_point_noise_but_not_a_different_answer() -> None:
    key = toy_key(ToySoftmax())
    doubled = diagnose_function(key, lambda z: 2 * stable(z))
    noisy = diagnose_function(key, lambda z: 2 * stable(z) * (1 + 1e-12) - 0.0)
    tripled = diagnose_function(key, lambda z: 3 * stable(z))
    assert doubled.cluster_key == noisy.cluster_key != tripled.cluster_key


# --------------------------------------------------------------------------- arrays


def stable(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def test_naive_exp_is_right_on_ordinary_logits_and_nan_on_large_ones() -> None:
    key = toy_key(ToySoftmax())
    found = diagnose_function(key, lambda z: np.exp(z) / np.exp(z).sum())
    assert found.misconceptions == ("naive-exp-overflow",)


def test_scaled_answer_names_scale_and_sums() -> None:
    key = toy_key(ToySoftmax())
    found = diagnose_function(key, lambda z: 2 * stable(z))
    assert found.misconceptions == ()
    assert {"scale", "sums"} <= set(found.faults)
    assert "≈ 2 × the expected one" in found.explanation


def test_column_vector_names_the_shape() -> None:
    key = toy_key(ToySoftmax())
    found = diagnose_function(key, lambda z: stable(z).reshape(-1, 1))
    assert found.faults[0] == "shape"
    # The smallest failing case is quoted, whatever its length K.
    assert re.search(r"returns shape \((\d+), 1\) where \(\1,\) is expected", found.explanation)


def test_scalar_names_the_shape() -> None:
    key = toy_key(ToySoftmax())
    found = diagnose_function(key, lambda z: float(stable(z)[0]))
    assert found.faults == ("shape",)
    assert "returns a scalar" in found.explanation


def test_nan_where_the_answer_is_finite_is_located() -> None:
    key = toy_key(ToySoftmax())
    found = diagnose_function(key, lambda z: np.where(z > 100, np.nan, stable(z)))
    assert found.faults == ("non-finite",)
    assert "NaN at position 2 for z = [  1. ,   3.5, 757. ,  -5. ]" in found.explanation


def test_transposed_and_sign_and_symmetry_faults() -> None:
    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    names = [name for name, _ in diagnosis.array_faults(expected.T, expected, 1e-6, 1e-9, "")]
    assert "transposed" in names
    assert [name for name, _ in diagnosis.array_faults(-expected, expected, 1e-6, 1e-9, "")][0] == "sign"
    p = stable(np.array([0.2, 1.0, -0.5]))
    jacobian = np.diag(p) - np.outer(p, p)
    lopsided = jacobian + np.triu(np.full((3, 3), 0.1), 1)
    names = [name for name, _ in diagnosis.array_faults(lopsided, jacobian, 1e-6, 1e-9, "")]
    assert "symmetry" in names and "row-sums" in names and "column-sums" in names


# --------------------------------------------------------------------------- crash stories


def test_batch_assumption_on_a_vector_is_explained() -> None:
    key = toy_key(ToySoftmax())

    def batched(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=1, keepdims=True))  # AxisError on a 1-D z
        return e / e.sum(axis=1, keepdims=True)

    found = diagnose_function(key, batched)
    assert "assumes a batch (2-D input) but z is a 1-D vector" in found.explanation
    assert "axis" in found.faults


def test_a_none_return_without_the_source_gets_neutral_words() -> None:
    key = toy_key(ToySoftmax())
    found = diagnose_function(key, lambda z: None)
    assert found.explanation == diagnosis.TEMPLATES["returns_none_neutral"]
    assert "missing" not in found.explanation


def test_other_exceptions_are_counted() -> None:
    key = toy_key(ToyMlp())

    def fragile(N: int, L: int, h: int, n: int) -> int:
        if N > 100:
            raise OverflowError("too big")
        return reference_mlp(N, L, h, n)

    found = diagnose_function(key, fragile)
    assert found.misconceptions == ()
    assert "raised OverflowError on 1 of" in found.explanation


# --------------------------------------------------------------------------- the real problems

def _real_problems() -> dict[str, object]:
    """The registry, or while it is being written, whichever problem modules already exist."""
    try:
        from reference import PROBLEMS as registry
        return dict(registry)
    except ImportError:
        found = {}
        for module_name in ("mlp", "cnn", "softmax", "jacobian", "cross_entropy"):
            try:
                module = __import__(f"reference.{module_name}", fromlist=["PROBLEM"])
                found[module.PROBLEM.id] = module.PROBLEM
            except (ImportError, AttributeError):
                continue
        return found


PROBLEMS = _real_problems()
needs_registry = pytest.mark.skipif(not PROBLEMS, reason="no reference problem is written yet")


def real_key(problem_id: str, student: str = "writeup") -> ProblemKey:
    if problem_id not in PROBLEMS:
        pytest.skip(f"reference problem {problem_id} is not written yet")
    problem = PROBLEMS[problem_id]
    return cases.build_key(problem, rubric_for(problem), CONVENTIONS, student_id=student, seed=2024,
                           tags=("public", "hidden", "stress"))


@needs_registry
def test_write_up_problem_1_is_exactly_input_as_layer() -> None:
    key = real_key("p1")
    found = diagnose_function(key, lambda N, L, h, n: (3 * N * N + 1) * h + (L - 2) * (h * h + h) + (h * n + n))
    assert found.misconceptions == ("input-as-layer",)


@needs_registry
def test_write_up_problem_2_is_exactly_its_six_ids() -> None:
    key = real_key("p2")
    found = diagnose_function(
        key, lambda N, L, k, d, F, h, n_out: L * d * (k * k + 1) + (F - 2) * h + d * (k * k + 1) * h + n_out * h)
    assert set(found.misconceptions) == {"conv-ignores-input-channels", "flatten-is-filter-params", "fc-no-bias",
                                         "fc-F-minus-2", "fc-weights-linear-in-h", "output-no-bias"}
    assert len(found.misconceptions) == 6


@needs_registry
@pytest.mark.parametrize("problem_id", ["p1", "p2", "p3a", "p3b", "p3c"])
def test_every_catalog_entry_of_a_real_problem_is_diagnosed_as_itself(problem_id: str) -> None:
    key = real_key(problem_id)
    for row, combination in enumerate(key.combinations):
        if len(combination) == 1:
            found = diagnosis.diagnose(key, checking.check(key, outcome_from_row(key, row)))
            assert found.misconceptions == combination


def naive(z: np.ndarray) -> np.ndarray:
    return np.exp(z) / np.exp(z).sum()


@needs_registry
@pytest.mark.parametrize("problem_id, function", [
    ("p3a", lambda z: naive(z)),
    ("p3b", lambda z: np.diag(naive(z)) - np.outer(naive(z), naive(z))),
    ("p3c", lambda z, y: naive(z) * y.sum() - y),
])
def test_naive_exp_overflow_on_every_softmax_problem(problem_id: str, function: Callable[..., object]) -> None:
    assert diagnose_function(real_key(problem_id), function).misconceptions == ("naive-exp-overflow",)


@needs_registry
def test_jacobian_with_the_sign_flipped() -> None:
    found = diagnose_function(real_key("p3b"), lambda z: np.outer(stable(z), stable(z)) - np.diag(stable(z)))
    assert found.misconceptions == ("sign-flipped",)


def test_a_problem_where_every_call_failed_gets_its_error_story_and_no_cluster() -> None:
    key = real_key("p1")
    failure = ExecutionError("invalid-output", "returned a Anything; expected a number")
    outcome = ProblemOutcome(problem_id=key.problem_id, function_used="mlp_params",
                             results=tuple(CallResult(error=failure) for _ in key.cases))
    found = diagnosis.diagnose(key, checking.check(key, outcome))
    assert found.cluster_key is None
    assert found.misconceptions == ()
    assert "Changing one input" not in found.explanation


def test_answers_that_differ_only_on_stress_cases_are_not_one_cluster() -> None:
    # Issue 15: clusters keyed on public cases alone grouped these two (the stress cases are
    # class-wide too, and where two formulas part ways is often exactly there).
    key = toy_key(ToyMlp())
    stress = {cases.case_identity(case.arguments) for case in key.cases if case.tag == "stress"}
    assert stress and any(case.tag == "public" for case in key.cases)

    def wrong(N: int, L: int, h: int, n: int) -> int:
        return reference_mlp(N, L, h, n) + 3 * h

    def wrong_again_but_not_on_stress(N: int, L: int, h: int, n: int) -> int:
        on_stress = cases.case_identity({"N": N, "L": L, "h": h, "n": n}) in stress
        return reference_mlp(N, L, h, n) + (4 if on_stress else 3) * h

    first, second = diagnose_function(key, wrong), diagnose_function(key, wrong_again_but_not_on_stress)
    assert first.cluster_key is not None and second.cluster_key is not None
    assert first.cluster_key != second.cluster_key


# --------------------------------------------------------------------------- real student code

from tests.fixture_students import grade_fixture, units_of  # noqa: E402


def test_a_missing_return_is_said_only_of_a_function_without_one() -> None:
    key = real_key("p1")
    source = units_of("../../../submissions/missing_return_mlp.py")
    check = checking.check(key, outcome_from(key, lambda N, L, h, n: None))
    found = diagnosis.diagnose(key, check, source, "mlp_params")
    assert "prints its result, but a `return` statement is missing" in found.explanation


def test_a_variable_still_none_is_named_not_called_a_missing_return() -> None:
    check, found = grade_fixture(real_key("p3b"), "returns_variable_still_none.py")
    assert "returns jacobian, which is still None" in found.explanation
    assert "statement is missing" not in found.explanation


def test_a_pass_body_is_the_templates_placeholder() -> None:
    _, found = grade_fixture(real_key("p3b"), "template_pass_body.py")
    assert "still the template's placeholder" in found.explanation


@pytest.mark.parametrize("problem_id", ["p3a", "p3b"])
def test_all_zeros_is_an_unfinished_template_and_no_shared_answer(problem_id: str) -> None:
    _, found = grade_fixture(real_key(problem_id), "template_returns_zeros.py")
    assert found.faults == ("unfinished",) and "returns all zeros" in found.explanation
    assert found.cluster_key is None  # every unfinished template gives these zeros


def test_the_input_returned_unchanged_is_an_unfinished_template() -> None:
    _, found = grade_fixture(real_key("p3a"), "template_returns_input.py")
    assert "returns its input z unchanged" in found.explanation and found.cluster_key is None


def test_the_jacobians_diagonal_as_a_vector_is_diagonal_only_like_the_matrix_form() -> None:
    # It got only "returns shape (4,)", while the same values as a matrix got diagonal-only.
    _, found = grade_fixture(real_key("p3b"), "jacobian_diagonal_as_vector.py")
    assert found.misconceptions == ("diagonal-only",)
    assert "only its diagonal" in found.explanation and "diagonal-vector" in found.faults


def test_one_row_of_the_jacobian_is_named() -> None:
    _, found = grade_fixture(real_key("p3b"), "jacobian_one_row.py")
    assert "one-row" in found.faults and "returns one row of the expected matrix" in found.explanation


def test_a_flattened_jacobian_is_right_values_rearranged() -> None:
    _, found = grade_fixture(real_key("p3b"), "jacobian_flattened.py")
    assert "rearranged" in found.faults and "Reshaped, the values are right" in found.explanation
    assert found.cluster_key is None


def test_a_flattened_wrong_jacobian_names_its_mistake() -> None:
    _, found = grade_fixture(real_key("p3b"), "jacobian_sign_flipped_flattened.py")
    assert found.misconceptions == ("sign-flipped",) and "rearranged" in found.faults


def test_an_unexplained_count_varies_k_by_two_under_same_padding_and_blames_the_kernel() -> None:
    # Varied by +1 only, k (odd under "same" padding) was never varied and nothing named it.
    key = real_key("p2")
    _, found = grade_fixture(key, "cnn_kernel_not_squared.py")
    assert found.misconceptions == ()
    assert re.search(r"Changing k \(kernel side\) from (\d+) to (\d+) should add", found.explanation), found.explanation
    probes = [case for case in key.cases if case.tag == "probe"]
    assert {case.varied for case in probes} == {"N", "L", "k", "d", "F", "h", "n_out"}


def test_a_sigmoids_nan_is_named_without_the_max_subtraction_advice() -> None:
    # It was told to "subtract max(z)", which would change every value of a sigmoid.
    _, found = grade_fixture(real_key("p3a"), "sigmoid_instead_nan.py")
    assert found.misconceptions == ("sigmoid-instead",)
    assert "exp(757) overflows to inf, and inf / inf is NaN." in found.explanation
    assert "subtract max(z)" not in found.explanation


def test_a_nan_with_no_overflow_near_is_blamed_on_the_formula() -> None:
    _, found = grade_fixture(real_key("p3a"), "softmax_nan_from_division.py")
    assert "no exp overflows on these logits" in found.explanation and "subtract max(z)" not in found.explanation


def test_a_nan_that_max_subtraction_fixes_gets_that_advice() -> None:
    _, found = grade_fixture(real_key("p3a"), "softmax_overflows_only.py")
    assert "subtract max(z) before exp" in found.explanation


def test_targets_are_printed_as_meaningful_numbers_not_float_noise() -> None:
    # "The values should sum to -1.11022e-16": a cross-entropy gradient sums to 0.
    key = real_key("p3c", "float64-student")
    found = diagnose_function(key, lambda z, y: 2 * (stable(z) * y.sum() - y) + 0.01)
    assert "should sum to 0;" in found.explanation and "e-1" not in found.explanation.split("yours")[0]
    p = stable(np.array([0.5, -1.0, 2.0]))
    jacobian = np.diag(p) - np.outer(p, p)
    sentences = [text for _, text in diagnosis.array_faults(jacobian + 0.1, jacobian, 1e-6, 1e-9, "")]
    assert any("Each row should sum to 0;" in text for text in sentences), sentences


def test_clusters_compare_answers_at_the_accepted_precision() -> None:
    # One wrong formula, computed in float32 by one student and float64 by another, is one
    # shared answer at float32 precision; float noise must not split or group students.
    key = real_key("p3b")
    doubled = lambda z: 2 * (np.diag(stable(z)) - np.outer(stable(z), stable(z)))  # noqa: E731
    as_float32 = lambda z: doubled(z).astype(np.float32).astype(np.float64)  # noqa: E731
    assert diagnosis.cluster_digits(key.tolerance) == 4
    assert diagnose_function(key, doubled).cluster_key == diagnose_function(key, as_float32).cluster_key


def test_memory_running_out_on_a_tiny_case_blames_the_code_not_the_case() -> None:
    # A memory bomb on N = 1: the case asks for 3 weights; its size explains nothing.
    key = real_key("p1")
    bomb = ExecutionError("memory", "ran out of memory (MemoryError)", exception_type="MemoryError")
    outcome = ProblemOutcome("p1", "mlp_params", tuple(CallResult(error=bomb) for _ in key.cases))
    found = diagnosis.diagnose(key, checking.check(key, outcome))
    assert "ran out of memory, although its largest layer holds only" in found.explanation
    assert "the memory went elsewhere in your code" in found.explanation
