"""The optional problem `p2-torch`: the student's `build_cnn(...)` returns a torch module.

Kept apart from `reference.cnn_torch` so that loading the answer key does not import torch
(1.5 s per process); the reference value needs only the closed form of `reference.cnn`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reference.cnn import PROBLEM as COUNT_PROBLEM
from reference.problem import Arguments, Conventions, Domain, Footprint, Problem, VariantTable

#: Images per forward pass, for the reference and for students' modules (the sandbox uses 2 too).
BATCH = 2


class TorchNetworkProblem(Problem):
    """Optional Problem 2 in code: `build_cnn(...)` returns a module mapping (B, 3, N, N) to (B, n_out).

    Graded on its parameter count and output shape; the variant table is Problem 2's count
    table, so a network without biases is diagnosed with Problem 2's catalog.
    """

    id = "p2-torch"
    title = "The CNN in PyTorch"
    function = "build_cnn"
    aliases = ("make_cnn", "cnn_model", "build_model", "create_cnn", "build_network", "get_cnn")
    parameters = COUNT_PROBLEM.parameters
    kind = "module"
    catalog = COUNT_PROBLEM.catalog
    #: Smaller than Problem 2's: the sandbox builds and runs each student's network for real.
    default_domain: Domain = {"N": (4, 48), "L": (1, 3), "k": (1, 5), "d": (1, 16), "F": (1, 3),
                              "h": (1, 64), "n_out": (1, 10)}

    def reference(self, arguments: Arguments, conventions: Conventions) -> dict[str, object]:
        parameters = COUNT_PROBLEM.reference(arguments, conventions)
        return {"parameters": parameters, "output_shape": (BATCH, int(arguments["n_out"]))}  # type: ignore[call-overload]

    def validate(self, arguments: Arguments, conventions: Conventions) -> None:
        COUNT_PROBLEM.validate(arguments, conventions)

    def combinations(self, conventions: Conventions, max_size: int | None = None) -> tuple[tuple[str, ...], ...]:
        return COUNT_PROBLEM.combinations(conventions, max_size)

    def variant_table(self, cases: Sequence[Arguments], conventions: Conventions) -> VariantTable:
        return COUNT_PROBLEM.variant_table(cases, conventions)

    def terms(self, arguments: Arguments, conventions: Conventions) -> list[tuple[str, str, int]]:
        return COUNT_PROBLEM.terms(arguments, conventions)

    def draw(self, rng: np.random.Generator, domain: Domain, conventions: Conventions) -> Arguments:
        return COUNT_PROBLEM.draw(rng, domain, conventions)

    def public_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        return tuple({**case, "d": min(int(case["d"]), 8), "h": min(int(case["h"]), 16)}  # type: ignore[call-overload]
                     for case in COUNT_PROBLEM.public_cases(conventions))

    def stress_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        # No VGG-sized network here: the sandbox would have to allocate it.
        small = [case for case in COUNT_PROBLEM.stress_cases(conventions) if int(case["N"]) <= 32]  # type: ignore[call-overload]
        return tuple(small)

    def simpler(self, arguments: Arguments, domain: Domain, conventions: Conventions) -> list[Arguments]:
        return COUNT_PROBLEM.simpler(arguments, domain, conventions)

    def neighbours(self, arguments: Arguments, conventions: Conventions) -> list[tuple[str, Arguments]]:
        return COUNT_PROBLEM.neighbours(arguments, conventions)

    def footprint(self, arguments: Arguments, conventions: Conventions) -> Footprint | None:
        return COUNT_PROBLEM.footprint(arguments, conventions)


PROBLEM = TorchNetworkProblem()
