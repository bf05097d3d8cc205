"""`grader init-ci`: the GitHub Actions workflow that checks a student repository on every push.

It installs the student checker (`grader build-checker`: the public bundle and `grader check`,
no answer key) from a wheel committed in the repository, or from a URL pinned by the wheel's
sha256, with torch (a CPU build) only when a problem of the bundle builds a torch model, and
keeps pip's downloads between runs.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from grader.outputs.bundle import read_bundle
from grader.errors import UsageError

WORKFLOW_PATH = Path(".github/workflows/grader.yml")
CHECKER_FOLDER = Path(".github/grader")
WHEEL_NAME = re.compile(r"grader_checker-[^-/]+-py3-none-any\.whl")
#: https, and nothing a shell or YAML would read as more than one word.
URL = re.compile(r"https://[A-Za-z0-9._~:/?=&%+@!,;-]+")
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"

#: Kept as data: instructors read and edit this file in their template repositories.
WORKFLOW = """\
# Checks this repository's homework on the public cases on every push.
# The check fails while an answer is wrong; annotations point at the line that defines each
# function, and the job summary lists each problem with the named mistake and how to fix it.
# Written by `grader init-ci`: after changing public.json, run it again with --force.
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
          # pip's downloads (torch's above all) are kept between runs, keyed on this file,
          # which names every version installed below.
          cache: pip
          cache-dependency-path: .github/workflows/grader.yml
      - name: Install the student checker (public cases only, no answer key)
        run: |
{install}
      - name: Check the homework
        run: grader check . --format github
