"""Homework 3 (I named the functions after the lecture notes, hope that's fine)."""
import numpy as np


def count_mlp_params(N, L, h, n):
    """Weights and biases of an MLP: 3N^2 inputs, L hidden layers of h units, n outputs."""
    widths = [3 * N * N] + [h] * L + [n]
    return sum(w_in * w_out + w_out for w_in, w_out in zip(widths, widths[1:]))


def cnn_params(N, L, k, d, F, h, n_out):
    total = 0
    in_channels = 3
    size = N
    for _ in range(L):
        total += (in_channels * k * k + 1) * d   # d filters, each in_channels x k x k, + bias
        in_channels = d
        size //= 2                               # 2x2 max-pool
    widths = [d * size * size] + [h] * F + [n_out]
    for w_in, w_out in zip(widths, widths[1:]):
        total += (w_in + 1) * w_out
    return total


def softmax(z):
    z = np.asarray(z, dtype=float)
    shifted = z - z.max()
    return np.exp(shifted) / np.exp(shifted).sum()


def softmax_jacobian(z):
    p = softmax(z)
    return np.diag(p) - np.outer(p, p)


def ce_grad(z, y):
    """Gradient of -sum(y log softmax(z)) with respect to z."""
    y = np.asarray(y, dtype=float)
    return softmax(z) * y.sum() - y
