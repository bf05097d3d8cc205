"""Time the torch CNN checks on the CPU and, where torch sees CUDA, on the GPU (issue 6).

    .venv/bin/python bench/gpu.py [--count 200] [--devices cpu cuda]

Two checks, each timed once per device:
- the reference: `grader reference verify --count N --device D`, Problem 2's closed form
  against torch (modules built, forward passes run where a network is small enough);
- the students: a class of N module submissions defining `build_cnn` (a third of them with
  a catalogued mistake), graded by `grader run --only p2-torch --device D` under the default
  rubric with p2-torch enabled. Each child builds the student's network and runs it on D.

A device torch cannot use is recorded as skipped, with the reason, not as a failure. Every
result is appended to bench/work/results.jsonl with the machine and commit (bench/run.py).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from measure import measure  # noqa: E402
from run import WORK, grader_command, record  # noqa: E402
from students import BUILD_CNN  # noqa: E402

#: Wrong networks as students build them, by the p2 catalog id each one commits.
MISTAKES = {
    "fc-no-bias": ("nn.Linear(width, h)", "nn.Linear(width, h, bias=False)"),
    "conv-no-bias": ("padding=(k - 1) // 2)", "padding=(k - 1) // 2, bias=False)"),
    "output-no-bias": ("nn.Linear(width, n_out)", "nn.Linear(width, n_out, bias=False)"),
}


def cnn_class(count: int, folder: Path, seed: int = 2024) -> Path:
    """`count` module submissions with `build_cnn`: two thirds right, a third with a mistake."""
    submissions = folder / "submissions"
    if len(list(submissions.glob("*.py"))) == count:
        return submissions
    shutil.rmtree(folder, ignore_errors=True)
    submissions.mkdir(parents=True)
    rng = random.Random(seed)
    for index in range(count):
        code = BUILD_CNN
        if rng.random() < 1 / 3:
            old, new = MISTAKES[rng.choice(sorted(MISTAKES))]
            code = code.replace(old, new)
        (submissions / f"student{index:04d}.py").write_text("import torch\nimport torch.nn as nn\n\n\n" + code)
    return submissions


def torch_rubric(folder: Path) -> Path:
    """The default rubric with the optional problem p2-torch switched on."""
    from grader.rubric import default_rubric_path

    text = default_rubric_path().read_text()
    switch = "[problems.p2-torch]\nenabled = false"
    if switch not in text:
        raise SystemExit(f"{default_rubric_path()}: no `{switch}` to switch on")
    path = folder / "rubric-p2-torch.toml"
    path.write_text(text.replace(switch, "[problems.p2-torch]\nenabled = true"))
    return path


def unavailable(device: str) -> str | None:
    """Why torch cannot run on `device` here, or None when it can."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA device on this machine"
    return None


def time_reference(count: int, device: str) -> None:
    import time

    from grader.commands.reference_tools import verify_closed_form

    started, cpu_started = time.perf_counter(), time.process_time()
    lines, agreed = verify_closed_form(count, device, seed=0)
    record("cnn-reference-verify", {
        "device": device, "count": count, "agreed": agreed, "lines": lines,
        "wall_seconds": round(time.perf_counter() - started, 2),
        "process_cpu_seconds": round(time.process_time() - cpu_started, 2)})


def time_students(count: int, device: str, jobs: int) -> None:
    folder = WORK / f"cnn-class-{count}"
    submissions = cnn_class(count, folder)
    out = WORK / f"out-cnn-{count}-{device}"
    shutil.rmtree(out, ignore_errors=True)
    command = grader_command(submissions, out, jobs, torch_rubric(folder)) + ["--only", "p2-torch", "--device", device]
    result = measure(command, cwd=ROOT, log=WORK / f"log-cnn-{device}.txt")
    record("cnn-students-build_cnn", {**result.as_data(), "device": device, "size": count, "jobs": jobs,
                                      "submissions_per_second": count / result.wall_seconds})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    parser.add_argument("--jobs", type=int, default=(os.cpu_count() or 1) + 1)
    arguments = parser.parse_args()
    for device in arguments.devices:
        reason = unavailable(device)
        if reason is not None:
            record("cnn-skipped", {"device": device, "reason": reason})
            continue
        time_reference(arguments.count, device)
        time_students(arguments.count, device, arguments.jobs)


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as error:
        raise SystemExit(f"bench/gpu.py: {error}") from None
