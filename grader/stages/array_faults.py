"""Array answers: which misconception combination reproduces them, or which structure is off.

Matching compares an answer with each combination's outputs within tolerance; an answer no
combination reproduces is explained by its structural faults (shape, sign, transpose,
symmetry, row or column sums, scale, non-finite values).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from grader.stages.checking import arrays_agree, as_array
from grader.stages.diagnosis_templates import TEMPLATES, describe_arguments, scored_checks
from grader.models import ProblemCheck, ProblemKey


def match_arrays(key: ProblemKey, check: ProblemCheck,
                 tolerance: tuple[float, float] | None = None) -> tuple[str, ...] | None:
    """The smallest combination agreeing within tolerance on every answered non-probe case.

    The answered cases are flattened into one vector per combination, so each combination
    costs one comparison instead of one per case.
    """
    indices, answers = [], []
    for case_check in scored_checks(check):
        array = as_array(case_check.got) if case_check.error is None else None
        if array is not None:
            indices.append(case_check.index)
            answers.append(array)
    if not indices:
        return None
    shapes = [answer.shape for answer in answers]
    flat = np.concatenate([answer.ravel() for answer in answers])
    outputs: Sequence[Sequence[np.ndarray]] = key.variant_outputs  # type: ignore[assignment]
    order = sorted(range(len(key.combinations)), key=lambda index: (len(key.combinations[index]), index))
    rtol, atol = tolerance or key.tolerance
    shared = getattr(outputs, "shared_count", 0)
    quick = [(case, answer) for case, answer in zip(indices, answers) if case < shared]
    for combination_index in order:
        if quick:
            # Rule a combination out on the class-wide cases first: their rows are cached, so
            # a student's hidden cases are only computed for the combinations still in play.
            head = outputs.shared_row(combination_index)  # type: ignore[attr-defined]
            if not all(head[case].shape == answer.shape and arrays_agree(answer, head[case], rtol, atol)
                       for case, answer in quick):
                continue
        row = outputs[combination_index]
        if any(row[case].shape != shape for case, shape in zip(indices, shapes)):
            continue
        expected = np.concatenate([row[case].ravel() for case in indices])
        if arrays_agree(flat, expected, rtol, atol):
            return key.combinations[combination_index]
    return None


def array_faults(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float,
                 where: str, nan_cause: str = ".") -> list[tuple[str, str]]:
    """Structural faults of one wrong array: (fault name, sentence) pairs (`nan_cause` ends
    the sentence about non-finite values: where they come from, and a fix only if it fits)."""
    def close(a: np.ndarray, b: np.ndarray) -> bool:
        return arrays_agree(a, b, rtol, max(atol, 1e-9))

    if got.shape != expected.shape:
        if got.ndim == 0:
            return [("shape", TEMPLATES["shape_scalar"].format(expected=expected.shape, where=where))]
        if got.size != expected.size:
            return [("shape", TEMPLATES["shape"].format(got=got.shape, expected=expected.shape, where=where))]
        found = [("shape", TEMPLATES["shape_arranged"].format(got=got.shape, expected=expected.shape, where=where))]
        return found + array_faults(got.reshape(expected.shape), expected, rtol, atol, where, nan_cause)
    bad = ~np.isfinite(got) & np.isfinite(expected)
    if bad.any():
        positions = [tuple(int(i) for i in place) if got.ndim > 1 else int(place[0]) for place in np.argwhere(bad)]
        values = sorted({"NaN" if np.isnan(v) else ("inf" if v > 0 else "-inf") for v in got[bad]})
        return [("non-finite", TEMPLATES["non_finite"].format(
            values=" and ".join(values), positions=", ".join(map(str, positions[:6])), where=where) + nan_cause)]
    found = []
    if np.any(np.abs(expected) > atol) and close(got, -expected):
        found.append(("sign", TEMPLATES["sign"].format(where=where)))
    if got.ndim == 2 and got.shape[0] == got.shape[1]:
        expected_symmetric = close(expected, expected.T)
        if not expected_symmetric and close(got, expected.T):
            found.append(("transposed", TEMPLATES["transposed"].format(where=where)))
        if expected_symmetric and not close(got, got.T):
            found.append(("symmetry", TEMPLATES["symmetry"].format(where=where)))
    if got.ndim == 2:
        found += _sum_faults(got, expected, close, where)
    elif got.ndim == 1 and got.size > 1:
        total, wanted = float(got.sum()), float(expected.sum())
        if not close(np.array([total]), np.array([wanted])):
            found.append(("sums", TEMPLATES["sums"].format(expected=target(wanted, expected, atol), got=total,
                                                           where=where)))
    denominator = float(np.sum(expected * expected))
    if denominator > 0 and not any(name == "sign" for name, _ in found):
        factor = float(np.sum(got * expected)) / denominator
        if not np.isclose(factor, 1.0, rtol=1e-3) and abs(factor) > 1e-12 and close(got, factor * expected):
            found.append(("scale", TEMPLATES["scale"].format(factor=factor, where=where)))
    return found


def target(value: float, values: np.ndarray, atol: float) -> float:
    """A target as meaningful as the numbers it comes from: the sum of a Jacobian's row is
    -1.11e-16 in floating point and 0 in fact ("should sum to 0"); rounded to 6 digits."""
    finite = np.abs(values[np.isfinite(values)])
    scale = float(np.sum(finite)) if finite.size else 1.0
    if abs(value) <= max(atol, 1e-9 * max(scale, 1.0)):
        return 0.0
    return float(f"{value:.6g}")


def _sum_faults(got: np.ndarray, expected: np.ndarray, close: Callable[[np.ndarray, np.ndarray], bool],
                where: str) -> list[tuple[str, str]]:
    """Row and column sums that should be a constant (0 for a Jacobian, 1 for probabilities)."""
    found = []
    for axis, name in ((1, "row_sums"), (0, "column_sums")):
        wanted = expected.sum(axis=axis)
        if not close(wanted, np.full_like(wanted, wanted[0])):
            continue  # the expected sums are not a property worth naming
        sums = got.sum(axis=axis)
        if not close(sums, wanted):
            text = np.array2string(sums, precision=4, separator=", ", threshold=6)
            found.append((name.replace("_", "-"), TEMPLATES[name].format(
                expected=target(float(wanted[0]), expected, 1e-12), got=text, where=where)))
    names = [name for name, _ in found]
    if names == ["row-sums"] and close(got.sum(axis=0), expected.sum(axis=1)):
        found.append(("axis", TEMPLATES["axis"].format(where=where)))
    return found


def explain_arrays(key: ProblemKey, check: ProblemCheck, elsewhere_right: bool | None = None,
                   only: tuple[str, ...] | None = None) -> tuple[str, tuple[str, ...]]:
    """Structural faults over the failing answered cases; each fault explained once."""
    rtol, atol = key.tolerance
    names: list[str] = []
    sentences: list[str] = []
    failing = [c for c in scored_checks(check) if not c.passed and c.error is None and as_array(c.got) is not None]
    # Advice to subtract max(z) fits only an answer right wherever it stays finite: for any
    # other formula (a sigmoid) the shift changes the value, and the NaN is not the whole story.
    if elsewhere_right is None:
        elsewhere_right = all(not np.all(np.isfinite(as_array(c.got))) for c in failing)  # type: ignore[arg-type]
    # Faults are systematic: the three smallest failing cases (the clearest examples) and two
    # stress cases (where overflow shows) tell them all, at a bounded cost per submission.
    smallest = sorted(failing, key=lambda c: sum(np.size(v) for v in c.case.arguments.values()))[:3]
    stress = [c for c in failing if c.case.tag == "stress" and c not in smallest][:2]
    for case_check in sorted(smallest + stress, key=lambda c: c.index):
        got = as_array(case_check.got)
        assert got is not None
        where = TEMPLATES["where"].format(arguments=describe_arguments(case_check.case.arguments))
        cause = nan_cause(case_check.case.arguments, elsewhere_right)
        for name, sentence in array_faults(got, np.asarray(case_check.expected), rtol, atol, where, cause):
            if name not in names and (only is None or name in only):
                names.append(name)
                sentences.append(sentence)
    return " ".join(sentences), tuple(names)


#: Logits past which exp overflows (float32 at 88.7, float64 at 709.8) or, all of them below
#: about −87, underflows so that the sum is 0: where subtracting max(z) changes the outcome.
EXP_OVERFLOWS = 88.0


def nan_cause(arguments: Mapping[str, object], elsewhere_right: bool) -> str:
    """Where a NaN or inf on this case comes from, and the fix only when it is the fix."""
    logits = arguments.get("z")
    if not isinstance(logits, np.ndarray) or logits.size == 0:
        return "."
    top = float(np.max(logits))
    if top > EXP_OVERFLOWS:
        key = "nan_overflow_fix" if elsewhere_right else "nan_overflow"
    elif top < -EXP_OVERFLOWS:
        key = "nan_underflow_fix" if elsewhere_right else "nan_underflow"
    else:
        key = "nan_formula"
    return TEMPLATES[key].format(top=top)
