"""The way out: `grader feedback OUT --to DIR` -- what students and the LMS receive.

One self-contained page per student holding their own results only, with replay commands
that work from their own repository (`grader replay hw1.ipynb p3b --args ... --bundle
public.json`; a hidden case has no public answer to replay against, so its inputs are shown
instead), no link to the class dashboard, and no path of the instructor's machine. Beside the
pages, the grade upload file of each LMS asked for (`lms_exports.py`).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from grader.errors import UsageError
from grader.stages.intake import StudentRecord, read_record
from grader.models import FailingCase, SubmissionResult, Verdict
from grader.outputs.reports import lms_exports
from grader.outputs.reports.formatting import points
from grader.outputs.reports.html import render_student_page
from grader.outputs.reports.serialize import summary_from_data
from grader.outputs.reports.statistics import titles_of

#: Cases whose expected values are in the public bundle a student's checker reads.
PUBLIC_TAGS = ("public", "stress")
BUNDLE_NAME = "public.json"
#: An absolute path's folders ("/home/prof/course/out/intake/ada/"): on a released page only the
#: file name after them stays. Student text may name paths too; a file name is all it needs.
ABSOLUTE_FOLDERS = re.compile(r"(?<![\w.~-])(?:/[^\s/'\"<>:;,()]+)+/(?=[^\s/'\"<>]*)")


@dataclass(frozen=True)
class Release:
    """What `grader feedback` wrote."""

    pages: tuple[Path, ...]
    upload_files: tuple[Path, ...]
    no_submission: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def without_paths(text: str) -> str:
    """`text` with every absolute folder path cut down to what follows it."""
    return ABSOLUTE_FOLDERS.sub("", text)


def student_replay(command: str, tag: str) -> str:
    """An instructor's replay command as the student can run it in their repository, or "" for
    a case their public bundle does not hold."""
    if tag not in PUBLIC_TAGS:
        return ""
    try:
        words = shlex.split(command)
    except ValueError:
        return ""
    if len(words) < 6 or words[:2] != ["grader", "replay"] or "--args" not in words:
        return ""
    target = Path(words[2])
    # The instructor graded `.../intake/ada/` (a folder: the student's repository) or `.../ada.py`.
    local = target.name if target.suffix in (".py", ".ipynb") else "."
    arguments = words[words.index("--args") + 1]
    return (f"grader replay {shlex.quote(local)} {shlex.quote(words[3])} --args {shlex.quote(arguments)} "
            f"--bundle {BUNDLE_NAME}")


def released_case(case: FailingCase) -> FailingCase:
    return replace(case, replay=student_replay(case.replay, case.tag),
                   got=without_paths(case.got) if isinstance(case.got, str) else case.got)


def released_verdict(verdict: Verdict) -> Verdict:
    error = verdict.error
    if error is not None:
        error = replace(error, message=without_paths(error.message), detail=without_paths(error.detail))
    return replace(verdict, failing=tuple(released_case(case) for case in verdict.failing), error=error,
                   explanation=without_paths(verdict.explanation),
                   notes=tuple(without_paths(note) for note in verdict.notes))


def released_result(result: SubmissionResult) -> SubmissionResult:
    """The result as its student may see it: their own, with no path of the grading machine."""
    error = result.error
    if error is not None:
        error = replace(error, message=without_paths(error.message), detail=without_paths(error.detail))
    return replace(result, verdicts=tuple(released_verdict(verdict) for verdict in result.verdicts), error=error,
                   notes=tuple(without_paths(note) for note in result.notes),
                   stdout=without_paths(result.stdout), stderr=without_paths(result.stderr))


def feedback_summary(result: SubmissionResult) -> str:
    """One line for an LMS's feedback column: total, each problem's status, lateness."""
    parts = [f"{points(result.total)}/{points(result.max_score)}"]
    parts += [f"{verdict.problem_id} {verdict.status}" for verdict in result.verdicts]
    if result.late_note:
        parts.append(result.late_note)
    return "; ".join(parts)


def release(out: Path, to: Path, lms: Sequence[str] = ("auto",), assignment: str = "",
            canvas_assignment_id: str = "") -> Release:
    """Write DIR/students/ID.html for every graded student and the LMS upload files."""
    out, to = Path(out), Path(to)
    results_file = out / "results.json"
    if not results_file.exists():
        raise UsageError(f"{out}: no results.json here", hint=f"run `grader run SUBMISSIONS --out {out}` first")
    if to.resolve() == out.resolve() or to.resolve().is_relative_to(out.resolve()):
        raise UsageError(f"--to {to} is inside the instructor's output folder {out}",
                         hint="release into a folder of its own, e.g. --to feedback/")
    try:
        summary = summary_from_data(json.loads(results_file.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{results_file}: unreadable ({error!r})",
                         hint=f"run `grader report {out}` to write it again from the gradebook") from None
    detected, records = read_record(out)
    titles = titles_of(summary)
    try:
        to.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--to {to}: cannot create it ({error.strerror})") from None
    pages = tuple(render_student_page(released_result(result), titles, to, release=True,
                                      display_name=_display_name(result.student_id, records))
                  for result in summary.results)
    results = {result.student_id: result for result in summary.results}
    wanted = _chosen(lms, detected)
    warnings = []
    if "canvas" in wanted and not any(record.lms_user_id for record in records.values()):
        warnings.append("the Canvas file has no Canvas user ids (this run was not read from a Canvas export): "
                        "fill the ID column or import by SIS User ID")
    title = assignment or str(summary.rubric.get("title", "") or "grader")
    column = f"{title} ({canvas_assignment_id})" if canvas_assignment_id else title
    maximum = max((result.max_score for result in summary.results), default=0.0)
    written = []
    for name in wanted:
        path = to / lms_exports.FILE_NAMES[name]
        if name == "canvas":
            written.append(lms_exports.canvas_csv(path, results, records, column))
        elif name == "gradescope":
            written.append(lms_exports.gradescope_csv(path, results, records))
        else:
            summaries = {student: feedback_summary(result) for student, result in results.items()}
            written.append(lms_exports.moodle_csv(path, results, records, summaries, maximum))
    missing = tuple(student for student, record in records.items() if record.status == "no submission")
    return Release(pages=pages, upload_files=tuple(written), no_submission=missing, warnings=tuple(warnings))


def _display_name(student: str, records: Mapping[str, StudentRecord]) -> str:
    record = records.get(student)
    return f"{record.name} ({student})" if record and record.name and record.name != student else student


def _chosen(lms: Sequence[str], detected: str) -> list[str]:
    """The LMS files to write: those named, with "auto" meaning the export's own LMS."""
    chosen: list[str] = []
    for name in lms:
        if name == "auto":
            name = detected if detected in lms_exports.FILE_NAMES else "none"
        if name != "none" and name not in chosen:
            chosen.append(name)
    return chosen
