"""Problem 3(b): the softmax Jacobian J = diag(p) − p·pᵀ, a K × K float64 matrix.

J is symmetric, its rows and columns sum to 0 and it is singular; the catalog's variants are
the sign, diagonal and input mix-ups PROBLEMS.md lists.
"""

from __future__ import annotations

import numpy as np

from reference.logits import LOGIT_DOMAIN, STRESS_LOGITS, draw_logits, logit_arguments, shorter_logits
from reference.problem import (Arguments, ArrayProblem, ArrayVariant, Conventions, Domain, Misconception,
                               Parameter, Softmax)
from reference.softmax import NAIVE_EXP_OVERFLOW

CATALOG = (
    NAIVE_EXP_OVERFLOW,
    Misconception(
        "sign-flipped", "The whole Jacobian has the wrong sign",
        "∂p_i/∂z_k = p_i·(δ_ik − p_k), so J = diag(p) − p·pᵀ: the diagonal is positive and the "
        "off-diagonal entries negative. You returned p·pᵀ − diag(p)."),
    Misconception(
        "off-diagonal-sign", "Off-diagonal entries with the wrong sign",
        "Raising z_k lowers every other probability: for i ≠ k, ∂p_i/∂z_k = −p_i·p_k, "
        "negative. Rows of the Jacobian must sum to 0."),
    Misconception(
        "diagonal-only", "Only the diagonal",
        "Each p_i depends on every logit through the denominator, so the off-diagonal entries "
        "−p_i·p_k are not zero: J = diag(p) − p·pᵀ."),
    Misconception(
        "logits-for-probs", "Used the logits z where the probabilities p belong",
        "The Jacobian is written in terms of p = softmax(z): J = diag(p) − p·pᵀ. Compute p first; "
        "diag(z) − z·zᵀ is a different matrix."),
)


def probabilities(arguments: Arguments, softmax: Softmax) -> np.ndarray:
    return softmax(logit_arguments(arguments))


def reference_jacobian(arguments: Arguments, softmax: Softmax) -> np.ndarray:
    p = probabilities(arguments, softmax)
    return np.diag(p) - np.outer(p, p)


def sign_flipped(arguments: Arguments, softmax: Softmax) -> np.ndarray:
    p = probabilities(arguments, softmax)
    return np.outer(p, p) - np.diag(p)


def off_diagonal_sign(arguments: Arguments, softmax: Softmax) -> np.ndarray:
    p = probabilities(arguments, softmax)
    jacobian = np.outer(p, p)
    np.fill_diagonal(jacobian, p * (1.0 - p))
    return jacobian


def diagonal_only(arguments: Arguments, softmax: Softmax) -> np.ndarray:
    p = probabilities(arguments, softmax)
    return np.diag(p * (1.0 - p))


def logits_for_probs(arguments: Arguments, softmax: Softmax) -> np.ndarray:
    z = logit_arguments(arguments)
    with np.errstate(all="ignore"):
        return np.diag(z) - np.outer(z, z)


class SoftmaxJacobianProblem(ArrayProblem):
    """softmax_jacobian(z)[i, k] = p_i·(δ_ik − p_k) with p = softmax(z)."""

    id = "p3b"
    title = "Softmax Jacobian"
    function = "softmax_jacobian"
    # Not "softmax_gradient": students use that name for 3(c)'s gradient as often as for 3(b).
    aliases = ("softmax_grad", "jacobian", "softmax_derivative", "softmax_jac", "jacobian_softmax",
               "d_softmax")
    parameters = (Parameter("z", "logits", "changing one logit"),)
    catalog = CATALOG
    default_domain: Domain = LOGIT_DOMAIN
    variants: dict[str, ArrayVariant] = {
        "": reference_jacobian,
        "sign-flipped": sign_flipped,
        "off-diagonal-sign": off_diagonal_sign,
        "diagonal-only": diagonal_only,
        "logits-for-probs": logits_for_probs,
    }

    def draw(self, rng: np.random.Generator, domain: Domain, conventions: Conventions) -> Arguments:
        return {"z": draw_logits(rng, domain)}

    def public_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        return ({"z": np.array([1.0, 2.0, 3.0])}, {"z": np.array([0.5, -1.0])},
                {"z": np.array([0.0, 0.0])})

    def stress_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        return tuple({"z": z.copy()} for z in STRESS_LOGITS)

    def simpler(self, arguments: Arguments, domain: Domain, conventions: Conventions) -> list[Arguments]:
        return [{"z": z} for z in shorter_logits(logit_arguments(arguments))]


PROBLEM = SoftmaxJacobianProblem()
