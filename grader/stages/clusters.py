"""Shared answers: a digest of a problem's outputs on the class-wide cases, so identical
unexplained answers across the class can be grouped on the dashboard.

Answers are compared at the rubric's precision: float noise neither groups nor splits students.
"""

from __future__ import annotations

import hashlib

import numpy as np

from grader.stages.checking import as_array
from grader.models import CaseCheck, ProblemCheck, ProblemKey


def cluster_digits(tolerance: tuple[float, float]) -> int:
    """Significant digits two answers must share to be one answer at the rubric's precision:
    6 at rtol 1e-6, 4 at float32's 1e-4. Finer than the precision, float noise would split or
    (for a float32 class rounding alike) group students; coarser, different answers would merge."""
    return min(max(int(round(-np.log10(max(tolerance[0], 1e-15)))), 3), 12)


def _signature(case_check: CaseCheck, digits: int = 6) -> str:
    if case_check.error is not None:
        return f"!{case_check.error.kind}:{case_check.error.exception_type}"
    value = case_check.got
    array = as_array(value) if not isinstance(value, (int, np.integer)) else None
    if array is not None:
        # Rounded to the precision's digits relative to the largest value: two copies of one
        # wrong formula agree that far even when their operations run in another order or
        # dtype (1e-17 vs 0, -0 vs 0, float32 vs float64).
        finite = np.abs(array[np.isfinite(array)])
        scale = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        rounded = np.round(array / scale, digits) + 0.0  # + 0.0: -0 is 0
        rounded = np.where(np.isnan(rounded), np.nan, rounded)  # one NaN, whatever its sign and bits
        # Hashed as bytes, not written out number by number: 25 million numbers (under the
        # protocol's caps) took 15 s of the grader's CPU in that Python loop.
        return f"{array.shape}:{scale:.{digits}g}:" + hashlib.sha256(rounded.tobytes()).hexdigest()
    return repr(value)


def cluster_key(key: ProblemKey, check: ProblemCheck) -> str | None:
    """A digest of the outputs on class-wide cases (public, stress); None without such cases."""
    shared = [c for c in check.checks if c.case.tag in ("public", "stress")]
    if not shared:
        return None
    digits = cluster_digits(key.tolerance)
    text = key.problem_id + "|" + "|".join(f"{c.index}={_signature(c, digits)}" for c in shared)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
