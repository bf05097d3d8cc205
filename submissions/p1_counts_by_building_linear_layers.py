"""Homework 3.  Charles Babbage (fictional id cb-1791): counts Problem 1 by building the nn.Linear
layers, which runs out of memory on the N = 224, h = 4096 stress case and nowhere else."""

import numpy as np
import torch
from torch import nn


# ---------------------------------------------------------------- Problem 1
def mlp_params(N, L, h, n):
    """Count by building the network, as the problem set suggests for checking, and summing."""
    layers = [nn.Linear(3 * N * N, h), nn.ReLU()]
    for _ in range(L - 1):
        layers += [nn.Linear(h, h), nn.ReLU()]
    layers.append(nn.Linear(h, n))
    return sum(parameter.numel() for parameter in nn.Sequential(*layers).parameters())


# ---------------------------------------------------------------- Problem 2
def cnn_params(N, L, k, d, F, h, n_out):
    """Learnable parameters of L x [conv(k, d) -> maxpool 2x2], F dense layers of h, n_out outputs."""
    conv = (3 * k * k + 1) * d + (L - 1) * (d * k * k + 1) * d
    size = N
    for _ in range(L):
        size = size // 2   # "same" padding keeps the size, the pool halves it (floor)
    flat = d * size * size
    if F == 0:
        return conv + (flat + 1) * n_out
    dense = (flat + 1) * h + (F - 1) * (h + 1) * h
    return conv + dense + (h + 1) * n_out


def build_cnn(N, L, k, d, F, h, n_out):
    """The same network in PyTorch, to double-check the count."""
    layers = []
    channels = 3
    size = N
    for _ in range(L):
        layers += [nn.Conv2d(channels, d, k, padding=k // 2), nn.ReLU(), nn.MaxPool2d(2)]
        channels = d
        size //= 2
    layers.append(nn.Flatten())
    width = d * size * size
    for _ in range(F):
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


# ---------------------------------------------------------------- Problem 3
def softmax(z):
    z = np.asarray(z, dtype=float)
    # subtracting the max does not change the result but keeps exp from overflowing
    e = np.exp(z - np.max(z))
    return e / e.sum()


def softmax_jacobian(z):
    p = softmax(z)
    return np.diag(p) - np.outer(p, p)   # J_ik = p_i (delta_ik - p_k)


def cross_entropy_grad(z, y):
    p = softmax(z)
    y = np.asarray(y, dtype=float)
    # dL/dz = p * sum(y) - y, which is p - y when y sums to one (kept general for soft labels)
    return p * y.sum() - y
