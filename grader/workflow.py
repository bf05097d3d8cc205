"""`grader init-ci`: the GitHub Actions workflow that checks a student repository on every push."""

from __future__ import annotations

from pathlib import Path

from grader.errors import UsageError

WORKFLOW_PATH = Path(".github/workflows/grader.yml")

#: Kept as data: instructors read and edit this file in their template repositories.
WORKFLOW = """\
# Checks this repository's homework on the public cases on every push.
# The check fails while an answer is wrong; annotations point at the file, and the job
# summary lists each problem with the named mistake and how to fix it.
name: grader
on: [push, pull_request, workflow_dispatch]
# Read only: the homework runs in this job, and a token that can write would let it push.
permissions:
  contents: read
jobs:
  check:
    runs-on: ubuntu-latest
    timeout-minutes: 15
    steps:
      - uses: actions/checkout@v4
        with:
          persist-credentials: false  # no token left in .git/config while the homework runs
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the grader (CPU build of torch)
        run: |
          python -m pip install --upgrade pip
          pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
          {install}
      - name: Check the homework
        run: grader check . --bundle public.json --format github
"""


def write_workflow(repository: Path, *, install: str, force: bool) -> Path:
    """Write the workflow into `repository`; refuse to overwrite one unless forced."""
    if not repository.is_dir():
        raise UsageError(f"{repository}: not a folder", hint="run `grader init-ci` in the student repository")
    target = repository / WORKFLOW_PATH
    if target.exists() and not force:
        raise UsageError(f"{target} already exists", hint="pass --force to replace it")
    if not (repository / "public.json").exists():
        raise UsageError(f"{repository / 'public.json'} is missing: the workflow checks against it",
                         hint="make it with `grader bundle -o public.json` and copy it into the repository")
    if "\n" in install or "\r" in install:
        # Written into the YAML as is: a second line would be a key of its own
        # ("permissions: write-all"), not part of the command.
        raise UsageError(f"--install {install!r}: one command, on one line",
                         hint="join several commands with &&")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(WORKFLOW.format(install=install), encoding="utf-8")
    return target
