"""The per-submission floor: what running the same student code costs with no grader around it.

Floors, per submission: a bare fork from a process that already imported numpy and torch
(the zygote's trick, without isolation, cases or checking), the same after the zygote's memory
tricks (frozen objects, huge pages), and a bare exec of a fresh interpreter that imports them
(what a grader without a zygote pays).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat

#: One call per problem: enough to run the student's functions, not to grade them.
CALLS = """
import numpy as _np
for _name, _arguments in (("mlp_params", (8, 2, 16, 10)), ("cnn_params", (16, 2, 3, 8, 2, 32, 10)),
                          ("softmax", (_np.array([1.0, 3.5, 757.0, -5.0]),)),
                          ("softmax_jacobian", (_np.array([0.1, 0.2, 0.3]),)),
                          ("cross_entropy_grad", (_np.array([0.1, 0.2, 0.3]), _np.array([0.0, 1.0, 0.0])))):
    try:
        globals()[_name](*_arguments)
    except Exception:
        pass
"""


def student_code(path: Path) -> str:
    """The code a submission runs: a module's text or a notebook's code cells in order."""
    if path.suffix == ".ipynb":
        notebook = nbformat.read(path, as_version=4)
        return "\n\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    return path.read_text()


def _run_in_child(code: str) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        exec(compile(code + CALLS, "<student>", "exec"), {"__name__": "__main__"})
    except BaseException:
        pass
    os._exit(0)


def fork_floor(paths: list[Path], *, collapsed: bool = False) -> float:
    """Seconds per submission for fork + run + exit from a warm numpy/torch process; with
    `collapsed`, after the zygote's two memory tricks (gc.freeze, huge pages): run it last,
    they stay in force in this process."""
    import numpy  # noqa: F401
    import torch  # noqa: F401

    if collapsed:
        import gc

        from grader.sandbox.memory import collapse_into_huge_pages

        gc.freeze()
        collapse_into_huge_pages()

    codes = [student_code(path) for path in paths]
    started = time.perf_counter()
    for code in codes:
        pid = os.fork()
        if pid == 0:
            _run_in_child(code)
        os.waitpid(pid, 0)
    return (time.perf_counter() - started) / len(codes)


def exec_floor(paths: list[Path]) -> float:
    """Seconds per submission for a fresh interpreter that imports numpy and torch and runs it."""
    started = time.perf_counter()
    for path in paths:
        code = "import numpy, torch\n" + student_code(path) + CALLS
        subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    return (time.perf_counter() - started) / len(paths)


def floors(submissions: Path, count: int) -> dict[str, float]:
    """The floors over the first `count` submissions (hostile ones included, as in a class)."""
    paths = sorted(submissions.iterdir())[:count]
    return {"fork_seconds_per_submission": fork_floor(paths),
            "exec_seconds_per_submission": exec_floor(paths[: max(1, count // 5)]),
            "collapsed_fork_seconds_per_submission": fork_floor(paths, collapsed=True)}
