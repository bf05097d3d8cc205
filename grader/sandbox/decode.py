"""Turn a child's frames into plain records, trusting nothing: types, sizes and kinds checked.

A child can write any bytes to its result fd (the forged-frame attack), so every field is
validated here and anything unexpected is a `ProtocolViolation`. There is no status, verdict
or score field to trust: the only thing a child can claim is an output value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from grader.models import ERROR_KINDS, CallResult, ExecutionError, Value

from .protocol import Frame, ProtocolViolation, load_array

MAX_TEXT = 4000


def text(value: Any, cap: int = MAX_TEXT, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ProtocolViolation("expected a string field")
    return value[:cap]


def error(record: Any) -> ExecutionError | None:
    """An error record from the child, or None; its kind must be one of the public kinds."""
    if record is None:
        return None
    if not isinstance(record, dict) or record.get("kind") not in ERROR_KINDS:
        raise ProtocolViolation("malformed error record")
    return ExecutionError(kind=record["kind"], message=text(record.get("message")) or "",
                          exception_type=text(record.get("exception_type"), 200, optional=True),
                          detail=text(record.get("detail", ""), MAX_TEXT) or "")


def exact_int(value: Any) -> int:
    if type(value) is not int:
        raise ProtocolViolation("expected an integer")
    return value


def value(record: Any, blobs: list[bytes], call: str) -> Value:
    """A returned value: None, int, float, float64 array, or the torch-module mapping."""
    if not isinstance(record, dict):
        raise ProtocolViolation("malformed value")
    kind = record.get("type")
    if kind == "none":
        return None
    if kind == "int" and call == "function":
        return exact_int(record.get("value"))
    if kind == "float" and call == "function":
        number = record.get("value")
        if not isinstance(number, (int, float)) or isinstance(number, bool):
            raise ProtocolViolation("expected a number")
        try:
            return float(number)
        except OverflowError:  # a forged 10**400: no float64 the child could have computed
            raise ProtocolViolation("a float beyond float64's range") from None
    if kind == "array" and call == "function":
        if record.get("blob") != 0 or len(blobs) != 1:
            raise ProtocolViolation("array value without exactly one blob")
        return load_array(blobs[0])
    if kind == "module" and call == "torch-module":
        shape = record.get("output_shape")
        if not isinstance(shape, list) or len(shape) > 8:
            raise ProtocolViolation("malformed output shape")
        return {"parameters": exact_int(record.get("parameters")),
                "output_shape": tuple(exact_int(side) for side in shape)}
    raise ProtocolViolation(f"unexpected value type {str(kind)[:40]!r}")


def case_result(frame: Frame, call: str) -> CallResult:
    """One `case` frame as a CallResult."""
    header = frame.header
    failure = error(header.get("error"))
    if failure is not None:
        return CallResult(value=None, error=failure)
    mutated = header.get("mutated", False)
    if type(mutated) is not bool:
        raise ProtocolViolation("mutated is not a bool")
    return CallResult(value=value(header.get("value"), frame.blobs, call), mutated_input=mutated,
                      note=text(header.get("note", ""), 300) or "")


#: What an imported function's origin may look like in a report: a dotted Python path.
ORIGIN = re.compile(r"[A-Za-z_][\w.<>]{0,199}")


def found(header: dict, near_name: bool) -> dict:
    """How the child found a problem's function: near name and its rivals, or an imported origin."""
    others = header.get("others", [])
    if not isinstance(others, list) or len(others) > 5 or not all(
            isinstance(name, str) and name.isidentifier() and len(name) <= 100 for name in others):
        raise ProtocolViolation("malformed list of other candidates")
    origin = header.get("imported_from")
    if origin is not None and not isinstance(origin, str):
        raise ProtocolViolation("imported_from is not a string")
    if origin is not None and not ORIGIN.fullmatch(origin):
        origin = "another module"  # a forged __module__ ("\x1b[2J", HTML): shown, so kept plain
    return {"near_name": near_name, "other_candidates": tuple(others) if near_name else (),
            "imported_from": origin}


def string_list(items: Any, cap: int = 200) -> tuple[str, ...]:
    if not isinstance(items, list) or len(items) > cap:
        raise ProtocolViolation("expected a list of strings")
    return tuple(text(item, 1000) or "" for item in items)


@dataclass(frozen=True)
class StopPoint:
    """Where a child's code was when its stage's CPU time ran out (the child's own words)."""

    function: str | None
    file: str | None
    line: int | None
    depth: int
    stack: tuple[str, ...]

    def phrase(self) -> str:
        """" in `down()` at line 23 of solution.py, 180,000 calls deep", or "" when unknown."""
        if not self.function:
            return ""
        line = f" at line {self.line}" if self.line is not None else ""
        depth = f", {self.depth:,} calls deep" if self.depth > 1 else ""
        return f" in `{self.function}()`{line} of {self.file}{depth}"


def stop_point(header: dict) -> StopPoint:
    """A `stopped` frame as a StopPoint; every field checked, texts capped."""
    line, depth = header.get("line"), header.get("depth")
    if (line is not None and type(line) is not int) or type(depth) is not int or depth < 0:
        raise ProtocolViolation("malformed stop report")
    return StopPoint(function=text(header.get("function"), 200, optional=True),
                     file=text(header.get("file"), 300, optional=True), line=line, depth=depth,
                     stack=string_list(header.get("stack"), 8))
