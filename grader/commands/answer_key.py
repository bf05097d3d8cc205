"""Instructor subcommands about the answer key itself: `grader reference` and `grader rubric`."""

from __future__ import annotations

from pathlib import Path

import click

from grader.commands.cli_support import friendly_errors, parse_assignments


@click.group("reference")
def reference_group() -> None:
    """Inspect the answer key: per-term breakdowns and torch verification."""


@reference_group.command("breakdown")
@click.argument("problem")
@click.argument("assignments", nargs=-1, metavar="NAME=VALUE...")
@click.option("--padding", type=click.Choice(["same", "literal"]), default="same", show_default=True)
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Also build the torch model and run a forward pass (p2).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@friendly_errors
def breakdown(problem: str, assignments: tuple[str, ...], padding: str, verify: bool, device: str) -> None:
    """Print a count term by term, and prove it against the torch model.

    \b
    Example:
      grader reference breakdown p2 N=32 L=2 k=3 d=16 F=2 h=64 n_out=10
    """
    from grader.commands.reference_tools import count_breakdown

    for line in count_breakdown(problem, parse_assignments(assignments), padding, verify, device):
        click.echo(line)


@reference_group.command("verify")
@click.option("--count", type=click.IntRange(1), default=500, show_default=True,
              help="Random architectures per padding convention.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@friendly_errors
def verify(count: int, device: str, seed: int) -> None:
    """Check the CNN closed form against PyTorch on random architectures.

    \b
    Example:
      grader reference verify --count 500 --device cuda
    """
    from grader.commands.reference_tools import verify_closed_form

    lines, ok = verify_closed_form(count, device, seed)
    for line in lines:
        click.echo(line)
    raise SystemExit(0 if ok else 1)


@click.group("rubric")
def rubric_group() -> None:
    """Work with rubric files."""


@rubric_group.command("validate")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@friendly_errors
def validate(path: Path | None) -> None:
    """Validate a rubric and summarise it; errors name the key and suggest a fix.

    \b
    Example:
      grader rubric validate rubrics/dl-hw1.toml
    """
    from grader.rubric import default_rubric_path, validate_rubric

    for line in validate_rubric(path or default_rubric_path()):
        click.echo(line)
