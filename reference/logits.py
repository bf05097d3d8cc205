"""Logit vectors for Problem 3: random draws, the stress logits of PROBLEMS.md, and shrinking.

Shared by 3(a), 3(b) and 3(c) so that all three see the same overflow and underflow traps.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from reference.domains import integer_range
from reference.problem import Arguments, Domain, naive_softmax

#: Logit domain: vector length K and the range each logit is drawn from.
LOGIT_DOMAIN: Domain = {"K": (2, 8), "logit": (-6.0, 6.0)}

#: The stress logits every run includes (PROBLEMS.md, Problem 3).
STRESS_LOGITS: tuple[np.ndarray, ...] = (
    np.array([1.0, 3.5, 757.0, -5.0]),  # the write-up's own example: exp(757) = inf in float64
    np.array([-1000.0, -1001.5, -999.0]),  # naive denominator underflows to 0: 0/0 = NaN
    np.array([2.5, 2.5, 2.5, 2.5, 2.5]),  # all equal: p is uniform, ties everywhere
    np.array([0.75]),  # K = 1: p = [1], the Jacobian is [[0]]
)


def draw_logits(rng: np.random.Generator, domain: Domain) -> np.ndarray:
    """K logits, uniform in the domain, rounded to 2 decimals so failing cases read well."""
    low, high = integer_range(domain, "K", 1)
    size = int(rng.integers(low, high + 1))
    logit_low, logit_high = domain["logit"]
    return np.round(rng.uniform(float(logit_low), float(logit_high), size), 2)


def is_naive(softmax: Callable[[np.ndarray], np.ndarray]) -> bool:
    """Whether a variant is being composed with `naive-exp-overflow` (no max subtraction)."""
    return softmax is naive_softmax


def log_sum_exp(z: np.ndarray, naive: bool) -> np.ndarray:
    """log Σ exp(z): shifted by max(z) unless the student's naive form is being reproduced."""
    with np.errstate(all="ignore"):
        if naive:
            return np.log(np.sum(np.exp(z)))
        shift = np.max(z)
        return shift + np.log(np.sum(np.exp(z - shift)))


def prefix_lengths(size: int) -> list[int]:
    """Shorter lengths to shrink a vector of `size` entries to, most aggressive first."""
    return sorted(length for length in {1, 2, size // 2, size - 1} if 1 <= length < size)


def shorter_logits(z: np.ndarray) -> list[np.ndarray]:
    """Shrink candidates of a logit vector: its prefixes, then its values rounded."""
    candidates = [z[:length].copy() for length in prefix_lengths(z.shape[0])]
    rounded = np.round(z)
    if not np.array_equal(rounded, z, equal_nan=True):
        candidates.append(rounded)
    return candidates


def logit_arguments(arguments: Arguments) -> np.ndarray:
    """The `z` argument as a 1-D float64 array."""
    return np.asarray(arguments["z"], dtype=np.float64).reshape(-1)
