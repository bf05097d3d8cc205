"""The dashboard's charts as HTML geometry: the score histogram and the per-problem bars.

Charts are HTML boxes sized by percentages computed here, not SVG: SVG text scaled down to a
phone's width became unreadable, and a label past the viewBox was cut ("18% partia"). HTML text
keeps its size and wraps. Templates do no arithmetic: every width, height and description is a
finished string.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from grader.models import SubmissionResult, Verdict
from grader.outputs.reports.formatting import percent
from grader.outputs.reports.outcomes import TONE_HEADINGS, TONES, outcome_of


@dataclass(frozen=True)
class HistogramBin:
    """One 10%-wide band of total scores."""

    count_text: str  # above the bar; '' for an empty band
    height: str  # CSS height of the bar, "40%" of the tallest
    description: str  # "4 students scored 80–89%", read by screen readers and shown on hover


@dataclass(frozen=True)
class Tick:
    """A label on the histogram's axis, at a band's edge: short labels cannot run together."""

    text: str  # "80"
    position: str  # CSS left, "80%"


@dataclass(frozen=True)
class Histogram:
    """The class's score distribution."""

    bins: tuple[HistogramBin, ...]
    ticks: tuple[Tick, ...]
    description: str  # the whole chart in one sentence


@dataclass(frozen=True)
class Segment:
    """The students of one colour family on one problem."""

    tone: str
    width: str  # CSS width, "72.7%" of the class
    description: str  # "40 of 55 correct"


@dataclass(frozen=True)
class ProblemBar:
    """One problem's row of the per-problem chart."""

    problem_id: str
    title: str
    segments: tuple[Segment, ...]
    summary_text: str  # "73% full · 18% partial"
    description: str


@dataclass(frozen=True)
class ProblemChart:
    """Every problem's outcomes as a stacked bar, with a legend of the tones shown."""

    rows: tuple[ProblemBar, ...]
    legend: tuple[tuple[str, str], ...]  # (tone, heading)


def _css_percent(part: float, whole: float) -> str:
    return f"{round(100 * part / whole, 2):g}%" if whole else "0%"


def score_histogram(results: Sequence[SubmissionResult]) -> Histogram:
    """Total scores in ten bands of 10% of the maximum (the last one includes 100%)."""
    counts = [0] * 10
    for result in results:
        share = result.total / result.max_score if result.max_score else 0.0
        counts[min(9, max(0, int(share * 10)))] += 1
    tallest = max(counts) or 1
    bins = []
    for index, count in enumerate(counts):
        band = f"{index * 10}–{index * 10 + 9}" if index < 9 else "90–100"
        bins.append(HistogramBin(
            count_text=str(count) if count else "",
            height=_css_percent(count, tallest),
            description=f"{count} student{'s' if count != 1 else ''} scored {band}%",
        ))
    described = ", ".join(item.description for item in bins if item.count_text)
    return Histogram(
        bins=tuple(bins),
        ticks=tuple(Tick(str(edge), f"{edge}%") for edge in range(0, 101, 10)),
        description=f"Histogram of total scores in percent of the maximum: {described or 'no students'}.",
    )


def problem_chart(problems: Mapping[str, list[Verdict]], class_size: int) -> ProblemChart:
    """Each problem's students by colour family, as one stacked horizontal bar."""
    rows, shown = [], set()
    for problem_id, verdicts in problems.items():
        tones = [outcome_of(verdict).tone for verdict in verdicts]
        segments = []
        for tone in TONES:
            count = tones.count(tone)
            if count:
                shown.add(tone)
                segments.append(Segment(tone, _css_percent(count, class_size),
                                        f"{count} of {class_size} {TONE_HEADINGS[tone].lower()}"))
        summary = f"{percent(tones.count('correct'), class_size)} full · {percent(tones.count('partial'), class_size)} partial"
        rows.append(ProblemBar(
            problem_id=problem_id, title=verdicts[0].title, segments=tuple(segments), summary_text=summary,
            description=f"{problem_id}: " + ", ".join(segment.description for segment in segments),
        ))
    return ProblemChart(rows=tuple(rows), legend=tuple((tone, TONE_HEADINGS[tone]) for tone in TONES if tone in shown))
