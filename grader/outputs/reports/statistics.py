"""Everything the HTML pages show, computed here as frozen records: templates do no arithmetic.

The dashboard answers an instructor's first questions in this order: how did the class do
(summary numbers, histogram, per problem), which mistakes are common (the top few, the rest
folded), who needs help (`class_table.py`). Chart geometry is computed in `charts.py`.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from grader.course_secret import fingerprint
from grader.models import RunSummary, SubmissionResult, Verdict
from grader.outputs.reports.charts import Histogram, ProblemChart, problem_chart, score_histogram
from grader.outputs.reports.class_table import HelpEntry, StudentTable, needs_help, student_table
from grader.outputs.reports.formatting import NoteGroup, grouped_notes, percent, points
from grader.outputs.reports.outcomes import TONE_HEADINGS, TONE_SYMBOLS, TONES, error_outcome, outcome_of
from grader.outputs.reports.page_names import student_file_name, student_link

__all__ = ["Dashboard", "dashboard", "misconception_title", "student_file_name", "titles_of"]

#: Mistakes shown at once on the dashboard; the rest are folded into a <details>.
TOP_MISTAKES = 5
#: Students listed at once under "Who needs help"; the rest are folded.
TOP_NEEDS_HELP = 8


@dataclass(frozen=True)
class SummaryNumber:
    """One of the figures at the top of the dashboard."""

    label: str  # "Mean score"
    value_text: str  # "44.6 / 55"
    detail: str  # "81% of the points"


@dataclass(frozen=True)
class StatusCount:
    """How many students had one colour family of outcome on a problem."""

    tone: str
    heading: str  # "Could not run"
    count: int
    detail: str  # for "Could not run": "1 timed out, 1 out of memory"


@dataclass(frozen=True)
class ProblemStats:
    """How the class did on one problem."""

    problem_id: str
    title: str
    mean_text: str  # "8.6 / 10"
    counts: tuple[StatusCount, ...]  # one per column of Dashboard.columns
    pass_rate_text: str  # full credit, "62%"


@dataclass(frozen=True)
class MisconceptionStats:
    """A named mistake, how common it is, and who made it."""

    problem_id: str
    misconception_id: str
    title: str
    count: int
    count_text: str  # "3 students"
    percent_text: str
    rest: str  # what follows the percentage: "of students (5 of 16) counted F − 2 FC transitions"
    sentence: str  # percent_text + " " + rest
    students: tuple[tuple[str, str], ...]  # (student id, page link)


@dataclass(frozen=True)
class ClusterStats:
    """Students who gave the same answer that no catalogued mistake explains."""

    problem_id: str
    cluster_key: str
    sentence: str
    explanation: str
    students: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Dashboard:
    """The class dashboard, index.html."""

    title: str
    started: str
    secret_fingerprint: str  # names the course secret without showing it (a screenshot is no leak)
    device: str
    student_count: int
    summary: tuple[SummaryNumber, ...]
    histogram: Histogram
    chart: ProblemChart
    columns: tuple[tuple[str, str, str], ...]  # per status column: (tone, symbol, heading)
    problems: tuple[ProblemStats, ...]
    top_mistakes: tuple[MisconceptionStats, ...]
    more_mistakes: tuple[MisconceptionStats, ...]
    more_mistakes_text: str  # "28 more mistakes"
    clusters: tuple[ClusterStats, ...]
    needs_help: tuple[HelpEntry, ...]
    more_needs_help: tuple[HelpEntry, ...]
    more_needs_help_text: str
    table: StudentTable
    isolation: tuple[str, ...]
    warnings: tuple[NoteGroup, ...]  # the sandbox's warnings, repeats counted

    @property
    def misconceptions(self) -> tuple[MisconceptionStats, ...]:
        """Every mistake, most common first."""
        return self.top_mistakes + self.more_mistakes


def misconception_title(titles: Mapping[str, str], problem_id: str, misconception_id: str) -> str:
    """The catalog's title of a mistake, by "problem:id" or id, else the id itself."""
    return titles.get(f"{problem_id}:{misconception_id}") or titles.get(misconception_id) or misconception_id


def titles_of(summary: RunSummary) -> Mapping[str, str]:
    """The misconception titles the pipeline put in `summary.extra["misconception_titles"]`."""
    titles = summary.extra.get("misconception_titles", {})
    return titles if isinstance(titles, Mapping) else {}


def _by_problem(results: Sequence[SubmissionResult]) -> dict[str, list[Verdict]]:
    verdicts: dict[str, list[Verdict]] = defaultdict(list)
    for result in results:
        for verdict in result.verdicts:
            verdicts[verdict.problem_id].append(verdict)
    return verdicts


def _problem_stats(problem_id: str, verdicts: Sequence[Verdict], tones: Sequence[str], class_size: int) -> ProblemStats:
    outcomes = [outcome_of(verdict) for verdict in verdicts]
    failures: dict[str, int] = defaultdict(int)
    for verdict in verdicts:
        if verdict.status == "error":
            failures[error_outcome(verdict.error).label.lower()] += 1
    return ProblemStats(
        problem_id=problem_id,
        title=verdicts[0].title,
        # A verdict awaiting review has no score yet: it is left out of the mean, not a 0.
        mean_text=f"{points(statistics.fmean(scored)) if (scored := [v.score for v in verdicts if v.status != 'review']) else '–'} / {points(verdicts[0].max_score)}",
        counts=tuple(
            StatusCount(tone, TONE_HEADINGS[tone], sum(1 for outcome in outcomes if outcome.tone == tone),
                        ", ".join(f"{count} {label}" for label, count in failures.items()) if tone == "error" else "")
            for tone in tones
        ),
        pass_rate_text=percent(sum(1 for verdict in verdicts if verdict.status == "correct"), class_size),
    )


