"""What the terminal shows: a progress bar, the end-of-run summary, `check` and `replay` output.

Part of the click layer: it formats records for a person and prints them; it decides nothing.
"""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from grader.commands.cli_support import one_line, terminal_safe
from grader.course_secret import CourseSecret
from grader.models import SubmissionResult
from grader.outputs.reports import exports

if TYPE_CHECKING:  # the student checker ships this module, and neither runs nor what it imports
    from grader.commands.runs import Progress, RunOutcome
    from grader.commands.student_check import CheckOutcome

STATUSES = ("correct", "partial", "incorrect", "missing", "error", "review")

def not_a_workflow_command(text: str) -> str:
    """Each line behind "| ": in GitHub's log a line starting with "::" (or "##[") is a command,
    and an exception message can hold "\n::notice title=p1::All cases passed" or
    "::stop-commands::"."""
    return "\n".join(f"| {line}" for line in text.splitlines())


@contextlib.contextmanager
def progress_reporter() -> Iterator[Progress]:
    """A progress bar on a terminal, plain lines (one per submission) in logs and CI."""
    if sys.stderr.isatty():
        with click.progressbar(length=1, label="grading", file=sys.stderr, show_pos=True) as bar:
            def update(done: int, total: int, result: SubmissionResult | None) -> None:
                bar.length = total
                bar.update(done - bar.pos)
            yield update
    else:
        def update(done: int, total: int, result: SubmissionResult | None) -> None:
            if result is None:
                if done:
                    click.echo(f"[{done}/{total}] {done} unchanged since the last run: kept", err=True)
                return
            click.echo(f"[{done}/{total}] {one_line(result.student_id)}: {result.total:g}/{result.max_score:g}",
                       err=True)
        yield update


def print_summary(outcome: RunOutcome, out: Path) -> None:
    """The table at the end of `grader run`: status counts and mean points per problem."""
    summary = outcome.summary
    problem_ids: list[str] = []
    for result in summary.results:
        for verdict in result.verdicts:
            if verdict.problem_id not in problem_ids:
                problem_ids.append(verdict.problem_id)
    header = f"{'problem':<10}" + "".join(f"{s:>10}" for s in STATUSES) + f"{'mean':>9}"
    click.echo("")
    click.echo(header)
    for problem_id in problem_ids:
        verdicts = [v for r in summary.results for v in r.verdicts if v.problem_id == problem_id]
        counts: Counter[str] = Counter(v.status for v in verdicts)
        mean = sum(v.score for v in verdicts) / len(verdicts)
        top = verdicts[0].max_score
        row = f"{problem_id:<10}" + "".join(f"{counts.get(s, 0):>10}" for s in STATUSES)
        click.echo(row + f"{mean:>6.1f}/{top:g}")
    count = len(summary.results)
    mean_total = sum(r.total for r in summary.results) / count if count else 0.0
    maximum = summary.results[0].max_score if summary.results else 0.0
    click.echo(f"\n{count} submissions ({outcome.graded} graded now, {outcome.reused} unchanged); "
               f"mean {mean_total:.1f}/{maximum:g}")
    if outcome.lms != "folder":
        click.echo(f"read as a {outcome.lms.capitalize()} export")
    for note in outcome.intake_notes[:20]:
        click.echo(terminal_safe(f"intake: {note}"))
    late = [r for r in summary.results if r.late_note]
    if late:
        click.echo(f"{len(late)} late: " + terminal_safe(", ".join(f"{one_line(r.student_id)} ({r.late_note})"
                                                                    for r in late[:10])))
    if outcome.no_submission:
        click.echo(f"{len(outcome.no_submission)} on the roster handed in nothing (no submission): "
                   + terminal_safe(", ".join(one_line(name) for name in outcome.no_submission[:20])))
    if outcome.unreadable:
        names = ", ".join(one_line(name) for name in outcome.unreadable[:10])
        more = f" and {len(outcome.unreadable) - 10} more" if len(outcome.unreadable) > 10 else ""
        click.secho(terminal_safe(f"{len(outcome.unreadable)} of {count} entries could not be graded (unreadable): "
                                  f"{names}{more}; each report says why"), fg="yellow", err=True)
    click.echo(f"isolation: {', '.join(summary.isolation) or 'unknown'}")
    for warning in summary.warnings:
        click.secho(f"WARNING: {warning}", fg="yellow", err=True)
    click.echo(f"reports: {out / 'index.html'}  results: {out / 'results.json'}  grades: {out / 'grades.csv'}")
    if outcome.faults:
        names = ", ".join(one_line(fault.entry.name) for fault in outcome.faults[:5])
        more = f" and {len(outcome.faults) - 5} more" if len(outcome.faults) > 5 else ""
        click.secho(terminal_safe(
            f"error: the grader failed on {len(outcome.faults)} submission(s), which are not graded: "
            f"{names}{more}.\n  This is a bug in the grader, not in the students' work; the other "
            f"submissions are graded. The first: {outcome.faults[0].error}\n  Details: "
            f"{outcome.faults_log}. `grader run` again retries them."), fg="red", err=True)


def format_check(outcome: CheckOutcome, output_format: str) -> str:
    """`grader check` output in the chosen format; github also writes the job summary."""
    result, titles = outcome.result, outcome.titles
    if output_format == "json":
        return exports.check_json(result)
    if output_format == "junit":
        return exports.junit_xml(result, titles)
    if output_format == "github":
        import os

        summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary_file:
            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(exports.job_summary_markdown(result, titles))
        source = os.path.relpath(outcome.graded_file)
        text = not_a_workflow_command(terminal_safe(exports.check_text(result, titles)))
        places = {problem_id: (os.path.relpath(place.file), place.line, place.cell)
                  for problem_id, place in outcome.locations.items()}
        return exports.github_annotations(result, source, titles, places) + "\n" + text + "\n"
    return terminal_safe(exports.check_text(result, titles))


def print_replay(lines: list[str]) -> None:
    for line in lines:
        click.echo(terminal_safe(line))


def print_secret(secret: CourseSecret) -> None:
    """Where a run's course secret came from: a new file is announced, warnings go to stderr."""
    if secret.created is not None:
        click.secho(terminal_safe(f"wrote a new course secret to {secret.created}: hidden cases are drawn from it. "
                                  "Keep it private and keep a copy (never commit or publish it)."),
                    fg="yellow", err=True)
    for warning in secret.warnings:
        click.secho(terminal_safe(f"WARNING: {warning}"), fg="yellow", err=True)
