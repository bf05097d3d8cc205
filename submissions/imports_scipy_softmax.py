"""Homework 1 -- Katherine J. (fictional). Uses scipy's softmax instead of writing one, and
builds 3(b) and 3(c) on it. 3(a) is graded as what she handed in (scipy's softmax, right) with a
note that it was imported, not written; the rubric's imported_deduction decides what that costs
(nothing by default)."""

import numpy as np
from scipy.special import softmax


def mlp_params(N, L, h, n):
    return (3 * N * N + 1) * h + (L - 1) * (h + 1) * h + (h + 1) * n


def cnn_params(N, L, k, d, F, h, n_out):
    conv = (3 * k * k + 1) * d + (L - 1) * (d * k * k + 1) * d
    flat = d * (N // 2 ** L) ** 2
    return conv + (flat + 1) * h + (F - 1) * (h + 1) * h + (h + 1) * n_out


def softmax_jacobian(z):
    p = softmax(z)
    return np.diag(p) - np.outer(p, p)


def cross_entropy_grad(z, y):
    return softmax(z) * np.sum(y) - y
