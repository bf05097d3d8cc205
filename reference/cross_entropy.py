"""Problem 3(c): the gradient of cross-entropy through softmax, ∂L/∂z = p·Σy − y.

It is p − y when the targets sum to 1 (one-hot or label-smoothed); a rubric may say they need
not, and then `assumes-sum-one` (returning p − y anyway) becomes a catalogued mistake.
"""

from __future__ import annotations

import numpy as np

from reference.logits import LOGIT_DOMAIN, STRESS_LOGITS, draw_logits, logit_arguments, prefix_lengths
from reference.problem import (Arguments, ArrayProblem, ArrayVariant, Conventions, Domain, Misconception,
                               Parameter, Softmax)
from reference.softmax import NAIVE_EXP_OVERFLOW

#: Label smoothing used for soft targets: y = (1 − ε)·one_hot + ε / K.
SMOOTHING = 0.1


def unnormalised_targets(conventions: Conventions) -> bool:
    return not conventions.targets_sum_to_one


CATALOG = (
    NAIVE_EXP_OVERFLOW,
    Misconception(
        "sign-flipped", "The gradient has the wrong sign",
        "L = −Σ y_i·log p_i decreases as the right logit grows, so ∂L/∂z = p − y (p·Σy − y in "
        "general): positive where p exceeds the target. You returned y − p."),
    Misconception(
        "forgot-softmax", "Used the logits where the probabilities belong",
        "The gradient is p − y with p = softmax(z), not z − y: apply the softmax (after "
        "subtracting max(z)) before subtracting the targets."),
    Misconception(
        "unnormalised-softmax", "Used exp(z) without normalising",
        "p must be a probability vector, exp(z) / Σ exp(z); exp(z) − y skips the denominator."),
    Misconception(
        "stopped-at-dL-dp", "Stopped at ∂L/∂p",
        "−y / p is the derivative with respect to p. Chain it through the softmax Jacobian, "
        "J·(−y/p) = p·Σy − y, to get the derivative with respect to z."),
    Misconception(
        "assumes-sum-one", "Assumed the targets sum to 1",
        "This rubric's targets need not sum to 1: ∂L/∂z = p·Σ_i y_i − y. p − y holds only when "
        "Σ y = 1.",
        applies=unnormalised_targets),
)


