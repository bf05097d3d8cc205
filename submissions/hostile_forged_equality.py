"""HW3. mlp_params returns an object equal to everything, and numpy's comparisons are patched.

A grader that compares inside the student's process (answer == expected, np.allclose) would
pass it; the forged object is not a number, so it must be an invalid output.
"""
import math

import numpy as np
import numpy.testing


class Anything:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__

    def __repr__(self):
        return "318410"


np.allclose = lambda *args, **kwargs: True
np.array_equal = lambda *args, **kwargs: True
numpy.testing.assert_allclose = lambda *args, **kwargs: None
math.isclose = lambda *args, **kwargs: True


def mlp_params(N, L, h, n):
    return Anything()


def cnn_params(N, L, k, d, F, h, n_out):
    conv = (3 * k * k + 1) * d + (L - 1) * (d * k * k + 1) * d
    flat = d * (N // 2**L) ** 2
    return conv + (flat + 1) * h + (F - 1) * (h * h + h) + (h + 1) * n_out


def softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def softmax_jacobian(z):
    p = softmax(z)
    return np.diag(p) - np.outer(p, p)


def cross_entropy_grad(z, y):
    return softmax(z) * np.sum(y) - y
