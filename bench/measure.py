"""Run a command and measure it as a user feels it: wall time, CPU time and peak memory.

CPU time is the rusage of the command and every descendant it reaped (os.wait4). Memory is
sampled from /proc over the whole process tree: the sum of PSS (proportional set size, so the
pages a forked sandbox child shares with its zygote count once) and, for reference, of RSS.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

SAMPLE_SECONDS = 0.05


@dataclass(frozen=True)
class Measurement:
    """One timed command."""

    command: str
    returncode: int
    wall_seconds: float
    user_seconds: float
    system_seconds: float
    peak_pss_mib: float
    peak_rss_mib: float
    peak_processes: int

    @property
    def cpu_seconds(self) -> float:
        return self.user_seconds + self.system_seconds

    def as_data(self) -> dict[str, object]:
        return {**asdict(self), "cpu_seconds": self.cpu_seconds}


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces or parentheses: fields start after the last ')'.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def _tree(root: int) -> list[int]:
    tree, found, stack = _children(), [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(tree.get(pid, ()))
    return found


def _memory_kib(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in KiB; (0, 0) when it has already gone."""
    pss = rss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return pss, rss


def measure(command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
            log: Path | None = None) -> Measurement:
    """Run `command` to its end; its output goes to `log` (or is discarded)."""
    output = open(log, "wb") if log else subprocess.DEVNULL
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
    peaks = {"pss": 0, "rss": 0, "processes": 0}
    finished = threading.Event()

    def sample() -> None:
        while not finished.is_set():
            pids = _tree(process.pid)
            totals = [_memory_kib(pid) for pid in pids]
            peaks["pss"] = max(peaks["pss"], sum(total[0] for total in totals))
            peaks["rss"] = max(peaks["rss"], sum(total[1] for total in totals))
            peaks["processes"] = max(peaks["processes"], len(pids))
            finished.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    finished.set()
    sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if log:
        output.close()  # type: ignore[union-attr]
    return Measurement(
        command=" ".join(command)[:300], returncode=process.returncode, wall_seconds=wall,
        user_seconds=usage.ru_utime, system_seconds=usage.ru_stime,
        peak_pss_mib=peaks["pss"] / 1024, peak_rss_mib=peaks["rss"] / 1024,
        peak_processes=peaks["processes"],
    )
