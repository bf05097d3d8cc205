"""Whole runs: grade a class into an output folder, or re-render it.

A class run discovers the submissions, skips those the gradebook already holds for this
rubric (a killed run continues where it stopped), grades the rest through an executor, stores
each result as it arrives, then writes every output from the gradebook. Progress goes to a
callback; this module never prints.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from grader import __version__
from grader.errors import SubmissionsError, UsageError
from grader.stages.intake import Intake, intake_summary, read_record, take_in, with_lateness, write_record
from grader.course_secret import fingerprint, resolve_secret
from grader.outputs.gradebook import Gradebook
from grader.models import GradingFault, RunSummary, SubmissionResult
from grader.stages.pipeline import Settings, resolve_device
from grader.outputs.reports import exports
from grader.outputs.reports.html import render_site, render_student_page
from grader.outputs.reports.statistics import titles_of
from grader.rubric import Rubric, load_rubric
from grader.stages.roster import RosterStudent
from grader.stages.submissions import load

GRADEBOOK_NAME = "gradebook.sqlite"
LOCK_NAME = ".grader-run.lock"
FAULTS_LOG_NAME = "grader-faults.log"

#: Called after each submission: (done, total, the result just stored, or None when it was
#: skipped or the grader failed on it).
Progress = Callable[[int, int, SubmissionResult | None], None]


@dataclass(frozen=True)
class RunOutcome:
    """What a class run produced: the summary and the files written."""

    summary: RunSummary
    written: tuple[Path, ...]
    graded: int  # graded now
    reused: int  # unchanged since an earlier run: taken from the gradebook
    faults: tuple[GradingFault, ...] = ()  # submissions the grader failed on: not graded
    faults_log: Path | None = None  # their tracebacks, for the bug report
    unreadable: tuple[str, ...] = ()  # entries that could not be read as a submission at all
    no_submission: tuple[str, ...] = ()  # on the roster, nothing handed in
    intake_notes: tuple[str, ...] = ()  # what the intake ignored, grouped or renamed
    lms: str = "folder"  # the export's layout


def hidden_paths(submissions: Path, out: Path, rubric_path: Path) -> tuple[Path, ...]:
    """Folders no student may read: the grader's own source, the rubric, the class, the outputs."""
    import grader
    import reference

    return tuple(path.resolve() for path in (
        Path(grader.__file__).parent, Path(reference.__file__).parent,
        rubric_path.parent, submissions, out,
    ))


def run_class(submissions: Path, out: Path, settings: Settings, *, jobs: int = 2,
              scheduler: str | None = None, progress: Progress | None = None,
              roster: Sequence[RosterStudent] | None = None) -> RunOutcome:
    """Grade every submission in a folder or LMS export (.zip) into `out` and write every report."""
    rubric = load_rubric(settings.rubric_path)
    device = resolve_device(settings.device)  # refuse --device cuda without CUDA before any work
    if not submissions.is_dir() and not (submissions.is_file() and submissions.suffix.lower() == ".zip"):
        raise SubmissionsError(f"submissions {submissions} does not exist or is not a folder or a .zip file",
                               hint="pass the folder or the .zip your LMS exported (one entry per student)")
    if settings.seed is None:  # no course secret is a usage error before any work too
        settings = replace(settings, seed=resolve_secret(settings.rubric_path).seed)
    prepare_output_folder(out, submissions)
    with hold_output_folder(out):
        intake = take_in(submissions, out, rubric.late, roster)
        write_record(intake, out)
        return _grade_class(submissions, intake, out, settings, rubric, device, jobs, scheduler, progress)


