# Homework 3
import numpy as np


def mlp_params(N, L, h, n):
    return (3 * N * N + 1) * h + (L - 1) * (h + 1) * h + (h + 1) * n


def cnn_params(N, L, k, d, F, h, n_out):
    conv = (3 * k * k + 1) * d + (L - 1) * (d * k * k + 1) * d
    flat = d * (N // 2**L) ** 2
    first_fc = (flat + 1) * h
    # the F layers include the output one; each further FC layer has h nodes
    fc_to_fc = (F - 2) * h
    return conv + first_fc + fc_to_fc + (h + 1) * n_out


def softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def softmax_jacobian(z):
    p = softmax(z)
    return np.diag(p) - np.outer(p, p)


def cross_entropy_grad(z, y):
    # gradient descent goes against the gradient, so:
    return y - softmax(z)
