"""Measure what the sandbox costs per submission: a plain fork against `Sandbox.execute`.

Usage: python bench/sandbox_cost.py [--runs 200] [--class-size 400]. Prints medians (ms)
and the throughput of two Sandboxes in two threads, as the local executor runs them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grader.models import CallPlan, Limits  # noqa: E402
from grader.sandbox import Sandbox  # noqa: E402
from grader.stages.submissions import load  # noqa: E402

HONEST = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "loading" / "honest_solution.py"
PLANS = (CallPlan("p1", ("mlp_params",), ("N", "L", "h", "n"),
                  tuple({"N": 8 + i, "L": 2, "h": 16, "n": 10} for i in range(20))),
         CallPlan("p3a", ("softmax",), ("z",), tuple({"z": np.linspace(-3, 3, 5 + i)} for i in range(20))))


def plain_fork_ms(runs: int) -> float:
    """fork, write 1 byte on a pipe, exit, wait: the floor any fork-server pays."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(write, b"x")
            os._exit(0)
        os.close(write)
        os.read(read, 1)
        os.close(read)
        os.waitpid(pid, 0)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def sandbox_ms(runs: int, preload_torch: bool) -> tuple[float, tuple[str, ...]]:
    submission = load(HONEST)
    with Sandbox(Limits(), preload_torch=preload_torch) as sandbox:
        sandbox.execute(submission, PLANS)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            sandbox.execute(submission, PLANS)
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000, sandbox.isolation


def throughput(class_size: int, workers: int) -> float:
    submission = load(HONEST)
    sandboxes = [Sandbox(Limits(), preload_torch=True) for _ in range(workers)]
    remaining = iter(range(class_size))
    lock = threading.Lock()

    def work(sandbox: Sandbox) -> None:
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            sandbox.execute(submission, PLANS)

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(sandbox,)) for sandbox in sandboxes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    for sandbox in sandboxes:
        sandbox.close()
    return class_size / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--class-size", type=int, default=400)
    arguments = parser.parse_args()
    print(f"plain fork (this process):        {plain_fork_ms(arguments.runs):6.1f} ms")
    for torch_loaded in (False, True):
        cost, layers = sandbox_ms(arguments.runs, torch_loaded)
        print(f"Sandbox.execute, torch={torch_loaded!s:5}:  {cost:6.1f} ms  (40 cases; layers: {', '.join(layers)})")
    print(f"2 Sandboxes, 2 threads:           {throughput(arguments.class_size, 2):6.1f} submissions/s")


if __name__ == "__main__":
    main()
