"""Run an honest student fixture of `tests/fixtures/checking/` in-process, as the sandbox would.

The sandbox hands the grader plain data (ints, floats, float64 arrays); `plain_value` does the
same conversion here, so checking and diagnosis see what they would see in a run. Only honest
fixtures written for these tests are imported this way; a hostile one only ever runs sandboxed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from grader.stages import checking, diagnosis
from grader.models import (CallResult, Diagnosis, ExecutionError, ProblemCheck, ProblemKey, ProblemOutcome,
                           SourceUnit)

FIXTURES = Path(__file__).parent / "fixtures" / "checking"


def load_fixture(name: str) -> ModuleType:
    """Import `tests/fixtures/checking/<name>` as a module of its own."""
    path = FIXTURES / name
    spec = importlib.util.spec_from_file_location(f"fixture_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plain_value(value: Any) -> Any:
    """What the sandbox's conversion returns: tensors and lists become float64 arrays."""
    if value is None or isinstance(value, (int, float)):
        return value
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    return array.item() if array.ndim == 0 else np.asarray(array, dtype=np.float64)


def outcome_of(key: ProblemKey, module: ModuleType) -> ProblemOutcome:
    """The fixture's function for `key` called on every case; exceptions become error records."""
    function = getattr(module, key.function)
    results = []
    for case in key.cases:
        arguments = {name: value.copy() if isinstance(value, np.ndarray) else value
                     for name, value in case.arguments.items()}
        try:
            with np.errstate(all="ignore"):
                results.append(CallResult(value=plain_value(function(**arguments))))
        except Exception as error:  # a student's failure is data
            kind = "memory" if isinstance(error, MemoryError) else "exception"
            results.append(CallResult(error=ExecutionError(kind, f"{type(error).__name__}: {error}",
                                                           exception_type=type(error).__name__)))
    return ProblemOutcome(key.problem_id, key.function, tuple(results))


def units_of(name: str) -> tuple[SourceUnit, ...]:
    """The fixture as the loader hands a module to the pipeline: one unit of code."""
    return (SourceUnit(name, (FIXTURES / name).read_text()),)


def grade_fixture(key: ProblemKey, name: str) -> tuple[ProblemCheck, Diagnosis]:
    """Check and diagnose the fixture's function for `key`, its source at hand as in a run."""
    check = checking.check(key, outcome_of(key, load_fixture(name)))
    return check, diagnosis.diagnose(key, check, units_of(name), key.function)
