"""The student checker: check homework on the course's public cases, from a shell or a notebook.

    from grader_checker import check
    check("p3b")        # this notebook (as saved), problem 3(b): the report `grader check` prints
    check()             # every problem

It grades the notebook's saved file in the same sandbox as `grader check`, against the public
bundle: `public.json` beside the notebook (or in a folder above it), else the bundle this
checker was built with. It holds no answer key and no case generator (`grader build-checker`).
"""

from __future__ import annotations

import datetime
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from grader.errors import GraderError, UsageError

#: The bundle `grader build-checker` built into this checker (absent in the grader's own checkout).
EMBEDDED_BUNDLE = Path(__file__).resolve().parent / "public.json"

#: Where notebook front ends say which file a kernel runs: VS Code sets the first in the
#: kernel's namespace, Jupyter (ipykernel 6.18+ with jupyter_server 2) the second.
NOTEBOOK_VARIABLES = ("__vsc_ipynb_file__", "__session__")


def find_notebook(namespace: dict[str, object], folder: Path) -> Path:
    """The notebook this kernel runs, or a UsageError saying how to name it."""
    for candidate in [namespace.get(name) for name in NOTEBOOK_VARIABLES] + [os.environ.get("JPY_SESSION_NAME")]:
        if isinstance(candidate, str) and candidate.endswith(".ipynb"):
            path = Path(candidate)
            # jupyter_server may give the path from its root; the kernel runs in the notebook's folder.
            for found in (path, folder / path.name):
                if found.is_file():
                    return found
    notebooks = sorted(folder.glob("*.ipynb"))
    if len(notebooks) == 1:
        return notebooks[0]
    listed = f" ({', '.join(p.name for p in notebooks[:5])})" if notebooks else ""
    raise UsageError(f"cannot tell which notebook to check: {len(notebooks)} notebooks in {folder}{listed}",
                     hint='name it: check("p3b", notebook="homework.ipynb")')


def find_bundle(notebook: Path) -> Path:
    """public.json beside the notebook or in a folder above it (up to the repository's root),
    else the bundle built into this checker."""
    for folder in [notebook.parent, *notebook.parent.parents]:
        if (folder / "public.json").is_file():
            return folder / "public.json"
        if (folder / ".git").exists():
            break
    if EMBEDDED_BUNDLE.is_file():
        return EMBEDDED_BUNDLE
    raise UsageError(f"no public.json beside {notebook.name} nor above it, and this checker has none built in",
                     hint='pass it: check("p3b", bundle="path/to/public.json")')


def check(problems: str | Sequence[str] = (), *, notebook: str | Path | None = None,
          bundle: str | Path | None = None) -> None:
    """Print `grader check`'s report for this notebook's saved file (or `notebook`), on the
    problems named (all when none). A mistake in the arguments is printed, not raised."""
    from grader.commands import console
    from grader.outputs.bundle import read_bundle
    from grader.commands.student_check import check_one

    only = (problems,) if isinstance(problems, str) else tuple(problems)
    try:
        main = sys.modules.get("__main__")
        path = Path(notebook) if notebook is not None else find_notebook(vars(main) if main else {}, Path.cwd())
        if not path.exists():
            raise UsageError(f"{path}: no such notebook", hint="pass the notebook's path, relative to this folder")
        loaded = read_bundle(Path(bundle) if bundle is not None else find_bundle(path.resolve()))
        saved = datetime.datetime.fromtimestamp(path.stat().st_mtime).strftime("%H:%M:%S")
        print(f"checking {path.name} as saved at {saved} (save the notebook first to check your latest edits)")
        print(console.format_check(check_one(path, loaded, only=only), "text"), end="")
    except GraderError as error:
        print(f"error: {error}")
