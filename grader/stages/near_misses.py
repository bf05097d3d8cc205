"""Answers with the right formula in the wrong structure, non-finite only where they overflow,
or unfinished: what diagnosis recognises before calling an array answer unexplained.

Each is named by the misconception it carries (the Jacobian's diagonal returned as a vector is
`diagonal-only`, like the matrix form), or by its own words (a template's zeros).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from grader.stages.array_faults import match_arrays
from grader.stages.checking import as_array
from grader.stages.diagnosis_templates import TEMPLATES, describe_arguments, scored_checks
from grader.models import UNSCORED_TAGS, CaseCheck, ProblemCheck, ProblemKey
from grader.stages.precision import arrays_agree


def unfinished(key: ProblemKey, check: ProblemCheck) -> str:
    """The sentence for an answer that is a template's placeholder (all zeros, the input handed
    back unchanged) on every answered case, or ""."""
    answered = [c for c in scored_checks(check) if c.error is None and c.got is not None]
    if not answered or all(c.passed for c in answered):
        return ""
    values = [as_array(c.got) for c in answered]
    if all(value is not None and value.size and not np.any(value) for value in values):
        return TEMPLATES["unfinished_zeros"]
    for name in (parameter.name for parameter in key.parameters):
        arguments = [c.case.arguments.get(name) for c in answered]
        if all(isinstance(argument, np.ndarray) and value is not None and value.shape == argument.shape
               and np.array_equal(value, argument) for argument, value in zip(arguments, values)):
            return TEMPLATES["unfinished_input"].format(name=name)
    return ""


#: Finite answered cases a mistake must be matched on before it is named despite NaNs elsewhere.
MIN_FINITE_CASES = 3


def finite_match(key: ProblemKey, check: ProblemCheck) -> tuple[str, ...] | None:
    """The catalogued mistake an answer reproduces wherever it is finite, when it is non-finite
    on some case the reference is not (a sigmoid written exp(z) / (1 + exp(z)) is NaN at
    z = 757): the mistake is named and the NaN explained apart. None when there is none."""
    finite, dropped = [], False
    for case_check in check.checks:
        got = as_array(case_check.got) if case_check.error is None else None
        expected = np.asarray(case_check.expected, dtype=np.float64)
        if got is not None and got.shape == expected.shape and not np.all(np.isfinite(got)) \
                and np.all(np.isfinite(expected)):
            dropped = True
            continue
        finite.append(case_check)
    # Enough finite answers to tell variants apart: on a K = 1 case alone, many coincide.
    if not dropped or sum(c.error is None and c.case.tag not in UNSCORED_TAGS for c in finite) < MIN_FINITE_CASES:
        return None
    combination = match_arrays(key, ProblemCheck(check.problem_id, tuple(finite)))
    return combination or None


# --------------------------------------------------------------------------- structural near-misses


def _as_diagonal(got: np.ndarray, expected: np.ndarray) -> np.ndarray | None:
    """A length-K vector where a K × K matrix belongs, read as its diagonal."""
    if got.ndim == 1 and expected.ndim == 2 and expected.shape == (got.size, got.size):
        return np.diag(got)
    return None


def _rearranged(got: np.ndarray, expected: np.ndarray) -> np.ndarray | None:
    """The right number of values in another shape (flattened, a column (K, 1)), reshaped."""
    return got.reshape(expected.shape) if got.size == expected.size and got.shape != expected.shape else None


def _transposed(got: np.ndarray, expected: np.ndarray) -> np.ndarray | None:
    return got.T if got.ndim == 2 and got.shape == expected.shape[::-1] and got.shape[0] == got.shape[1] else None


#: Structures an answer can hold a formula's values in: (name, template, transform). The
#: transform returns the answer in the expected structure, or None where it does not apply.
NEAR_MISSES: tuple[tuple[str, str, Callable[[np.ndarray, np.ndarray], np.ndarray | None]], ...] = (
    ("diagonal-vector", "near_diagonal", _as_diagonal),
    ("rearranged", "near_rearranged", _rearranged),
    ("transposed", "near_transposed", _transposed),
)


def near_miss(key: ProblemKey, check: ProblemCheck) -> tuple[tuple[str, ...], str, str] | None:
    """(combination, fault, sentence) for an answer that reproduces the reference or a
    catalogued mistake once put in the expected structure (the Jacobian's diagonal returned
    as a vector is `diagonal-only`, like the matrix form), or None."""
    answered = [c for c in scored_checks(check) if c.error is None and as_array(c.got) is not None]
    answered_indices = {c.index for c in answered}
    for fault, template, transform in NEAR_MISSES:
        changed, checks, example = False, [], None
        for case_check in check.checks:
            got = as_array(case_check.got) if case_check.index in answered_indices else None
            if got is None:
                checks.append(case_check)
                continue
            expected = np.asarray(case_check.expected)
            moved = transform(got, expected)
            if moved is None and got.shape != expected.shape:
                break  # the transform does not fit this case: not this structure
            if moved is not None:
                changed, example = True, example or (case_check, got.shape, expected.shape)
            checks.append(replace(case_check, got=moved if moved is not None else got))
        else:
            if not changed:
                continue
            combination = match_arrays(key, ProblemCheck(check.problem_id, tuple(checks)))
            if combination is not None:
                case_check, got_shape, expected_shape = example  # type: ignore[misc]
                where = TEMPLATES["where"].format(arguments=describe_arguments(case_check.case.arguments))
                return combination, fault, TEMPLATES[template].format(
                    got=got_shape, expected=expected_shape, where=where,
                    verdict=TEMPLATES["near_right"] if not combination else "")
    return _one_row(answered, key.tolerance)


def _one_row(answered: Sequence[CaseCheck], tolerance: tuple[float, float]) -> tuple[tuple[str, ...], str, str] | None:
    """A vector equal to one row (or column) of the expected matrix on every case."""
    if not answered:
        return None
    for case_check in answered:
        got, expected = as_array(case_check.got), np.asarray(case_check.expected)
        if got is None or got.ndim != 1 or expected.ndim != 2 or expected.shape[1] != got.size:
            return None
        rows = [index for index in range(expected.shape[0]) if arrays_agree(got, expected[index], *tolerance)]
        columns = [index for index in range(expected.shape[1]) if arrays_agree(got, expected[:, index], *tolerance)]
        if not rows and not columns:
            return None
    example = answered[0]
    where = TEMPLATES["where"].format(arguments=describe_arguments(example.case.arguments))
    return (), "one-row", TEMPLATES["near_row"].format(
        got=np.asarray(example.got).shape, expected=np.asarray(example.expected).shape, where=where)
