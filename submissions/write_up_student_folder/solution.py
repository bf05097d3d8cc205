# Code for my write-up (homework-writeup.md in this folder): the formulas exactly as derived there.
import numpy as np


# Problem 1: [(3xNxN + 1) x h] + [(L-2)x{(hxh)+h}] + [(hxn) + n]
def mlp_params(N, L, h, n):
    return ((3 * N * N + 1) * h) + ((L - 2) * ((h * h) + h)) + ((h * n) + n)


# Problem 2: L x [d x {(fxf)+1}] + (F-2) x h + [d x {(fxf)+1}] x h + n(o) x h
def cnn_params(N, L, k, d, F, h, n_out):
    per_conv = d * ((k * k) + 1)
    return L * per_conv + (F - 2) * h + per_conv * h + n_out * h


# Problem 3(a): Softmax(Zi) = e^Zi / sum_k e^Zk
def softmax(z):
    return np.exp(z) / np.sum(np.exp(z))


# Problem 3(b): dPi/dZk = Pi (delta_ik - Pk)
def softmax_jacobian(z):
    P = softmax(z)
    delta = np.eye(len(P))
    return P[:, None] * (delta - P[None, :])


# Problem 3(c): dL/dZi = Pi - Yi (since sum of Yi = 1)
def cross_entropy_grad(z, y):
    return softmax(z) - y
