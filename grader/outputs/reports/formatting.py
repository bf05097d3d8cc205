"""Numbers and values as a person reads them, shared by the HTML pages and the text exports."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from grader.outputs.reports.serialize import plain

def written_out(text: str, characters: re.Pattern[str]) -> str:
    """`text` with each of `characters` as its escape (ESC as \\x1b, U+202E as \\u202e): shown,
    never acted on by a terminal, a spreadsheet or a page's text direction."""
    return characters.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


#: Printed output shown in a report; a student printing in a loop must not make a 1 GB page.
OUTPUT_CAP = 4000
VALUE_CAP = 400


def points(value: float) -> str:
    """Points without noise: 7.5, 10, 2.33."""
    return f"{round(value, 2):g}"


def percent(part: float, whole: float) -> str:
    """A whole-number percentage ("31%"), "–" when there is nothing to divide by."""
    return f"{round(100 * part / whole)}%" if whole else "–"


def cap(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… ({len(text) - limit} more characters not shown)"


def value_text(value: object) -> str:
    """A case's value as compact JSON (NaN written as NaN), capped for display."""
    text = json.dumps(plain(value), ensure_ascii=False, separators=(", ", ": "))
    text = text.replace('"NaN"', "NaN").replace('"Infinity"', "Infinity").replace('"-Infinity"', "-Infinity")
    return cap(text, VALUE_CAP)


def arguments_text(arguments: Mapping[str, object]) -> str:
    """A call's arguments as `N=32, L=3, z=[1, 3.5]`."""
    return ", ".join(f"{name}={value_text(value)}" for name, value in arguments.items())


#: Numbers in a note, masked so "returned 6.0, a float" and "returned 44.0, a float" group together.
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
#: Variants of one grouped note listed under it; the count still says how many there were.
NOTE_VARIANTS_SHOWN = 30


@dataclass(frozen=True)
class NoteGroup:
    """Notes that say the same thing, perhaps about different numbers, shown once with a count."""

    text: str  # the first of them
    count_text: str  # "× 23", '' for a note that occurs once
    variants: tuple[str, ...]  # the distinct other texts (other numbers), capped


def grouped_notes(notes: Sequence[str]) -> tuple[NoteGroup, ...]:
    """`notes` in first-seen order, repeats collapsed: one problem said "returned 6.0, a float;
    counts are integers" 23 times, once per case."""
    groups: dict[str, list[str]] = {}
    for note in notes:
        groups.setdefault(_NUMBER.sub("#", note), []).append(note)
    return tuple(
        NoteGroup(
            text=members[0],
            count_text=f"× {len(members)}" if len(members) > 1 else "",
            variants=tuple(note for note in dict.fromkeys(members) if note != members[0])[:NOTE_VARIANTS_SHOWN],
        )
        for members in groups.values()
    )