def _grade_class(submissions: Path, intake: Intake, out: Path, settings: Settings, rubric: Rubric,
                 device: str, jobs: int, scheduler: str | None, progress: Progress | None) -> RunOutcome:
    """`run_class` once the output folder is ready and this run's alone."""
    from grader.stages.executors import make_executor
    from grader.stages.workers import fault_data, from_data

    entries = list(intake.entries)
    # The sandbox hides folders: a zip's own folder may hold the grader's virtual environment
    # (hiding it would hide numpy), and what the zip held is staged inside `out`, hidden anyway.
    original = submissions if submissions.is_dir() else intake.folder
    seed = settings.seed if settings.seed is not None else resolve_secret(settings.rubric_path).seed
    settings = replace(settings, seed=seed, hidden_paths=hidden_paths(original, out, settings.rubric_path))
    # The secret by its fingerprint: the identity is stored in the gradebook and results.json.
    run_identity = f"{rubric.digest}:{fingerprint(seed)}:{','.join(settings.only)}:{__version__}"
    gradebook = Gradebook(out / GRADEBOOK_NAME)
    faults: list[GradingFault] = []
    try:
        todo = []
        student_ids = set()
        for entry in entries:
            try:
                submission = load(entry)
            except Exception as error:  # a grader bug on this entry's files: the class goes on
                faults.append(from_data(fault_data(entry, error)))  # type: ignore[arg-type]
                continue
            student_ids.add(submission.student_id)
            if not gradebook.is_current(submission.student_id, submission.digest, run_identity):
                todo.append(entry)
        reused = len(entries) - len(todo) - len(faults)
        done = reused + len(faults)
        if progress is not None:
            progress(done, len(entries), None)
        isolation: tuple[str, ...] = ()
        warnings: tuple[str, ...] = ()
        titles = misconception_titles(rubric)
        student_files: dict[str, tuple[Path, Path]] = {}
        if todo:
            executor = make_executor(jobs, scheduler)
            try:
                for result in executor.grade(settings, todo):
                    if isinstance(result, GradingFault):
                        faults.append(result)  # not stored: the next run tries it again
                        done += 1
                        if progress is not None:
                            progress(done, len(entries), None)
                        continue
                    gradebook.save(result, run_identity)  # as graded: lateness is applied on the way out
                    result = with_lateness(result, intake.record(result.student_id))
                    # A student's own files now, while the workers grade on: at the end they
                    # were a single-threaded tail of ~1.5 s per 1,000 students.
                    student_files[result.student_id] = write_student_files(result, out, titles)
                    isolation = isolation or result.isolation
                    done += 1
                    if progress is not None:
                        progress(done, len(entries), result)
                warnings = tuple(getattr(executor, "warnings", ()))
            finally:
                executor.close()
        results = tuple(with_lateness(r, intake.record(r.student_id))
                        for r in gradebook.results(run_identity) if r.student_id in student_ids)
    finally:
        gradebook.close()
    summary = RunSummary(
        rubric=dict(rubric.raw), seed=seed, results=results,
        isolation=isolation or next((r.isolation for r in results if r.isolation), ()),
        warnings=warnings + isolation_warnings(isolation),
        started=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        device=device,
        extra={"run_identity": run_identity, "misconception_titles": titles, "intake": intake_summary(intake)},
    )
    written = write_outputs(summary, out, student_files)
    graded = len(todo) - sum(1 for fault in faults if fault.entry in todo)
    return RunOutcome(summary=summary, written=written, graded=graded, reused=reused,
                      faults=tuple(faults), faults_log=write_faults_log(faults, out),
                      unreadable=tuple(r.student_id for r in results if r.error is not None
                                       and r.error.kind == "unreadable"),
                      no_submission=tuple(record.student_id for record in intake.students
                                          if record.status == "no submission"),
                      intake_notes=intake.notes, lms=intake.lms)


def prepare_output_folder(out: Path, submissions: Path) -> None:
    """Make OUT, or say why it cannot be: a UsageError, never an internal error."""
    if out.resolve().is_relative_to(submissions.resolve()):
        # The next run would grade the reports as a student named "out".
        raise UsageError(f"--out {out} is inside the submissions folder {submissions}",
                         hint="write the reports next to the class, e.g. --out out/")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / LOCK_NAME).touch()
    except OSError as error:  # a file of that name, a read-only disk, no permission
        raise UsageError(f"--out {out}: cannot write the output folder ({error.strerror})",
                         hint="choose a folder you may write to") from None


@contextlib.contextmanager
def hold_output_folder(out: Path) -> Iterator[None]:
    """An exclusive lock on OUT for the run's life: two runs into one folder each graded the
    whole class, and one left the other rubric's results behind. The kernel drops the lock of
    a dead process, so a run killed with -9 never blocks the next."""
    with open(out / LOCK_NAME, "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise UsageError(f"{out}: another `grader run` ({holder}) is writing to this folder",
                             hint="wait for it to finish, or choose another --out") from None
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        yield


def write_faults_log(faults: Sequence[GradingFault], out: Path) -> Path | None:
    """Each fault's submission and traceback in OUT/grader-faults.log (removed when none)."""
    log = out / FAULTS_LOG_NAME
    if not faults:
        log.unlink(missing_ok=True)  # a fixed grader's rerun must not show last run's faults
        return None
    log.write_text("".join(f"{fault.entry}\n{fault.traceback}\n" for fault in faults), encoding="utf-8")
    return log


def isolation_warnings(isolation: tuple[str, ...]) -> tuple[str, ...]:
    """The loud warning of DESIGN.md: without Landlock or a mount namespace, files are readable."""
    if not isolation:
        return ()
    if not any(layer.startswith(("landlock", "mount-namespace")) for layer in isolation):
        return ("Neither Landlock nor a mount namespace was in force: student code could read "
                "files on this machine, including other students' work.",)
    return ()


