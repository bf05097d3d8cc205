# Homework 3 -- plain Python, no numpy (my laptop's numpy install is broken)
import math


def mlp_params(N, L, h, n):
    # pixels = 3 * N^2 (written with ** 2.0, so the answer comes out as a float)
    pixels = 3 * N ** 2.0
    return (pixels + 1) * h + (L - 1) * (h + 1) * h + (h + 1) * n


def cnn_params(N, L, k, d, F, h, n_out):
    conv = (3 * k * k + 1) * d + (L - 1) * (d * k * k + 1) * d
    side = N // 2 ** L * 1.0   # pooling floors odd sizes
    flat = d * side * side
    return conv + (flat + 1) * h + (F - 1) * (h + 1) * h + (h + 1) * n_out


def softmax(z):
    m = max(z)
    exps = [math.exp(v - m) for v in z]
    total = sum(exps)
    return [e / total for e in exps]


def softmax_jacobian(z):
    p = softmax(z)
    K = len(p)
    return [[p[i] * ((1.0 if i == k else 0.0) - p[k]) for k in range(K)] for i in range(K)]


def cross_entropy_grad(z, y):
    p = softmax(z)
    s = sum(y)
    return [pi * s - yi for pi, yi in zip(p, y)]
