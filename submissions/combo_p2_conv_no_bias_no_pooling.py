"""HW3 solutions."""
import numpy as np


def mlp_params(N, L, h, n):
    return (3 * N**2 + 1) * h + (L - 1) * (h**2 + h) + (h + 1) * n


def cnn_params(N, L, k, d, F, h, n_out):
    # conv filters only have weights: k*k*channels each
    conv = 3 * k * k * d + (L - 1) * d * k * k * d
    # padding keeps the feature map N x N
    flat = d * N * N
    fc = (flat + 1) * h + (F - 1) * (h**2 + h)
    out = h * n_out
    return conv + fc + out


def softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def softmax_jacobian(z):
    p = softmax(z)
    return np.diag(p) - np.outer(p, p)


def cross_entropy_grad(z, y):
    return softmax(z) * np.sum(y) - y
