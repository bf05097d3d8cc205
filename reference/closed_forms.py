"""Each problem's answer as a formula, in the notation students write (PROBLEMS.md's closed forms).

The grader reads these with the same reader as a student's formula and asks sympy whether the
two are equal: supporting evidence beside the verdict, which itself comes from the cases.
"""

from __future__ import annotations

from reference.problem import Conventions

CLOSED_FORMS = {
    "p1": r"(3N^2+1)h + (L-1)(h+1)h + (h+1)n",
    # "same" padding: s_L = N / 2^L (the domain draws N whole at every pooling).
    "p2": r"(3k^2+1)d + (L-1)(dk^2+1)d + (d(N/2^L)^2+1)h + (F-1)(h+1)h + (h+1)n_{out}",
    "p3a": r"\frac{e^{z_i}}{\sum_{j=1}^{K} e^{z_j}}",
    "p3b": r"p_i(\delta_{ik} - p_k)",
    "p3c": r"p_i \sum_{j=1}^{K} y_j - y_i",
}


def closed_form(problem_id: str, conventions: Conventions) -> str:
    """The problem's closed form, or "" where it has none in this notation (literal padding's
    floors, degenerate networks)."""
    if problem_id == "p2" and (conventions.padding != "same" or conventions.allow_degenerate):
        return ""
    if problem_id == "p1" and conventions.allow_degenerate:
        return ""
    if problem_id == "p3c" and conventions.targets_sum_to_one:
        return r"p_i - y_i"  # the answer under the promise that Σ y = 1
    return CLOSED_FORMS.get(problem_id, "")
