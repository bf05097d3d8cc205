"""nbgrader autograder test cells that check the same functions as the grader, on similar cases.

Each cell holds its own reference (nbgrader runs tests in the student's kernel, so the answer
key sits beside student code: the very weakness the grader's sandbox removes) and asserts on
20 drawn cases plus the stress logits of PROBLEMS.md.
"""

from __future__ import annotations

P1 = '''
import numpy as _np
def _reference_mlp(N, L, h, n):
    if L == 0:
        return (3 * N * N + 1) * n
    return (3 * N * N + 1) * h + (L - 1) * (h + 1) * h + (h + 1) * n
_rng = _np.random.default_rng(1)
for _ in range(20):
    N, L, h, n = (int(_rng.integers(2, 65)), int(_rng.integers(1, 6)),
                  int(_rng.integers(1, 257)), int(_rng.integers(1, 101)))
    assert mlp_params(N, L, h, n) == _reference_mlp(N, L, h, n), (N, L, h, n)
'''

P2 = '''
import numpy as _np
def _reference_cnn(N, L, k, d, F, h, n_out):
    size = N
    for _ in range(L):
        size //= 2
    conv = (3 * k * k + 1) * d + (L - 1) * (d * k * k + 1) * d
    flat = d * size * size
    return conv + (flat + 1) * h + (F - 1) * (h + 1) * h + (h + 1) * n_out
_rng = _np.random.default_rng(2)
for _ in range(20):
    L = int(_rng.integers(1, 4))
    N = int(_rng.integers(1, 9)) * 2 ** L
    k, d = int(_rng.choice([1, 3, 5])), int(_rng.integers(1, 65))
    F, h, n_out = int(_rng.integers(1, 4)), int(_rng.integers(1, 257)), int(_rng.integers(1, 101))
    assert cnn_params(N, L, k, d, F, h, n_out) == _reference_cnn(N, L, k, d, F, h, n_out)
'''

_LOGITS = '''
import numpy as _np
def _stable_softmax(z):
    e = _np.exp(z - _np.max(z))
    return e / e.sum()
_rng = _np.random.default_rng(3)
_cases = [_rng.normal(0, 3, int(_rng.integers(1, 11))) for _ in range(20)]
_cases += [_np.array([1, 3.5, 757, -5.0]), _np.full(4, -1000.0) + _np.arange(4),
           _np.zeros(5), _np.array([2.0])]
'''

P3A = _LOGITS + '''
for z in _cases:
    assert _np.allclose(softmax(z.copy()), _stable_softmax(z), rtol=1e-6, atol=1e-9), z
'''

P3B = _LOGITS + '''
for z in _cases:
    p = _stable_softmax(z)
    assert _np.allclose(softmax_jacobian(z.copy()), _np.diag(p) - _np.outer(p, p),
                        rtol=1e-6, atol=1e-9), z
'''

P3C = _LOGITS + '''
for z in _cases:
    y = _np.zeros(len(z)); y[int(_rng.integers(0, len(z)))] = 1.0
    expected = _stable_softmax(z) * y.sum() - y
    assert _np.allclose(cross_entropy_grad(z.copy(), y.copy()), expected, rtol=1e-6, atol=1e-9), z
'''

#: (grade_id, source) of each autograder test cell, in notebook order.
TEST_CELLS: list[tuple[str, str]] = [
    ("p1", P1.strip()), ("p2", P2.strip()), ("p3a", P3A.strip()), ("p3b", P3B.strip()),
    ("p3c", P3C.strip()),
]
