"""Diagnose: name the smallest misconception combination behind a wrong answer, or explain it.

Counts (and modules' parameter counts) are matched against the key's variant table in one
vectorised comparison; arrays against each combination's outputs within tolerance. An answer
no combination reproduces gets an explanation: how its changes differ from the reference's
(counts), which structure is off (arrays), or what story a crash tells.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np

from grader.checking import RETURNED_NONE, arrays_agree, as_array, as_count
from grader.models import UNSCORED_TAGS, CaseCheck, Diagnosis, ExecutionError, ProblemCheck, ProblemKey

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
                  "is finite; subtract max(z) before exp to avoid overflow.",
    "sign": "Every value has the wrong sign (≈ −expected){where}.",
    "transposed": "Your answer is the transpose of the expected one{where}: swap the indices.",
    "symmetry": "The answer should be symmetric, but yours is not{where}.",
    "row_sums": "Each row should sum to {expected:.6g}; yours sum to {got}{where}.",
    "column_sums": "Each column should sum to {expected:.6g}; yours sum to {got}{where}.",
    "sums": "The values should sum to {expected:.6g}; yours sum to {got:.6g}{where}.",
    "scale": "Your answer is ≈ {factor:.4g} × the expected one{where}: a constant factor is off.",
    "axis": "Your answer sums correctly along columns instead of rows{where}: check the axis.",
    "batch_assumed": "Your function assumes a batch (2-D input) but {name} is a 1-D vector "
                     "({exception_type}: {message}).",
    "returns_none": "Your function returns None: a `return` statement is missing.",
    "exception": "Your function raised {exception_type} on {count} of {total} cases: {message}",
    "failure": "{count} of {total} cases failed with {kind}: {message}",
    "where": " for {arguments}",
    "notes": "Your function {note}.",
}


# --------------------------------------------------------------------------- helpers


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


def _change(amount: int, third_person: bool) -> str:
    if amount == 0:
        return "changes nothing" if third_person else "change nothing"
    verb = ("adds" if third_person else "add") if amount > 0 else ("removes" if third_person else "remove")
    return f"{verb} {abs(amount)}"


def _smallest(combinations: Sequence[tuple[str, ...]], indices: Sequence[int]) -> tuple[str, ...] | None:
    """The smallest combination among `indices`: fewest ids, then the tuple's own order."""
    if len(indices) == 0:
        return None
    return combinations[min(indices, key=lambda index: (len(combinations[index]), index))]


def _scored(check: ProblemCheck) -> list[CaseCheck]:
    return [case_check for case_check in check.checks if case_check.case.tag not in UNSCORED_TAGS]


def _count_of(key: ProblemKey, value: object) -> int | None:
    if key.kind == "module":
        value = value.get("parameters") if isinstance(value, Mapping) else None
    return as_count(value)[0]  # type: ignore[arg-type]


# --------------------------------------------------------------------------- counts


def match_counts(key: ProblemKey, check: ProblemCheck) -> tuple[str, ...] | None:
    """The smallest combination equal to every answered non-probe case, or None."""
    indices, answers = [], []
    for case_check in _scored(check):
        count = _count_of(key, case_check.got) if case_check.error is None else None
        if count is not None:
            indices.append(case_check.index)
            answers.append(count)
    if not indices:
        return None
    outputs = np.asarray(key.variant_outputs)
    matches = np.flatnonzero(np.all(outputs[:, indices] == np.asarray(answers, dtype=np.int64), axis=1))
    return _smallest(key.combinations, matches.tolist())


def explain_counts(key: ProblemKey, check: ProblemCheck) -> tuple[str, tuple[str, ...]]:
    """How the answer's change differs from the reference's, one parameter at a time."""
    counts = {c.index: _count_of(key, c.got) for c in check.checks if c.error is None}
    meaning = {parameter.name: parameter for parameter in key.parameters}
    found: list[tuple[int, str]] = []
    for probe in (c for c in check.checks if c.case.tag == "probe"):
        base = probe.case.base_index
        if base is None or counts.get(probe.index) is None or counts.get(base) is None:
            continue
        reference_change = int(key.expected[probe.index]) - int(key.expected[base])  # type: ignore[arg-type]
        student_change = counts[probe.index] - counts[base]  # type: ignore[operator]
        if reference_change == student_change:
            continue
        name = probe.case.varied or "?"
        info = meaning.get(name)
        one_more = info.one_more if info else f"increasing {name} by one"
        sentence = TEMPLATES["sensitivity"].format(
            one_more=one_more[:1].upper() + one_more[1:],
            reference_change=_change(reference_change, third_person=False),
            student_change=_change(student_change, third_person=True),
            base=describe_arguments(key.cases[base].arguments))
        found.append((abs(student_change - reference_change), sentence))
    found.sort(key=lambda item: -item[0])
    sentences = [sentence for _, sentence in found]
    faults: tuple[str, ...] = ()
    offsets = {counts[c.index] - int(c.expected) for c in _scored(check)  # type: ignore[operator, arg-type]
               if counts.get(c.index) is not None}
    if len(offsets) == 1 and 0 not in offsets:
        sentences.append(TEMPLATES["offset"].format(offset=offsets.pop()))
        faults = ("constant-offset",)
    elif not sentences:
        base_probe = next((c for c in check.checks if c.case.tag == "probe"), None)
        if base_probe is not None and base_probe.case.base_index is not None:
            sentences.append(TEMPLATES["sensitivity_agrees"].format(
                base=describe_arguments(key.cases[base_probe.case.base_index].arguments)))
    return " ".join(sentences), faults


