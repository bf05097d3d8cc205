"""Diagnose: name the smallest misconception combination behind a wrong answer, or explain it.

Counts (and modules' parameter counts) are matched against the key's variant table in one
vectorised comparison; arrays against each combination's outputs within tolerance. An answer
no combination reproduces gets an explanation: how its changes differ from the reference's
(counts), which structure is off (arrays, in `grader/stages/array_faults.py`), or what story a crash
tells.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from grader.stages.array_faults import array_faults, explain_arrays, match_arrays
from grader.stages.checking import RETURNED_NONE, agreement, as_count, resource_kind
from grader.stages.clusters import cluster_digits, cluster_key
from grader.stages.diagnosis_templates import TEMPLATES, describe_arguments, describe_stop, scored_checks
from grader.stages.function_source import returns_none_story
from grader.models import (CaseCheck, Diagnosis, ExecutionError, ParameterInfo, ProblemCheck,
                           ProblemKey, SourceUnit)
from grader.stages.near_misses import finite_match, near_miss, unfinished
from grader.stages.precision import PRECISIONS

# Array matching and structural faults live in `grader/stages/array_faults.py`, the sentence
# templates in `grader/stages/diagnosis_templates.py`; both are re-exported so `diagnosis.X` keeps working.
__all__ = [
    "TEMPLATES", "array_faults", "cluster_digits", "cluster_key", "describe_arguments", "diagnose", "explain_arrays",
    "explain_counts", "explain_errors", "match_arrays", "match_counts",
]


# --------------------------------------------------------------------------- helpers


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


def _expected_count(key: ProblemKey, index: int) -> int:
    """The reference's count on case `index`: a module's expected value is a report (a dict)
    whose count is "parameters"; `int()` of it stopped the run on an unexplained network."""
    expected = key.expected[index]
    return int(expected["parameters"] if isinstance(expected, Mapping) else expected)  # type: ignore[arg-type, call-overload]


def _count_of(key: ProblemKey, value: object) -> int | None:
    if key.kind == "module":
        value = value.get("parameters") if isinstance(value, Mapping) else None
    return as_count(value)[0]  # type: ignore[arg-type]


# --------------------------------------------------------------------------- counts


def match_counts(key: ProblemKey, check: ProblemCheck) -> tuple[str, ...] | None:
    """The smallest combination equal to every answered non-probe case, or None."""
    indices, answers = [], []
    for case_check in scored_checks(check):
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
        reference_change = _expected_count(key, probe.index) - _expected_count(key, base)
        student_change = counts[probe.index] - counts[base]  # type: ignore[operator]
        if reference_change == student_change:
            continue
        name = probe.case.varied or "?"
        change = _describe_change(meaning.get(name), name, key.cases[base].arguments, probe.case.arguments)
        sentence = TEMPLATES["sensitivity"].format(
            one_more=change[:1].upper() + change[1:],
            reference_change=_change(reference_change, third_person=False),
            student_change=_change(student_change, third_person=True),
            base=describe_arguments(key.cases[base].arguments))
        found.append((abs(student_change - reference_change), sentence))
    found.sort(key=lambda item: -item[0])
    sentences = [sentence for _, sentence in found]
    faults: tuple[str, ...] = ()
    offsets = {counts[c.index] - _expected_count(key, c.index) for c in scored_checks(check)  # type: ignore[operator]
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


def _describe_change(info: ParameterInfo | None, name: str, base: Mapping[str, object],
                     probe: Mapping[str, object]) -> str:
    """"adding one output node" for a step of one; "changing k (kernel side) from 3 to 5" for
    the larger steps a domain needs (an odd k under "same" padding)."""
    before, after = base.get(name), probe.get(name)
    if isinstance(before, (int, np.integer)) and isinstance(after, (int, np.integer)) and after - before != 1:
        what = f"{name} ({info.meaning})" if info else name
        return f"changing {what} from {before} to {after}"
    return info.one_more if info else f"increasing {name} by one"


# --------------------------------------------------------------------------- crashes


def _is_batch_assumption(error: ExecutionError) -> bool:
    """numpy's AxisError, or an IndexError on a 2-D index, are what `z[:, i]` on 1-D raises."""
    return error.exception_type == "AxisError" or (
        error.exception_type == "IndexError" and "too many indices" in error.message)


def explain_errors(check: ProblemCheck, units: Sequence[SourceUnit] = (),
                   function: str | None = None) -> tuple[str, tuple[str, ...]]:
    """The story failed calls tell: a missing `return`, a batch assumption, an exception."""
    scored = scored_checks(check)
    failed = [c for c in scored if c.error is not None]
    if not failed:
        return "", ()
    sentences: list[str] = []
    faults: list[str] = []
    if any(c.error == RETURNED_NONE for c in failed):
        # "a return is missing" only where the source has none: a variable still None, or a
        # template's `pass`, is another mistake (the source is parsed only on this path).
        sentences.append(returns_none_story(units, function) if units else TEMPLATES["returns_none_neutral"])
        faults.append("returns-none")
    batch = next((c for c in failed if _is_batch_assumption(c.error)), None)  # type: ignore[arg-type]
    vector = next((name for name, value in batch.case.arguments.items()
                   if isinstance(value, np.ndarray) and value.ndim == 1), None) if batch else None
    if batch is not None and vector is not None:
        error: ExecutionError = batch.error  # type: ignore[assignment]
        sentences.append(TEMPLATES["batch_assumed"].format(
            name=vector, exception_type=error.exception_type, message=error.bare_message))
        faults.append("axis")
    batch_told = batch is not None and vector is not None
    others = [c for c in failed if c.error != RETURNED_NONE
              and not (batch_told and _is_batch_assumption(c.error))]  # type: ignore[arg-type]
    if others:
        first: ExecutionError = others[0].error  # type: ignore[assignment]
        resource = resource_kind(first)
        if resource is not None:
            # The case's size, never the allocator's "can't allocate memory: ... bytes".
            stops = [c for c in others if resource_kind(c.error)]
            text = describe_stop(stops[0], resource)
            sentences.append(text[:1].upper() + text[1:] + ".")
            others = [c for c in others if not resource_kind(c.error)]
    if others:
        first = others[0].error  # type: ignore[assignment]
        if first.kind == "exception":
            sentences.append(TEMPLATES["exception"].format(
                exception_type=first.exception_type or "an exception", count=len(others),
                total=len(scored), message=first.bare_message))
        else:
            sentences.append(TEMPLATES["failure"].format(
                count=len(others), total=len(scored), kind=first.kind, message=first.message))
    return " ".join(sentences), tuple(faults)


