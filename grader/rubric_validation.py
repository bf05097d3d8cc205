"""Reading one TOML table of a rubric strictly: typed values, ranges, dotted key paths, did-you-mean.

Every check raises a `RubricError` naming the file, the dotted key path and the value, so a typo
in a rubric is caught before it silently changes every student's grade.
"""

from __future__ import annotations

import math

from pathlib import Path
from typing import Any

from grader.errors import RubricError, did_you_mean

_TYPE_WORDS = {int: "a whole number", str: "a string", bool: "true or false", list: "a list", dict: "a table"}
#: The default of a required key: None is a legitimate default, so absence needs its own marker.
MISSING: Any = object()


class RubricTable:
    """One TOML table being read: tracks the dotted key path and which keys were used."""

    def __init__(self, path: Path, data: object, key_path: str) -> None:
        self.path, self.key_path = path, key_path
        if not isinstance(data, dict):
            raise RubricError(path, key_path, f"expected a table, got {data!r}")
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.key_path}.{name}" if self.key_path else name

    def fail(self, name: str, problem: str, hint: str = "") -> RubricError:
        return RubricError(self.path, self.key(name), problem, hint=hint)

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = MISSING) -> Any:
        """The value of `name`, checked against `kind` (bool is never a number here)."""
        self.used.add(name)
        if name not in self.data:
            if default is MISSING:
                # `pionts = 10` is the problem, not a missing `points`: name the typo first.
                unread = [key for key in self.data if key not in self.used]
                if did_you_mean(name, unread):
                    typo = next(key for key in unread if did_you_mean(name, [key]))
                    raise self.fail(typo, f"unknown key (value {self.data[typo]!r})", hint=f'did you mean "{name}"?')
                raise self.fail(name, "missing", hint=f"add `{name} = ...` to [{self.key_path or 'the top level'}]")
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        number_wanted = float in kinds or int in kinds
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            wanted = "a number" if float in kinds else " or ".join(_TYPE_WORDS.get(k, k.__name__) for k in kinds)
            raise self.fail(name, f"expected {wanted}, got {value!r}")
        if number_wanted and float in kinds and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        return value

    def number(self, name: str, default: Any, low: float, high: float = float("inf"), whole: bool = False) -> Any:
        """A number within [low, high] (an int where `whole`)."""
        value = self.get(name, int if whole else (int, float), default)
        if not low <= value <= high:
            bounds = f"between {low:g} and {high:g}" if high != float("inf") else f"at least {low:g}"
            raise self.fail(name, f"{value!r} is out of range: it must be {bounds}")
        return int(value) if whole else float(value)

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.get(name, str, default)
        if value not in choices:
            raise self.fail(name, f"{value!r} is not one of {', '.join(map(repr, choices))}",
                            hint=did_you_mean(value, choices))
        return value

    def table(self, name: str, required: bool = False) -> RubricTable:
        self.used.add(name)
        if name not in self.data and not required:
            return RubricTable(self.path, {}, self.key(name))
        if name not in self.data:
            raise self.fail(name, "missing table", hint=f"add a [{self.key(name)}] table")
        return RubricTable(self.path, self.data[name], self.key(name))

    def finish(self, allowed: tuple[str, ...] = ()) -> None:
        """Any key not read is a typo (or a key of another schema): name it and the closest one."""
        for name in self.data:
            if name not in self.used:
                choices = tuple(self.used) + allowed
                raise self.fail(name, f"unknown key (value {self.data[name]!r})", hint=did_you_mean(name, choices))


def identifiers(table: RubricTable, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A list of Python names (function aliases): anything else could never be found."""
    values = table.get(name, list, list(default))
    for value in values:
        if not isinstance(value, str) or not value.isidentifier():
            raise table.fail(name, f"{value!r} is not a Python function name")
    return tuple(values)


def number_pair(table: RubricTable, name: str, default: tuple[float, float], ordered: bool) -> tuple[float, float]:
    """Two numbers: a [low, high] domain bound where `ordered`, else non-negative (rtol, atol)."""
    value = table.get(name, list, MISSING if default is None else list(default))
    if len(value) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
        raise table.fail(name, f"expected two numbers [low, high], got {value!r}")
    low, high = float(value[0]), float(value[1])
    if not (math.isfinite(low) and math.isfinite(high)):
        raise table.fail(name, f"{value!r}: bounds and tolerances must be finite numbers")
    if ordered and low > high:
        raise table.fail(name, f"{value!r}: the low bound is above the high bound", hint=f"write [{value[1]}, {value[0]}]")
    if not ordered and (low < 0 or high < 0):
        raise table.fail(name, f"{value!r}: tolerances cannot be negative")
    return low, high
