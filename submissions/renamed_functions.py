"""Homework 1 -- Edsger W. (fictional). Every function is right; four of them are named the
way this student names things, not as the problem set asks: each is graded under its problem
with a note naming it (the default rubric takes no points for a near name)."""

import numpy as np


def mlp_params(N, L, h, n):
    return (3 * N * N + 1) * h + (L - 1) * (h + 1) * h + (h + 1) * n


def count_cnn_parameters(N, L, k, d, F, h, n_out):
    conv = (3 * k * k + 1) * d + (L - 1) * (d * k * k + 1) * d
    flat = d * (N // 2 ** L) ** 2          # "same" padding; each 2x2 pool halves the side
    return conv + (flat + 1) * h + (F - 1) * (h + 1) * h + (h + 1) * n_out


def softmax_fn(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def softmax_jacobian_matrix(z):
    p = softmax_fn(z)
    return np.diag(p) - np.outer(p, p)


def crossentropy_grad(z, y):
    return softmax_fn(z) * np.sum(y) - y
