"""Problem 3(a), code part: a numerically stable softmax of a 1-D logit vector.

The reference subtracts max(z) before exponentiating; the catalog's variants are the wrong
functions students return, each composable with the naive (unshifted) softmax.
"""

from __future__ import annotations

import numpy as np

from reference.logits import (LOGIT_DOMAIN, STRESS_LOGITS, draw_logits, is_naive, log_sum_exp,
                              logit_arguments, shorter_logits)
from reference.problem import (NAIVE_EXP, Arguments, ArrayProblem, ArrayVariant, Conventions, Domain,
                               Misconception, Parameter, Softmax)

NAIVE_EXP_OVERFLOW = Misconception(
    NAIVE_EXP, "Softmax without subtracting max(z)",
    "exp(z) overflows to inf for logits above about 709 (inf / inf = NaN) and underflows to 0 "
    "for logits below about −745 (0 / 0 = NaN). Subtract max(z) first: softmax(z) = "
    "softmax(z − max(z)), and the largest exponent is then exp(0) = 1.")

CATALOG = (
    NAIVE_EXP_OVERFLOW,
    Misconception(
        "linear-normalisation", "Divided by the sum of the logits",
        "z / Σz is not a probability distribution: negative logits give negative values and a "
        "sum of 0 divides by zero. Exponentiate first: p_i = exp(z_i) / Σ_k exp(z_k)."),
    Misconception(
        "no-normalisation", "Forgot to normalise",
        "exp(z) alone does not sum to 1; divide by Σ_k exp(z_k) (after subtracting max(z))."),
    Misconception(
        "log-softmax-returned", "Returned log-softmax",
        "z − log Σ exp(z) is log p, not p: its entries are negative. Exponentiate it, or "
        "compute exp(z − max(z)) / Σ exp(z − max(z)) directly."),
    Misconception(
        "sigmoid-instead", "Applied the sigmoid element-wise",
        "1 / (1 + exp(−z)) squashes each logit on its own; the outputs do not sum to 1. Softmax "
        "normalises across the vector: p_i = exp(z_i) / Σ_k exp(z_k)."),
)


def reference_softmax(arguments: Arguments, softmax: Softmax) -> np.ndarray:
    return softmax(logit_arguments(arguments))


def linear_normalisation(arguments: Arguments, softmax: Softmax) -> np.ndarray:
    z = logit_arguments(arguments)
    with np.errstate(all="ignore"):
        return z / np.sum(z)


def no_normalisation(arguments: Arguments, softmax: Softmax) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.exp(logit_arguments(arguments))


def log_softmax_returned(arguments: Arguments, softmax: Softmax) -> np.ndarray:
    z = logit_arguments(arguments)
    return z - log_sum_exp(z, naive=is_naive(softmax))


def sigmoid_instead(arguments: Arguments, softmax: Softmax) -> np.ndarray:
    with np.errstate(all="ignore"):
        return 1.0 / (1.0 + np.exp(-logit_arguments(arguments)))


class SoftmaxProblem(ArrayProblem):
    """softmax(z) = exp(z − max z) / Σ exp(z − max z): in [0, 1], sums to 1, finite for any z."""

    id = "p3a"
    title = "Softmax"
    function = "softmax"
    aliases = ("stable_softmax", "softmax_stable", "compute_softmax", "my_softmax", "softmax_fn")
    parameters = (Parameter("z", "logits", "changing one logit"),)
    catalog = CATALOG
    default_domain: Domain = LOGIT_DOMAIN
    variants: dict[str, ArrayVariant] = {
        "": reference_softmax,
        "linear-normalisation": linear_normalisation,
        "no-normalisation": no_normalisation,
        "log-softmax-returned": log_softmax_returned,
        "sigmoid-instead": sigmoid_instead,
    }

    def draw(self, rng: np.random.Generator, domain: Domain, conventions: Conventions) -> Arguments:
        return {"z": draw_logits(rng, domain)}

    def public_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        return ({"z": np.array([1.0, 2.0, 3.0])}, {"z": np.array([0.5, -1.0])},
                {"z": np.array([1.0, 3.5, 757.0, -5.0])})

    def stress_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        return tuple({"z": z.copy()} for z in STRESS_LOGITS)

    def simpler(self, arguments: Arguments, domain: Domain, conventions: Conventions) -> list[Arguments]:
        return [{"z": z} for z in shorter_logits(logit_arguments(arguments))]


PROBLEM = SoftmaxProblem()
