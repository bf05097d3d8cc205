"""Read and evaluate formulas in a separate, bounded process that holds no answer key.

The grader sends {"jobs": [{problem_id, pieces, spec, cases}]} on stdin (or, in a separate
process, symbolic jobs {problem_id, pieces, spec, reference} that carry the published closed
form and no case, so no process ever holds both cases and answers); the worker answers
one JSON object per job. The process gets CPU, address-space, file-size and process-count
rlimits before it reads a byte, and the grader kills it at a wall-clock limit: a formula
that slips past the static guards (a pathological parse, a slow evaluation) costs its
student a `review`, never the run. Only case arguments cross in, never expected values.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

#: Per worker process (a whole submission's formulas): CPU seconds, address space, wall clock.
CPU_SECONDS = 10
MEMORY_BYTES = 1 << 30
WALL_SECONDS = 20.0
#: The folder holding the `grader` package, for the worker's import path.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent


def limit_process() -> None:
    """rlimits of the worker (applied in the child, before it reads any formula)."""
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    except (ValueError, OSError):  # root may not lower it below the running count on some kernels
        pass


def run_job(job: Mapping[str, Any]) -> dict[str, Any]:
    """One problem's formula: its reading, MathML and values, or why it cannot be read."""
    from grader.formulas.evaluate import CaseError
    from grader.formulas.grammar import FormulaError
    from grader.formulas.mathml import to_mathml
    from grader.formulas.reading import evaluate_cases, read
    from grader.formulas.symbols import Spec

    spec = Spec(**{**job["spec"], "variables": tuple(job["spec"]["variables"]), "vectors": tuple(job["spec"]["vectors"])})
    answer: dict[str, Any] = {"problem_id": job["problem_id"], "failure": None, "text": "", "mathml": "", "notes": []}
    if "reference" in job:  # a symbolic comparison: no cases are sent with it
        from grader.formulas.symbolic import compare
        try:
            answer["symbolic"] = compare(read(job["pieces"], spec), read(job["reference"], spec), spec)
        except (FormulaError, RecursionError) as error:
            answer["symbolic"] = f"sympy: no symbolic comparison ({error})"
        return answer
    try:
        reading = read(job["pieces"], spec)
        answer.update(text=reading.text, mathml=to_mathml(reading.tree),
                      notes=[[note.text, note.lossy] for note in reading.notes])
        values = evaluate_cases(reading, spec, job["cases"])
    except FormulaError as error:
        answer["failure"] = str(error)
        return answer
    except RecursionError:
        answer["failure"] = "the formula is nested too deeply to read"
        return answer
    answer["values"] = [{"error": str(value)} if isinstance(value, CaseError) else {"value": value} for value in values]
    return answer


def main() -> None:
    limit_process()
    sys.set_int_max_str_digits(2_000)
    request = json.loads(sys.stdin.read())
    for job in request["jobs"]:
        print(json.dumps(run_job(job)), flush=True)


def plain_case(arguments: Mapping[str, object]) -> dict[str, object]:
    return {name: value.tolist() if hasattr(value, "tolist") else value for name, value in arguments.items()}


def spec_data(spec: object) -> dict[str, Any]:
    data = asdict(spec)  # type: ignore[call-overload]
    return {**data, "aliases": dict(data["aliases"])}


def run_jobs(jobs: Sequence[dict[str, Any]], wall_seconds: float = WALL_SECONDS) -> dict[str, dict[str, Any]]:
    """Each job's answer by problem id. A worker that dies or overruns is retried one job at a
    time, so only the formula that caused it is refused, with the reason."""
    answers = _run(jobs, wall_seconds)
    if answers is not None or len(jobs) == 0:
        return answers or {}
    results = {}
    for job in jobs:
        single = _run([job], wall_seconds)
        results[job["problem_id"]] = single[job["problem_id"]] if single else {
            "problem_id": job["problem_id"], "failure": _LAST_FAILURE.get("reason", "the formula reader failed"),
            "text": "", "mathml": "", "notes": []}
    return results


_LAST_FAILURE: dict[str, str] = {}


def _run(jobs: Sequence[dict[str, Any]], wall_seconds: float) -> dict[str, dict[str, Any]] | None:
    # -I: no PYTHON* variables, no user site, no script folder; the package's own root is put
    # first on the path explicitly, so an uninstalled checkout works as an installed one.
    environment = {"PATH": os.environ.get("PATH", "/usr/bin")}
    code = f"import sys; sys.path.insert(0, {str(PACKAGE_ROOT)!r}); from grader.formulas.worker import main; main()"
    try:
        completed = subprocess.run([sys.executable, "-I", "-c", code],
                                   input=json.dumps({"jobs": list(jobs)}), capture_output=True, text=True,
                                   timeout=wall_seconds, env=environment, cwd="/")
    except subprocess.TimeoutExpired:
        _LAST_FAILURE["reason"] = f"reading the formula took over {wall_seconds:g} s of wall-clock time; it was stopped"
        return None
    if completed.returncode != 0:
        reason = describe_exit(completed.returncode, completed.stderr)
        _LAST_FAILURE["reason"] = reason
        return None
    answers = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    return {answer["problem_id"]: answer for answer in answers}


def describe_exit(code: int, stderr: str) -> str:
    if code in (-9, -24) or "CPU" in stderr:  # SIGKILL / SIGXCPU at the CPU limit
        return f"reading the formula used over {CPU_SECONDS} s of CPU time; it was stopped"
    if "MemoryError" in stderr:
        return f"reading the formula needed over {MEMORY_BYTES >> 20} MiB of memory; it was stopped"
    return f"the formula reader stopped (exit {code}): {stderr.strip().splitlines()[-1][:120] if stderr.strip() else ''}"
