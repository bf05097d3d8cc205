"""Late submissions: the rubric's `[late]` policy and what it costs one submission.

    [late]
    due = 2026-10-01T23:59:00-04:00   # a TOML date-time (or the same text in quotes)
    penalty_per_day = 0.1             # fraction of the points per started day late
    grace_minutes = 15                # not late until this long after `due`
    max_days = 5                      # later than this: zero

A submission is late when its time (Gradescope's `created_at`, Blackboard's attempt time) is
past `due` plus the grace, or when the export itself says so (Canvas's `LATE_` in the file
name, which carries no time: counted as one started day, the least any late submission is).
Export times without a zone are read in `due`'s zone.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

from grader.rubric_validation import RubricTable


@dataclass(frozen=True)
class LatePolicy:
    due: datetime.datetime | None = None  # aware
    penalty_per_day: float = 0.0
    grace_minutes: float = 0.0
    max_days: float | None = None


@dataclass(frozen=True)
class Lateness:
    """How late one submission is and what it costs (a fraction of its total)."""

    late: bool
    days: int  # started days late (0 when on time, 1 for a Canvas LATE flag without a time)
    penalty: float  # 0.0 .. 1.0
    text: str  # "late by 1 day 3 hours: -10%"


ON_TIME = Lateness(False, 0, 0.0, "")


def read_policy(table: RubricTable) -> LatePolicy:
    """The `[late]` table, strictly: a typo gets its did-you-mean, a bad date its reason."""
    if not table.data:
        return LatePolicy()
    due_value = table.get("due", (datetime.datetime, datetime.date, str), None)
    due = None
    if due_value is not None:
        if isinstance(due_value, str):
            try:
                due_value = datetime.datetime.fromisoformat(due_value)
            except ValueError:
                raise table.fail("due", f"{due_value!r} is not a date and time",
                                 hint='write it as 2026-10-01T23:59:00-04:00') from None
        if not isinstance(due_value, datetime.datetime):
            raise table.fail("due", f"{due_value!r} is a date without a time",
                             hint="give the time and zone too: 2026-10-01T23:59:00-04:00")
        if due_value.tzinfo is None:
            raise table.fail("due", f"{due_value.isoformat()} has no time zone",
                             hint=f"add the zone, e.g. {due_value.isoformat()}-04:00 (or Z for UTC)")
        due = due_value
    policy = LatePolicy(due=due, penalty_per_day=table.number("penalty_per_day", 0.0, 0.0, 1.0),
                        grace_minutes=table.number("grace_minutes", 0.0, 0.0, 60 * 24 * 30),
                        max_days=table.get("max_days", (int, float), None))
    if policy.max_days is not None and policy.max_days < 0:
        raise table.fail("max_days", f"{policy.max_days!r} is negative")
    if (policy.penalty_per_day or policy.max_days is not None) and due is None:
        raise table.fail("due", "missing: a late penalty needs a due date", hint="add due = 2026-10-01T23:59:00-04:00")
    table.finish()
    return policy


def assess(policy: LatePolicy, submitted_at: datetime.datetime | None, late_flag: bool) -> Lateness:
    """What lateness costs one submission under `policy`."""
    seconds: float | None = None
    if submitted_at is not None and policy.due is not None:
        when = submitted_at if submitted_at.tzinfo else submitted_at.replace(tzinfo=policy.due.tzinfo)
        seconds = (when - policy.due).total_seconds()
        if seconds <= policy.grace_minutes * 60:
            return ON_TIME
    elif not late_flag:
        return ON_TIME
    days = 1 if seconds is None else max(1, math.ceil(seconds / 86400))
    if policy.max_days is not None and days > policy.max_days:
        penalty = 1.0
    else:
        penalty = min(1.0, days * policy.penalty_per_day)
    how = "marked late by the LMS" if seconds is None else f"late by {_duration(seconds)}"
    cost = f": -{penalty:.0%}" if penalty else " (no penalty set)"
    if penalty == 1.0 and policy.max_days is not None and days > policy.max_days:
        cost = f": more than {policy.max_days:g} days late, so no credit"
    return Lateness(True, days, penalty, how + cost)


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} day{'s' * (days != 1)}"] if days else []
    parts += [f"{hours} hour{'s' * (hours != 1)}"] if hours else []
    parts += [f"{minutes} minute{'s' * (minutes != 1)}"] if minutes and not days else []
    return " ".join(parts) or "less than a minute"

