"""The command line: parse, call the library, print. Nothing here decides a grade."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from grader.commands.cli_support import INTERNAL_ERROR, SOME_UNREADABLE, friendly_errors
from grader.commands.answer_key import reference_group, rubric_group
from grader.errors import SubmissionsError, UsageError
from grader_checker.cli import check, parse_case

DEVICES = click.Choice(["auto", "cpu", "cuda"])


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="grader")
def main() -> None:
    """Grade the deep-learning problem set safely, and say exactly what each student got wrong."""


@main.command()
@click.argument("submissions", type=click.Path(path_type=Path), default="submissions")
@click.option("--rubric", type=click.Path(path_type=Path), help="Rubric TOML (default: the built-in dl-hw1).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("out"), show_default=True,
              help="Output folder: reports, results.json, grades.csv, gradebook.")
@click.option("--jobs", type=click.IntRange(1, 256), default=(os.cpu_count() or 1) + 1, show_default="cores + 1",
              help="Submissions graded at once (a worker waits on its sandbox half the time).")
@click.option("--timeout", type=click.FloatRange(0.1, 3600), help="Seconds of CPU time per problem (default: the rubric's).")
@click.option("--memory", type=click.IntRange(64, 1 << 20), help="MiB of memory per submission (default: the rubric's).")
@click.option("--device", type=DEVICES, default="auto", show_default=True, help="Where torch models run.")
@click.option("--secret-file", type=click.Path(path_type=Path),
              help="The course secret hidden cases are drawn from (default: $GRADER_SECRET, "
                   "$GRADER_SECRET_FILE, then RUBRIC.secret beside the rubric, written on the first run).")
@click.option("--seed", type=click.IntRange(0),
              help="An explicit seed instead of the course secret (to reproduce an old run; warned when short).")
@click.option("--only", multiple=True, metavar="ID", help="Grade only these problems (repeatable).")
@click.option("--scheduler", metavar="ADDRESS", help="Grade on a Dask cluster (needs grader[cluster]).")
@click.option("--roster", type=click.Path(path_type=Path),
              help="CSV of the class (id,name,email,sid,section): names, and who handed in nothing.")
@friendly_errors
def run(submissions: Path, rubric: Path | None, out: Path, jobs: int, timeout: float | None,
        memory: int | None, device: str, secret_file: Path | None, seed: int | None, only: tuple[str, ...],
        scheduler: str | None, roster: Path | None) -> None:
    """Grade every submission in SUBMISSIONS (a folder or an LMS's .zip) and write reports to --out.

    \b
    Example:
      grader run submissions/ --out out/ --jobs 2
      grader run canvas-download.zip --roster roster.csv --out out/
      open out/index.html
    Canvas, Gradescope, Moodle and Blackboard exports are recognised; any other folder is one
    entry per file or folder. A run that is interrupted (even kill -9) continues where it
    stopped when started again.
    \b
    Exit codes: 0 every entry graded, 65 some entries could not be read as a submission,
    70 the grader failed on some entries (a bug), 2 unusable input, 3 the sandbox failed.
    Hidden cases come from the course secret (`grader init-course`); the first run writes one.
    """
    from dataclasses import replace

    from grader.commands import console
    from grader.course_secret import resolve_secret
    from grader.stages.pipeline import Settings
    from grader.commands.runs import rubric_for, run_class

    loaded = rubric_for(rubric)
    limits = loaded.limits
    if timeout is not None:
        limits = replace(limits, timeout_seconds=timeout)
    if memory is not None:
        limits = replace(limits, memory_mib=memory)
    unknown = [problem for problem in only if problem not in {p.problem_id for p in loaded.problems}]
    if unknown:
        from grader.errors import did_you_mean

        raise UsageError(f"--only {unknown[0]}: the rubric has no such problem",
                         hint=did_you_mean(unknown[0], [p.problem_id for p in loaded.problems])
                         or f"choose from {', '.join(p.problem_id for p in loaded.problems)}")
    if not submissions.is_dir() and not (submissions.is_file() and submissions.suffix.lower() == ".zip"):
        # A mistyped folder is told as such, before a course secret is written.
        raise SubmissionsError(f"submissions {submissions} does not exist or is not a folder or a .zip file",
                               hint="pass the folder or the .zip your LMS exported (one entry per student)")
    secret = resolve_secret(loaded.path, seed=seed, secret_file=secret_file, create=True,
                            legacy_seed=loaded.legacy_seed)
    console.print_secret(secret)
    settings = Settings(rubric_path=loaded.path, limits=limits, device=device, seed=secret.seed, only=only)
    class_list = None
    if roster is not None:
        from grader.stages.roster import read_roster

        class_list = read_roster(roster)
    with console.progress_reporter() as progress:
        outcome = run_class(submissions, out, settings, jobs=jobs, scheduler=scheduler, progress=progress,
                            roster=class_list)
    console.print_summary(outcome, out)
    if outcome.faults:
        sys.exit(INTERNAL_ERROR)
    if outcome.unreadable:
        sys.exit(SOME_UNREADABLE)


@main.command()
@click.argument("out", type=click.Path(path_type=Path), default=Path("out"))
@click.option("--rubric", type=click.Path(path_type=Path), help="The rubric the run used.")
@click.option("--manual", "manual_csv", type=click.Path(path_type=Path),
              help="CSV of points a person awarded, imported first: student_id,item_id,points[,comment]; "
                   "item_id is a manual item or a problem awaiting review.")
@friendly_errors
def report(out: Path, rubric: Path | None, manual_csv: Path | None) -> None:
    """Re-render OUT's reports from its gradebook, without running any code.

    \b
    Example, after a person graded the written proofs (and the answers awaiting review):
      grader report out/ --manual proof-scores.csv
    """
    from grader.outputs.gradebook import Gradebook
    from grader.commands.runs import GRADEBOOK_NAME, previous_run, rerender, rubric_for

    loaded = rubric_for(rubric)
    if manual_csv is not None:
        _, identity = previous_run(out, loaded)  # review decisions are for the run the report shows
        book = Gradebook(out / GRADEBOOK_NAME)
        try:
            count = book.import_manual(manual_csv, identity)
        finally:
            book.close()
        click.echo(f"imported {count} manual score(s) from {manual_csv}")
    outcome = rerender(out, loaded.path)
    click.echo(f"re-rendered {len(outcome.written)} files for {outcome.reused} submissions in {out}")


@main.command()
@click.argument("out", type=click.Path(path_type=Path), default=Path("out"))
@click.option("--to", "to", type=click.Path(path_type=Path), required=True,
              help="Folder to write the students' pages and the LMS upload files into.")
@click.option("--lms", type=click.Choice(["auto", "canvas", "gradescope", "moodle", "none"]), multiple=True,
              default=("auto",), show_default=True,
              help="Grade upload files to write (repeatable); auto: the LMS the class was exported from.")
@click.option("--assignment", default="", help="The assignment's name in the LMS (default: the rubric's title).")
@click.option("--canvas-assignment-id", default="", metavar="ID",
              help="Canvas's assignment id: the grade column becomes 'NAME (ID)', which Canvas matches.")
@friendly_errors
def feedback(out: Path, to: Path, lms: tuple[str, ...], assignment: str, canvas_assignment_id: str) -> None:
    """Release OUT's results: one page per student and the LMS's grade upload file, in --to.

    \b
    Example:
      grader feedback out/ --to release/ --lms canvas --canvas-assignment-id 12345
    Each page holds that student's results only, replay commands that work in their own
    repository (with public.json), no link to the class dashboard and no path of this machine.
    """
    from grader.commands.cli_support import terminal_safe
    from grader.outputs.reports.release import release

    released = release(out, to, lms, assignment, canvas_assignment_id)
    click.echo(f"wrote {len(released.pages)} student pages in {to / 'students'}")
    for path in released.upload_files:
        click.echo(f"wrote {path}")
    if released.no_submission:
        click.echo(terminal_safe(f"{len(released.no_submission)} with no submission (empty grade in the upload "
                                 f"files, no page): {', '.join(released.no_submission[:20])}"))
    for warning in released.warnings:
        click.secho(f"WARNING: {warning}", fg="yellow", err=True)


@main.command()
@click.option("--rubric", type=click.Path(path_type=Path), help="Rubric TOML (default: the built-in dl-hw1).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("public.json"), show_default=True)
@friendly_errors
def bundle(rubric: Path | None, output: Path) -> None:
    """Write the public bundle that `grader check` reads in student repositories.

    \b
    Example:
      grader bundle --rubric rubrics/dl-hw1.toml -o public.json
    It holds public cases and their answers only: never the hidden cases or the seed.
    """
    from grader.outputs.bundle import write_bundle
    from grader.commands.runs import rubric_for

    written = write_bundle(rubric_for(rubric), output)
    click.echo(f"wrote {written} ({written.stat().st_size // 1024} KiB)")


@main.command("init-course")
@click.option("--rubric", type=click.Path(path_type=Path), help="Rubric TOML (default: the built-in dl-hw1).")
@click.option("--secret-file", type=click.Path(path_type=Path), help="Where to write it (default: RUBRIC.secret).")
@click.option("--force", is_flag=True, help="Replace an existing secret (every hidden case changes).")
@friendly_errors
def init_course(rubric: Path | None, secret_file: Path | None, force: bool) -> None:
    """Set up a course: write a random course secret that hidden cases are drawn from.

    \b
    Example:
      grader init-course --rubric rubrics/dl-hw1.toml     # writes rubrics/dl-hw1.secret
    The rubric and the public bundle may be published; the secret never: keep it private,
    keep a copy. `grader run` reads it (or --secret-file, $GRADER_SECRET, $GRADER_SECRET_FILE).
    """
    from grader.course_secret import create_secret, default_secret_path, legacy_seed_warning
    from grader.commands.runs import rubric_for

    loaded = rubric_for(rubric)
    path = create_secret(secret_file or default_secret_path(loaded.path), loaded.path, force=force)
    click.echo(f"wrote a new course secret (256 random bits) to {path}; keep it private and keep a copy")
    if secret_file is not None:
        click.echo(f"pass --secret-file {path} to `grader run`, or set GRADER_SECRET_FILE={path}")
    if loaded.legacy_seed is not None:
        click.secho(f"WARNING: {legacy_seed_warning(loaded.path, loaded.legacy_seed, str(path))}", fg="yellow", err=True)


@main.command("build-checker")
@click.option("--bundle", type=click.Path(path_type=Path), default=Path("public.json"), show_default=True,
              help="The public bundle the checker checks against (`grader bundle`).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("dist"), show_default=True,
              help="Folder for the wheel.")
@friendly_errors
def build_checker(bundle: Path, output: Path) -> None:
    """Build the student checker: a wheel of `grader check`, `grader replay` and the notebook's
    `check()` with the bundle built in, and no answer key nor case generator.

    \b
    Example:
      grader bundle -o public.json && grader build-checker --bundle public.json -o dist/
    Its version carries the bundle's digest (0.1.0+bundle.3f2a...). Students install it with
    pip install grader_checker-...whl (torch only for build_cnn); `grader init-ci` commits it.
    """
    import hashlib

    from grader.commands.checker_build import build_checker as build

    wheel = build(bundle, output)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    click.echo(f"wrote {wheel} ({wheel.stat().st_size // 1024} KiB, sha256 {digest})")


@main.command("init-ci")
@click.argument("repository", type=click.Path(path_type=Path), default=".")
@click.option("--checker", type=click.Path(path_type=Path),
              help="The student checker wheel (`grader build-checker`); default: build it from REPOSITORY/public.json.")
@click.option("--checker-url", metavar="URL",
              help="Install --checker from this https URL (pinned by its sha256) instead of committing it.")
@click.option("--force", is_flag=True, help="Overwrite an existing workflow.")
@friendly_errors
def init_ci(repository: Path, checker: Path | None, checker_url: str | None, force: bool) -> None:
    """Write a GitHub Actions workflow that checks a student repository on every push.

    \b
    Example (in the template repository, holding public.json):
      grader init-ci . && git add .github public.json
    It commits the student checker as a wheel under .github/grader/ and installs it from there
    (or from --checker-url), with pip's downloads cached, and torch only when a problem needs it.
    """
    from grader.commands.workflow import instructions, write_workflow

    if checker is not None and not checker.is_file():
        raise UsageError(f"--checker {checker}: no such file",
                         hint="build it with `grader build-checker --bundle public.json -o dist/`")
    written = write_workflow(repository, checker=checker, checker_url=checker_url, force=force)
    for line in instructions(written, repository):
        click.echo(line)


@main.command()
@click.argument("submission", type=click.Path(exists=True, path_type=Path))
@click.argument("problem")
@click.option("--args", "arguments", required=True, help="The case as JSON, e.g. '{\"N\": 4, \"L\": 1, ...}'.")
@click.option("--rubric", type=click.Path(path_type=Path), help="Rubric TOML (default: the built-in dl-hw1).")
@click.option("--bundle", type=click.Path(path_type=Path),
              help="Replay one of a public bundle's cases (in a student repository: no answer key needed).")
@friendly_errors
def replay(submission: Path, problem: str, arguments: str, rubric: Path | None, bundle: Path | None) -> None:
    """Run one case of one problem on a submission and show expected and got.

    \b
    Example (reports print this command for every failing case):
      grader replay submissions/ada.py p2 --args '{"N": 4, "L": 1, "k": 3, "d": 1, "F": 1, "h": 1, "n_out": 1}'
    `grader check` prints it with --bundle public.json: the same public case, the same answer.
    """
    from grader.commands import console
    from grader.outputs.bundle import read_bundle
    from grader.commands.replay import replay_case, replay_from_bundle
    from grader.commands.runs import rubric_for

    parsed = parse_case(arguments)
    if bundle is not None and rubric is not None:
        raise UsageError("--bundle and --rubric cannot be combined", hint="a bundle already fixes the rubric")
    lines = (replay_from_bundle(submission, problem, parsed, read_bundle(bundle)) if bundle is not None
             else replay_case(submission, problem, parsed, rubric_for(rubric)))
    console.print_replay(lines)


main.add_command(check)  # the student checker's very command (grader_checker/cli.py)
main.add_command(reference_group)
main.add_command(rubric_group)