# --------------------------------------------------------------------------- arrays


def match_arrays(key: ProblemKey, check: ProblemCheck) -> tuple[str, ...] | None:
    """The smallest combination agreeing within tolerance on every answered non-probe case.

    The answered cases are flattened into one vector per combination, so each combination
    costs one comparison instead of one per case.
    """
    indices, answers = [], []
    for case_check in _scored(check):
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
    rtol, atol = key.tolerance
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
                 where: str) -> list[tuple[str, str]]:
    """Structural faults of one wrong array: (fault name, sentence) pairs."""
    def close(a: np.ndarray, b: np.ndarray) -> bool:
        return arrays_agree(a, b, rtol, max(atol, 1e-9))

    if got.shape != expected.shape:
        if got.ndim == 0:
            return [("shape", TEMPLATES["shape_scalar"].format(expected=expected.shape, where=where))]
        if got.size != expected.size:
            return [("shape", TEMPLATES["shape"].format(got=got.shape, expected=expected.shape, where=where))]
        found = [("shape", TEMPLATES["shape_arranged"].format(got=got.shape, expected=expected.shape, where=where))]
        return found + array_faults(got.reshape(expected.shape), expected, rtol, atol, where)
    bad = ~np.isfinite(got) & np.isfinite(expected)
    if bad.any():
        positions = [tuple(int(i) for i in place) if got.ndim > 1 else int(place[0]) for place in np.argwhere(bad)]
        values = sorted({"NaN" if np.isnan(v) else ("inf" if v > 0 else "-inf") for v in got[bad]})
        return [("non-finite", TEMPLATES["non_finite"].format(
            values=" and ".join(values), positions=", ".join(map(str, positions[:6])), where=where))]
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
            found.append(("sums", TEMPLATES["sums"].format(expected=wanted, got=total, where=where)))
    denominator = float(np.sum(expected * expected))
    if denominator > 0 and not any(name == "sign" for name, _ in found):
        factor = float(np.sum(got * expected)) / denominator
        if not np.isclose(factor, 1.0, rtol=1e-3) and abs(factor) > 1e-12 and close(got, factor * expected):
            found.append(("scale", TEMPLATES["scale"].format(factor=factor, where=where)))
    return found


def _sum_faults(got: np.ndarray, expected: np.ndarray, close: object, where: str) -> list[tuple[str, str]]:
    """Row and column sums that should be a constant (0 for a Jacobian, 1 for probabilities)."""
    found = []
    for axis, name in ((1, "row_sums"), (0, "column_sums")):
        wanted = expected.sum(axis=axis)
        if not close(wanted, np.full_like(wanted, wanted[0])):  # type: ignore[operator]
            continue  # the expected sums are not a property worth naming
        sums = got.sum(axis=axis)
        if not close(sums, wanted):  # type: ignore[operator]
            text = np.array2string(sums, precision=4, separator=", ", threshold=6)
            found.append((name.replace("_", "-"), TEMPLATES[name].format(expected=float(wanted[0]), got=text, where=where)))
    names = [name for name, _ in found]
    if names == ["row-sums"] and close(got.sum(axis=0), expected.sum(axis=1)):  # type: ignore[operator]
        found.append(("axis", TEMPLATES["axis"].format(where=where)))
    return found


def explain_arrays(key: ProblemKey, check: ProblemCheck) -> tuple[str, tuple[str, ...]]:
    """Structural faults over the failing answered cases; each fault explained once."""
    rtol, atol = key.tolerance
    names: list[str] = []
    sentences: list[str] = []
    failing = [c for c in _scored(check) if not c.passed and c.error is None and as_array(c.got) is not None]
    # Faults are systematic: the three smallest failing cases (the clearest examples) and two
    # stress cases (where overflow shows) tell them all, at a bounded cost per submission.
    smallest = sorted(failing, key=lambda c: sum(np.size(v) for v in c.case.arguments.values()))[:3]
    stress = [c for c in failing if c.case.tag == "stress" and c not in smallest][:2]
    for case_check in sorted(smallest + stress, key=lambda c: c.index):
        got = as_array(case_check.got)
        assert got is not None
        where = TEMPLATES["where"].format(arguments=describe_arguments(case_check.case.arguments))
        for name, sentence in array_faults(got, np.asarray(case_check.expected), rtol, atol, where):
            if name not in names:
                names.append(name)
                sentences.append(sentence)
    return " ".join(sentences), tuple(names)


# --------------------------------------------------------------------------- crashes


def _is_batch_assumption(error: ExecutionError) -> bool:
    """numpy's AxisError, or an IndexError on a 2-D index, are what `z[:, i]` on 1-D raises."""
    return error.exception_type == "AxisError" or (
        error.exception_type == "IndexError" and "too many indices" in error.message)


