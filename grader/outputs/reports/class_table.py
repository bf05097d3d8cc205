"""The dashboard's student table and its "who needs help" list, as frozen records.

Every value the table's script sorts by is computed here (`data-value`), and so is the text its
filter matches (name, outcome words, mistake ids), so the page needs no arithmetic in templates
or in the script beyond comparing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grader.models import SubmissionResult
from grader.outputs.reports.formatting import percent, points
from grader.outputs.reports.outcomes import error_outcome, error_sentence, outcome_of
from grader.outputs.reports.page_names import student_link

#: Below this share of the points a student is listed under "Who needs help".
NEEDS_HELP_BELOW = 0.5


@dataclass(frozen=True)
class Cell:
    """A student's outcome on one problem."""

    tone: str
    symbol: str
    score_text: str
    label: str  # "Timed out"
    sort_value: str  # the points, for the table's script


@dataclass(frozen=True)
class StudentRow:
    """A student's line of the table."""

    student_id: str
    link: str
    cells: tuple[Cell, ...]
    manual_text: str
    manual_sort: str
    total_text: str  # "42.5 / 60"
    total_sort: str
    percent_text: str
    percent_sort: str
    error_text: str
    needs_help: bool
    search_text: str  # lower-case words the filter matches


@dataclass(frozen=True)
class StudentTable:
    """Every student, in id order; the script re-sorts and filters in the browser."""

    problem_ids: tuple[str, ...]
    rows: tuple[StudentRow, ...]
    count_text: str  # "55 students"


@dataclass(frozen=True)
class HelpEntry:
    """A student the instructor should look at first, and why."""

    student_id: str
    link: str
    score_text: str  # "12 / 60 (20%)"
    reasons: tuple[str, ...]  # "timed out: p3c", "scored 20% of the points"


def _share(result: SubmissionResult) -> float:
    return result.total / result.max_score if result.max_score else 0.0


def help_reasons(result: SubmissionResult) -> tuple[str, ...]:
    """Why a student needs help: unreadable work, code that could not run, a low score."""
    reasons = [error_sentence(result.error)] if result.error else []
    failed: dict[str, list[str]] = {}  # "timed out" -> ["p1", "p3a"]
    for verdict in result.verdicts:
        if verdict.status == "error":
            failed.setdefault(outcome_of(verdict).label.lower(), []).append(verdict.problem_id)
    reasons += [f"{label}: {', '.join(problems)}" for label, problems in failed.items()]
    if result.max_score and _share(result) < NEEDS_HELP_BELOW:
        reasons.append(f"scored {percent(result.total, result.max_score)} of the points")
    return tuple(reasons)


def needs_help(results: Sequence[SubmissionResult], no_submission: Sequence[str] = ()) -> tuple[HelpEntry, ...]:
    """Students with a reason to be helped: first those on the roster who handed in nothing
    (they have no page, so no link), then the rest, lowest score first."""
    entries = [HelpEntry(student_id=student_id, link="", score_text="no submission",
                         reasons=("on the roster, handed in nothing",)) for student_id in no_submission]
    for result in sorted(results, key=lambda item: (_share(item), item.student_id)):
        reasons = help_reasons(result)
        if reasons:
            entries.append(HelpEntry(
                student_id=result.student_id, link=student_link(result.student_id),
                score_text=f"{points(result.total)} / {points(result.max_score)} ({percent(result.total, result.max_score)})",
                reasons=reasons,
            ))
    return tuple(entries)


def _row(result: SubmissionResult) -> StudentRow:
    awaiting = sum(1 for item in result.manual if item.score is None)
    outcomes = [outcome_of(verdict) for verdict in result.verdicts]
    flagged = bool(help_reasons(result))
    words = [result.student_id, *(outcome.label for outcome in outcomes),
             *(name for verdict in result.verdicts for name in verdict.misconceptions)]
    if result.error:
        words.append(error_outcome(result.error).label)
    if flagged:
        words.append("needs help")
    if awaiting:
        words.append("awaiting a person")
    return StudentRow(
        student_id=result.student_id,
        link=student_link(result.student_id),
        cells=tuple(
            Cell(outcome.tone, outcome.symbol, points(verdict.score), outcome.label, repr(float(verdict.score)))
            for verdict, outcome in zip(result.verdicts, outcomes)
        ),
        manual_text=f"{awaiting} awaiting a person" if awaiting else "graded" if result.manual else "",
        manual_sort=str(awaiting),
        total_text=f"{points(result.total)} / {points(result.max_score)}",
        total_sort=repr(float(result.total)),
        percent_text=percent(result.total, result.max_score),
        percent_sort=repr(_share(result)),
        error_text=error_sentence(result.error) if result.error else "",
        needs_help=flagged,
        search_text=" ".join(words).lower(),
    )


def student_table(results: Sequence[SubmissionResult]) -> StudentTable:
    """The table's rows, in student id order."""
    problem_ids = tuple(dict.fromkeys(verdict.problem_id for result in results for verdict in result.verdicts))
    return StudentTable(
        problem_ids=problem_ids,
        rows=tuple(_row(result) for result in sorted(results, key=lambda item: item.student_id)),
        count_text=f"{len(results)} student{'s' if len(results) != 1 else ''}",
    )
