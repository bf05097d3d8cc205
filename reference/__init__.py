"""The answer key: every problem of the problem set, in order, and the manually graded items.

The grader reaches a problem only through `PROBLEMS` (or `get`), so a new problem is a new
module here plus lines in the rubric. This package never imports `grader`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from types import MappingProxyType

from reference import cnn, cnn_module, cross_entropy, jacobian, mlp, softmax
from reference.problem import (Conventions, InvalidConfiguration, ManualItem, Misconception, Parameter,
                               Problem)

#: Every automatically graded problem, in the problem set's order.
PROBLEMS: Mapping[str, Problem] = MappingProxyType({
    problem.id: problem
    for problem in (mlp.PROBLEM, cnn.PROBLEM, cnn_module.PROBLEM, softmax.PROBLEM, jacobian.PROBLEM,
                    cross_entropy.PROBLEM)
})

#: Items a person grades; the heading finds "Problem 3(a)", "3a", "3 (a)", "Question 3.a" ...
#: but not "3(b)" nor "13(a)".
MANUAL_ITEMS: Mapping[str, ManualItem] = MappingProxyType({
    "p3a-proof": ManualItem(
        id="p3a-proof",
        title="Proof that softmax is a probability distribution",
        heading=r"(?<![\d.])3\s*[.(]?\s*a(?![a-z0-9])",
    ),
})


class UnknownProblem(KeyError):
    """A problem id the answer key does not have; the message suggests the closest one."""

    def __init__(self, problem_id: str, known: list[str]) -> None:
        close = difflib.get_close_matches(problem_id, known, n=1, cutoff=0.6)
        suggestion = f' did you mean "{close[0]}"?' if close else ""
        self.problem_id = problem_id
        self.message = f'no problem "{problem_id}" in the answer key (known: {", ".join(known)});{suggestion}'
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def get(problem_id: str) -> Problem:
    """The problem with this id, or UnknownProblem (a KeyError) with a did-you-mean."""
    try:
        return PROBLEMS[problem_id]
    except KeyError:
        raise UnknownProblem(problem_id, list(PROBLEMS)) from None


__all__ = ["PROBLEMS", "MANUAL_ITEMS", "get", "UnknownProblem", "Conventions", "InvalidConfiguration",
           "ManualItem", "Misconception", "Parameter", "Problem"]
