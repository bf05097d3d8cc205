"""Everything the HTML pages show, computed here as frozen records: templates do no arithmetic.

The dashboard answers an instructor's first questions (how did the class do, which mistakes are
common, who shares an unexplained answer); chart geometry is computed in `charts.py`, as plain
numbers.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from grader.course_secret import fingerprint
from grader.models import RunSummary, SubmissionResult, Verdict
from grader.reports.charts import Histogram, RateChart, pass_rate_chart, score_histogram
from grader.reports.formatting import percent, points

STATUS_ORDER = ("correct", "partial", "incorrect", "missing", "error")
#: A symbol with every status, so a report never relies on colour alone (WCAG 1.4.1).
STATUS_SYMBOLS = {"correct": "✓", "partial": "◐", "incorrect": "✗", "missing": "–", "error": "⚠"}


@dataclass(frozen=True)
class ProblemStats:
    """How the class did on one problem."""

    problem_id: str
    title: str
    max_text: str
    mean_text: str
    counts: tuple[tuple[str, int], ...]  # (status, students) in STATUS_ORDER
    pass_rate_text: str  # full credit, "62%"


@dataclass(frozen=True)
class MisconceptionStats:
    """A named mistake, how common it is, and who made it."""

    problem_id: str
    misconception_id: str
    title: str
    count: int
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
class StudentRow:
    """A student's line of the dashboard's table."""

    student_id: str
    link: str
    total_text: str
    percent_text: str
    cells: tuple[tuple[str, str, str], ...]  # per problem: (status, symbol, points)
    manual_text: str
    error_text: str


@dataclass(frozen=True)
class Dashboard:
    """The class dashboard, index.html."""

    title: str
    started: str
    secret_fingerprint: str  # names the course secret without showing it (a screenshot is no leak)
    device: str
    student_count: int
    mean_text: str
    median_text: str
    max_text: str
    awaiting_count: int
    histogram: Histogram
    rates: RateChart
    problems: tuple[ProblemStats, ...]
    misconceptions: tuple[MisconceptionStats, ...]
    clusters: tuple[ClusterStats, ...]
    students: tuple[StudentRow, ...]
    isolation: tuple[str, ...]
    warnings: tuple[str, ...]


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_SUFFIXED = re.compile(r".*-[0-9a-f]{8}")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def student_file_name(student_id: str) -> str:
    """A file name for a student's page that cannot leave the folder and cannot collide.

    Student ids are folder names chosen by students: "../../index", "a/b" or "CON" must not
    write outside `students/` or over another page, so anything unusual gets a digest suffix.
    """
    stem = _UNSAFE.sub("_", student_id).strip("_")[:64]
    if (stem != student_id or not stem or stem.lower() in _RESERVED or stem.startswith("-")
            or _SUFFIXED.fullmatch(stem)):
        # (a name that already ends like a suffix, "dave_x-f8426774", gets one of its own:
        # it was the page of "dave x" too, and one student overwrote the other's)
        # (a name starting with "-" reads as an option to `rm students/*` and its like)
        suffix = hashlib.sha256(student_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        stem = f"{stem}-{suffix}" if stem else f"student-{suffix}"
    return f"student{stem}.html" if stem.startswith("-") else f"{stem}.html"


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


def _problem_stats(problem_id: str, verdicts: Sequence[Verdict], class_size: int) -> ProblemStats:
    counts = tuple((status, sum(1 for verdict in verdicts if verdict.status == status)) for status in STATUS_ORDER)
    return ProblemStats(
        problem_id=problem_id,
        title=verdicts[0].title,
        max_text=points(verdicts[0].max_score),
        mean_text=points(statistics.fmean(verdict.score for verdict in verdicts)),
        counts=counts,
        pass_rate_text=percent(dict(counts)["correct"], class_size),
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
            problem_id=problem_id, misconception_id=name, title=title, count=len(who), percent_text=share,
            rest=rest, sentence=f"{share} {rest}",
            students=tuple((student, f"students/{student_file_name(student)}") for student in who),
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
            students=tuple((student, f"students/{student_file_name(student)}") for student, _ in group),
        )
        for (problem_id, key), group in members.items()
        if len(group) > 1  # one student alone is not a cluster; their page explains it
    ]
    return tuple(sorted(clusters, key=lambda item: (-len(item.students), item.problem_id)))


def _student_row(result: SubmissionResult) -> StudentRow:
    awaiting = sum(1 for item in result.manual if item.score is None)
    return StudentRow(
        student_id=result.student_id,
        link=f"students/{student_file_name(result.student_id)}",
        total_text=f"{points(result.total)} / {points(result.max_score)}",
        percent_text=percent(result.total, result.max_score),
        cells=tuple(
            (verdict.status, STATUS_SYMBOLS[verdict.status], points(verdict.score)) for verdict in result.verdicts
        ),
        manual_text=f"{awaiting} awaiting a person" if awaiting else "graded" if result.manual else "",
        error_text=f"{result.error.kind}: {result.error.message}" if result.error else "",
    )


def dashboard(summary: RunSummary) -> Dashboard:
    """The class dashboard's content, computed from a whole run."""
    results = summary.results
    totals = [result.total for result in results]
    problems = _by_problem(results)
    maximum = max((result.max_score for result in results), default=0.0)
    return Dashboard(
        title=str(summary.rubric.get("title", "Grading report")),
        started=summary.started,
        secret_fingerprint=fingerprint(summary.seed),
        device=summary.device,
        student_count=len(results),
        mean_text=points(statistics.fmean(totals)) if totals else "–",
        median_text=points(statistics.median(totals)) if totals else "–",
        max_text=points(maximum),
        awaiting_count=sum(1 for result in results for item in result.manual if item.score is None),
        histogram=score_histogram(results),
        rates=pass_rate_chart(problems, len(results)),
        problems=tuple(
            _problem_stats(problem_id, verdicts, len(results)) for problem_id, verdicts in problems.items()
        ),
        misconceptions=_misconceptions(results, titles_of(summary)),
        clusters=_clusters(results),
        students=tuple(_student_row(result) for result in sorted(results, key=lambda item: item.student_id)),
        isolation=tuple(summary.isolation),
        warnings=tuple(summary.warnings),
    )
