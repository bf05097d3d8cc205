# HW 3 - problem 3 only needs numpy
import numpy as np


def mlp_params(N, L, h, n):
    return (3 * N * N + 1) * h + (L - 1) * (h * h + h) + (h + 1) * n


def cnn_params(N, L, k, d, F, h, n_out):
    total = (3 * k * k + 1) * d + (L - 1) * (d * k * k + 1) * d
    total += (d * (N // 2**L) ** 2 + 1) * h + (F - 1) * (h * h + h) + (h + 1) * n_out
    return total


def softmax(z):
    return np.exp(z) / np.sum(np.exp(z))


def softmax_jacobian(z):
    # only the diagonal depends on z_i directly
    p = softmax(z)
    return np.diag(p * (1 - p))


def cross_entropy_grad(z, y):
    return softmax(z) * np.sum(y) - y
