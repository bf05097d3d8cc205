"""Results as strict JSON data (DESIGN.md's results.json) and back, without loss.

Arrays become lists and non-finite floats become the strings "NaN", "Infinity" and "-Infinity",
so every file parses under a strict JSON reader (Python's default `allow_nan` would write bare
`NaN`, which JavaScript's and Go's parsers reject).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from grader.errors import GradebookError, GraderError
from grader.models import (ExecutionError, FailingCase, FormulaEvidence, ManualItem, RunSummary, SubmissionResult,
                           Verdict)

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_SUMMARY_KEYS = ("rubric", "seed", "submissions", "isolation", "warnings", "started", "device")


def plain(value: Any) -> Any:
    """A JSON-ready copy of a value: lists for arrays and tuples, strings for NaN and inf."""
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    # A TOML date or a Path in the rubric: its text is what a reader of results.json wants.
    return str(value)


def unplain(value: Any) -> Any:
    """The inverse of `plain` for values (never for free text): "NaN" etc. become floats again."""
    if isinstance(value, str):
        return _NON_FINITE.get(value, value)
    if isinstance(value, list):
        return [unplain(item) for item in value]
    if isinstance(value, dict):
        return {key: unplain(item) for key, item in value.items()}
    return value


def _error_to_data(error: ExecutionError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {
        "kind": error.kind,
        "message": error.message,
        "exception_type": error.exception_type,
        "detail": error.detail,
    }


def _error_from_data(data: Mapping[str, Any] | None) -> ExecutionError | None:
    if data is None:
        return None
    return ExecutionError(data["kind"], data["message"], data.get("exception_type"), data.get("detail", ""))


def _failing_to_data(case: FailingCase) -> dict[str, Any]:
    return {
        "arguments": plain(case.arguments),
        "expected": plain(case.expected),
        "got": plain(case.got),
        "tag": case.tag,
        "replay": case.replay,
        "shrunk": case.shrunk,
    }


def _failing_from_data(data: Mapping[str, Any]) -> FailingCase:
    return FailingCase(
        arguments=unplain(data["arguments"]),
        expected=unplain(data["expected"]),
        got=unplain(data["got"]),
        tag=data["tag"],
        replay=data["replay"],
        shrunk=bool(data.get("shrunk", False)),
    )


def verdict_to_data(verdict: Verdict) -> dict[str, Any]:
    """One entry of a submission's "problems" list."""
    return {
        "id": verdict.problem_id,
        "status": verdict.status,
        "score": plain(verdict.score),
        "max": plain(verdict.max_score),
        "function": verdict.function,
        "misconceptions": list(verdict.misconceptions),
        "explanation": verdict.explanation,
        "error": _error_to_data(verdict.error),
        "cases": {"passed": verdict.passed, "total": verdict.total},
        "title": verdict.title,
        "feedback": list(verdict.feedback),
        "failing": [_failing_to_data(case) for case in verdict.failing],
        "notes": list(verdict.notes),
        "cluster": verdict.cluster_key,
        "formula": _formula_to_data(verdict.formula),
    }


def _formula_to_data(evidence: FormulaEvidence | None) -> dict[str, Any] | None:
    if evidence is None:
        return None
    return {"where": evidence.where, "raw": evidence.raw, "reading": evidence.reading, "mathml": evidence.mathml,
            "notes": list(evidence.notes), "lossy": evidence.lossy, "reason": evidence.reason,
            "symbolic": evidence.symbolic}


def _formula_from_data(data: Mapping[str, Any] | None) -> FormulaEvidence | None:
    if not data:
        return None
    return FormulaEvidence(where=data.get("where", ""), raw=data.get("raw", ""), reading=data.get("reading", ""),
                           mathml=data.get("mathml", ""), notes=tuple(data.get("notes", ())),
                           lossy=bool(data.get("lossy", False)), reason=data.get("reason", ""),
                           symbolic=data.get("symbolic", ""))