"""


@dataclass(frozen=True)
class Written:
    """What `init-ci` wrote and chose, for the instructions it prints."""

    workflow: Path
    wheel: Path  # the checker wheel: in the repository, or the local file the URL must serve
    requirement: str  # what the workflow gives pip
    url: str | None
    built: bool  # built now from the repository's public.json (no --checker given)
    torch_always: bool  # a problem builds a torch model; otherwise torch only for code that imports it


def torch_requirement() -> str:
    """The grader's own pin of torch (pyproject.toml), so students run the instructor's version."""
    from grader.commands.checker_build import declared_requirements

    pinned = [requirement for requirement in declared_requirements() if re.match(r"torch\s*==", requirement)]
    return pinned[0] if pinned else "torch"


#: Code that imports torch, in a module or a notebook's JSON ("import torch\\n").
IMPORTS_TORCH = "(import|from)[[:space:]]+torch"


def torch_command(always: bool) -> str:
    """The shell line that installs torch's CPU build: always when a problem builds a torch
    model, else only when the homework imports torch (a checker without it grades the rest,
    and a student's `import torch` failing would fail every problem)."""
    install = f"python -m pip install {shlex.quote(torch_requirement())} --index-url {TORCH_INDEX}"
    if always:
        return install
    return (f"if grep -rqE --include='*.py' --include='*.ipynb' '{IMPORTS_TORCH}' .; "
            f"then {install}; fi")


def bundle_in_wheel(wheel: Path) -> bytes:
    """The public bundle inside a checker wheel, or a UsageError when it is not one."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            return archive.read("grader_checker/public.json")
    except (OSError, KeyError, zipfile.BadZipFile):
        raise UsageError(f"--checker {wheel}: not a student checker wheel (no grader_checker/public.json in it)",
                         hint="build one with `grader build-checker --bundle public.json -o dist/`") from None


def checker_wheel(repository: Path, checker: Path | None, folder: Path) -> tuple[Path, bool]:
    """The given wheel (it must hold this repository's bundle), or one built now into `folder`."""
    public = repository / "public.json"
    if checker is None:
        from grader.commands.checker_build import build_checker

        return build_checker(public, folder), True
    if not WHEEL_NAME.fullmatch(checker.name):
        raise UsageError(f"--checker {checker}: not a checker wheel's name (grader_checker-VERSION-py3-none-any.whl)",
                         hint="pass the file `grader build-checker` wrote, unrenamed: pip reads its version from the name")
    if bundle_in_wheel(checker) != public.read_bytes():
        # Students would be checked on other cases than the public.json they read.
        raise UsageError(f"--checker {checker.name} was built for another bundle than {public}",
                         hint=f"build it again: grader build-checker --bundle {public}")
    return checker, False


def write_workflow(repository: Path, *, checker: Path | None = None, checker_url: str | None = None,
                   force: bool = False) -> Written:
    """Write the workflow (and, unless a URL serves it, the checker wheel) into `repository`;
    refuse to overwrite a workflow unless forced."""
    if not repository.is_dir():
        raise UsageError(f"{repository}: not a folder", hint="run `grader init-ci` in the student repository")
    target = repository / WORKFLOW_PATH
    if target.exists() and not force:
        raise UsageError(f"{target} already exists", hint="pass --force to replace it")
    public = repository / "public.json"
    if not public.exists():
        raise UsageError(f"{public} is missing: the workflow checks against it",
                         hint="make it with `grader bundle -o public.json` and copy it into the repository")
    if checker_url is not None and checker is None:
        raise UsageError("--checker-url needs --checker, the wheel that URL serves (its sha256 is pinned)",
                         hint="grader build-checker --bundle public.json -o dist/, upload the wheel, then "
                              "grader init-ci --checker dist/WHEEL --checker-url URL")
    if checker_url is not None and not URL.fullmatch(checker_url):
        # Written into a shell line of the YAML: a quote, a space or a newline would be a
        # command or a key of its own ("permissions: write-all"), not part of the URL.
        raise UsageError(f"--checker-url {checker_url!r}: not an https URL of one word",
                         hint="e.g. https://github.com/COURSE/hw1/releases/download/v1/grader_checker-....whl")
    torch = any(key.kind == "module" for key in read_bundle(public).keys)
    with tempfile.TemporaryDirectory(prefix="grader-init-ci-") as scratch:
        wheel, built = checker_wheel(repository, checker, Path(scratch))
        data = wheel.read_bytes()  # before any old wheel is removed: --checker may be one of them
        digest = hashlib.sha256(data).hexdigest()
        if checker_url is not None:
            if checker_url.rsplit("/", 1)[-1].replace("%2B", "+") != wheel.name:
                raise UsageError(f"--checker-url must end with the wheel's name, {wheel.name}",
                                 hint="pip reads the package and version from the file name")
            requirement = f"{checker_url}#sha256={digest}"  # pip refuses a download with another hash
            kept = wheel
        else:
            folder = repository / CHECKER_FOLDER
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob("grader_checker-*.whl"):
                old.unlink()  # one checker per repository: the one this workflow names
            kept = folder / wheel.name
            kept.write_bytes(data)
            requirement = f"./{CHECKER_FOLDER.as_posix()}/{wheel.name}"
    commands = [torch_command(torch), f"python -m pip install {shlex.quote(requirement)}"]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(WORKFLOW.format(install="\n".join(" " * 10 + command for command in commands)),
                      encoding="utf-8")
    return Written(workflow=target, wheel=kept, requirement=requirement, url=checker_url, built=built,
                   torch_always=torch)


def instructions(written: Written, repository: Path) -> list[str]:
    """What the instructor reads after `init-ci`: what was written, what to commit or upload,
    and what the defaults chose that they may want to change."""
    lines = [f"wrote {written.workflow}"]
    if written.url is None:
        lines.append(f"wrote {written.wheel} (the student checker: public cases only, no answer key"
                     + (", built now from public.json)" if written.built else ")"))
        lines.append(f"commit them with public.json: git -C {shlex.quote(str(repository))} add .github public.json")
    else:
        lines.append(f"upload {written.wheel} so that {written.url} serves it: the workflow installs it "
                     "from there and refuses any other file (its sha256 is pinned)")
        lines.append(f"commit the workflow with public.json: git -C {shlex.quote(str(repository))} add .github public.json")
    lines.append(f"torch: {torch_requirement()} (CPU build), installed because a problem builds a torch model"
                 if written.torch_always else
                 f"torch: {torch_requirement()} (CPU build), installed only when the homework imports torch "
                 "(no problem of the bundle needs it)")
    if written.built and written.url is None:
        lines.append("to install the checker from a release instead of committing it: upload the wheel, then "
                     f"grader init-ci --force --checker {written.wheel} --checker-url URL")
    lines.append("runner: ubuntu-latest, Python 3.11, 15 minutes; edit the workflow to change them")
    return lines
