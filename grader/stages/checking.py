"""Check: compare a student's plain-data outputs with the key's expected values, case by case.

Nothing here touches a student's object: the sandbox already turned every return value into
ints, floats or float64 arrays, so an `__eq__` that always says True never reaches this code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from grader.models import (UNSCORED_TAGS, CallResult, Case, CaseCheck, ExecutionError,
                           ProblemCheck, ProblemKey, ProblemOutcome, Value)
from grader.stages.precision import PRECISIONS, arrays_agree

#: Every note a check can attach, in one place (scoring applies `note_credit` to these).
NOTES = {
    "integral_float": "returned {value!r}, a float; counts are integers",
    "boolean": "returned {value!r}, a bool; counts are integers",
    "fraction": "returned {value!r}, not a whole number; counts are integers",
    "not_a_number": "returned a {type_name}; a count is one integer",
    "huge": "returned an integer of {digits:,} digits; no count of parameters is that large",
    "none": "returned None",
    "shape": "returned shape {got}; expected shape {expected}",
    "not_an_array": "returned a {type_name}; expected an array",
    "mutated": "changed its input array in place",
    "output_shape": "the module's output has shape {got}; expected {expected}",
    "not_a_module_report": "no parameter count and output shape came back for the module",
    "float32_accepted": "agrees with the reference to float32 precision (differences up to {difference:.2g}; "
                        "float64 arithmetic agrees to about 1e-15), which this rubric accepts "
                        "(precision = \"{precision}\", rtol {rtol:g}, atol {atol:g})",
}

#: The counts a key can hold (int64): a returned count outside them is no count.
INT64 = range(-(1 << 63), 1 << 63)

#: The error attached to a case whose function returned nothing, so it fails with a reason.
RETURNED_NONE = ExecutionError("invalid-output", "the function returned None")
NO_RESULT = ExecutionError("crash", "no result came back for this case")


def as_count(value: Value) -> tuple[int | None, str]:
    """A returned count as an int (or None when it is not one), and the note that applies."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()  # a 0-d array is a scalar in disguise
    if isinstance(value, (bool, np.bool_)):
        # bool is an int subclass: True would otherwise count as 1 parameter.
        return None, NOTES["boolean"].format(value=bool(value))
    if isinstance(value, (int, np.integer)):
        count = int(value)
        if count not in INT64:
            # Beyond int64 no variant can match, and past 4,300 digits even str() raises: a
            # student's 10**4300 stopped the run in diagnosis's "adds N" sentence.
            return None, NOTES["huge"].format(digits=digit_count(count))
        return count, ""
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if np.isfinite(number) and number.is_integer():
            if int(number) not in INT64:  # 1e19 is integral, and past every count too
                return None, NOTES["huge"].format(digits=digit_count(int(number)))
            return int(number), NOTES["integral_float"].format(value=number)
        return None, NOTES["fraction"].format(value=number)
    if value is None:
        return None, NOTES["none"]
    return None, NOTES["not_a_number"].format(type_name=describe_type(value))


def digit_count(number: int) -> int:
    """How many decimal digits `number` has, without str() (which refuses past 4,300 digits)."""
    magnitude = abs(number)
    digits = max(int((magnitude.bit_length() - 1) * 0.30102999566398120), 0) + 1
    return digits + 1 if magnitude >= 10**digits else digits


def describe_type(value: object) -> str:
    """A short description of a returned value's type for notes ("array of shape (1,)")."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    return type(value).__name__


def as_array(value: Value) -> np.ndarray | None:
    """A parent-owned float64 copy of a returned array or number, or None if it is neither."""
    if isinstance(value, (bool, np.bool_)) or value is None or isinstance(value, Mapping):
        return None
    if isinstance(value, (int, float, np.integer, np.floating, np.ndarray)):
        try:
            return np.array(value, dtype=np.float64, copy=True)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int like 10**400
            return None
    return None


def check_count(expected: int, value: Value) -> tuple[bool, str]:
    count, note = as_count(value)
    return count is not None and count == int(expected), note


def check_array(expected: np.ndarray, value: Value, tolerance: tuple[float, float]) -> tuple[bool, str]:
    got = as_array(value)
    if got is None:
        return False, NOTES["not_an_array"].format(type_name=describe_type(value))
    if got.shape != expected.shape:
        return False, NOTES["shape"].format(got=got.shape, expected=expected.shape)
    return arrays_agree(got, expected, *tolerance), ""


def check_module(expected: Mapping[str, object], value: Value) -> tuple[bool, str]:
    """A module's report: the parameter count exactly, then the output shape."""
    if not isinstance(value, Mapping) or "parameters" not in value:
        return False, NOTES["not_a_module_report"]
    passed, note = check_count(int(expected["parameters"]), value["parameters"])  # type: ignore[arg-type, call-overload]
    if "output_shape" in expected:
        got_shape = tuple(int(size) for size in value.get("output_shape", ()))  # type: ignore[union-attr, attr-defined]
        wanted = tuple(int(size) for size in expected["output_shape"])  # type: ignore[union-attr, attr-defined]
        if got_shape != wanted:
            return False, NOTES["output_shape"].format(got=got_shape, expected=wanted)
    return passed, note