def verdict_from_data(data: Mapping[str, Any]) -> Verdict:
    """A `Verdict` from its results.json entry (extras missing in a minimal file default)."""
    cases = data.get("cases") or {"passed": 0, "total": 0}
    return Verdict(
        problem_id=data["id"],
        title=data.get("title", data["id"]),
        status=data["status"],
        score=float(unplain(data["score"])),
        max_score=float(unplain(data["max"])),
        function=data.get("function"),
        misconceptions=tuple(data.get("misconceptions", ())),
        explanation=data.get("explanation", ""),
        feedback=tuple(data.get("feedback", ())),
        error=_error_from_data(data.get("error")),
        passed=int(cases["passed"]),
        total=int(cases["total"]),
        failing=tuple(_failing_from_data(case) for case in data.get("failing", ())),
        notes=tuple(data.get("notes", ())),
        cluster_key=data.get("cluster"),
        formula=_formula_from_data(data.get("formula")),
    )


def _manual_to_data(item: ManualItem) -> dict[str, Any]:
    return {
        "id": item.item_id,
        "title": item.title,
        "max": item.max_score,
        "score": item.score,
        "comment": item.comment,
        "student_text": item.student_text,
    }


def _manual_from_data(data: Mapping[str, Any]) -> ManualItem:
    score = data.get("score")
    return ManualItem(
        item_id=data["id"],
        title=data.get("title", data["id"]),
        max_score=float(data["max"]),
        score=None if score is None else float(score),
        comment=data.get("comment", ""),
        student_text=data.get("student_text", ""),
    )


def result_to_data(result: SubmissionResult) -> dict[str, Any]:
    """One submission as results.json writes it: strict-JSON-ready, every field kept."""
    return {
        "id": result.student_id,
        "total": plain(result.total),
        "max": plain(result.max_score),
        "error": _error_to_data(result.error),
        "problems": [verdict_to_data(verdict) for verdict in result.verdicts],
        "manual": [_manual_to_data(item) for item in result.manual],
        "notes": list(result.notes),
        "stdout": result.stdout,
        "stderr": result.stderr,
        "isolation": list(result.isolation),
        "digest": result.digest,
        "late": {"penalty": result.late_penalty, "note": result.late_note} if result.late_note else None,
    }


def result_from_data(data: Mapping[str, Any]) -> SubmissionResult:
    """A `SubmissionResult` from `result_to_data`'s output ("total" and "max" are derived)."""
    try:
        return SubmissionResult(
            student_id=data["id"],
            verdicts=tuple(verdict_from_data(entry) for entry in data["problems"]),
            manual=tuple(_manual_from_data(entry) for entry in data.get("manual", ())),
            error=_error_from_data(data.get("error")),
            notes=tuple(data.get("notes", ())),
            stdout=data.get("stdout", ""),
            stderr=data.get("stderr", ""),
            isolation=tuple(data.get("isolation", ())),
            digest=data.get("digest", ""),
            late_penalty=float((data.get("late") or {}).get("penalty", 0.0)),
            late_note=str((data.get("late") or {}).get("note", "")),
        )
    except (KeyError, TypeError, ValueError) as problem:
        # Only a grader bug or a hand-edited file gets here: say which record and which key.
        raise GradebookError(
            f"a stored result for {data.get('id', '?')!r} is malformed: {problem!r}",
            hint="delete the gradebook row (or the results.json entry) and grade that submission again",
        ) from problem


def summary_to_data(summary: RunSummary) -> dict[str, Any]:
    """The whole run as results.json: rubric, seed, submissions, and the run's settings."""
    data = {
        "rubric": plain(summary.rubric),
        "seed": summary.seed,
        "submissions": [result_to_data(result) for result in summary.results],
        "isolation": list(summary.isolation),
        "warnings": list(summary.warnings),
        "started": summary.started,
        "device": summary.device,
    }
    # Extras sit at the top level (results.json allows extra fields; a reader finds
    # data["run_identity"] directly); they never replace a standard field.
    clashes = set(summary.extra) & set(data)
    if clashes:
        raise GraderError(
            f"RunSummary.extra reuses standard results.json key(s) {sorted(clashes)}",
            hint="rename the extra entries; they would overwrite the run's own fields",
        )
    return data | plain(summary.extra)


def summary_from_data(data: Mapping[str, Any]) -> RunSummary:
    """A `RunSummary` from results.json."""
    return RunSummary(
        rubric=data["rubric"],
        seed=int(data["seed"]),
        results=tuple(result_from_data(entry) for entry in data["submissions"]),
        isolation=tuple(data.get("isolation", ())),
        warnings=tuple(data.get("warnings", ())),
        started=data.get("started", ""),
        device=data.get("device", "cpu"),
        extra={key: value for key, value in data.items() if key not in _SUMMARY_KEYS},
    )