def write_student_files(result: SubmissionResult, out: Path, titles: Mapping[str, str]) -> tuple[Path, Path]:
    """One student's own outputs (their HTML page and Gradescope file), written as they are graded."""
    return render_student_page(result, titles, out), exports.write_gradescope_file(result, out / "gradescope", titles)


def write_outputs(summary: RunSummary, out: Path,
                  student_files: Mapping[str, tuple[Path, Path]] | None = None) -> tuple[Path, ...]:
    """Every output of a run, from its summary; `student_files` holds the per-student files
    `write_student_files` already wrote for these very results (the others are written here)."""
    student_files = student_files or {}
    titles = titles_of(summary)
    written = [exports.write_results_json(summary, out / "results.json"),
               exports.write_grades_csv(summary, out / "grades.csv")]
    written.extend(student_files[result.student_id][1] if result.student_id in student_files
                   else exports.write_gradescope_file(result, out / "gradescope", titles)
                   for result in summary.results)
    written.extend(render_site(summary, out, pages_written={
        student: files[0] for student, files in student_files.items()}))
    return tuple(Path(p) for p in written)


def previous_run(out: Path, rubric: Rubric) -> tuple[dict, str]:
    """OUT's results.json and the run identity its results are stored under in the gradebook."""
    import json

    results_file = out / "results.json"
    if not (out / GRADEBOOK_NAME).exists() or not results_file.exists():
        raise UsageError(f"{out}: no finished run here (no {GRADEBOOK_NAME} and results.json)",
                         hint=f"run `grader run SUBMISSIONS --out {out}` first")
    try:
        previous = json.loads(results_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{results_file}: unreadable ({error})",
                         hint=f"run `grader run SUBMISSIONS --out {out}` again: the gradebook keeps every "
                              "result, so nothing is regraded") from None
    if not isinstance(previous, dict) or not isinstance(previous.get("submissions", []), list):
        raise UsageError(f"{results_file}: not the results of a run",
                         hint=f"run `grader run SUBMISSIONS --out {out}` again: nothing is regraded")
    seed = int(previous.get("seed", 0))
    return previous, previous.get("run_identity") or f"{rubric.digest}:{fingerprint(seed)}::{__version__}"


def rerender(out: Path, rubric_path: Path) -> RunOutcome:
    """Re-render every output from the gradebook (after manual points), running nothing."""
    rubric = load_rubric(rubric_path)
    previous, identity = previous_run(out, rubric)
    seed = int(previous.get("seed", 0))
    with hold_output_folder(out):
        gradebook = Gradebook(out / GRADEBOOK_NAME)
        try:
            results = tuple(gradebook.results(identity))
        finally:
            gradebook.close()
        if not results and previous.get("submissions"):
            # An emptied or replaced gradebook: re-rendering would overwrite the only copy of
            # the results (results.json) with an empty class.
            raise UsageError(f"{out / GRADEBOOK_NAME} holds none of the {len(previous['submissions'])} results "
                             "that results.json lists; nothing was rewritten",
                             hint=f"restore the gradebook, or run `grader run SUBMISSIONS --out {out}` again")
        return _rerendered(out, rubric, seed, identity, previous, results)


def _rerendered(out: Path, rubric: Rubric, seed: int, identity: str, previous: dict,
                results: tuple[SubmissionResult, ...]) -> RunOutcome:
    _, records = read_record(out)
    results = tuple(with_lateness(result, records.get(result.student_id)) for result in results)
    extra: dict[str, object] = {"run_identity": identity, "misconception_titles": misconception_titles(rubric)}
    if "intake" in previous:
        extra["intake"] = previous["intake"]
    summary = RunSummary(rubric=dict(rubric.raw), seed=seed, results=results,
                         isolation=tuple(previous.get("isolation", ())),
                         warnings=tuple(previous.get("warnings", ())),
                         started=str(previous.get("started", "")), device=str(previous.get("device", "cpu")),
                         extra=extra)
    return RunOutcome(summary=summary, written=write_outputs(summary, out), graded=0, reused=len(results))


def misconception_titles(rubric: Rubric) -> dict[str, str]:
    """"p2:fc-F-minus-2" -> its title, for every problem of the rubric (reports name mistakes)."""
    import reference

    return {f"{policy.problem_id}:{entry.id}": entry.title
            for policy in rubric.problems for entry in reference.PROBLEMS[policy.problem_id].catalog}


def rubric_for(path: Path | None) -> Rubric:
    from grader.rubric import default_rubric_path

    return load_rubric(path or default_rubric_path())
