"""The student checker's command line: `grader check` and `grader replay`, on public cases only.

`check` is the very command of the instructor's grader (grader/commands/cli.py adds it); `replay` here
reruns one of a bundle's public cases, which is what every failing case prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from grader.commands.cli_support import friendly_errors
from grader.errors import UsageError
from grader_checker import EMBEDDED_BUNDLE


@click.command()
@click.argument("path", type=click.Path(path_type=Path), default=".")
@click.option("--bundle", type=click.Path(path_type=Path),
              help="Public bundle (default: PATH/public.json, else the one built into the student checker).")
@click.option("--format", "output_format", type=click.Choice(["text", "json", "junit", "github"]),
              default="text", show_default=True)
@click.option("--output", type=click.Path(path_type=Path), help="Write the report here instead of stdout.")
@click.option("--only", multiple=True, metavar="ID", help="Check only these problems (repeatable).")
@friendly_errors
def check(path: Path, bundle: Path | None, output_format: str, output: Path | None, only: tuple[str, ...]) -> None:
    """Check one submission on the public cases; exit 1 while anything is wrong.

    \b
    Example (in a student repository holding public.json):
      grader check . --format github
    Exit codes: 0 all correct, 1 something is wrong, 2 unusable input.
    """
    from grader.commands import console
    from grader.outputs.bundle import read_bundle
    from grader.commands.student_check import bundle_for, check_one, exit_status

    if not path.exists():
        raise UsageError(f"{path}: no such file or folder", hint="pass your notebook, module or repository")
    outcome = check_one(path, read_bundle(bundle or bundle_for(path, EMBEDDED_BUNDLE)), only=only)
    text = console.format_check(outcome, output_format)
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=not text.endswith("\n"))
    sys.exit(exit_status(outcome.result))


@click.command()
@click.argument("submission", type=click.Path(exists=True, path_type=Path))
@click.argument("problem")
@click.option("--args", "arguments", required=True, help="The case as JSON, e.g. '{\"N\": 4, \"L\": 1, ...}'.")
@click.option("--bundle", type=click.Path(path_type=Path),
              help="The public bundle holding the case (default: as `grader check`).")
@friendly_errors
def replay(submission: Path, problem: str, arguments: str, bundle: Path | None) -> None:
    """Rerun one public case of one problem and show expected and got.

    \b
    Example (`grader check` prints this command for every failing case):
      grader replay homework.ipynb p3b --args '{"z": [1.0, 2.0, 3.0]}' --bundle public.json
    """
    from grader.commands import console
    from grader.outputs.bundle import read_bundle
    from grader.commands.replay import replay_from_bundle
    from grader.commands.student_check import bundle_for

    console.print_replay(replay_from_bundle(submission, problem, parse_case(arguments),
                                            read_bundle(bundle or bundle_for(submission, EMBEDDED_BUNDLE))))


def parse_case(arguments: str) -> dict[str, object]:
    """--args as a JSON object, or a UsageError that shows how to quote it."""
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError as error:
        raise UsageError(f"--args is not JSON: {error}", hint="quote it: --args '{\"N\": 4}'") from None
    if not isinstance(parsed, dict):
        raise UsageError("--args must be a JSON object of arguments, e.g. '{\"N\": 4, \"L\": 1}'")
    return parsed


def installed_version() -> str:
    """The wheel's version (it names the bundle's digest), or the grader's in its own checkout."""
    import importlib.metadata

    from grader import __version__

    try:
        return importlib.metadata.version("grader-checker")
    except importlib.metadata.PackageNotFoundError:
        return f"{__version__} (the grader's checkout, not a built checker)"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(version=installed_version())
def main() -> None:
    """Check your homework on the course's public cases (the student checker: no answer key)."""


main.add_command(check)
main.add_command(replay)
