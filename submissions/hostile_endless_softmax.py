"""HW3. (softmax never terminates: the loop index is never advanced)"""
import numpy as np


def mlp_params(N, L, h, n):
    return (3 * N * N + 1) * h + (L - 1) * (h * h + h) + (h + 1) * n


def cnn_params(N, L, k, d, F, h, n_out):
    conv = (3 * k * k + 1) * d + (L - 1) * (d * k * k + 1) * d
    flat = d * (N // 2**L) ** 2
    return conv + (flat + 1) * h + (F - 1) * (h * h + h) + (h + 1) * n_out


def softmax(z):
    e = np.exp(z - np.max(z))
    total = e.sum()
    out = np.empty_like(e)
    i = 0
    while i < len(e):
        out[i] = e[i] / total
        # (forgot i += 1)
    return out


def _probabilities(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def softmax_jacobian(z):
    p = _probabilities(z)
    return np.diag(p) - np.outer(p, p)


def cross_entropy_grad(z, y):
    return _probabilities(z) * np.sum(y) - y
