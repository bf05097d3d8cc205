"""Grade written answers like code: the formula's values on the student's own cases become a
`ProblemOutcome`, so checking, diagnosis and scoring are the code's own; what cannot be found
or read with confidence becomes a `review` verdict for a person, never a guessed zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import re

import numpy as np

from grader.formulas.finding import Found, find
from grader.formulas.settings import FormulaSettings
from grader.formulas.worker import plain_case, run_jobs, spec_data
from grader.models import (CallResult, Diagnosis, ExecutionError, FormulaEvidence, ProblemCheck, ProblemKey,
                           ProblemOutcome, Submission, Verdict)

#: Misconceptions about floating-point code, which an exact or 50-digit formula cannot make.
CODE_ONLY_MISCONCEPTIONS = frozenset({"naive-exp-overflow"})
#: The only MathML the report accepts from the worker: its own elements and escaped text. The
#: worker reads hostile input; were it ever subverted, markup beyond this would be dropped.
SAFE_MATHML = re.compile(r'(?:</?(?:math|mrow|mi|mn|mo|msub|msup|mfrac|munderover|mtable|mtr|mtd|mtext)'
                         r'(?: display="block")?>|[^<>&"]|&(?:amp|lt|gt|quot|#x27);)*')
#: Wall-clock box of the symbolic comparison of one submission's formulas (supporting evidence).
SYMBOLIC_SECONDS = 15.0
#: What a formula answer is called where code answers name their function.
FORMULA_FUNCTION = "written formula"


@dataclass(frozen=True)
class WrittenAnswer:
    """A problem's formula: its outcome on the cases (None: a person must decide) and evidence."""

    outcome: ProblemOutcome | None
    evidence: FormulaEvidence


def wanted(settings: FormulaSettings | None, outcome: ProblemOutcome | None) -> bool:
    """Whether the formula counts for a problem: no code answered it, or the rubric prefers it."""
    if settings is None:
        return False
    return outcome is None or outcome.function_used is None or settings.prefer == "formula"


def read_written(submission: Submission, settings: Mapping[str, FormulaSettings | None],
                 keys: Sequence[ProblemKey]) -> dict[str, WrittenAnswer]:
    """Find, read and evaluate the written answers of the problems in `keys` (one bounded
    worker process for all of them). A problem with no written formula in a submission that
    also has code is left out: its verdict stays the code's ("missing"); in a write-up alone it
    is a `review` (a person looks for the answer)."""
    headings = [item.heading for item in settings.values() if item is not None]
    names = submission.text_names or tuple(f"text {index + 1}" for index in range(len(submission.texts)))
    found: dict[str, Found] = {}
    jobs: list[dict[str, Any]] = []
    for key in keys:
        problem_settings = settings.get(key.problem_id)
        if problem_settings is None:
            continue
        answer = find(problem_settings, submission.texts, names, headings)
        if not answer.pieces and submission.units:
            continue  # code with prose around it: no written answer here, the code's "missing" stands
        found[key.problem_id] = answer
        if answer.pieces:
            jobs.append({"problem_id": key.problem_id, "pieces": [piece.raw for piece in answer.pieces],
                         "spec": spec_data(problem_settings.spec),
                         "cases": [plain_case(case.arguments) for case in key.cases]})
    results = run_jobs(jobs) if jobs else {}
    closed = {key.problem_id: key.closed_form for key in keys}
    symbolic_jobs = [{"problem_id": job["problem_id"], "pieces": job["pieces"], "spec": job["spec"],
                      "reference": closed[job["problem_id"]]}
                     for job in jobs if closed[job["problem_id"]] and not (results.get(job["problem_id"]) or {}).get("failure")]
    symbolic = run_jobs(symbolic_jobs, SYMBOLIC_SECONDS) if symbolic_jobs else {}
    for problem_id, evidence in symbolic.items():
        if problem_id in results:
            results[problem_id]["symbolic"] = evidence.get("symbolic") or f"sympy: no verdict ({evidence.get('failure')})"
    answers = {}
    for key in keys:
        located = found.get(key.problem_id)
        if located is not None:
            answers[key.problem_id] = written_answer(key, located, results.get(key.problem_id))
    return answers


