"""Install and run the graders we compare against: nbgrader's autograde and Otter's `otter run`.

Both go into their own virtual environment under bench/work/ (gitignored). Student code there
imports torch, which we do not download again: a .pth file appends the project's .venv
site-packages (same Python, same numpy) after the environment's own packages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from nbgrader_tests import TEST_CELLS

BENCH = Path(__file__).resolve().parent
WORK = BENCH / "work"
VENV = WORK / "others-venv"
PACKAGES = ("nbgrader==0.9.6", "otter-grader==7.0.0", "psutil==7.2.2")
#: The student functions each test needs, injected by Otter from the notebook's globals.
OTTER_ARGUMENTS = {
    "p1": "mlp_params", "p2": "cnn_params", "p3a": "softmax",
    "p3b": "softmax_jacobian", "p3c": "cross_entropy_grad",
}


def environment() -> dict[str, str]:
    """PATH with the venv first: nbgrader shells out to `alembic` and expects it there."""
    return {**os.environ, "PATH": f"{VENV / 'bin'}:{os.environ['PATH']}"}


def ensure_venv() -> Path:
    """Create bench/work/others-venv with nbgrader and Otter pinned; idempotent."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PACKAGES], check=True)
    site = next((VENV / "lib").glob("python3.*/site-packages"))
    main_site = next((BENCH.parent / ".venv" / "lib").glob("python3.*/site-packages"))
    (site / "zz_main_venv.pth").write_text(f"{main_site}\n")
    return python


def prepare_nbgrader(class_dir: Path, count: int) -> Path:
    """A copy of the class's nbgrader course holding its first `count` students, released."""
    source = class_dir / "nbgrader"
    course = WORK / f"nbgrader-{class_dir.name}-{count}"
    shutil.rmtree(course, ignore_errors=True)
    shutil.copytree(source / "source", course / "source")
    students = sorted(path.name for path in (source / "submitted").iterdir())[:count]
    for student in students:
        shutil.copytree(source / "submitted" / student, course / "submitted" / student)
    config = (source / "nbgrader_config.py").read_text()
    config = config.replace(repr(str(source.resolve())), repr(str(course)))
    (course / "nbgrader_config.py").write_text(config)
    subprocess.run(["nbgrader", "generate_assignment", "ps1", "--force"], cwd=course,
                   env=environment(), check=True, capture_output=True)
    return course


def nbgrader_command(course: Path) -> list[str]:
    """The timed command: autograde every submitted notebook of the course."""
    return [str(VENV / "bin" / "nbgrader"), "autograde", "ps1", "--create", "--force",
            f"--CourseDirectory.root={course}"]


def nbgrader_scores(course: Path) -> dict[str, float]:
    """Each student's nbgrader total, read from its gradebook (for the report's sanity check)."""
    code = (
        "import json, sys\nfrom nbgrader.api import Gradebook\n"
        f"with Gradebook('sqlite:///{course}/gradebook.db') as book:\n"
        "    print(json.dumps({s.student.id: s.score for s in book.assignment_submissions('ps1')}))\n"
    )
    output = subprocess.run([str(VENV / "bin" / "python"), "-c", code], env=environment(),
                            check=True, capture_output=True, text=True).stdout
    import json

    return json.loads(output)


def otter_test_file(problem: str, source: str) -> str:
    """An exception-based Otter test holding the same checks as the nbgrader cell."""
    argument = OTTER_ARGUMENTS[problem]
    return (
        "from otter.test_files import test_case\n\nOK_FORMAT = False\n"
        f"name = {problem!r}\npoints = 10\n\n"
        f"@test_case(points=10, hidden=False)\ndef test_{problem}({argument}):\n"
        + textwrap.indent(source, "    ") + "\n"
    )


def prepare_otter() -> Path:
    """autograder.zip built by `otter generate` from tests equal to the nbgrader cells."""
    folder = WORK / "otter"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "tests").mkdir(parents=True)
    for problem, source in TEST_CELLS:
        (folder / "tests" / f"{problem}.py").write_text(otter_test_file(problem, source))
    subprocess.run(["otter", "generate", "-t", "tests", "-o", "autograder.zip", "--no-requirements",
                    "--no-environment", "--no-config"], cwd=folder, env=environment(), check=True,
                   capture_output=True)
    return folder / "autograder.zip"


def otter_script(zip_path: Path, submissions: list[Path], out: Path) -> list[str]:
    """The timed command: `otter run` once per submission, as Otter grades without Docker."""
    lines = ["set -u"]
    for path in submissions:
        target = out / path.stem
        lines.append(f"mkdir -p {target} && {VENV / 'bin' / 'otter'} run --no-logo -a {zip_path} "
                     f"-o {target} {path} > {target}/log.txt 2>&1")
    return ["bash", "-c", "\n".join(lines)]
