"""Problem 1: the parameters of an MLP on a 3 x N x N image (PROBLEMS.md, Problem 1).

The count is written once with every catalogued mistake as a flag, so that combinations
compose term by term: T_in = (3N²+1)·h, T_hid = (L−1)·(h²+h), T_out = (h+1)·n.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reference.domains import (draw_integer, lowest_values, domain_neighbours, require_at_least,
                               shrink_candidates, whole_arguments)
from reference.problem import (Arguments, Conventions, CountProblem, Domain, Footprint, InvalidConfiguration,
                               Misconception, Parameter, largest_layer)

NAMES = ("N", "L", "h", "n")

CATALOG = (
    Misconception(
        "input-as-layer", "Counted the input as a layer",
        "You used L − 2 hidden-to-hidden transitions, as if the input were one of the L layers. "
        "The input has no weights: L hidden layers have L − 1 transitions between them, each "
        "with h² weights and h biases.",
        excludes=("extra-hidden-transition",)),
    Misconception(
        "extra-hidden-transition", "One hidden-to-hidden transition too many",
        "You counted L hidden-to-hidden transitions. Between L hidden layers there are L − 1; "
        "the first hidden layer is fed by the input layer, which is counted separately.",
        excludes=("input-as-layer",)),
    Misconception(
        "input-no-bias", "Forgot the first hidden layer's biases",
        "The input-to-hidden layer has 3N²·h weights and also h biases, one per hidden unit: "
        "T_in = (3N² + 1)·h."),
    Misconception(
        "hidden-no-bias", "Forgot the hidden layers' biases",
        "Each hidden-to-hidden transition has h² weights and h biases: (L − 1)·(h² + h)."),
    Misconception(
        "output-no-bias", "Forgot the output layer's biases",
        "The output layer has h·n weights and n biases: (h + 1)·n."),
    Misconception(
        "grayscale-input", "Treated the image as grayscale",
        "The image is RGB, 3 × N × N: the input has 3N² values, not N². T_in = (3N² + 1)·h."),
    Misconception(
        "unsquared-input", "Used 3N inputs instead of 3N²",
        "An N × N image with 3 channels has 3·N·N = 3N² input values, not 3N."),
)


class MultilayerPerceptronProblem(CountProblem):
    """P1(N, L, h, n) = (3N²+1)·h + (L−1)·(h+1)·h + (h+1)·n, and (3N²+1)·n when L = 0."""

    id = "p1"
    title = "Parameters of an MLP"
    function = "mlp_params"
    aliases = ("count_mlp_params", "mlp_parameters", "mlp_param_count", "num_mlp_params",
               "count_parameters_mlp", "mlp_num_params")
    parameters = (
        Parameter("N", "image side in pixels", "making the image one pixel wider and taller"),
        Parameter("L", "hidden layers", "adding one hidden layer"),
        Parameter("h", "units per hidden layer", "adding one unit to every hidden layer"),
        Parameter("n", "output nodes", "adding one output node"),
    )
    catalog = CATALOG
    default_domain: Domain = {"N": (2, 64), "L": (1, 6), "h": (1, 256), "n": (1, 20)}

    def count(self, arguments: Mapping[str, np.ndarray], mistakes: Mapping[str, np.ndarray],
              conventions: Conventions) -> np.ndarray:
        N, L, h, n = (arguments[name] for name in NAMES)
        channels = np.where(mistakes["grayscale-input"], 1, 3)
        pixels = np.where(mistakes["unsquared-input"], N, N * N)
        inputs = channels * pixels
        input_bias = np.where(mistakes["input-no-bias"], 0, 1)
        output_bias = np.where(mistakes["output-no-bias"], 0, 1)
        transitions = np.where(mistakes["input-as-layer"], L - 2,
                               np.where(mistakes["extra-hidden-transition"], L, L - 1))
        t_in = (inputs + input_bias) * h
        t_hid = transitions * (h * h + np.where(mistakes["hidden-no-bias"], 0, h))
        t_out = (h + output_bias) * n
        # L = 0: one layer maps the input straight to the outputs; its biases are the output's.
        direct = (inputs + output_bias) * n
        return np.where(L == 0, direct, t_in + t_hid + t_out)

    def validate(self, arguments: Arguments, conventions: Conventions) -> None:
        values = whole_arguments(arguments, NAMES)
        require_at_least(values, {"N": 1, "L": 0, "h": 1, "n": 1})

    def terms(self, arguments: Arguments, conventions: Conventions) -> list[tuple[str, str, int]]:
        """The reference count term by term: (name, formula, value)."""
        self.validate(arguments, conventions)
        N, L, h, n = (int(arguments[name]) for name in NAMES)  # type: ignore[call-overload]
        if L == 0:
            return [("input->output", "(3N² + 1)·n", (3 * N * N + 1) * n)]
        return [("input->hidden", "(3N² + 1)·h", (3 * N * N + 1) * h),
                ("hidden->hidden", "(L − 1)·(h² + h)", (L - 1) * (h * h + h)),
                ("hidden->output", "(h + 1)·n", (h + 1) * n)]

    def is_valid(self, values: dict[str, int], conventions: Conventions) -> bool:
        lowest = lowest_values(conventions, ("L",), NAMES)
        return all(values[name] >= lowest[name] for name in NAMES)

    def draw(self, rng: np.random.Generator, domain: Domain, conventions: Conventions) -> Arguments:
        lowest = lowest_values(conventions, ("L",), NAMES)
        return {name: draw_integer(rng, domain, name, lowest[name]) for name in NAMES}

    def public_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        return ({"N": 2, "L": 1, "h": 3, "n": 2},
                {"N": 4, "L": 3, "h": 5, "n": 3},
                {"N": 28, "L": 2, "h": 64, "n": 10})

    def stress_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        cases: list[Arguments] = [
            {"N": 1, "L": 1, "h": 1, "n": 1},  # everything minimal: biases dominate the count
            {"N": 224, "L": 12, "h": 4096, "n": 1000},  # ImageNet-sized: int64 must not overflow
            {"N": 3, "L": 2, "h": 1, "n": 7},  # h = 1: h² = h, only the input term tells
        ]
        if conventions.allow_degenerate:
            cases.append({"N": 5, "L": 0, "h": 9, "n": 4})
        return tuple(cases)

    def simpler(self, arguments: Arguments, domain: Domain, conventions: Conventions) -> list[Arguments]:
        return shrink_candidates(arguments, domain, lowest_values(conventions, ("L",), NAMES),
                                 lambda values: self.is_valid(values, conventions))

    def neighbours(self, arguments: Arguments, conventions: Conventions) -> list[tuple[str, Arguments]]:
        return domain_neighbours(arguments, NAMES, lambda values: self.is_valid(values, conventions))

    def footprint(self, arguments: Arguments, conventions: Conventions) -> Footprint | None:
        N, L, h, n = (int(arguments[name]) for name in NAMES)  # type: ignore[call-overload]
        if L == 0:
            return (3 * N * N * n, f"3·{N}²·{n}", "weights of the input-to-output layer")
        return largest_layer([(3 * N * N * h, "3·{}²·{}", (N, h), "weights of the first hidden layer"),
                              (h * h if L > 1 else 0, "{}²", (h,), "weights of each hidden-to-hidden layer"),
                              (h * n, "{}·{}", (h, n), "weights of the output layer")])


PROBLEM = MultilayerPerceptronProblem()

__all__ = ["PROBLEM", "MultilayerPerceptronProblem", "InvalidConfiguration"]