def explain_errors(check: ProblemCheck) -> tuple[str, tuple[str, ...]]:
    """The story failed calls tell: a missing `return`, a batch assumption, an exception."""
    scored = _scored(check)
    failed = [c for c in scored if c.error is not None]
    if not failed:
        return "", ()
    sentences: list[str] = []
    faults: list[str] = []
    if any(c.error == RETURNED_NONE for c in failed):
        sentences.append(TEMPLATES["returns_none"])
        faults.append("returns-none")
    batch = next((c for c in failed if _is_batch_assumption(c.error)), None)  # type: ignore[arg-type]
    vector = next((name for name, value in batch.case.arguments.items()
                   if isinstance(value, np.ndarray) and value.ndim == 1), None) if batch else None
    if batch is not None and vector is not None:
        error: ExecutionError = batch.error  # type: ignore[assignment]
        sentences.append(TEMPLATES["batch_assumed"].format(
            name=vector, exception_type=error.exception_type, message=error.message))
        faults.append("axis")
    batch_told = batch is not None and vector is not None
    others = [c for c in failed if c.error != RETURNED_NONE
              and not (batch_told and _is_batch_assumption(c.error))]  # type: ignore[arg-type]
    if others:
        first: ExecutionError = others[0].error  # type: ignore[assignment]
        if first.kind == "exception":
            sentences.append(TEMPLATES["exception"].format(
                exception_type=first.exception_type or "an exception", count=len(others),
                total=len(scored), message=first.message))
        else:
            sentences.append(TEMPLATES["failure"].format(
                count=len(others), total=len(scored), kind=first.kind, message=first.message))
    return " ".join(sentences), tuple(faults)


# --------------------------------------------------------------------------- clusters


def _signature(case_check: CaseCheck) -> str:
    if case_check.error is not None:
        return f"!{case_check.error.kind}:{case_check.error.exception_type}"
    value = case_check.got
    array = as_array(value) if not isinstance(value, (int, np.integer)) else None
    if array is not None:
        # Rounded to 6 digits relative to the largest value: two copies of one wrong formula
        # agree that far even when their operations run in another order (1e-17 vs 0, -0 vs 0).
        finite = np.abs(array[np.isfinite(array)])
        scale = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        rounded = np.round(array / scale, 6) + 0.0
        return f"{array.shape}:{scale:.6g}:" + ",".join(f"{x:.6g}" for x in rounded.ravel())
    return repr(value)


def cluster_key(key: ProblemKey, check: ProblemCheck) -> str | None:
    """A digest of the outputs on class-wide cases (public, stress); None without such cases."""
    shared = [c for c in check.checks if c.case.tag in ("public", "stress")]
    if not shared:
        return None
    text = key.problem_id + "|" + "|".join(f"{c.index}={_signature(c)}" for c in shared)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- entry point


def diagnose(key: ProblemKey, check: ProblemCheck) -> Diagnosis:
    """Why this problem's answer is wrong; an empty `Diagnosis` when every scored case passes."""
    if all(c.passed for c in _scored(check)):
        return Diagnosis()
    error_text, error_faults = explain_errors(check)
    if not any(c.error is None and c.got is not None for c in _scored(check)):
        # Nothing came back to reason about (every call crashed or returned garbage): the
        # errors are the whole story, and "answers" that are all errors are no cluster.
        return Diagnosis(explanation=error_text, faults=error_faults)
    if key.kind == "array":
        combination = match_arrays(key, check)
    else:
        combination = match_counts(key, check)
    if combination:
        return Diagnosis(misconceptions=combination, explanation=error_text, faults=error_faults)
    if combination is None:  # answered wrong, and no combination reproduces it
        explain = explain_arrays if key.kind == "array" else explain_counts
        text, faults = explain(key, check)
        if key.kind == "module":
            text, faults = _module_shape_faults(check, text, faults)
        explanation = " ".join(filter(None, (error_text, text)))
        return Diagnosis(explanation=explanation, faults=error_faults + faults,
                         cluster_key=cluster_key(key, check))
    # The reference itself reproduces every answer: what failed were calls or returned types
    # (a bool, 42.5), not the formula; the checks' notes say which.
    notes = [c.note for c in _scored(check) if not c.passed and c.error is None and c.note
             and "output has shape" not in c.note]
    text = " ".join(filter(None, (error_text, TEMPLATES["notes"].format(note=notes[0]) if notes else "")))
    faults = error_faults
    if key.kind == "module":
        text, faults = _module_shape_faults(check, text, faults)
    return Diagnosis(explanation=text, faults=faults, cluster_key=cluster_key(key, check))


def _module_shape_faults(check: ProblemCheck, text: str, faults: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """A module whose output shape is wrong says so (its notes already carry the shapes)."""
    notes = [c.note for c in _scored(check) if not c.passed and "output has shape" in c.note]
    if not notes:
        return text, faults
    return " ".join(filter(None, (text, f"The {notes[0]}."))), faults + ("output-shape",)
