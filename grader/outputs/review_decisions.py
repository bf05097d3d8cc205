"""Points a person awarded to a written answer that awaited review, applied to a stored result.

A `review` verdict (a formula the grader could not read with confidence) is not scored; once a
person has read it and imported points with `grader report --manual`, the verdict becomes
correct, partial or incorrect by those points, keeps the written answer's evidence and says in
its notes that a person decided. A decision holds for the submission the person read: after a
regrade that changed the answer (or graded it automatically) it is dropped, with a note.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from grader.models import Status, SubmissionResult, Verdict
from grader.outputs.reports.formatting import points as points_text


@dataclasses.dataclass(frozen=True)
class ReviewDecision:
    """A person's points for one problem of one submission (`digest`: the one they read)."""

    points: float
    comment: str
    digest: str


def status_for(points: float, max_score: float) -> Status:
    """Full marks are correct, none incorrect, anything between partial."""
    if points >= max_score:
        return "correct"
    return "incorrect" if points <= 0.0 else "partial"


def awarded_note(decision: ReviewDecision, max_score: float) -> str:
    """The words every report shows beside a decided answer."""
    note = f"Points awarded by a person after review: {points_text(decision.points)} of {points_text(max_score)}"
    return note + (f" ({decision.comment})" if decision.comment else "")


def decided(verdict: Verdict, decision: ReviewDecision) -> Verdict:
    """A review verdict scored by a person; the written answer's evidence stays for the reader."""
    status = status_for(decision.points, verdict.max_score)
    return dataclasses.replace(
        verdict, status=status, score=min(decision.points, verdict.max_score),
        # The explanation is shown as "what went wrong": the person's words, never the grader's
        # "needs review" that no longer holds.
        explanation="" if status == "correct" else decision.comment,
        notes=(*verdict.notes, awarded_note(decision, verdict.max_score)))


def dropped(verdict: Verdict, decision: ReviewDecision, changed: bool) -> Verdict:
    """A verdict whose earlier decision no longer applies, with a note saying why."""
    why = ("the submission changed since it was read" if changed
           else "the answer was graded automatically when the submission was graded again")
    return dataclasses.replace(verdict, notes=(
        *verdict.notes,
        f"Points a person awarded after review ({points_text(decision.points)} of "
        f"{points_text(verdict.max_score)}) were dropped: {why}"))


def apply_decisions(result: SubmissionResult, decisions: Mapping[str, ReviewDecision]) -> SubmissionResult:
    """`result` with each of its student's decisions (by problem id) applied or dropped."""
    if not decisions:
        return result
    verdicts = []
    for verdict in result.verdicts:
        decision = decisions.get(verdict.problem_id)
        if decision is not None:
            changed = decision.digest != result.digest
            if verdict.status == "review" and not changed:
                verdict = decided(verdict, decision)
            else:
                verdict = dropped(verdict, decision, changed)
        verdicts.append(verdict)
    return dataclasses.replace(result, verdicts=tuple(verdicts))
