"""Where each graded function is defined in the student's file: the line a CI annotation points at.

A module's line is the `def` line. A notebook's code runs cell by cell, so a function's place
is its cell and its line there; GitHub shows an annotation on a file's raw lines, which for an
.ipynb are its JSON, so the line is the one holding that `def` in the cell's "source" list
(Jupyter and nbformat write one source line per JSON line). Read with `ast` in the grader's
process, never run; a cell that does not parse places nothing.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from grader.models import SourceUnit, Submission
from grader.stages.submissions import MAX_PARSED_CHARACTERS  # a huge unit is not parsed in the grader's process


@dataclass(frozen=True)
class SourceLocation:
    """A definition's place: the file, its line there (None when unknown) and, in a notebook, the cell."""

    file: Path
    line: int | None
    cell: str | None = None  # "cell 4", as notes and reports name cells


def definitions(units: Iterable[SourceUnit]) -> dict[str, tuple[SourceUnit, int]]:
    """Each top-level function, class or assigned name -> the unit and line of its last
    definition (the one in force when the unit has run, as when graded)."""
    found: dict[str, tuple[SourceUnit, int]] = {}
    for unit in units:
        if len(unit.code) > MAX_PARSED_CHARACTERS:
            continue
        try:
            tree = ast.parse(unit.code)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found[node.name] = (unit, node.lineno)
            elif isinstance(node, ast.Assign):  # `softmax_grad = my_jacobian`
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = (unit, node.lineno)
    return found


def notebook_source_lines(path: Path) -> dict[int, int]:
    """Cell position (1-based, every cell type) -> the file line of its first source line, for a
    notebook written one JSON value per line; {} when the file is written some other way."""
    try:
        text = path.read_text(encoding="utf-8-sig")
        cell_count = len(json.loads(text).get("cells", []))
    except (OSError, ValueError, AttributeError, RecursionError):
        return {}
    starts: dict[int, int] = {}
    position = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        # A key, not a value: inside a JSON string the quotes would be escaped (\"source\").
        if stripped.startswith('"source":'):
            position += 1
            starts[position] = number + 1 if stripped.endswith("[") else number
    return starts if len(starts) == cell_count else {}


def locate(submission: Submission, names_by_problem: dict[str, tuple[str, ...]]) -> dict[str, SourceLocation]:
    """problem id -> where the first of its names that is defined is defined (file only when none is)."""
    graded = submission.entry
    if graded is None:
        return {}
    found = definitions(submission.units)
    cell_lines = notebook_source_lines(graded) if submission.kind == "notebook" else {}
    raw_lines: list[str] | None = None
    locations: dict[str, SourceLocation] = {}
    for problem_id, names in names_by_problem.items():
        name = next((name for name in names if name in found), None)
        if name is None:
            locations[problem_id] = SourceLocation(graded, None)
            continue
        unit, line = found[name]
        if submission.kind != "notebook":
            locations[problem_id] = SourceLocation(graded, line)
            continue
        start = cell_lines.get(int(unit.label.removeprefix("cell ")) if unit.label.startswith("cell ") else -1)
        file_line = None
        if start is not None:
            if raw_lines is None:
                raw_lines = graded.read_text(encoding="utf-8-sig").splitlines()
            candidate = start + line - 1
            # Only where that JSON line holds the definition: a removed %%time line shifts a
            # cell's lines, and then the cell's first line is the honest place.
            wanted = json.dumps(unit.code.splitlines()[line - 1], ensure_ascii=False)[:-1]
            file_line = candidate if 0 < candidate <= len(raw_lines) and wanted in raw_lines[candidate - 1] else start
        locations[problem_id] = SourceLocation(graded, file_line, unit.label)
    return locations
