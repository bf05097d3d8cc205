"""The dashboard's charts as plain SVG geometry: the score histogram and the pass-rate bars.

Templates do no arithmetic: every coordinate, label and screen-reader description is computed
here, in SVG user units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from grader.models import SubmissionResult, Verdict
from grader.reports.formatting import percent


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


def score_histogram(results: Sequence[SubmissionResult]) -> Histogram:
    """Total scores in ten bins of 10% of the maximum, drawn as vertical bars."""
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


def pass_rate_chart(problems: Mapping[str, list[Verdict]], class_size: int) -> RateChart:
    """Each problem's share of full and partial credit, as one stacked horizontal bar."""
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
