"""Student-like code for every catalogued mistake of PROBLEMS.md, drawn at random per student.

Each problem's answer is written the way students write it (named terms, loops, torch calls),
with the terms a mistake changes swapped for the wrong expression, so mistakes compose term
by term exactly as the catalog says. A few students are hostile or broken on purpose.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# --------------------------------------------------------------------------- problem 1

P1_INPUT = {
    "": "(3 * N * N + 1) * h",
    "input-no-bias": "3 * N * N * h",
    "grayscale-input": "(N * N + 1) * h",
    "unsquared-input": "(3 * N + 1) * h",
}
P1_HIDDEN = {
    "": "(L - 1) * (h * h + h)",
    "input-as-layer": "(L - 2) * (h * h + h)",
    "extra-hidden-transition": "L * (h * h + h)",
    "hidden-no-bias": "(L - 1) * h * h",
}
P1_OUTPUT = {"": "(h + 1) * n", "output-no-bias": "h * n"}

# --------------------------------------------------------------------------- problem 2

P2_CONV = {
    "": "(3 * k * k + 1) * d + (L - 1) * (d * k * k + 1) * d",
    "conv-ignores-input-channels": "L * (k * k + 1) * d",
    "first-conv-uses-d": "(d * k * k + 1) * d + (L - 1) * (d * k * k + 1) * d",
    "conv-no-bias": "3 * k * k * d + (L - 1) * d * k * k * d",
}
P2_FLAT = {
    "": "d * size * size",
    "flatten-is-filter-params": "d * (k * k + 1)",
    "flatten-ignores-pooling": "d * N * N",
}
P2_FC_FIRST = {"": "(flat + 1) * h", "fc-no-bias": "flat * h"}
P2_FC_REST = {
    "": "(F - 1) * (h * h + h)",
    "fc-F-minus-2": "(F - 2) * (h * h + h)",
    "fc-weights-linear-in-h": "(F - 1) * h",
    "fc-no-bias": "(F - 1) * h * h",
    "fc-F-minus-2+fc-weights-linear-in-h": "(F - 2) * h",
}
P2_OUTPUT = {"": "(h + 1) * n_out", "output-no-bias": "h * n_out"}
WRITEUP_P2 = "L * d * (k * k + 1) + (F - 2) * h + d * (k * k + 1) * h + n_out * h"

# --------------------------------------------------------------------------- problem 3

SOFTMAX = {
    "": "e = np.exp(z - np.max(z))\n    return e / e.sum()",
    "torch": "return torch.softmax(torch.as_tensor(z, dtype=torch.float64), dim=0).numpy()",
    "naive-exp-overflow": "return np.exp(z) / np.sum(np.exp(z))",
    "linear-normalisation": "return z / np.sum(z)",
    "no-normalisation": "return np.exp(z)",
    "log-softmax-returned": "m = np.max(z)\n    return z - m - np.log(np.sum(np.exp(z - m)))",
    "sigmoid-instead": "return 1 / (1 + np.exp(-z))",
}
JACOBIAN = {
    "": "p = softmax(z)\n    return np.diag(p) - np.outer(p, p)",
    "loops": (
        "p = softmax(z)\n    K = len(p)\n    J = np.zeros((K, K))\n"
        "    for i in range(K):\n        for k in range(K):\n"
        "            J[i, k] = p[i] * ((1.0 if i == k else 0.0) - p[k])\n    return J"
    ),
    "sign-flipped": "p = softmax(z)\n    return np.outer(p, p) - np.diag(p)",
    "off-diagonal-sign": "p = softmax(z)\n    J = np.outer(p, p)\n    np.fill_diagonal(J, p * (1 - p))\n    return J",
    "diagonal-only": "p = softmax(z)\n    return np.diag(p * (1 - p))",
    "logits-for-probs": "return np.diag(z) - np.outer(z, z)",
}
CROSS_ENTROPY = {
    "": "p = softmax(z)\n    return p * np.sum(y) - y",
    "assumes-sum-one": "return softmax(z) - y",
    "sign-flipped": "return y - softmax(z)",
    "forgot-softmax": "return z - y",
    "unnormalised-softmax": "return np.exp(z) - y",
    "stopped-at-dL-dp": "return -y / softmax(z)",
}
ALIASES = {
    "mlp_params": ("count_mlp_params",),
    "softmax_jacobian": ("softmax_grad",),
    "cross_entropy_grad": ("ce_grad", "cross_entropy_gradient"),
}

#: Whole-submission faults: (name, code placed before the answers). Each is something a grader
#: meets in a real class; none hangs (hanging students are asked for separately).
HOSTILE = [
    ("syntax-error", "def broken(:\n    pass"),
    ("import-missing-package", "import tensorflow as tf"),
    ("exit-at-import", "import sys\nsys.exit(0)"),
    ("hard-exit", "import os\nos._exit(3)"),
    ("reads-secrets", "SECRET = open('/etc/shadow').read()"),
    ("print-flood", "for _ in range(20000):\n    print('debug output ' * 10)"),
    ("allocates-too-much", "BIG = bytearray(64 * 1024 ** 3)"),
]
ALWAYS_EQUAL = (
    "class AlwaysEqual(float):\n    def __eq__(self, other):\n        return True\n"
    "    __hash__ = float.__hash__\n\n"
    "def mlp_params(N, L, h, n):\n    return AlwaysEqual(0)\n"
)
HANG = "while True:\n    pass"


@dataclass
class Student:
    """One synthetic student: their code, cut into cells, and what they got wrong."""

    student_id: str
    cells: list[str]
    mistakes: dict[str, list[str]] = field(default_factory=dict)
    hostile: str = ""


def _pick(rng: random.Random, table: dict[str, str], wrong: float) -> str:
    return rng.choice([key for key in table if key]) if rng.random() < wrong else ""


def _mlp(rng: random.Random, mistakes: list[str]) -> str:
    name = rng.choice(("mlp_params",) * 4 + ALIASES["mlp_params"])
    terms = [_pick(rng, P1_INPUT, 0.15), _pick(rng, P1_HIDDEN, 0.25), _pick(rng, P1_OUTPUT, 0.15)]
    mistakes += [term for term in terms if term]
    return (
        f"def {name}(N, L, h, n):\n"
        f"    if L == 0:\n        return (3 * N * N + 1) * n\n"
        f"    input_to_hidden = {P1_INPUT[terms[0]]}\n"
        f"    hidden_to_hidden = {P1_HIDDEN[terms[1]]}\n"
        f"    hidden_to_output = {P1_OUTPUT[terms[2]]}\n"
        f"    return input_to_hidden + hidden_to_hidden + hidden_to_output\n"
    )


def _cnn(rng: random.Random, mistakes: list[str]) -> str:
    header = "def cnn_params(N, L, k, d, F, h, n_out):\n"
    if rng.random() < 0.08:  # the write-up's own six-mistake answer
        mistakes.append("writeup")
        return header + f"    return {WRITEUP_P2}\n"
    conv, flat = _pick(rng, P2_CONV, 0.2), _pick(rng, P2_FLAT, 0.15)
    first, rest = _pick(rng, P2_FC_FIRST, 0.1), _pick(rng, P2_FC_REST, 0.2)
    out = _pick(rng, P2_OUTPUT, 0.15)
    mistakes += [part for term in (conv, flat, first, rest, out) if term for part in term.split("+")]
    return header + (
        f"    conv = {P2_CONV[conv]}\n"
        f"    size = N\n    for _ in range(L):\n        size = size // 2\n"
        f"    flat = {P2_FLAT[flat]}\n"
        f"    fc = {P2_FC_FIRST[first]} + {P2_FC_REST[rest]}\n"
        f"    out = {P2_OUTPUT[out]}\n"
        f"    return conv + fc + out\n"
    )


BUILD_CNN = (
    "def build_cnn(N, L, k, d, F, h, n_out):\n"
    "    layers, channels, size = [], 3, N\n"
    "    for _ in range(L):\n"
    "        layers += [nn.Conv2d(channels, d, k, padding=(k - 1) // 2), nn.ReLU(), nn.MaxPool2d(2)]\n"
    "        channels, size = d, size // 2\n"
    "    layers.append(nn.Flatten())\n"
    "    width = channels * size * size\n"
    "    for _ in range(F):\n"
    "        layers += [nn.Linear(width, h), nn.ReLU()]\n"
    "        width = h\n"
    "    layers.append(nn.Linear(width, n_out))\n"
    "    return nn.Sequential(*layers)\n"
)


def _function(name: str, arguments: str, body: str) -> str:
    return f"def {name}({arguments}):\n    z = np.asarray(z, dtype=float)\n    {body}\n"


def make_student(rng: random.Random, student_id: str, hostile: float, hang: bool) -> Student:
    """A student's code as cells; `hostile` is the chance of a whole-submission fault."""
    mistakes: dict[str, list[str]] = {"p1": [], "p2": []}
    cells = ["import numpy as np\nimport torch\nimport torch.nn as nn\n"]
    cells.append(_mlp(rng, mistakes["p1"]))
    cells.append(_cnn(rng, mistakes["p2"]))
    if rng.random() < 0.15:
        cells.append(BUILD_CNN)
    for problem, name, arguments, table, wrong in (
        ("p3a", "softmax", "z", SOFTMAX, 0.35),
        ("p3b", "softmax_jacobian", "z", JACOBIAN, 0.35),
        ("p3c", "cross_entropy_grad", "z, y", CROSS_ENTROPY, 0.35),
    ):
        if problem == "p3c" and rng.random() < 0.05:
            mistakes[problem] = ["missing"]
            continue
        variant = _pick(rng, table, wrong) or rng.choice([key for key in table if key in ("", "torch", "loops")])
        mistakes[problem] = [variant] if variant not in ("", "torch", "loops") else []
        if rng.random() < 0.1 and name in ALIASES:
            name = rng.choice(ALIASES[name])
        cells.append(_function(name, arguments, table[variant]))
    student = Student(student_id, cells, mistakes)
    if hang:
        student.hostile = "endless-loop"
        where = rng.randrange(1, len(cells) + 1)
        cells.insert(where, HANG)
    elif rng.random() < hostile:
        if rng.random() < 0.15:
            student.hostile = "always-equal"
            cells[1] = ALWAYS_EQUAL
        else:
            student.hostile, code = rng.choice(HOSTILE)
            cells.insert(1, code)
    return student
