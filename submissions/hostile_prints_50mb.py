"""HW3. Left a debug dump in: importing this module prints 50 MB."""
import numpy as np

print("debug " * (50 * 1024 * 1024 // 6))


def mlp_params(N, L, h, n):
    return (3 * N * N + 1) * h + (L - 1) * (h * h + h) + (h + 1) * n


def cnn_params(N, L, k, d, F, h, n_out):
    conv = (3 * k * k + 1) * d + (L - 1) * (d * k * k + 1) * d
    flat = d * (N // 2**L) ** 2
    return conv + (flat + 1) * h + (F - 1) * (h * h + h) + (h + 1) * n_out


def softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def softmax_jacobian(z):
    p = softmax(z)
    return np.diag(p) - np.outer(p, p)


def cross_entropy_grad(z, y):
    return softmax(z) * np.sum(y) - y
