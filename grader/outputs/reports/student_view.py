"""One student's page as frozen records: every problem, mistake, failing case and manual item.

Kept apart from the class statistics so each module stays small; templates still do no
arithmetic and no formatting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from markupsafe import Markup

from grader.models import FormulaEvidence, SubmissionResult, Verdict
from grader.outputs.reports.formatting import OUTPUT_CAP, NoteGroup, arguments_text, cap, grouped_notes, percent, points, value_text
from grader.outputs.reports.outcomes import error_sentence, outcome_of
from grader.outputs.reports.statistics import misconception_title
from grader.outputs.reports.written import written_answer_html


@dataclass(frozen=True)
class Mistake:
    """A named misconception with why it is wrong and how to fix it."""

    misconception_id: str
    title: str
    feedback: str


@dataclass(frozen=True)
class FailingRow:
    """A failing case as the table shows it."""

    arguments: str
    expected: str
    got: str
    tag: str
    replay: str
    shrunk: bool


@dataclass(frozen=True)
class ProblemView:
    """One problem of a student's page."""

    problem_id: str
    title: str
    status: str  # the outcome's key: "correct", "timeout", "review"
    tone: str  # its colour family
    symbol: str
    status_label: str  # "Timed out", "Raised an error", "Needs review"
    score_text: str  # "7.5 / 10"
    function_text: str
    cases_text: str  # "18 of 20 cases passed"
    mistakes: tuple[Mistake, ...]
    explanation: str
    error_text: str
    error_detail: str
    failing: tuple[FailingRow, ...]
    notes: tuple[NoteGroup, ...]
    #: The written answer as read; its MathML is Markup (built by grader/formulas/mathml.py
    #: from the grader's own tree, every text escaped, checked against an allow-list).
    formula: FormulaEvidence | None = None


@dataclass(frozen=True)
class ManualView:
    """A rubric item a person grades, beside the student's own text."""

    item_id: str
    title: str
    student_text: str
    student_html: Markup  # the text as Markdown, its math as MathML, sanitized
    awaiting: bool
    score_text: str  # "8 / 10" or "awaiting a person"
    comment: str


@dataclass(frozen=True)
class StudentPage:
    """Everything students/ID.html shows."""

    student_id: str
    total_text: str
    percent_text: str
    error_text: str
    problems: tuple[ProblemView, ...]
    manual: tuple[ManualView, ...]
    notes: tuple[NoteGroup, ...]
    stdout: str
    stderr: str
    isolation: tuple[str, ...]
    digest: str
    #: Released to the student (`grader feedback`): no link to the class dashboard.
    release: bool = False
    display_name: str = ""  # "Grace Hopper (hoppergrace)" when the intake knows the name
    late_text: str = ""  # "late by 1 day 3 hours: -10%; 50 points before the penalty"


def _problem_view(verdict: Verdict, titles: Mapping[str, str]) -> ProblemView:
    feedback = list(verdict.feedback) + [""] * (len(verdict.misconceptions) - len(verdict.feedback))
    if verdict.formula is not None:
        function_text = f"graded the written formula ({verdict.formula.where})"
    elif verdict.function is None:
        function_text = "no function found"
    else:
        function_text = f"graded {verdict.function}()"
    outcome = outcome_of(verdict)
    return ProblemView(
        problem_id=verdict.problem_id,
        title=verdict.title,
        status=outcome.key,
        tone=outcome.tone,
        symbol=outcome.symbol,
        status_label=outcome.label,
        score_text=f"{points(verdict.score)} / {points(verdict.max_score)}",
        function_text=function_text,
        cases_text=f"{verdict.passed} of {verdict.total} cases passed" if verdict.total else "",
        mistakes=tuple(
            Mistake(name, misconception_title(titles, verdict.problem_id, name), text)
            for name, text in zip(verdict.misconceptions, feedback)
        ),
        explanation=verdict.explanation,
        error_text=error_sentence(verdict.error) if verdict.error else "",
        error_detail=cap(verdict.error.detail, OUTPUT_CAP) if verdict.error else "",
        failing=tuple(
            FailingRow(arguments_text(case.arguments), value_text(case.expected), value_text(case.got),
                       case.tag, case.replay, case.shrunk)
            for case in verdict.failing
        ),
        notes=grouped_notes(tuple(note for note in verdict.notes if verdict.formula is None or note not in verdict.formula.notes)),
        formula=None if verdict.formula is None else replace(
            verdict.formula, mathml=Markup(verdict.formula.mathml),
            # Why the reading failed matters while a person must decide; once points were awarded
            # the person's note says what counts, and the page a student gets shows no stale alarm.
            reason=verdict.formula.reason if verdict.status == "review" else ""),
    )


def student_page(result: SubmissionResult, titles: Mapping[str, str], *, release: bool = False,
                 display_name: str = "") -> StudentPage:
    """The content of one student's page (`release`: the copy the student receives)."""
    late_text = (f"{result.late_note}; {points(result.points_before_penalty)} points before the penalty"
                 if result.late_penalty else result.late_note)
    return StudentPage(
        release=release,
        display_name=display_name or result.student_id,
        late_text=late_text,
        student_id=result.student_id,
        total_text=f"{points(result.total)} / {points(result.max_score)}",
        percent_text=percent(result.total, result.max_score),
        error_text=error_sentence(result.error) if result.error else "",
        problems=tuple(_problem_view(verdict, titles) for verdict in result.verdicts),
        manual=tuple(
            ManualView(
                item_id=item.item_id,
                title=item.title,
                student_text=item.student_text,
                student_html=written_answer_html(item.student_text),
                awaiting=item.score is None,
                score_text=(
                    "awaiting a person" if item.score is None
                    else f"{points(item.score)} / {points(item.max_score)}"
                ),
                comment=item.comment,
            )
            for item in result.manual
        ),
        notes=grouped_notes(result.notes),
        stdout=cap(result.stdout, OUTPUT_CAP),
        stderr=cap(result.stderr, OUTPUT_CAP),
        isolation=tuple(result.isolation),
        digest=result.digest,
    )