# --------------------------------------------------------------------------- entry point


def diagnose(key: ProblemKey, check: ProblemCheck, units: Sequence[SourceUnit] = (),
             function: str | None = None) -> Diagnosis:
    """Why this problem's answer is wrong; an empty `Diagnosis` when every scored case passes.

    `units` and `function` (the submission's code and the name found) let a None return be
    explained from the function's source; without them the words stay neutral."""
    if all(c.passed for c in scored_checks(check)):
        return Diagnosis()
    error_text, error_faults = explain_errors(check, units, function)
    if not any(c.error is None and c.got is not None for c in scored_checks(check)):
        # Nothing came back to reason about (every call crashed or returned garbage): the
        # errors are the whole story, and "answers" that are all errors are no cluster.
        return Diagnosis(explanation=error_text, faults=error_faults)
    placeholder = unfinished(key, check)
    if placeholder:
        # A template's zeros or its input handed back: the same "answer" in every unfinished
        # submission, which is no evidence of copying, so no cluster.
        return Diagnosis(explanation=" ".join(filter(None, (error_text, placeholder))),
                         faults=error_faults + ("unfinished",))
    if key.kind == "array":
        combination = match_arrays(key, check)
        loose = _looser_precision(key)
        if combination is None and loose is not None:
            # A float32 answer under a float64 rubric: right (or a named mistake) at float32.
            answered = [c for c in scored_checks(check) if c.error is None]
            agrees, difference = agreement(answered, loose)
            combination = () if agrees else match_arrays(key, check, loose)
            if combination is not None:
                text = TEMPLATES["precision"].format(difference=difference if agrees else _difference(key, check, combination),
                                                     precision=key.precision, rtol=key.tolerance[0],
                                                     atol=key.tolerance[1])
                return Diagnosis(misconceptions=combination, faults=error_faults + ("precision",),
                                 explanation=" ".join(filter(None, (error_text, text))))
    else:
        combination = match_counts(key, check)
    if combination:
        return Diagnosis(misconceptions=combination, explanation=error_text, faults=error_faults)
    if combination is None and key.kind == "array":
        carried = finite_match(key, check)
        if carried is not None:
            # A catalogued formula wherever finite, non-finite where it overflows: named, and
            # the NaN explained by its own cause (never "subtract max(z)" for a sigmoid).
            text, faults = explain_arrays(key, check, elsewhere_right=False, only=("non-finite",))
            return Diagnosis(misconceptions=carried, explanation=" ".join(filter(None, (error_text, text))),
                             faults=error_faults + faults)
        near = near_miss(key, check)
        if near is not None:
            named, fault, sentence = near
            # Right (or a catalogued mistake) in another structure: named, so no cluster.
            return Diagnosis(misconceptions=named, explanation=" ".join(filter(None, (error_text, sentence))),
                             faults=error_faults + ("shape", fault))
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
    notes = [c.note for c in scored_checks(check) if not c.passed and c.error is None and c.note
             and "output has shape" not in c.note]
    text = " ".join(filter(None, (error_text, TEMPLATES["notes"].format(note=notes[0]) if notes else "")))
    faults = error_faults
    if key.kind == "module":
        text, faults = _module_shape_faults(check, text, faults)
    return Diagnosis(explanation=text, faults=faults, cluster_key=cluster_key(key, check))


def _looser_precision(key: ProblemKey) -> tuple[float, float] | None:
    """float32's tolerance when the rubric asks for more, else None."""
    loose = PRECISIONS["float32"]
    return loose if key.tolerance[0] < loose[0] or key.tolerance[1] < loose[1] else None


def _difference(key: ProblemKey, check: ProblemCheck, combination: tuple[str, ...]) -> float:
    """The largest difference between the answers and the variant they reproduce."""
    row = key.variant_outputs[key.combinations.index(combination)]  # type: ignore[index]
    variant = [CaseCheck(c.index, c.case, row[c.index], c.got, False) for c in scored_checks(check) if c.error is None]
    return agreement(variant, (0.0, 0.0))[1]


def _module_shape_faults(check: ProblemCheck, text: str, faults: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """A module whose output shape is wrong says so (its notes already carry the shapes)."""
    notes = [c.note for c in scored_checks(check) if not c.passed and "output has shape" in c.note]
    if not notes:
        return text, faults
    return " ".join(filter(None, (text, f"The {notes[0]}."))), faults + ("output-shape",)
