"""The command line: parse, call the library, print. Nothing here decides a grade."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from grader.cli_support import INTERNAL_ERROR, friendly_errors
from grader.commands import reference_group, rubric_group
from grader.errors import UsageError

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
@click.option("--seed", type=click.IntRange(0), help="Override the rubric's seed for hidden cases.")
@click.option("--only", multiple=True, metavar="ID", help="Grade only these problems (repeatable).")
@click.option("--scheduler", metavar="ADDRESS", help="Grade on a Dask cluster (needs grader[cluster]).")
@friendly_errors
def run(submissions: Path, rubric: Path | None, out: Path, jobs: int, timeout: float | None,
        memory: int | None, device: str, seed: int | None, only: tuple[str, ...], scheduler: str | None) -> None:
    """Grade every submission in SUBMISSIONS and write reports to --out.

    \b
    Example:
      grader run submissions/ --out out/ --jobs 2
      open out/index.html
    A run that is interrupted (even kill -9) continues where it stopped when started again.
    """
    from dataclasses import replace

    from grader import console
    from grader.pipeline import Settings
    from grader.runs import rubric_for, run_class

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
    settings = Settings(rubric_path=loaded.path, limits=limits, device=device, seed=seed, only=only)
    with console.progress_reporter() as progress:
        outcome = run_class(submissions, out, settings, jobs=jobs, scheduler=scheduler, progress=progress)
    console.print_summary(outcome, out)
    if outcome.faults:
        sys.exit(INTERNAL_ERROR)


@main.command()
@click.argument("path", type=click.Path(path_type=Path), default=".")
@click.option("--bundle", type=click.Path(path_type=Path), help="Public bundle (default: PATH/public.json).")
@click.option("--format", "output_format", type=click.Choice(["text", "json", "junit", "github"]),
              default="text", show_default=True)
@click.option("--output", type=click.Path(path_type=Path), help="Write the report here instead of stdout.")
@friendly_errors
def check(path: Path, bundle: Path | None, output_format: str, output: Path | None) -> None:
    """Check one submission on the public cases; exit 1 while anything is wrong.

    \b
    Example (in a student repository holding public.json):
      grader check . --format github
    Exit codes: 0 all correct, 1 something is wrong, 2 unusable input.
    """
    from grader import console
    from grader.bundle import read_bundle
    from grader.runs import check_one

    if not path.exists():
        raise UsageError(f"{path}: no such file or folder", hint="pass your notebook, module or repository")
    bundle_path = bundle or (path if path.is_dir() else path.parent) / "public.json"
    loaded = read_bundle(bundle_path)
    outcome = check_one(path, loaded)
    result = outcome.result
    text = console.format_check(outcome, output_format)
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=not text.endswith("\n"))
    all_correct = all(v.status == "correct" for v in result.verdicts) and result.error is None
    sys.exit(0 if all_correct else (2 if result.error is not None and result.error.kind == "unreadable" else 1))


@main.command()
@click.argument("out", type=click.Path(path_type=Path), default=Path("out"))
@click.option("--rubric", type=click.Path(path_type=Path), help="The rubric the run used.")
@click.option("--manual", "manual_csv", type=click.Path(path_type=Path),
              help="CSV of manual points to import first: student_id,item_id,points[,comment].")
@friendly_errors
def report(out: Path, rubric: Path | None, manual_csv: Path | None) -> None:
    """Re-render OUT's reports from its gradebook, without running any code.

    \b
    Example, after a person graded the written proofs:
      grader report out/ --manual proof-scores.csv
    """
    from grader.gradebook import Gradebook
    from grader.runs import GRADEBOOK_NAME, rerender, rubric_for

    loaded = rubric_for(rubric)
    if manual_csv is not None:
        book = Gradebook(out / GRADEBOOK_NAME)
        try:
            count = book.import_manual(manual_csv)
        finally:
            book.close()
        click.echo(f"imported {count} manual score(s) from {manual_csv}")
    outcome = rerender(out, loaded.path)
    click.echo(f"re-rendered {len(outcome.written)} files for {outcome.reused} submissions in {out}")


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
    from grader.bundle import write_bundle
    from grader.runs import rubric_for

    written = write_bundle(rubric_for(rubric), output)
    click.echo(f"wrote {written} ({written.stat().st_size // 1024} KiB)")


@main.command("init-ci")
@click.argument("repository", type=click.Path(path_type=Path), default=".")
@click.option("--install", default="pip install grader", show_default=True,
              help="The command that installs the grader in CI.")
@click.option("--force", is_flag=True, help="Overwrite an existing workflow.")
@friendly_errors
def init_ci(repository: Path, install: str, force: bool) -> None:
    """Write a GitHub Actions workflow that checks a student repository on every push.

    \b
    Example:
      grader init-ci . && git add .github public.json
    """
    from grader.workflow import write_workflow

    path = write_workflow(repository, install=install, force=force)
    click.echo(f"wrote {path}; commit it together with public.json")


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
    from grader import console
    from grader.bundle import read_bundle
    from grader.replay import replay_case, replay_from_bundle
    from grader.runs import rubric_for

    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError as error:
        raise UsageError(f"--args is not JSON: {error}", hint="quote it: --args '{\"N\": 4}'") from None
    if not isinstance(parsed, dict):
        raise UsageError("--args must be a JSON object of arguments, e.g. '{\"N\": 4, \"L\": 1}'")
    if bundle is not None and rubric is not None:
        raise UsageError("--bundle and --rubric cannot be combined", hint="a bundle already fixes the rubric")
    lines = (replay_from_bundle(submission, problem, parsed, read_bundle(bundle)) if bundle is not None
             else replay_case(submission, problem, parsed, rubric_for(rubric)))
    console.print_replay(lines)


main.add_command(reference_group)
main.add_command(rubric_group)