def check_case(key: ProblemKey, index: int, case: Case, expected: Value,
               result: CallResult | None, problem_error: ExecutionError | None) -> CaseCheck:
    """One case: an error or a missing value fails with its reason; otherwise compare by kind."""
    if result is None:
        return CaseCheck(index, case, expected, None, False, error=problem_error or NO_RESULT)
    if result.error is not None:
        return CaseCheck(index, case, expected, result.value, False, error=result.error)
    if result.value is None:
        return CaseCheck(index, case, expected, None, False, note=NOTES["none"], error=RETURNED_NONE)
    if key.kind == "count":
        passed, note = check_count(int(expected), result.value)  # type: ignore[arg-type]
    elif key.kind == "array":
        passed, note = check_array(np.asarray(expected), result.value, key.tolerance)
    else:
        passed, note = check_module(expected, result.value)  # type: ignore[arg-type]
    if passed and result.mutated_input:
        note = "; ".join(filter(None, (note, NOTES["mutated"])))
    return CaseCheck(index, case, expected, result.value, passed, note=note)


def agreement(checks: list[CaseCheck], tolerance: tuple[float, float]) -> tuple[bool, float]:
    """Whether every answered array case agrees with its expected value at `tolerance`, and the
    largest absolute difference where both are finite (one comparison over all cases at once)."""
    pairs = [(as_array(c.got), np.asarray(c.expected, dtype=np.float64)) for c in checks if c.error is None]
    if not pairs or any(got is None or got.shape != expected.shape for got, expected in pairs):
        return False, float("inf")
    got = np.concatenate([got.ravel() for got, _ in pairs])  # type: ignore[union-attr]
    expected = np.concatenate([expected.ravel() for _, expected in pairs])
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(got) & np.isfinite(expected)
        difference = float(np.max(np.abs(got[finite] - expected[finite]), initial=0.0))
    return arrays_agree(got, expected, *tolerance), difference


def precision_note(key: ProblemKey, check: ProblemCheck) -> str:
    """For a right array answer that float64 arithmetic would have beaten: the note that the
    rubric's looser precision accepted it (a float32 torch softmax), so nobody wonders."""
    strict = PRECISIONS["float64"]
    if key.kind != "array" or (key.tolerance[0] <= strict[0] and key.tolerance[1] <= strict[1]):
        return ""
    scored = [c for c in check.checks if c.case.tag not in UNSCORED_TAGS]
    strictly, difference = agreement(scored, strict)
    if strictly or difference == float("inf"):
        return ""
    return NOTES["float32_accepted"].format(difference=difference, precision=key.precision,
                                            rtol=key.tolerance[0], atol=key.tolerance[1])


#: An allocation failure that reached the student's code as an ordinary exception, in the words
#: of torch ("DefaultCPUAllocator: can't allocate memory: you tried to allocate 2466250752
#: bytes"), CUDA ("CUDA out of memory") or C++ ("std::bad_alloc").
ALLOCATION_FAILURE = re.compile(r"can't allocate memory|cannot allocate memory|out of memory|bad_alloc|"
                                r"unable to allocate", re.IGNORECASE)


def resource_kind(error: ExecutionError | None) -> str | None:
    """"memory" or "timeout" when `error` is a resource limit, not a fault of the formula."""
    if error is None:
        return None
    if error.kind in ("memory", "timeout"):
        return error.kind
    if error.kind == "exception" and ALLOCATION_FAILURE.search(error.message):
        return "memory"
    return None


@dataclass(frozen=True)
class ResourceStop:
    """A problem right on every case it finished, stopped by memory or time on its most
    expensive case(s): what scoring grades as a resource limit, not a wrong answer."""

    kind: str  # "memory" or "timeout"
    stopped: tuple[CaseCheck, ...]  # the scored cases the limit stopped
    unrun: int  # scored cases never started: the stopped process took them with it


def resource_stop(check: ProblemCheck, outcome: ProblemOutcome) -> ResourceStop | None:
    """The resource story of a problem, or None when any finished case is wrong, when nothing
    finished, or when a stopped case is cheaper than one that finished (then the size of the
    case cannot be what stopped it: a MemoryError on a small case is a bug)."""
    killed = outcome.error if resource_kind(outcome.error) else None
    finished: list[CaseCheck] = []
    stopped: list[CaseCheck] = []
    unrun, stopped_here = 0, False
    for case_check in check.checks:
        unscored = case_check.case.tag in UNSCORED_TAGS
        if killed is not None and case_check.error == killed:
            # The sandbox fills a stopped problem's remaining cases with its error: the first
            # is the case it was stopped on, the others never started.
            if not stopped_here:
                stopped.append(case_check)
                stopped_here = True
            elif not unscored:
                unrun += 1
            continue
        if unscored:
            continue
        if case_check.passed:
            finished.append(case_check)
        elif resource_kind(case_check.error):
            stopped.append(case_check)
        else:
            return None
    scored_stops = tuple(c for c in stopped if c.case.tag not in UNSCORED_TAGS)
    if not finished or not stopped or not _costlier(scored_stops, finished):
        return None
    kind = resource_kind(stopped[0].error) or "memory"
    return ResourceStop(kind, scored_stops, unrun)


def _costlier(stopped: Sequence[CaseCheck], finished: Sequence[CaseCheck]) -> bool:
    """Whether every stopped case is at least as large as every finished one (by the size of
    its largest tensor; stress cases, the large ones by design, where a case has no size)."""
    if any(c.case.footprint is None for c in (*stopped, *finished)):
        return all(c.case.tag == "stress" for c in stopped)
    largest_finished = max(c.case.footprint.values for c in finished)  # type: ignore[union-attr]
    return all(c.case.footprint.values >= largest_finished for c in stopped)  # type: ignore[union-attr]


def check(key: ProblemKey, outcome: ProblemOutcome) -> ProblemCheck:
    """Compare every case of a problem; a student's failure is recorded, never raised."""
    checks = []
    for index, (case, expected) in enumerate(zip(key.cases, key.expected)):
        result = outcome.results[index] if index < len(outcome.results) else None
        checks.append(check_case(key, index, case, expected, result, outcome.error))
    return ProblemCheck(key.problem_id, tuple(checks))
