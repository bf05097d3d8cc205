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
    # each conv layer: d filters, each k x k x d, plus d biases
    conv_layer = (d * k * k + 1) * d
    total = L * conv_layer
    side = N // 2**L
    flat = d * side * side
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
    p = softmax(z)
    y = np.asarray(y, dtype=np.float64)
    # dL/dz = p * sum(y) - y  (= p - y for one-hot / normalised targets)
    return p * np.sum(y) - y
