"""The words diagnosis writes: every sentence template, and how a case's arguments read in one.

Shared by `grader/stages/diagnosis.py` and `grader/stages/array_faults.py`, so the templates stay in one
place (a course can translate or reword them here) and neither module imports the other's
internals.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from grader.models import UNSCORED_TAGS, CaseCheck, ProblemCheck

#: Every sentence diagnosis writes, in one place (a course can translate or reword them here).
TEMPLATES = {
    "sensitivity": "{one_more} should {reference_change} parameters; yours {student_change} "
                   "(from {base}).",
    "sensitivity_agrees": "Changing one input at a time around {base} changes your answer as "
                          "much as the reference's, yet the answers differ.",
    "offset": "Your answers are always {offset:+d} from the right count: a constant term is off.",
    "shape_scalar": "Your function returns a scalar where an array of shape {expected} is expected{where}.",
    "shape_arranged": "Your function returns shape {got} where {expected} is expected: the right "
                      "number of values, arranged differently{where}.",
    "shape": "Your function returns shape {got} where {expected} is expected{where}.",
    "non_finite": "Your function returns {values} at position {positions}{where}, where the answer "
                  "is finite",
    "nan_overflow_fix": ": exp({top:g}) overflows to inf, and inf / inf is NaN; subtract max(z) before exp "
                        "(it changes nothing else).",
    "nan_underflow_fix": ": every exp(z) underflows to 0, and 0 / 0 is NaN; subtract max(z) before exp "
                         "(it changes nothing else).",
    "nan_overflow": ": exp({top:g}) overflows to inf, and inf / inf is NaN.",
    "nan_underflow": ": every exp(z) underflows to 0, and 0 / 0 is NaN.",
    "nan_formula": ": no exp overflows on these logits (the largest is {top:g}), so it comes from the "
                   "formula itself (a 0 / 0, inf − inf or the log of 0).",
    "sign": "Every value has the wrong sign (≈ −expected){where}.",
    "transposed": "Your answer is the transpose of the expected one{where}: swap the indices.",
    "symmetry": "The answer should be symmetric, but yours is not{where}.",
    "row_sums": "Each row should sum to {expected:.6g}; yours sum to {got}{where}.",
    "column_sums": "Each column should sum to {expected:.6g}; yours sum to {got}{where}.",
    "sums": "The values should sum to {expected:.6g}; yours sum to {got:.4g}{where}.",
    "scale": "Your answer is ≈ {factor:.4g} × the expected one{where}: a constant factor is off.",
    "axis": "Your answer sums correctly along columns instead of rows{where}: check the axis.",
    "batch_assumed": "Your function assumes a batch (2-D input) but {name} is a 1-D vector "
                     "({exception_type}: {message}).",
    "returns_none": "Your function returns None: a `return` statement is missing.",
    "returns_none_prints": "Your function returns None: it prints its result, but a `return` statement is missing.",
    "returns_none_placeholder": "Your function returns None: its body is still the template's placeholder.",
    "returns_none_variable": "Your function returns None: it returns {variable}, which is still None when "
                             "it is returned (it starts as None and no line gives it a value on this path).",
    "returns_none_neutral": "Your function returns None on these cases: the `return` that runs gives "
                            "back no value.",
    "near_diagonal": "Your function returns a vector of shape {got} where the {expected} matrix is expected"
                     "{where}: only its diagonal.{verdict}",
    "near_rearranged": "Your function returns shape {got} where {expected} is expected{where}: the same "
                       "values arranged differently (flattened, or a column).{verdict}",
    "near_transposed": "Your function returns the transpose of the matrix{where}: rows and columns are "
                       "swapped.{verdict}",
    "near_row": "Your function returns one row of the expected matrix, shape {got}, where the whole {expected} "
                "matrix is expected{where}: entry [i, k] is ∂p_i/∂z_k, needed for every output i, not one.",
    "near_right": " Reshaped, the values are right.",
    "unfinished_zeros": "Your function returns all zeros on every case: the template's placeholder, not "
                        "yet replaced by the formula.",
    "unfinished_input": "Your function returns its input {name} unchanged on every case: the template's "
                        "placeholder, not yet replaced by the formula.",
    "exception": "Your function raised {exception_type} on {count} of {total} cases: {message}",
    "failure": "{count} of {total} cases failed with {kind}: {message}",
    "where": " for {arguments}",
    "resource_stop": "Every case your function finished is right; {stops}.",
    "resource_case": "the case {arguments} ran out of {resource}{size}",
    "footprint": ": it asks for {formula} = {values} {what}, which take {size} as float32",
    "footprint_small": ", although its largest layer holds only {formula} = {values} {what} ({size} as "
                       "float32): the {resource} went elsewhere in your code",
    "resource_unrun": "The {count} cases after it were not run: the limit stopped the process.",
    "resource_unrun_one": "The case after it was not run: the limit stopped the process.",
    "resource_count_advice": "A count needs no tensor: multiply the sizes instead of building the layers.",
    "notes": "Your function {note}.",
    "precision": "Your answers reach float32 precision only (they differ by up to {difference:.2g} from the float64 "
                 "result) and this rubric asks for {precision} (rtol {rtol:g}, atol {atol:g}): compute in float64 "
                 "(np.float64, torch.float64 or .double()).",
}


def describe_arguments(arguments: Mapping[str, object]) -> str:
    """A case's arguments for a sentence: "N = 4, L = 2" or "z = [1, 3.5, 757, -5]"."""
    parts = []
    for name, value in arguments.items():
        if isinstance(value, np.ndarray):
            text = np.array2string(value, precision=4, separator=", ", threshold=8, edgeitems=3)
        else:
            text = f"{value:g}" if isinstance(value, float) else str(value)
        parts.append(f"{name} = {text}")
    return ", ".join(parts)


#: A case whose largest layer takes at least this much (as float32) is large enough to explain
#: a memory or time limit; below it, the limit says more about the code than about the case.
LARGE_BYTES = 64 << 20


def describe_stop(case_check: CaseCheck, kind: str) -> str:
    """A case stopped by memory or time, with the size that made it expensive, never an
    allocator's own words ("DefaultCPUAllocator: can't allocate memory: ... 2466250752 bytes")."""
    footprint = case_check.case.footprint
    size = ""
    if footprint is not None:
        values = footprint.values
        template = "footprint" if 4 * values >= LARGE_BYTES else "footprint_small"
        size = TEMPLATES[template].format(formula=footprint.formula, values=large_number(values),
                                          what=footprint.what, size=byte_size(4 * values),
                                          resource="memory" if kind == "memory" else "time")
    return TEMPLATES["resource_case"].format(arguments=describe_arguments(case_check.case.arguments),
                                             resource="memory" if kind == "memory" else "time", size=size)


def large_number(number: int) -> str:
    """616562688 as "617 million"; small numbers with separators."""
    for scale, word in ((10**9, "billion"), (10**6, "million")):
        if number >= scale:
            return f"{number / scale:.3g} {word}"
    return f"{number:,}"


def byte_size(count: int) -> str:
    """A byte count as a person reads it: "2.3 GiB", "12 MiB"."""
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if count >= 1 << shift:
            return f"{count / (1 << shift):.2g} {unit}"
    return f"{count} bytes"


def scored_checks(check: ProblemCheck) -> list[CaseCheck]:
    """The case checks a diagnosis reasons about: probes and shrink candidates never count."""
    return [case_check for case_check in check.checks if case_check.case.tag not in UNSCORED_TAGS]
