"""Run a command and measure it as a user feels it: wall time, CPU time and peak memory.

CPU time is counted three ways. `user_seconds`/`system_seconds`: the rusage of the command and
the descendants it reaped itself (os.wait4), which misses the pool workers (a forkserver
reaps them). `machine_busy_seconds`: how long the machine's CPUs were busy during the run
(/proc/stat), the honest total on an otherwise idle machine. `cpu_by_role`: the tree sampled
from /proc every 0.5 s, split into the command, the workers, the sandbox template (torch's
one import), the sandbox zygotes (their own time) and the sandbox children (the zygotes reap
them, so it is their cutime). Memory is sampled over the whole tree: the sum of PSS (proportional set size,
so the pages a forked child shares with its zygote count once) and, for reference, of RSS.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: Reading smaps_rollup walks a process's page tables: one pass over a run's tree costs ~20 ms of
#: CPU, so sampling every 50 ms (as the first session did) took ~20% of this 2-core machine
#: from the run it measured. Memory and role counters change slowly; 0.5 s is enough.
SAMPLE_SECONDS = 0.5
TICKS = os.sysconf("SC_CLK_TCK")


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
    machine_busy_seconds: float = 0.0
    sampler_cpu_seconds: float = 0.0  # this measurement's own share of `machine_busy_seconds`
    cpu_by_role: dict[str, float] = field(default_factory=dict)

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


def _busy_ticks() -> int:
    """Clock ticks the machine's CPUs spent on anything but idling, since boot."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # minus idle and iowait


SANDBOX = "grader.sandbox."  # the command of a zygote, of the template, and of their forks


def _cpu_ticks(pid: int) -> tuple[int, int, str, int] | None:
    """(own ticks, reaped children's ticks, command line, parent) of one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14]), command, int(fields[1])


def _roles(root: int, seen: dict[int, tuple[str, int]]) -> None:
    """Update `seen` (pid -> role, ticks; -pid for a zygote's reaped children) from /proc.

    The sandbox's processes share a command line, so depth tells them apart: an exec'd zygote
    is a worker's child and its children are runs; under a template (which imports torch once
    for all) the template's children are the zygotes and theirs are the runs."""
    commands: dict[int, str] = {}
    parents: dict[int, int] = {}
    for pid in _tree(root):
        ticks = _cpu_ticks(pid)
        if ticks is None:
            continue
        own, reaped, command, parent = ticks
        commands[pid], parents[pid] = command, parent
        if not command and pid in seen:
            role = seen[pid][0]  # a zombie's command line reads empty: it keeps its role
        elif pid == root:
            role = "command"
        elif SANDBOX in command:
            depth, ancestor = 0, parent
            while SANDBOX in commands.get(ancestor, ""):
                depth, ancestor = depth + 1, parents.get(ancestor, 0)
            is_template = "grader.sandbox.template" in command
            if depth == int(is_template):
                role = "sandbox zygotes"
            elif is_template and depth == 0:
                role = "sandbox template"
            else:
                continue  # a run: counted in its zygote's reaped time once it ends
        else:
            role = "workers"
        if role == "sandbox zygotes":
            seen[-pid] = ("sandbox children", max(reaped, seen.get(-pid, ("", 0))[1]))
        seen[pid] = (role, max(own, seen.get(pid, ("", 0))[1]))


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
    busy_before = _busy_ticks()
    seen: dict[int, tuple[str, int]] = {}

    sampler_cpu = 0.0

    def sample() -> None:
        nonlocal sampler_cpu
        while not finished.is_set():
            pids = _tree(process.pid)
            totals = [_memory_kib(pid) for pid in pids]
            peaks["pss"] = max(peaks["pss"], sum(total[0] for total in totals))
            peaks["rss"] = max(peaks["rss"], sum(total[1] for total in totals))
            peaks["processes"] = max(peaks["processes"], len(pids))
            _roles(process.pid, seen)
            sampler_cpu = time.thread_time()
            finished.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    busy = (_busy_ticks() - busy_before) / TICKS
    finished.set()
    sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if log:
        output.close()  # type: ignore[union-attr]
    return Measurement(
        command=" ".join(command)[:300], returncode=process.returncode, wall_seconds=wall,
        user_seconds=usage.ru_utime, system_seconds=usage.ru_stime,
        peak_pss_mib=peaks["pss"] / 1024, peak_rss_mib=peaks["rss"] / 1024,
        peak_processes=peaks["processes"], machine_busy_seconds=busy, sampler_cpu_seconds=sampler_cpu,
        cpu_by_role={role: round(sum(t for r, t in seen.values() if r == role) / TICKS, 2)
                     for role in ("command", "workers", "sandbox template", "sandbox zygotes", "sandbox children")},
    )
