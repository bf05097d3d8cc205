"""HW3 - parameter counting, softmax and its derivatives."""

import numpy as np


def mlp_params(N, L, h, n):
    # input layer -> first hidden layer: every hidden unit sees 3*N*N pixels plus a bias
    params = (3 * N**2 + 1) * h
    # hidden -> hidden, there are L-1 of these
    params += (L - 1) * (h * h + h)
    # last hidden -> output
    params += (h + 1) * n
    return params


def cnn_params(N, L, k, d, F, h, n_out):
    # conv layers: the first sees the 3 RGB channels, the others see d channels; 1 bias per filter
    total = (3 * k * k + 1) * d
    total += (L - 1) * (d * k * k + 1) * d
    # "same" padding keeps the size, every 2x2 max-pool halves it (no parameters in the pool)
    side = N // 2**L
    flat = d * side * side
    # flatten -> first FC, then F-1 FC->FC transitions, then the output layer
    total += (flat + 1) * h
    total += (F - 1) * (h * h + h)
    total += (h + 1) * n_out
    return total


def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - np.max(z))  # shift by the max so exp never overflows
    return e / np.sum(e)


def softmax_jacobian(z):
    p = softmax(z)
    # dp_i/dz_k = p_i (delta_ik - p_k)
    return np.diag(p) - np.outer(p, p)


def cross_entropy_grad(z, y):
    # targets are a probability distribution, so the gradient simplifies to p - y
    return softmax(z) - y
