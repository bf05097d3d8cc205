"""Everything the HTML pages show, computed here as frozen records: templates do no arithmetic.

The dashboard answers an instructor's first questions (how did the class do, which mistakes are
common, who shares an unexplained answer); chart geometry is computed here too, as plain numbers.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from grader.models import RunSummary, SubmissionResult, Verdict
from grader.reports.formatting import percent, points

STATUS_ORDER = ("correct", "partial", "incorrect", "missing", "error")
#: A symbol with every status, so a report never relies on colour alone (WCAG 1.4.1).
STATUS_SYMBOLS = {"correct": "✓", "partial": "◐", "incorrect": "✗", "missing": "–", "error": "⚠"}


@dataclass(frozen=True)
class Bar:
    """One bar of a vertical chart, in SVG user units."""

    x: float
    y: float
    width: float
    height: float
    center: float  # where the value and the label are centred
    label: str  # under the bar
    value_text: str  # above the bar ('' for an empty bin)
    value_y: float
    description: str  # the bar's <title>, read by screen readers and shown on hover


@dataclass(frozen=True)
class Histogram:
    """The class's score distribution as an inline SVG bar chart."""

    width: float
    height: float
    center: float
    baseline: float
    label_y: float
    axis_label_y: float
    bars: tuple[Bar, ...]
    description: str  # aria-label: the whole chart in one sentence


@dataclass(frozen=True)
class Segment:
    """A part of a horizontal bar: the students with one status."""

    status: str
    x: float
    width: float
    description: str


@dataclass(frozen=True)
class RateRow:
    """One problem's row of the pass-rate chart."""

    label: str
    y: float
    text_y: float
    segments: tuple[Segment, ...]
    value_text: str
    value_x: float


@dataclass(frozen=True)
class RateChart:
    """Per-problem full and partial credit as horizontal stacked bars."""

    width: float
    height: float
    bar_height: float
    track_x: float  # the grey track behind every bar: 100% of the class
    track_width: float
    rows: tuple[RateRow, ...]
    description: str


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
    seed: int
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
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def student_file_name(student_id: str) -> str:
    """A file name for a student's page that cannot leave the folder and cannot collide.

    Student ids are folder names chosen by students: "../../index", "a/b" or "CON" must not
    write outside `students/` or over another page, so anything unusual gets a digest suffix.
    """
    stem = _UNSAFE.sub("_", student_id).strip("_")[:64]
    if stem != student_id or not stem or stem.lower() in _RESERVED:
        suffix = hashlib.sha256(student_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        stem = f"{stem}-{suffix}" if stem else f"student-{suffix}"
    return f"{stem}.html"


def misconception_title(titles: Mapping[str, str], problem_id: str, misconception_id: str) -> str:
    """The catalog's title of a mistake, by "problem:id" or id, else the id itself."""
    return titles.get(f"{problem_id}:{misconception_id}") or titles.get(misconception_id) or misconception_id


def titles_of(summary: RunSummary) -> Mapping[str, str]:
    """The misconception titles the pipeline put in `summary.extra["misconception_titles"]`."""
    titles = summary.extra.get("misconception_titles", {})
    return titles if isinstance(titles, Mapping) else {}


def _histogram(results: Sequence[SubmissionResult]) -> Histogram:
    counts = [0] * 10
    for result in results:
        share = result.total / result.max_score if result.max_score else 0.0
        counts[min(9, max(0, int(share * 10)))] += 1
    tallest = max(counts) or 1
    slot, top, baseline = 52.0, 24.0, 184.0
    bars = []
    for index, count in enumerate(counts):
        height = (baseline - top) * count / tallest
        label = f"{index * 10}–{index * 10 + 9}" if index < 9 else "90–100"
        bars.append(Bar(
            x=8 + index * slot, y=baseline - height, width=slot - 8, height=height,
            center=8 + index * slot + (slot - 8) / 2, label=label,
            value_text=str(count) if count else "", value_y=baseline - height - 6,
            description=f"{count} student{'s' if count != 1 else ''} scored {label}%",
        ))
    described = ", ".join(bar.description for bar in bars if bar.value_text)
    return Histogram(
        width=8 + 10 * slot, height=236.0, center=(8 + 10 * slot) / 2, baseline=baseline, label_y=baseline + 18,
        axis_label_y=baseline + 42, bars=tuple(bars),
        description=f"Histogram of total scores in percent of the maximum: {described or 'no students'}.",
    )


def _by_problem(results: Sequence[SubmissionResult]) -> dict[str, list[Verdict]]:
    verdicts: dict[str, list[Verdict]] = defaultdict(list)
    for result in results:
        for verdict in result.verdicts:
            verdicts[verdict.problem_id].append(verdict)
    return verdicts


def _rates(problems: Mapping[str, list[Verdict]], class_size: int) -> RateChart:
    label_width, bar_width, row_height, bar_height = 64.0, 300.0, 32.0, 20.0
    rows = []
    for index, (problem_id, verdicts) in enumerate(problems.items()):
        y, x, segments = 8 + index * row_height, label_width, []
        for status in ("correct", "partial"):
            count = sum(1 for verdict in verdicts if verdict.status == status)
            width = bar_width * count / class_size if class_size else 0.0
            if count:
                segments.append(Segment(status, x, width, f"{problem_id}: {count} of {class_size} {status}"))
            x += width
        correct = sum(1 for verdict in verdicts if verdict.status == "correct")
        partial = sum(1 for verdict in verdicts if verdict.status == "partial")
        rows.append(RateRow(
            label=problem_id, y=y, text_y=y + bar_height - 5, segments=tuple(segments),
            value_text=f"{percent(correct, class_size)} full, {percent(partial, class_size)} partial",
            value_x=label_width + bar_width + 10,
        ))
    described = "; ".join(f"{row.label}: {row.value_text}" for row in rows)
    return RateChart(
        width=label_width + bar_width + 190, height=16 + len(rows) * row_height, bar_height=bar_height,
        track_x=label_width, track_width=bar_width,
        rows=tuple(rows), description=f"Share of students with full or partial credit per problem. {described}.",
    )


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
        seed=summary.seed,
        device=summary.device,
        student_count=len(results),
        mean_text=points(statistics.fmean(totals)) if totals else "–",
        median_text=points(statistics.median(totals)) if totals else "–",
        max_text=points(maximum),
        awaiting_count=sum(1 for result in results for item in result.manual if item.score is None),
        histogram=_histogram(results),
        rates=_rates(problems, len(results)),
        problems=tuple(
            _problem_stats(problem_id, verdicts, len(results)) for problem_id, verdicts in problems.items()
        ),
        misconceptions=_misconceptions(results, titles_of(summary)),
        clusters=_clusters(results),
        students=tuple(_student_row(result) for result in sorted(results, key=lambda item: item.student_id)),
        isolation=tuple(summary.isolation),
        warnings=tuple(summary.warnings),
    )
