"""The grader's wall clock for one stage of a child: a backstop that never ends honest work.

A stage's limit is CPU time, kept by the child itself. The wall clock here only ends code
that sleeps or waits: when its period passes, a child that has been computing (it got at
least `BUSY_SHARE` of a CPU since the last look) is left to its CPU clock for another period,
however busy the machine; an idle one is stopped. On a machine five times oversubscribed an
honest student's 4 s of CPU took more than a 17 s wall clock (a fixed backstop, before this).
"""

from __future__ import annotations

import os
import time

#: Share of one CPU a child must have used over a period to count as computing, not sleeping.
BUSY_SHARE = 0.05
#: Periods a computing child may be given in all (RLIMIT_CPU caps its CPU time anyway).
MAX_PERIODS = 8
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def wall_clock_backstop(cpu_seconds: float) -> float:
    """One period of the wall clock for a stage of `cpu_seconds` of CPU time."""
    return 3 * cpu_seconds + 5


def cpu_seconds_used(pid: int) -> float | None:
    """The process's user + system time so far (every thread), None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after the name, which may hold anything
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND


class StageClock:
    """The wall-clock deadline of the stage a child is in, extended while it computes."""

    def __init__(self, pid: int | None, cpu_limit: float) -> None:
        self.pid = pid
        self.restart(cpu_limit)

    def restart(self, cpu_limit: float) -> None:
        """A new stage begins now, with `cpu_limit` seconds of CPU time."""
        self.period = wall_clock_backstop(cpu_limit)
        self.deadline = time.monotonic() + self.period
        self.periods = 1
        self.cpu_then = self.cpu_now()
        self.looked_at = time.monotonic()

    def grace(self, seconds: float) -> None:
        """A fixed `seconds` from now, never extended (a child that finished, on its way out)."""
        self.deadline, self.periods = time.monotonic() + seconds, MAX_PERIODS

    def cpu_now(self) -> float | None:
        return cpu_seconds_used(self.pid) if self.pid is not None else None

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def expired(self) -> bool:
        """Whether the stage's wall clock has run out: its period passed while it was idle."""
        now = time.monotonic()
        if now < self.deadline:
            return False
        cpu = self.cpu_now()
        computing = (cpu is not None and self.cpu_then is not None
                     and cpu - self.cpu_then >= BUSY_SHARE * (now - self.looked_at))
        if computing and self.periods < MAX_PERIODS:
            self.periods += 1
            self.deadline, self.cpu_then, self.looked_at = now + self.period, cpu, now
            return False
        return True
