"""Grader CPU spent diagnosing one submission (all problems), measured apart from execution.

    .venv/bin/python bench/diagnosis_cost.py [--count 200]

Runs the synthetic class through the sandbox once to collect each problem's key and check,
then times `diagnosis.diagnose` alone over them with `time.process_time` (CPU, not wall), and
the checking and key building beside it. Issue target: diagnosis under 5 ms per submission.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from run import a_class  # noqa: E402  (bench/run.py: the cached synthetic class)
from grader.stages import checking, diagnosis  # noqa: E402
from grader.stages.pipeline import Grader, Settings, call_plans  # noqa: E402
from grader.rubric import default_rubric_path  # noqa: E402
from grader.stages.submissions import load  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200)
    arguments = parser.parse_args()
    entries = sorted((a_class(1000) / "submissions").iterdir())[: arguments.count]
    collected = []
    key_seconds = []
    # An explicit seed: a benchmark needs no course secret (the cost is the same for any seed).
    with Grader(Settings(rubric_path=default_rubric_path(), seed=1 << 200)) as grader:
        for entry in entries:
            submission = load(entry)
            started = time.process_time()
            keys = grader.keys_for(submission.student_id)
            key_seconds.append(time.process_time() - started)
            report = grader.sandbox.execute(submission, call_plans(keys, "cpu"))
            if report.load_error is None:
                collected.append([(key, report.outcomes[key.problem_id]) for key in keys])
    check_seconds, diagnosis_seconds, wrong = [], [], 0
    for problems in collected:
        started = time.process_time()
        checks = [(key, checking.check(key, outcome)) for key, outcome in problems]
        check_seconds.append(time.process_time() - started)
        started = time.process_time()
        findings = [diagnosis.diagnose(key, check) for key, check in checks]
        diagnosis_seconds.append(time.process_time() - started)
        wrong += any(finding.misconceptions or finding.explanation for finding in findings)

    def line(name: str, seconds: list[float]) -> str:
        ordered = sorted(seconds)
        return (f"{name:<28} median {1000 * statistics.median(seconds):6.2f} ms   "
                f"p95 {1000 * ordered[int(0.95 * (len(ordered) - 1))]:6.2f} ms   "
                f"max {1000 * ordered[-1]:6.2f} ms")

    print(f"{len(collected)} submissions that loaded ({wrong} with at least one wrong problem), grader CPU per submission:")
    print(line("build keys (all problems)", key_seconds))
    print(line("check (all problems)", check_seconds))
    print(line("diagnose (all problems)", diagnosis_seconds))


if __name__ == "__main__":
    main()
