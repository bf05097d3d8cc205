"""What "agrees with the reference" means for arrays: the named precisions and the comparison.

Shared by the rubric (which refuses a tolerance that lets a catalogued mistake pass) and by
checking and diagnosis, so both compare with one definition.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: What a correct array answer must reach, by name, as (rtol, atol). float32 carries 24 bits
#: (1.2e-7): a logit rounded to float32 moves p by up to |z|·6e-8 relatively, and a Jacobian's
#: p − p² or a gradient's p − y cancels to an absolute error of a few 1e-7 (measured: 4.7e-7
#: for torch's float32 softmax, 2.2e-7 for its Jacobian, 5.5e-7 for the gradient). Every
#: catalogued mistake differs from the reference by far more (`grader rubric validate` checks).
PRECISIONS: Mapping[str, tuple[float, float]] = {
    "float32": (1e-4, 1e-6),
    "float64": (1e-9, 1e-12),
}
#: The default: torch's default dtype and np.float32 are right answers, not wrong ones.
DEFAULT_PRECISION = "float32"


def arrays_agree(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    """Same shape, close where both are finite, and the same non-finite value elsewhere.

    A NaN is wrong unless the reference (or the variant compared with) has a NaN there too,
    which is how `naive-exp-overflow` is recognised on [1, 3.5, 757, -5].
    """
    if got.shape != expected.shape:
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.abs(got - expected) <= atol + rtol * np.abs(expected)
        if close.all() and np.isfinite(expected).all():
            # The common case, in 6 array operations instead of 16: within tolerance of a
            # finite reference, an answer cannot be NaN or infinite.
            return True
        both_finite = np.isfinite(got) & np.isfinite(expected)
    same_nonfinite = (np.isnan(got) & np.isnan(expected)) | (np.isinf(expected) & (got == expected))
    return bool(np.all((both_finite & close) | same_nonfinite))
