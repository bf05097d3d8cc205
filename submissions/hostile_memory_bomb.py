"""HW3. mlp_params "counts" by materialising every weight, and never stops allocating."""
import numpy as np


def mlp_params(N, L, h, n):
    hoard = []
    while True:
        # 256 MiB more each round; only a memory limit ends this
        hoard.append(np.ones(32 * 1024 * 1024))
    return len(hoard)


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