def _misconceptions(
    results: Sequence[SubmissionResult], titles: Mapping[str, str]
) -> tuple[MisconceptionStats, ...]:
    students: dict[tuple[str, str], list[str]] = defaultdict(list)
    for result in results:
        for verdict in result.verdicts:
            for name in verdict.misconceptions:
                students[(verdict.problem_id, name)].append(result.student_id)
    found = []
    for (problem_id, name), who in students.items():
        title = misconception_title(titles, problem_id, name)
        share = percent(len(who), len(results))
        mistake = title if title != name else f"made the mistake “{name}”"
        rest = f"of students ({len(who)} of {len(results)}) {mistake} in {problem_id}."
        found.append(MisconceptionStats(
            problem_id=problem_id, misconception_id=name, title=title, count=len(who),
            count_text=f"{len(who)} student{'s' if len(who) != 1 else ''}", percent_text=share,
            rest=rest, sentence=f"{share} {rest}",
            students=tuple((student, student_link(student)) for student in who),
        ))
    return tuple(sorted(found, key=lambda item: (-item.count, item.problem_id, item.misconception_id)))


def _clusters(results: Sequence[SubmissionResult]) -> tuple[ClusterStats, ...]:
    members: dict[tuple[str, str], list[tuple[str, Verdict]]] = defaultdict(list)
    for result in results:
        for verdict in result.verdicts:
            if verdict.cluster_key and not verdict.misconceptions:
                members[(verdict.problem_id, verdict.cluster_key)].append((result.student_id, verdict))
    clusters = [
        ClusterStats(
            problem_id=problem_id, cluster_key=key,
            sentence=f"{len(group)} students share this unexplained answer to {problem_id}.",
            explanation=group[0][1].explanation,
            students=tuple((student, student_link(student)) for student, _ in group),
        )
        for (problem_id, key), group in members.items()
        if len(group) > 1  # one student alone is not a cluster; their page explains it
    ]
    return tuple(sorted(clusters, key=lambda item: (-len(item.students), item.problem_id)))


def _summary_numbers(summary: RunSummary, helped: int) -> tuple[SummaryNumber, ...]:
    results = summary.results
    totals = [result.total for result in results]
    maximum = max((result.max_score for result in results), default=0.0)
    awaiting = sum(1 for result in results for item in result.manual if item.score is None)
    review = sum(1 for result in results for verdict in result.verdicts if verdict.status == "review")
    unreadable = sum(1 for result in results if result.error)
    numbers = [SummaryNumber("Students", str(len(results)),
                             f"{unreadable} could not be read" if unreadable else "all read and graded")]
    for label, value in (("Mean score", statistics.fmean(totals) if totals else None),
                         ("Median score", statistics.median(totals) if totals else None)):
        numbers.append(SummaryNumber(
            label, f"{points(value)} / {points(maximum)}" if value is not None else "–",
            f"{percent(value, maximum)} of the points" if value is not None else "no students"))
    numbers.append(SummaryNumber("Need help", str(helped), "low score, or code that could not run"))
    waiting = f"{awaiting} manual item{'s' if awaiting != 1 else ''}"
    numbers.append(SummaryNumber("Awaiting a person", str(awaiting + review),
                                 f"{waiting}, {review} answer{'s' if review != 1 else ''} to review" if review else waiting))
    return tuple(numbers)


def _more(items: Sequence[object], shown: int, noun: str) -> str:
    rest = len(items) - shown
    return f"{rest} more {noun}{'s' if rest != 1 else ''}" if rest > 0 else ""


def dashboard(summary: RunSummary) -> Dashboard:
    """The class dashboard's content, computed from a whole run."""
    results = summary.results
    problems = _by_problem(results)
    present = {outcome_of(verdict).tone for verdicts in problems.values() for verdict in verdicts}
    # The five usual columns always (a zero says "none"); "Needs review" once there is one.
    tones = tuple(tone for tone in TONES if tone != "review" or tone in present)
    mistakes = _misconceptions(results, titles_of(summary))
    intake = summary.extra.get("intake")
    absent = intake.get("no_submission", []) if isinstance(intake, Mapping) else []
    helped = needs_help(results, [str(student_id) for student_id in absent])
    return Dashboard(
        title=str(summary.rubric.get("title", "Grading report")),
        started=summary.started,
        secret_fingerprint=fingerprint(summary.seed),
        device=summary.device,
        student_count=len(results),
        summary=_summary_numbers(summary, len(helped)),
        histogram=score_histogram(results),
        chart=problem_chart(problems, len(results)),
        columns=tuple((tone, TONE_SYMBOLS[tone], TONE_HEADINGS[tone]) for tone in tones),
        problems=tuple(
            _problem_stats(problem_id, verdicts, tones, len(results)) for problem_id, verdicts in problems.items()
        ),
        top_mistakes=mistakes[:TOP_MISTAKES],
        more_mistakes=mistakes[TOP_MISTAKES:],
        more_mistakes_text=_more(mistakes, TOP_MISTAKES, "mistake"),
        clusters=_clusters(results),
        needs_help=helped[:TOP_NEEDS_HELP],
        more_needs_help=helped[TOP_NEEDS_HELP:],
        more_needs_help_text=_more(helped, TOP_NEEDS_HELP, "student"),
        table=student_table(results),
        isolation=tuple(summary.isolation),
        warnings=grouped_notes(summary.warnings),
    )
