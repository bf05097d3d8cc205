"""The class roster (`grader run --roster roster.csv`): who is enrolled, their names and emails.

Columns (header row required, any case, any order): `id` (required: the id a student is graded
under, or their SID, email or LMS id as the export knows them), `name`, `email`, `sid`,
`section`. A roster names students who handed in nothing; they appear as "no submission".
Every mistake names the file, the row and the column.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError, did_you_mean

COLUMNS = ("id", "name", "email", "sid", "section")
MAX_ROSTER_BYTES = 10_000_000


@dataclass(frozen=True)
class RosterStudent:
    student_id: str
    name: str = ""
    email: str = ""
    sid: str = ""
    section: str = ""

    def aliases(self) -> set[str]:
        return {alias.casefold() for alias in (self.student_id, self.email, self.sid) if alias}


def read_roster(path: Path) -> tuple[RosterStudent, ...]:
    """Every row of a roster CSV, checked; a UsageError names row and column of a mistake."""
    path = Path(path)
    hint = f"the header is {','.join(COLUMNS)} (only id is required)"
    try:
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise UsageError(f"--roster {path}: over {MAX_ROSTER_BYTES // 1_000_000} MB; not a class roster")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise UsageError(f"--roster {path}: cannot read it ({error.strerror})", hint=hint) from None
    except UnicodeDecodeError as error:
        raise UsageError(f"--roster {path}: not UTF-8 text (byte {error.start})",
                         hint="save the roster as CSV UTF-8") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise UsageError(f"--roster {path}: empty", hint=hint)
    header = [cell.strip().casefold() for cell in rows[0]]
    for position, column in enumerate(header, start=1):
        if column not in COLUMNS:
            raise UsageError(f"--roster {path}: row 1, column {position}: unknown column {rows[0][position - 1]!r}",
                             hint=did_you_mean(column, COLUMNS) or hint)
    if "id" not in header:
        raise UsageError(f"--roster {path}: row 1: no id column", hint=hint)
    students: list[RosterStudent] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise UsageError(f"--roster {path}: row {number}: {len(row)} cells but {len(header)} columns",
                             hint="quote a cell that holds a comma: \"Hopper, Grace\"")
        values = {column: (row[index].strip() if index < len(row) else "") for index, column in enumerate(header)}
        if not values["id"]:
            raise UsageError(f"--roster {path}: row {number}, column id: empty", hint="every student needs an id")
        key = values["id"].casefold()
        if key in seen:
            raise UsageError(f"--roster {path}: row {number}, column id: {values['id']!r} is also on row {seen[key]}",
                             hint="each student once")
        seen[key] = number
        email = values.get("email", "")
        if email and "@" not in email:
            raise UsageError(f"--roster {path}: row {number}, column email: {email!r} is not an email address")
        students.append(RosterStudent(student_id=values["id"], name=values.get("name", ""), email=email,
                                      sid=values.get("sid", ""), section=values.get("section", "")))
    return tuple(students)
