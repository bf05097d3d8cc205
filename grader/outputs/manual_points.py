"""The CSV of points a person awarded, read and checked against what the gradebook holds.

A row names a student and either a manual item (a written proof) or a problem whose written
answer awaits review for that student. The whole file is checked before anything is stored.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import GradebookError, did_you_mean


@dataclass(frozen=True)
class Graded:
    """What a row may name: the graded students, the manual items and problems (with their
    maximum), and per student the submission digest and the problems awaiting review."""

    students: frozenset[str]
    items: Mapping[str, float]
    problems: frozenset[str]
    reviews: Mapping[str, tuple[str, Mapping[str, float]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Award:
    """One row: points for a manual item, or (with `digest`) a decision on a problem in review."""

    student_id: str
    item_id: str
    points: float
    comment: str
    digest: str | None = None


def read_awards(csv_path: Path, graded: Graded) -> list[Award]:
    """Every row of the file, checked: student_id,item_id,points[,comment]."""
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = [name.strip().lower() for name in reader.fieldnames or []]
    except UnicodeDecodeError:
        raise GradebookError(f"{csv_path}: not UTF-8 text",
                             hint="save it as \"CSV UTF-8 (comma delimited)\"") from None
    except (OSError, csv.Error) as problem:
        raise GradebookError(f"{csv_path}: cannot read the manual points ({problem})") from problem
    missing = {"student_id", "item_id", "points"} - set(header)
    if missing:  # an empty file too: a wrong header is no way to say "no points"
        found = ",".join(reader.fieldnames or []) or "nothing"
        raise GradebookError(
            f"{csv_path}: missing column(s) {', '.join(sorted(missing))}; the header read was {found!r}",
            hint="the header must be student_id,item_id,points[,comment], separated by commas"
                 + (" (this file uses semicolons)" if ";" in found else ""),
        )
    awards: list[Award] = []
    seen: dict[tuple[str, str], int] = {}
    for line, raw in enumerate(rows, start=2):  # line 1 is the header
        if None in raw:  # DictReader's key for fields beyond the header
            raise GradebookError(f"{csv_path}, row {line}: more fields than the header has",
                                 hint='quote a comment that holds a comma: "good, but ..."')
        row = {str(name).strip().lower(): value for name, value in raw.items()}
        award = _check_row(f"{csv_path}, row {line}", row, graded)
        key = (award.student_id, award.item_id)
        if key in seen:
            raise GradebookError(f"{csv_path}, row {line}: {key[0]} already has points for {key[1]} "
                                 f"in row {seen[key]}", hint="keep one row per student and item")
        seen[key] = line
        awards.append(award)
    return awards


def _check_row(where: str, row: Mapping[str, str | None], graded: Graded) -> Award:
    student_id = (row.get("student_id") or "").strip()
    item_id = (row.get("item_id") or "").strip()
    text = (row.get("points") or "").strip()
    if student_id not in graded.students:
        raise GradebookError(
            f"{where}: unknown student_id {student_id!r}",
            hint=did_you_mean(student_id, graded.students)
            or "import manual points after `grader run` graded that student",
        )
    digest, in_review = graded.reviews.get(student_id, ("", {}))
    if item_id in graded.items:
        maximum, digest_read = graded.items[item_id], None
    elif item_id in in_review:
        maximum, digest_read = in_review[item_id], digest
    elif item_id in graded.problems:
        # Points typed over an automatic grade would hide the grader's verdict from the report.
        waiting = ", ".join(sorted(in_review)) or "none"
        raise GradebookError(
            f"{where}: {item_id} was graded automatically for {student_id}; "
            "only a problem awaiting review takes manual points",
            hint=f"problems of {student_id} awaiting review: {waiting}",
        )
    else:
        known = set(graded.items) | set(graded.problems)
        raise GradebookError(
            f"{where}: unknown item_id {item_id!r}",
            hint=did_you_mean(item_id, known)
            or f"manual items of this rubric: {', '.join(sorted(graded.items)) or 'none'}; "
               "or a problem awaiting review",
        )
    try:
        points = float(text)
    except ValueError:
        points = math.nan
    if not math.isfinite(points) or not 0.0 <= points <= maximum:
        raise GradebookError(
            f"{where}: points {text!r} for {item_id} is not a number from 0 to {maximum:g}",
            hint="write the points as a plain number such as 7.5",
        )
    return Award(student_id, item_id, points, (row.get("comment") or "").strip(), digest_read)
