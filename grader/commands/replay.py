"""Replay one case of one problem on one submission: the command every failing case prints.

With the answer key installed the case may be any valid one (`replay_case`); in a student
repository it must be one of the public bundle's cases (`replay_from_bundle`), whose expected
value and misconception outputs the bundle carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from grader.stages import checking, diagnosis
from grader.outputs.bundle import Bundle
from grader.errors import UsageError, did_you_mean
from grader.models import Case, Limits, ProblemKey, case_identity
from grader.stages.pipeline import call_plans, needs_torch, resolve_device
from grader.rubric import Rubric
from grader.sandbox import Sandbox
from grader.stages.submissions import load


#: The largest whole number a case may hold: counts are computed in int64.
MAX_WHOLE = 10**6


def _argument(value: object) -> int | float | np.ndarray:
    """JSON lists become float64 arrays (logits, targets); numbers stay numbers. A ragged list,
    a bool, or a whole number past `MAX_WHOLE` (1e300 once overflowed inside the key) is refused."""
    if isinstance(value, list):
        try:
            array = np.asarray(value, dtype=np.float64)
        except (ValueError, TypeError):
            raise UsageError(f"--args: {value!r} is not a vector of numbers") from None
        if array.ndim != 1:
            raise UsageError(f"--args: {value!r} is not a vector (a flat list of numbers)")
        return array
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"--args values must be numbers or lists of numbers, not {value!r}")
    if abs(value) > MAX_WHOLE:
        raise UsageError(f"--args: {value:g} is larger than any case ({MAX_WHOLE:,} at most)")
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # `"N": 4.0` is N = 4
    if isinstance(value, float) and not np.isfinite(value):
        raise UsageError(f"--args: {value} is not a finite number")
    return value


def replay_case(path: Path, problem_id: str, arguments: Mapping[str, object], rubric: Rubric) -> list[str]:
    """Run the case in the sandbox and describe expected, got and any named mistake, as lines."""
    import reference
    from grader.stages import cases  # instructors only: the student checker has no case generator

    ids = [p.problem_id for p in rubric.problems]
    if problem_id not in ids:
        raise UsageError(f"{problem_id}: the rubric has no such problem",
                         hint=did_you_mean(problem_id, ids) or f"choose from {', '.join(ids)}")
    problem = reference.PROBLEMS[problem_id]
    missing = [name for name in problem.parameter_names if name not in arguments]
    unknown = [name for name in arguments if name not in problem.parameter_names]
    if missing or unknown:
        raise UsageError(f"--args for {problem_id} needs exactly {', '.join(problem.parameter_names)}"
                         + (f"; missing {', '.join(missing)}" if missing else "")
                         + (f"; unknown {', '.join(unknown)}" if unknown else ""))
    case = Case(problem_id=problem_id, arguments={k: _argument(v) for k, v in arguments.items()}, tag="hidden")
    fractional = [name for name, value in case.arguments.items() if problem.kind != "array" and type(value) is not int]
    if fractional:  # a count's parameters count things: N = 2.5 would be graded as N = 2
        raise UsageError(f"--args: {', '.join(fractional)} of {problem_id} must be whole numbers")
    policy = rubric.problem(problem_id)
    try:
        key = cases.key_for_cases(problem, policy, rubric.conventions, [case])
    except ValueError as error:  # reference.InvalidConfiguration: not a case at all
        raise UsageError(f"--args is not a valid {problem_id} case: {error}") from None
    return run_key(path, key, arguments, rubric.limits, resolve_device(rubric.device))


def replay_from_bundle(path: Path, problem_id: str, arguments: Mapping[str, object], bundle: Bundle) -> list[str]:
    """Replay one of the bundle's public cases (a student repository has no answer key)."""
    ids = [key.problem_id for key in bundle.keys]
    if problem_id not in ids:
        raise UsageError(f"{problem_id}: {bundle.path} has no such problem",
                         hint=did_you_mean(problem_id, ids) or f"choose from {', '.join(ids)}")
    key = bundle.keys[ids.index(problem_id)]
    wanted = case_identity({name: _argument(value) for name, value in arguments.items()})
    index = next((i for i, case in enumerate(key.cases) if case_identity(case.arguments) == wanted), None)
    if index is None:
        raise UsageError(f"--args is not one of the public cases of {problem_id} in {bundle.path}",
                         hint="replay a case that `grader check` printed; other cases need the instructor's grader")
    outputs = key.variant_outputs
    single = replace(key, cases=(key.cases[index],), expected=(key.expected[index],),
                     variant_outputs=outputs[:, [index]] if isinstance(outputs, np.ndarray)  # type: ignore[call-overload]
                     else [[row[index]] for row in outputs])  # type: ignore[union-attr, attr-defined]
    return run_key(path, single, arguments, bundle.limits, "cpu")


def run_key(path: Path, key: ProblemKey, arguments: Mapping[str, object], limits: Limits, device: str) -> list[str]:
    """Run a one-case key in the sandbox and describe expected, got and any named mistake."""
    problem_id = key.problem_id
    submission = load(path)
    with Sandbox(limits, preload_torch=needs_torch(submission, [key])) as sandbox:
        report = sandbox.execute(submission, call_plans([key], device))
    outcome = report.outcomes[problem_id]
    check = checking.check(key, outcome)
    found = diagnosis.diagnose(key, check)
    first = check.checks[0]
    lines = [f"{problem_id} ({key.title}) on {submission.student_id}, function {outcome.function_used or 'missing'}",
             f"  arguments: {dict(arguments)}",
             f"  expected:  {first.expected}",
             f"  got:       {first.got if first.error is None else first.error.message}",
             f"  verdict:   {'passed' if first.passed else 'failed'}" + (f" ({first.note})" if first.note else "")]
    if found.misconceptions:
        lines.append(f"  consistent with: {', '.join(found.misconceptions)}")
    if found.explanation:
        lines.append(f"  {found.explanation}")
    if report.stdout:
        lines.append("  printed: " + report.stdout[:2000])
    return lines
