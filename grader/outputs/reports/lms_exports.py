"""Grade upload files in the columns each LMS documents for its import.

- Canvas, Grades > Import: `Student, ID, SIS User ID, SIS Login ID, Section`, then one column
  per assignment named `Assignment Name (assignment id)`; Canvas matches rows by the student's
  name, ID or SIS User ID, and columns by the id in parentheses. (Canvas Instructor Guide, "How
  do I import grades in the Gradebook?"; Ohio State's "Import a CSV file to Carmen grades" lists
  the same required columns: name or ID or SIS User ID, SIS Login ID, Section, assignment.)
- Gradescope, an assignment's "Upload scores" / roster CSV: `Name, SID, Email`, then the score
  column, here `Total Score`. (Gradescope Help, "Uploading scores for an assignment".)
- Moodle, Assignment > "Upload grading worksheet" (assignfeedback_offline): `Identifier, Full
  name, Email address, Status, Grade, Maximum Grade, Grade can be changed, Last modified
  (submission), Last modified (grade), Feedback comments`; rows are matched by Identifier,
  "Participant N", and dates read like "Wednesday, September 23, 2020, 9:00 PM".
  (mod/assign/feedback/offline, importgradeslib.php; the same ten columns are what the public
  worksheet tools check for. Moodle adds "ID number", "Group" or "Online text" only when those
  are enabled, and the import ignores columns it does not know.)

A student with no submission gets an empty grade: an empty cell leaves the LMS's grade as it
is (a 0 would overwrite an extension the instructor granted there).
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path

from grader.stages.intake import StudentRecord
from grader.models import SubmissionResult
from grader.outputs.reports.exports import _spreadsheet_safe
from grader.outputs.reports.formatting import points

CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
GRADESCOPE_COLUMNS = ("Name", "SID", "Email", "Total Score")
MOODLE_COLUMNS = ("Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                  "Grade can be changed", "Last modified (submission)", "Last modified (grade)", "Feedback comments")
FILE_NAMES = {"canvas": "canvas-grades.csv", "gradescope": "gradescope-scores.csv",
              "moodle": "moodle-grading-worksheet.csv"}


def _rows(results: Mapping[str, SubmissionResult], records: Mapping[str, StudentRecord]
          ) -> list[tuple[str, StudentRecord | None, SubmissionResult | None]]:
    """Every student once: the graded ones, then those with no submission, in id order."""
    ids = sorted(set(results) | set(records))
    return [(student, records.get(student), results.get(student)) for student in ids]


def _write(path: Path, header: Sequence[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        # Names and ids come from students and exports: never a formula. "-" is Moodle's own "never".
        writer.writerows([[cell if cell == "-" else _spreadsheet_safe(cell) for cell in row] for row in rows])
    return path


def canvas_csv(path: Path, results: Mapping[str, SubmissionResult], records: Mapping[str, StudentRecord],
               column: str) -> Path:
    rows = []
    for student, record, result in _rows(results, records):
        rows.append([record.name if record and record.name else student,
                     record.lms_user_id if record else "", record.sid if record else "",
                     "", record.section if record else "",
                     points(result.total) if result is not None else ""])
    return _write(path, (*CANVAS_COLUMNS, column), rows)


def gradescope_csv(path: Path, results: Mapping[str, SubmissionResult], records: Mapping[str, StudentRecord]) -> Path:
    rows = []
    for student, record, result in _rows(results, records):
        score = points(result.total) if result is not None else ""
        members = record.members if record and record.members else ()
        if members:  # a group submission: every member gets the group's score
            rows += [[member.name or member.student_id, member.sid, member.email, score] for member in members]
        else:
            rows.append([record.name if record and record.name else student, record.sid if record else "",
                         record.email if record else "", score])
    return _write(path, GRADESCOPE_COLUMNS, rows)


def moodle_csv(path: Path, results: Mapping[str, SubmissionResult], records: Mapping[str, StudentRecord],
               summaries: Mapping[str, str], maximum: float) -> Path:
    now = datetime.datetime.now()
    graded_at = f"{now:%A, %B} {now.day}, {now:%Y}, {int(now.strftime('%I'))}:{now:%M %p}"  # as Moodle writes it
    rows = []
    for student, record, result in _rows(results, records):
        rows.append([f"Participant {record.lms_user_id}" if record and record.lms_user_id else student,
                     record.name if record and record.name else student, record.email if record else "",
                     "Submitted for grading" if result is not None else "No submission",
                     f"{result.total:.2f}" if result is not None else "", f"{maximum:.2f}", "Yes",
                     record.submitted_at if record and record.submitted_at else "-",
                     graded_at if result is not None else "-", summaries.get(student, "")])
    return _write(path, MOODLE_COLUMNS, rows)