def written_answer(key: ProblemKey, found: Found, result: Mapping[str, object] | None) -> WrittenAnswer:
    raw = "\n".join(f"{piece.label}: {piece.raw}" if piece.label else piece.raw for piece in found.pieces)
    if result is None:
        evidence = FormulaEvidence(where=found.where, raw=raw, reading="", mathml="",
                                   reason=found.reason or "no formula was found for this problem")
        return WrittenAnswer(None, evidence)
    notes = tuple(text for text, _ in result["notes"])  # type: ignore[attr-defined]
    lossy = any(flag for _, flag in result["notes"])  # type: ignore[attr-defined]
    mathml = str(result["mathml"])
    evidence = FormulaEvidence(where=found.where, raw=raw, reading=str(result["text"]),
                               mathml=mathml if SAFE_MATHML.fullmatch(mathml) else "",
                               notes=notes, lossy=lossy, reason=str(result["failure"] or ""),
                               symbolic=str(result.get("symbolic", "")))
    if result["failure"]:
        return WrittenAnswer(None, evidence)
    calls = []
    for value in result["values"]:  # type: ignore[attr-defined]
        if "error" in value:
            calls.append(CallResult(error=ExecutionError("invalid-output", f"the formula has no value here: {value['error']}")))
        elif key.kind == "count":
            calls.append(CallResult(value=value["value"]))
        else:
            calls.append(CallResult(value=np.asarray(value["value"], dtype=np.float64)))
    return WrittenAnswer(ProblemOutcome(key.problem_id, FORMULA_FUNCTION, tuple(calls)), evidence)


def formula_key(key: ProblemKey) -> ProblemKey:
    """`key` for a formula: without the combinations a formula cannot make (float overflow) and,
    for arrays, without the cases where a catalogued variant is not finite in float64 (-y/p is
    NaN where p underflows to 0; the formula, evaluated to 50 digits, is a number there)."""
    keep = [index for index, combination in enumerate(key.combinations)
            if not CODE_ONLY_MISCONCEPTIONS.intersection(combination)]
    outputs = key.variant_outputs
    if key.kind != "array":
        if len(keep) == len(key.combinations):
            return key
        return replace(key, combinations=tuple(key.combinations[index] for index in keep),
                       variant_outputs=np.asarray(outputs)[keep])
    variants = [outputs[index] for index in keep]  # type: ignore[index]
    finite = [case for case in range(len(key.cases))
              if all(np.isfinite(np.asarray(variant[case])).all() for variant in variants)]
    return replace(key, combinations=tuple(key.combinations[index] for index in keep),
                   cases=tuple(key.cases[case] for case in finite), expected=tuple(key.expected[case] for case in finite),
                   variant_outputs=[[variant[case] for case in finite] for variant in variants])


def needs_review(evidence: FormulaEvidence, check: ProblemCheck, diagnosis: Diagnosis) -> FormulaEvidence | None:
    """A lossy reading that matches neither the answer nor a catalogued mistake goes to a person."""
    if not evidence.lossy or check.passed == check.total or diagnosis.misconceptions:
        return None
    return replace(evidence, reason="the reading needed a guess (" + "; ".join(evidence.notes) +
                   ") and matches neither the answer nor a known mistake")


def review_verdict(key: ProblemKey, points: float, evidence: FormulaEvidence) -> Verdict:
    """A problem a person must grade: no score, the raw text, the reason and the best reading."""
    return Verdict(problem_id=key.problem_id, title=key.title, status="review", score=0.0, max_score=points,
                   function=FORMULA_FUNCTION, explanation=f"needs review: {evidence.reason}",
                   notes=evidence.notes, formula=evidence)


def with_evidence(verdict: Verdict, evidence: FormulaEvidence) -> Verdict:
    return replace(verdict, formula=evidence, notes=tuple(verdict.notes) + tuple(evidence.notes))
