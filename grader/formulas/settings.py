"""Where a problem's written answer is found and how it is read: defaults and rubric overrides.

The defaults are data (`problems.toml`); a rubric's `[problems.<id>.formula]` table replaces
the heading, markers, pieces, combine and prefer settings and adds aliases, so an instructor
can teach the reader a class's notation (`s = "p"`) without touching code.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from grader.formulas.symbols import Spec

DEFAULTS = Path(__file__).with_name("problems.toml")
PREFERENCES = ("code", "formula")


@dataclass(frozen=True)
class FormulaSettings:
    """One problem's formula reading, as the rubric leaves it."""

    spec: Spec
    heading: str
    markers: tuple[str, ...] = ()
    pieces: tuple[tuple[str, str], ...] = ()  # (label, marker)
    combine: str = "sum"
    prefer: str = "code"


@lru_cache(maxsize=1)
def _defaults() -> dict[str, Any]:
    return tomllib.loads(DEFAULTS.read_text(encoding="utf-8"))


def default_settings(problem_id: str) -> FormulaSettings | None:
    """The defaults of `problem_id`, or None for a problem no formula answers (p2-torch)."""
    data = _defaults()
    table = data.get(problem_id)
    if table is None:
        return None
    aliases = dict(data["aliases"]["arrays"]) if table["shape"] != "count" else {}
    aliases.update(table.get("aliases", {}))
    spec = Spec(problem_id, table["shape"], tuple(table.get("variables", ())), tuple(table.get("vectors", ())), aliases)
    return FormulaSettings(spec, table["heading"], tuple(table.get("markers", ())),
                           tuple((piece["label"], piece["marker"]) for piece in table.get("pieces", ())),
                           table.get("combine", "sum"))


class SettingsError(ValueError):
    """A rubric's formula table is wrong: (key, message)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def settings_data(settings: FormulaSettings | None) -> dict[str, Any] | None:
    """The settings as JSON-ready data (results.json's rubric)."""
    if settings is None:
        return None
    spec = settings.spec
    return {"shape": spec.shape, "variables": list(spec.variables), "vectors": list(spec.vectors),
            "aliases": dict(spec.aliases), "heading": settings.heading, "markers": list(settings.markers),
            "pieces": [{"label": label, "marker": marker} for label, marker in settings.pieces],
            "combine": settings.combine, "prefer": settings.prefer}


def with_overrides(settings: FormulaSettings, table: dict[str, Any]) -> FormulaSettings:
    """`settings` with a rubric's `[problems.<id>.formula]` table applied; SettingsError if wrong."""
    known = {"heading", "markers", "pieces", "combine", "prefer", "aliases"}
    for name in table:
        if name not in known:
            raise SettingsError(name, f"unknown key (known: {', '.join(sorted(known))})")
    for name in ("heading", *(f"markers.{index}" for index in range(len(table.get("markers", ()))))):
        pattern = table.get("heading") if name == "heading" else table["markers"][int(name.split(".")[1])]
        if pattern is None:
            continue
        if not isinstance(pattern, str):
            raise SettingsError(name, f"{pattern!r} is not a string")
        try:
            re.compile(pattern)
        except re.error as error:
            raise SettingsError(name, f"{pattern!r} is not a regular expression ({error})") from None
    prefer = table.get("prefer", settings.prefer)
    if prefer not in PREFERENCES:
        raise SettingsError("prefer", f"{prefer!r}: choose one of {', '.join(PREFERENCES)}")
    combine = table.get("combine", settings.combine)
    if combine != "sum":
        raise SettingsError("combine", f"{combine!r}: pieces can only be combined by \"sum\"")
    aliases = table.get("aliases", {})
    if not isinstance(aliases, dict) or not all(isinstance(value, str) for value in aliases.values()):
        raise SettingsError("aliases", "aliases are `student_symbol = \"variable\"` pairs")
    spec = settings.spec
    targets = set(spec.variables) | set(spec.vectors) | ({"K"} if spec.arrays else set())
    for written, target in aliases.items():
        if target not in targets:
            raise SettingsError(f"aliases.{written}", f"{target!r} is not a variable of {spec.problem_id} "
                                f"(its variables: {', '.join(sorted(targets))})")
    pieces = table.get("pieces")
    parsed_pieces = settings.pieces if pieces is None else tuple((piece["label"], piece["marker"]) for piece in pieces)
    return replace(settings, heading=table.get("heading", settings.heading),
                   markers=tuple(table.get("markers", settings.markers)), pieces=parsed_pieces, combine=combine,
                   prefer=prefer, spec=replace(spec, aliases={**spec.aliases, **aliases}))
