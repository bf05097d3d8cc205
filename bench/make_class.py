"""Write a synthetic class of N submissions, deterministic from a seed, in two layouts.

    python bench/make_class.py N OUT [--seed S] [--hanging K] [--hostile F]

OUT/submissions/   the grader's layout: ID.py modules and ID.ipynb notebooks
OUT/manifest.json  what each student got wrong (for reading results, not for grading)
OUT/nbgrader/      the same class as an nbgrader course: source/ps1/ps1.ipynb with autograder
                   test cells checking the same functions, submitted/ID/ps1/ps1.ipynb
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbgrader_tests import TEST_CELLS  # noqa: E402
from students import Student, make_student  # noqa: E402

PROOF = (
    "## Problem 3(a)\nEvery exp(z_i) is positive, so each p_i is positive; the numerator is one "
    "term of the denominator, so p_i <= 1; and the p_i share one denominator, so they sum to 1."
)


def write_module(student: Student, folder: Path) -> Path:
    path = folder / f"{student.student_id}.py"
    path.write_text('"""Homework 1."""\n' + "\n\n".join(student.cells))
    return path


def write_notebook(student: Student, folder: Path) -> Path:
    cells = [nbformat.v4.new_markdown_cell("# Homework 1")]
    cells += [nbformat.v4.new_code_cell(code) for code in student.cells]
    cells.insert(len(cells) - 2, nbformat.v4.new_markdown_cell(PROOF))
    notebook = nbformat.v4.new_notebook(cells=cells)
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"  # nbformat draws random ids; a seeded class must not differ
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / f"{student.student_id}.ipynb"
    nbformat.write(notebook, path)
    return path


def _nbgrader_cell(source: str, grade_id: str, *, solution: bool, points: float = 0) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {
        "grade": not solution,
        "grade_id": grade_id,
        "locked": not solution,
        "schema_version": 3,
        "solution": solution,
        "task": False,
        **({} if solution else {"points": points}),
    }
    return cell


def nbgrader_notebook(answer: str) -> nbformat.NotebookNode:
    """The course notebook: one answer cell, then one autograder test cell per problem."""
    cells = [nbformat.v4.new_markdown_cell("# Homework 1"), _nbgrader_cell(answer, "answers", solution=True)]
    cells += [_nbgrader_cell(code, problem, solution=False, points=10) for problem, code in TEST_CELLS]
    notebook = nbformat.v4.new_notebook(cells=cells)
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"  # nbformat draws random ids; a seeded class must not differ
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


SOURCE_ANSWER = "### BEGIN SOLUTION\nimport numpy as np\n### END SOLUTION\n"


def write_nbgrader_course(students: list[Student], course: Path) -> None:
    """nbgrader's layout; `bench/others.py` runs generate_assignment and autograde on it."""
    (course / "source" / "ps1").mkdir(parents=True, exist_ok=True)
    nbformat.write(nbgrader_notebook(SOURCE_ANSWER), course / "source" / "ps1" / "ps1.ipynb")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course.resolve())!r}\n"
        "c.CourseDirectory.course_id = 'bench'\n"
        "c.ExecutePreprocessor.timeout = 10\n"
    )
    for student in students:
        folder = course / "submitted" / student.student_id / "ps1"
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbgrader_notebook("\n\n".join(student.cells)), folder / "ps1.ipynb")
        (folder / "timestamp.txt").write_text("2026-01-15 12:00:00.000000 UTC")


def make_class(count: int, out: Path, seed: int = 2024, hanging: int = 0, hostile: float = 0.03,
               notebooks: float = 0.5) -> list[Student]:
    """Write the class; `hanging` students get an endless loop somewhere in their code."""
    rng = random.Random(seed)
    hang_at = set(rng.sample(range(count), hanging)) if hanging else set()
    students = [make_student(rng, f"s{index:05d}", hostile, index in hang_at) for index in range(count)]
    folder = out / "submissions"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for student in students:
        notebook = rng.random() < notebooks
        path = write_notebook(student, folder) if notebook else write_module(student, folder)
        manifest[student.student_id] = {
            "file": path.name, "mistakes": student.mistakes, "hostile": student.hostile,
        }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    write_nbgrader_course(students, out / "nbgrader")
    return students


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("count", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--hanging", type=int, default=0, help="students with an endless loop")
    parser.add_argument("--hostile", type=float, default=0.03, help="share of broken or hostile students")
    parser.add_argument("--notebooks", type=float, default=0.5, help="share of notebooks")
    arguments = parser.parse_args()
    make_class(arguments.count, arguments.out, arguments.seed, arguments.hanging, arguments.hostile,
               arguments.notebooks)


if __name__ == "__main__":
    main()
