"""Case generation: seeded per student, distinct, with probes, variant tables and fast keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from grader.stages import cases
from grader.models import ProblemKey
from grader.rubric import CaseCounts, MisconceptionPolicy, ProblemRubric
from reference.problem import (Arguments, ArrayProblem, Conventions, CountProblem, Domain,
                               Misconception, Parameter)

CONVENTIONS = Conventions()


class ToyMlp(CountProblem):
    """Problem 1's formula with two of its catalogued mistakes, for tests that need no registry."""

    id = "toy-mlp"
    title = "Toy MLP"
    function = "mlp_params"
    aliases = ("count_mlp_params",)
    parameters = (Parameter("N", "image side", "making the image one pixel wider"),
                  Parameter("L", "hidden layers", "adding one hidden layer"),
                  Parameter("h", "hidden units", "adding one hidden unit"),
                  Parameter("n", "output nodes", "adding one output node"))
    catalog = (Misconception("input-as-layer", "Input counted as a layer", "The input is not a layer."),
               Misconception("output-no-bias", "Output layer without bias", "Output nodes have biases."))
    default_domain = {"N": (2, 32), "L": (1, 5), "h": (1, 128), "n": (1, 20)}

    def count(self, arguments: Mapping[str, np.ndarray], mistakes: Mapping[str, np.ndarray],
              conventions: Conventions) -> np.ndarray:
        N, L, h, n = (arguments[name] for name in "NLhn")
        transitions = np.where(mistakes["input-as-layer"], L - 2, L - 1)
        output = np.where(mistakes["output-no-bias"], h * n, (h + 1) * n)
        return (3 * N * N + 1) * h + transitions * (h * h + h) + output

    def terms(self, arguments: Arguments, conventions: Conventions) -> list[tuple[str, str, int]]:
        N, L, h, n = (int(arguments[name]) for name in "NLhn")
        return [("input->hidden", "(3N² + 1)·h", (3 * N * N + 1) * h),
                ("hidden->hidden", "(L − 1)·(h² + h)", (L - 1) * (h * h + h)),
                ("hidden->output", "(h + 1)·n", (h + 1) * n)]

    def draw(self, rng: np.random.Generator, domain: Domain, conventions: Conventions) -> Arguments:
        return {name: int(rng.integers(low, high + 1)) for name, (low, high) in domain.items()}

    def public_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        return ({"N": 2, "L": 1, "h": 3, "n": 2}, {"N": 4, "L": 2, "h": 8, "n": 10},
                {"N": 8, "L": 3, "h": 16, "n": 5}, {"N": 3, "L": 4, "h": 2, "n": 1})

    def stress_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        return ({"N": 224, "L": 5, "h": 4096, "n": 1000},)

    def simpler(self, arguments: Arguments, domain: Domain, conventions: Conventions) -> list[Arguments]:
        smaller = []
        for name, (low, _) in domain.items():
            if arguments[name] > low:
                smaller.append({**arguments, name: int(low)})
                smaller.append({**arguments, name: int(arguments[name]) // 2 or int(low)})
        return smaller

    def neighbours(self, arguments: Arguments, conventions: Conventions) -> list[tuple[str, Arguments]]:
        return [(name, {**arguments, name: int(arguments[name]) + 1}) for name in self.parameter_names]


def _softmax(arguments: Arguments, softmax) -> np.ndarray:  # type: ignore[no-untyped-def]
    return softmax(arguments["z"])


class ToySoftmax(ArrayProblem):
    """Problem 3(a) in miniature: the reference, naive overflow and two normalisation mistakes."""

    id = "toy-softmax"
    title = "Toy softmax"
    function = "softmax"
    aliases = ()
    parameters = (Parameter("z", "logits", "adding one logit"),)
    catalog = (Misconception("naive-exp-overflow", "Naive exp", "Subtract max(z) first."),
               Misconception("linear-normalisation", "Linear", "Use exp."),
               Misconception("no-normalisation", "No normalisation", "Divide by the sum."))
    variants = {
        "": _softmax,
        "linear-normalisation": lambda arguments, softmax: arguments["z"] / np.sum(arguments["z"]),
        "no-normalisation": lambda arguments, softmax: np.exp(arguments["z"]),
    }
    default_domain = {"K": (2, 8), "scale": (0.1, 5.0)}

    def draw(self, rng: np.random.Generator, domain: Domain, conventions: Conventions) -> Arguments:
        low, high = domain["K"]
        size = int(rng.integers(int(low), int(high) + 1))
        return {"z": rng.normal(0.0, domain["scale"][1], size=size)}

    def public_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        return ({"z": np.array([1.0, 2.0, 3.0])}, {"z": np.array([0.5, -0.5])})

    def stress_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        return ({"z": np.array([1.0, 3.5, 757.0, -5.0])}, {"z": np.array([-1000.0, -1001.0])},
                {"z": np.array([2.0])})

    def simpler(self, arguments: Arguments, domain: Domain, conventions: Conventions) -> list[Arguments]:
        z = arguments["z"]
        return [{"z": z[:size]} for size in range(1, len(z))]


def rubric_for(problem: CountProblem | ArrayProblem, hidden: int = 20, **changes: object) -> ProblemRubric:
    """A rubric entry for a toy problem: every catalog entry costs a quarter."""
    settings: dict[str, object] = dict(
        problem_id=problem.id, points=10.0, function=problem.function, aliases=problem.aliases,
        domain={}, cases=CaseCounts(public=3, hidden=hidden, stress=True),
        misconceptions={entry.id: MisconceptionPolicy(0.25) for entry in problem.catalog},
        unexplained_credit=0.5, error_credit=0.1, note_credit=0.9)
    settings.update(changes)
    return ProblemRubric(**settings)  # type: ignore[arg-type]


def hidden_arguments(key: ProblemKey) -> list[Mapping[str, object]]:
    return [case.arguments for case in key.cases if case.tag == "hidden"]


def identities(arguments: Sequence[Arguments]) -> list[tuple[object, ...]]:
    return [cases.case_identity(values) for values in arguments]


# --------------------------------------------------------------------------- seeds and draws


def test_derive_seed_is_stable_and_separates_students_and_problems() -> None:
    assert cases.derive_seed(7, "alice", "p1") == cases.derive_seed(7, "alice", "p1")
    assert cases.derive_seed(7, "alice", "p1") != cases.derive_seed(7, "bob", "p1")
    assert cases.derive_seed(7, "alice", "p1") != cases.derive_seed(7, "alice", "p2")
    assert cases.derive_seed(7, "alice", "p1") != cases.derive_seed(8, "alice", "p1")
    # Fixed value: a change of hash would silently give every student new cases on a regrade.
    assert cases.derive_seed(0, "", "") == int.from_bytes(
        __import__("hashlib").sha256(b"0\x00\x00").digest()[:8], "big")


@pytest.mark.parametrize("problem", [ToyMlp(), ToySoftmax()], ids=lambda p: p.id)
def test_same_student_same_cases_other_student_other_cases(problem: CountProblem) -> None:
    rubric = rubric_for(problem)
    first = cases.build_key(problem, rubric, CONVENTIONS, student_id="alice", seed=11)
    again = cases.build_key(problem, rubric, CONVENTIONS, student_id="alice", seed=11)
    other = cases.build_key(problem, rubric, CONVENTIONS, student_id="bob", seed=11)
    assert identities(hidden_arguments(first)) == identities(hidden_arguments(again))
    assert identities(hidden_arguments(first)) != identities(hidden_arguments(other))
    assert len(hidden_arguments(first)) == 20
    assert len(set(identities(hidden_arguments(first)))) == 20  # distinct


def test_tiny_domain_gives_fewer_distinct_cases_instead_of_hanging() -> None:
    problem = ToyMlp()
    rubric = rubric_for(problem, domain={"N": (2, 2), "L": (1, 1), "h": (1, 2), "n": (1, 1)})
    key = cases.build_key(problem, rubric, CONVENTIONS, student_id="alice", seed=1)
    assert sorted(case["h"] for case in hidden_arguments(key)) == [1, 2]


def test_key_holds_expected_values_probes_catalog_and_table() -> None:
    problem = ToyMlp()
    rubric = rubric_for(problem, misconceptions={
        "input-as-layer": MisconceptionPolicy(0.5, feedback="Rubric's own words."),
        "output-no-bias": MisconceptionPolicy(0.25)})
    key = cases.build_key(problem, rubric, CONVENTIONS, student_id="alice", seed=3)
    tags = [case.tag for case in key.cases]
    assert tags == ["stress"] + ["hidden"] * 20 + ["probe"] * 4
    probes = [case for case in key.cases if case.tag == "probe"]
    assert [probe.varied for probe in probes] == ["N", "L", "h", "n"]
    assert all(probe.base_index == 1 for probe in probes)  # the first hidden case
    for case, expected in zip(key.cases, key.expected):
        assert expected == problem.reference(case.arguments, CONVENTIONS)
    table = np.asarray(key.variant_outputs)
    assert table.dtype == np.int64 and table.shape == (4, len(key.cases))
    fresh = problem.variant_table([case.arguments for case in key.cases], CONVENTIONS)
    np.testing.assert_array_equal(table, fresh.outputs)  # the cached flags change nothing
    assert key.combinations == ((), ("input-as-layer",), ("output-no-bias",),
                                ("input-as-layer", "output-no-bias"))
    assert key.entry("input-as-layer").feedback == "Rubric's own words."
    assert key.entry("output-no-bias").feedback == "Output nodes have biases."
    assert [p.one_more for p in key.parameters][-1] == "adding one output node"


def test_public_key_uses_the_fixed_public_cases() -> None:
    problem = ToyMlp()
    key = cases.public_key(problem, rubric_for(problem), CONVENTIONS)
    assert [case.tag for case in key.cases] == ["public"] * 3 + ["stress"] + ["probe"] * 4
    assert [case.arguments for case in key.cases[:3]] == list(problem.public_cases(CONVENTIONS)[:3])
    assert all(case.base_index == 0 for case in key.cases if case.tag == "probe")


def test_array_key_reuses_class_wide_outputs_and_matches_a_fresh_table() -> None:
    problem = ToySoftmax()
    rubric = rubric_for(problem)
    key = cases.build_key(problem, rubric, CONVENTIONS, student_id="alice", seed=5,
                          tags=("public", "hidden", "stress"))
    fresh = problem.variant_table([case.arguments for case in key.cases], CONVENTIONS)
    assert key.combinations == fresh.combinations
    for row, fresh_row in zip(key.variant_outputs, fresh.outputs):  # type: ignore[call-overload]
        for value, fresh_value in zip(row, fresh_row):
            np.testing.assert_array_equal(value, fresh_value)
    for case, expected in zip(key.cases, key.expected):
        np.testing.assert_array_equal(expected, problem.reference(case.arguments, CONVENTIONS))
    assert not any(case.tag == "probe" for case in key.cases)  # no probes for arrays
    assert key.tolerance == rubric.tolerance


def test_shrink_candidates_are_smaller_and_keyed() -> None:
    problem = ToyMlp()
    rubric = rubric_for(problem)
    key = cases.build_key(problem, rubric, CONVENTIONS, student_id="alice", seed=3)
    first_hidden = next(case for case in key.cases if case.tag == "hidden")
    candidates = cases.shrink_candidates(problem, first_hidden, rubric.domain, CONVENTIONS)
    assert candidates and all(case.tag == "shrink" for case in candidates)
    assert all(problem.size(c.arguments) < problem.size(first_hidden.arguments) for c in candidates)
    shrink_key = cases.key_for_cases(problem, rubric, CONVENTIONS, candidates)
    assert shrink_key.cases == tuple(candidates)
    assert list(shrink_key.expected) == [problem.reference(c.arguments, CONVENTIONS) for c in candidates]