def parts(arguments: Arguments, softmax: Softmax) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z, y, p) as float64 vectors."""
    z = logit_arguments(arguments)
    y = np.asarray(arguments["y"], dtype=np.float64).reshape(-1)
    return z, y, softmax(z)


def reference_gradient(arguments: Arguments, softmax: Softmax) -> np.ndarray:
    z, y, p = parts(arguments, softmax)
    return p * np.sum(y) - y


def sign_flipped(arguments: Arguments, softmax: Softmax) -> np.ndarray:
    # The negated reference: y − p·Σy, which is PROBLEMS.md's y − p whenever Σy = 1.
    return -reference_gradient(arguments, softmax)


def forgot_softmax(arguments: Arguments, softmax: Softmax) -> np.ndarray:
    z, y, _ = parts(arguments, softmax)
    return z - y


def unnormalised_softmax(arguments: Arguments, softmax: Softmax) -> np.ndarray:
    z, y, _ = parts(arguments, softmax)
    with np.errstate(all="ignore"):
        return np.exp(z) - y


def stopped_at_dl_dp(arguments: Arguments, softmax: Softmax) -> np.ndarray:
    _, y, p = parts(arguments, softmax)
    with np.errstate(all="ignore"):
        return -y / p


def assumes_sum_one(arguments: Arguments, softmax: Softmax) -> np.ndarray:
    _, y, p = parts(arguments, softmax)
    return p - y


def one_hot(size: int, index: int) -> np.ndarray:
    target = np.zeros(size)
    target[index] = 1.0
    return target


def smoothed(size: int, index: int) -> np.ndarray:
    return (1.0 - SMOOTHING) * one_hot(size, index) + SMOOTHING / size


class CrossEntropyGradientProblem(ArrayProblem):
    """cross_entropy_grad(z, y) = softmax(z)·Σy − y."""

    id = "p3c"
    title = "Cross-entropy gradient"
    function = "cross_entropy_grad"
    aliases = ("ce_grad", "cross_entropy_gradient", "softmax_cross_entropy_grad", "grad_cross_entropy",
               "cross_entropy_derivative", "ce_gradient", "dL_dz")
    parameters = (Parameter("z", "logits", "changing one logit"),
                  Parameter("y", "targets", "changing one target"))
    catalog = CATALOG
    default_domain: Domain = LOGIT_DOMAIN
    variants: dict[str, ArrayVariant] = {
        "": reference_gradient,
        "sign-flipped": sign_flipped,
        "forgot-softmax": forgot_softmax,
        "unnormalised-softmax": unnormalised_softmax,
        "stopped-at-dL-dp": stopped_at_dl_dp,
        "assumes-sum-one": assumes_sum_one,
    }

    def draw(self, rng: np.random.Generator, domain: Domain, conventions: Conventions) -> Arguments:
        """Logits with a one-hot, a smoothed or (where the rubric allows) an unnormalised target."""
        z = draw_logits(rng, domain)
        size = z.shape[0]
        kinds = ("one-hot", "smoothed") if conventions.targets_sum_to_one else ("one-hot", "smoothed", "free")
        kind = kinds[int(rng.integers(len(kinds)))]
        index = int(rng.integers(size))
        if kind == "one-hot":
            y = one_hot(size, index)
        elif kind == "smoothed":
            y = smoothed(size, index)
        else:  # non-negative weights of any total (a weighted or multi-label loss)
            y = np.round(rng.uniform(0.0, 2.0, size), 2)
        return {"z": z, "y": y}

    def public_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        cases: list[Arguments] = [
            {"z": np.array([1.0, 2.0, 3.0]), "y": one_hot(3, 0)},
            {"z": np.array([0.5, -1.0]), "y": smoothed(2, 1)},
        ]
        if not conventions.targets_sum_to_one:
            cases.append({"z": np.array([0.0, 1.0, -1.0]), "y": np.array([0.5, 1.0, 0.0])})
        return tuple(cases)

    def stress_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        cases: list[Arguments] = []
        for number, z in enumerate(STRESS_LOGITS):
            size = z.shape[0]
            cases.append({"z": z.copy(), "y": one_hot(size, number % size)})
        cases.append({"z": STRESS_LOGITS[0].copy(), "y": smoothed(4, 1)})  # soft target, overflow
        if not conventions.targets_sum_to_one:
            cases.append({"z": STRESS_LOGITS[3].copy(), "y": np.array([2.5])})  # K = 1, Σy = 2.5
            cases.append({"z": STRESS_LOGITS[1].copy(), "y": np.array([0.0, 3.0, 1.0])})
        return tuple(cases)

    def simpler(self, arguments: Arguments, domain: Domain, conventions: Conventions) -> list[Arguments]:
        """Prefixes of (z, y); targets that must sum to 1 are renormalised (or the prefix skipped)."""
        z = logit_arguments(arguments)
        y = np.asarray(arguments["y"], dtype=np.float64).reshape(-1)
        candidates: list[Arguments] = []
        for length in prefix_lengths(z.shape[0]):
            target = y[:length].copy()
            if conventions.targets_sum_to_one:
                total = float(np.sum(target))
                if total <= 0.0:
                    continue
                target = target / total
            candidates.append({"z": z[:length].copy(), "y": target})
        rounded = np.round(z)
        if not np.array_equal(rounded, z):
            candidates.append({"z": rounded, "y": y.copy()})
        return candidates


PROBLEM = CrossEntropyGradientProblem()
