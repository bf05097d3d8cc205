"""Find each problem's written answer: its section by heading, then the rubric's marker line
("Final Formula"), the labelled pieces (conv part, FC part, output part), or the section's last
display block, with the source and line it came from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from grader.formulas.settings import FormulaSettings

HEADING = re.compile(r"^\s{0,3}(#{1,6})[ \t]+(.*)$")
BOLD_HEADING = re.compile(r"^\s*\*\*(.{1,120}?)\*\*\s*:?\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)]|[oO○◦]|\$\\circ\$)\s+")
#: A remainder that reads as a formula: symbols, numbers, LaTeX, and no prose word.
PROSE_WORD = re.compile(r"(?<![\\A-Za-z])(?!(?:exp|log|diag|softmax|sqrt|frac|sum|times|cdot|delta|hat|left|right|"
                        r"begin|end|cases|bmatrix|pmatrix|matrix|mathrm|text|quad|forall|dots|cdots|vdots|ldots|otherwise)\b)"
                        r"[A-Za-z]{4,}")
MAX_SCANNED_LINE = 2_000


@dataclass(frozen=True)
class Line:
    source: str
    number: int  # 1-based, within its source
    text: str


@dataclass(frozen=True)
class Piece:
    """One written formula: its label (for pieces), where it is, and the raw text."""

    label: str
    source: str
    line: int
    raw: str


@dataclass(frozen=True)
class Found:
    """A problem's written answer: one piece, or several labelled ones; `reason` when none."""

    problem_id: str
    pieces: tuple[Piece, ...] = ()
    section_found: bool = False
    reason: str = ""

    @property
    def where(self) -> str:
        return "; ".join(f"{piece.label + ': ' if piece.label else ''}{piece.source} line {piece.line}" for piece in self.pieces)


def lines_of(texts: Sequence[str], names: Sequence[str]) -> list[Line]:
    """Every line of every text, with its source and line number; code fences are left out."""
    found = []
    for position, text in enumerate(texts):
        name = names[position] if position < len(names) else f"text {position + 1}"
        in_fence = False
        for number, line in enumerate(text.splitlines(), start=1):
            if FENCE.match(line):
                in_fence = not in_fence
                continue
            if not in_fence:
                found.append(Line(name, number, line[:MAX_SCANNED_LINE]))
    return found


def heading_level(line: str) -> tuple[int, str] | None:
    match = HEADING.match(line)
    if match:
        return len(match.group(1)), match.group(2)
    bold = BOLD_HEADING.match(line)
    return (7, bold.group(1)) if bold else None


def section(lines: list[Line], pattern: str, others: Sequence[str] = ()) -> list[Line] | None:
    """The lines under the first heading matching `pattern`, to the next heading as high or
    the next heading of another problem (`## Problem 3(C)` after `# Problem 3(b)`)."""
    compiled = re.compile(pattern, re.IGNORECASE)
    other = [re.compile(item, re.IGNORECASE) for item in others if item != pattern]
    start, level = None, 0
    for index, line in enumerate(lines):
        heading = heading_level(line.text)
        if heading is None:
            continue
        if start is None:
            if compiled.search(heading[1][:200]):
                start, level = index, heading[0]
        elif heading[0] <= level or any(item.search(heading[1][:200]) for item in other):
            return lines[start + 1:index]
    return lines[start + 1:] if start is not None else None


def display_block(lines: list[Line], start: int) -> tuple[int, str] | None:
    """The `$$ ... $$` block beginning at or after `start` (within 3 non-blank lines)."""
    seen = 0
    for index in range(start, len(lines)):
        text = lines[index].text.strip()
        if not text:
            continue
        if text.startswith("$$"):
            body = [text]
            end = index
            while not (len(body) == 1 and text.count("$$") >= 2 or len(body) > 1 and body[-1].rstrip().endswith("$$")):
                end += 1
                if end >= len(lines) or end - index > 40:
                    break
                body.append(lines[end].text)
            return index, "\n".join(body)
        seen += 1
        if seen >= 3:
            return None
    return None


def after_marker(lines: list[Line], index: int, match_end: int, label: str) -> Piece | None:
    """The formula a marker introduces: the rest of its line, or the display block after it."""
    line = lines[index]
    rest = line.text[match_end:]
    for separator in ("=", ":"):
        if separator in rest and rest.rsplit(separator, 1)[1].strip():
            rest = rest.split(separator, 1)[1] if "$" in rest.split(separator, 1)[1] or separator == ":" else rest.rsplit(separator, 1)[1]
            break
        if rest.strip().endswith(separator):
            rest = ""
    rest = rest.strip(" \t:=")
    if rest and ("$" in rest or not PROSE_WORD.search(rest)):
        return Piece(label, line.source, line.number, rest)
    block = display_block(lines, index + 1)
    if block is None:
        return None
    found, text = block
    return Piece(label, lines[found].source, lines[found].number, text)


def find(settings: FormulaSettings, texts: Sequence[str], names: Sequence[str], others: Sequence[str] = ()) -> Found:
    """The written answer of one problem, or why none was found (`others`: the other
    problems' heading patterns, where this problem's section ends)."""
    problem_id = settings.spec.problem_id
    lines = section(lines_of(texts, names), settings.heading, others)
    if lines is None:
        return Found(problem_id, reason="no heading of the write-up names this problem")
    for marker in settings.markers:
        compiled = re.compile(marker, re.IGNORECASE)
        for index, line in enumerate(lines):
            match = compiled.search(BULLET.sub("", line.text))
            if match:
                offset = len(line.text) - len(BULLET.sub("", line.text))
                piece = after_marker(lines, index, match.end() + offset, "")
                if piece is not None:
                    return Found(problem_id, (piece,), True)
    pieces = []
    for label, marker in settings.pieces:
        compiled = re.compile(marker, re.IGNORECASE)
        matches = [(index, match) for index, line in enumerate(lines) if (match := compiled.search(line.text))]
        for index, match in reversed(matches):
            piece = after_marker(lines, index, match.end(), label)
            if piece is not None:
                pieces.append(piece)
                break
    if pieces:
        return Found(problem_id, tuple(pieces), True)
    last = None
    for index in range(len(lines)):
        if lines[index].text.strip().startswith("$$"):
            last = display_block(lines, index)
    if last is not None:
        found, text = last
        return Found(problem_id, (Piece("", lines[found].source, lines[found].number, text),), True)
    return Found(problem_id, section_found=True, reason="the section has no marked answer and no display formula")
