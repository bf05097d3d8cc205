"""Loading submissions: files, notebooks of every version, folders, and unreadable input."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest

from grader.errors import SubmissionsError
from grader.stages.submissions import discover, load

LOADING = Path(__file__).parent / "fixtures" / "loading"


def test_notebook_magics_and_shell_lines_are_removed_with_notes() -> None:
    submission = load(LOADING / "notebook_with_magics.ipynb")
    assert submission.error is None and submission.kind == "notebook"
    code = "\n".join(unit.code for unit in submission.units)
    assert "%matplotlib" not in code and "!pip" not in code and "np.sum?" not in code and "echo hello" not in code
    assert "def mlp_params" in code  # the %%time cell keeps its Python body
    assert [unit.label for unit in submission.units][0] == "cell 2"
    assert any("%%bash" in note for note in submission.notes)
    assert submission.texts and "3(a)" in submission.texts[0]


def test_nbformat_v3_notebook_is_upgraded() -> None:
    submission = load(LOADING / "nbformat_v3.ipynb")
    assert submission.error is None
    assert "def mlp_params" in submission.units[0].code
    assert submission.texts == ("Problem 1 notes",)


@pytest.mark.parametrize("name, words", [
    ("invalid_json.ipynb", "not a readable notebook"),
    ("non_utf8.py", "not UTF-8"),
    ("binary.py", "binary"),
])
def test_unreadable_files_become_an_error_not_an_exception(name: str, words: str) -> None:
    submission = load(LOADING / name)
    assert submission.error is not None and submission.error.kind == "unreadable"
    assert words in submission.error.message
    assert submission.student_id == Path(name).stem and submission.units == ()


def test_oversized_file_is_unreadable(tmp_path: Path) -> None:
    huge = tmp_path / "huge.py"
    with huge.open("wb") as handle:  # sparse: 200 MB without writing 200 MB
        handle.truncate(200_000_000)
    submission = load(huge)
    assert submission.error is not None and "over the" in submission.error.message


def test_empty_folder_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "carol").mkdir()
    submission = load(tmp_path / "carol")
    assert submission.error is not None and submission.error.kind == "unreadable"


def test_folder_grades_the_file_defining_most_interface_names() -> None:
    submission = load(LOADING / "folder_with_several_candidates")
    assert submission.error is None and submission.entry is not None
    assert submission.entry.name == "solution.ipynb" and submission.student_id == "folder_with_several_candidates"
    assert "scratch.py" in submission.notes[0] and "hw/solution.ipynb" in submission.notes[0]
    assert "I used the stable softmax." in submission.texts
    assert any("3(a) proof" in text for text in submission.texts)


def test_folder_tie_goes_to_the_alphabetically_first_file(tmp_path: Path) -> None:
    folder = tmp_path / "dave"
    folder.mkdir()
    (folder / "b_solution.py").write_text("def softmax(z):\n    return z\n")
    (folder / "a_solution.py").write_text("def mlp_params(N, L, h, n):\n    return 0\n")
    assert load(folder).entry == folder / "a_solution.py"


def test_digest_changes_with_any_file_of_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "erin"
    shutil.copytree(LOADING / "folder_with_several_candidates", folder)
    before = load(folder).digest
    assert load(folder).digest == before
    (folder / "hw" / "helpers.py").write_text("def stable_softmax(z):\n    return z\n")
    assert load(folder).digest != before


def test_discover_lists_one_entry_per_student_and_skips_noise(tmp_path: Path) -> None:
    for name in ("bob.py", "alice.ipynb", "README.md", ".DS_Store"):
        (tmp_path / name).write_text("")
    for name in ("carol", "__pycache__", ".git"):
        (tmp_path / name).mkdir()
    assert [path.name for path in discover(tmp_path)] == ["alice.ipynb", "bob.py", "carol"]


def test_discover_rejects_a_missing_folder_and_duplicate_students(tmp_path: Path) -> None:
    with pytest.raises(SubmissionsError, match="does not exist"):
        discover(tmp_path / "nowhere")
    (tmp_path / "alice.py").write_text("")
    (tmp_path / "alice").mkdir()
    with pytest.raises(SubmissionsError, match="two entries"):
        discover(tmp_path)


def test_a_relative_path_is_named_after_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repository = tmp_path / "student-repo"
    repository.mkdir()
    (repository / "homework.py").write_text("def mlp_params(N, L, h, n):\n    return 0\n")
    monkeypatch.chdir(repository)
    submission = load(Path("."))
    assert submission.student_id == "student-repo"
    assert submission.entry == repository / "homework.py" and submission.error is None


def notebook_json(cells: list[dict], minor: int = 5) -> str:
    """A v4 notebook as a student's tool might write it: no cell ids, whatever the sources."""
    return json.dumps({"nbformat": 4, "nbformat_minor": minor, "metadata": {}, "cells": cells})


def code_cell(source: object) -> dict:
    return {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": source}


def test_notebook_without_cell_ids_loads_without_warnings(tmp_path: Path) -> None:
    notebook = tmp_path / "old_notebook_without_cell_ids.ipynb"
    notebook.write_text(notebook_json([code_cell("def softmax(z):\n    return z\n")]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        submission = load(notebook)
    assert submission.error is None and "def softmax" in submission.units[0].code
    assert [str(warning.message) for warning in caught] == []


@pytest.mark.parametrize("source", [12, {"code": "x = 1"}, ["x = 1\n", 3], None])
def test_cell_whose_source_is_not_text_is_skipped_with_a_note(tmp_path: Path, source: object) -> None:
    notebook = tmp_path / "cell_source_not_text.ipynb"
    notebook.write_text(notebook_json([code_cell("a = 1\n"), code_cell("b = 2\n"), code_cell(source),
                                       code_cell("def softmax(z):\n    return z\n")]))
    submission = load(notebook)
    assert submission.error is None
    assert "cell 3: its source is not text; skipped" in submission.notes
    assert [unit.label for unit in submission.units] == ["cell 1", "cell 2", "cell 4"]


def test_folder_with_one_code_file_says_nothing_about_ignoring(tmp_path: Path) -> None:
    folder = tmp_path / "gina"
    folder.mkdir()
    (folder / "solution.py").write_text("def softmax(z):\n    return z\n")
    assert load(folder).notes[0] == "graded solution.py (defines 1 interface function(s))"


@pytest.mark.parametrize("target", ["/etc/passwd", "other_student.py", "missing.py", "other_folder"])
def test_symlinked_entry_is_unreadable_and_never_followed(tmp_path: Path, target: str) -> None:
    (tmp_path / "other_student.py").write_text("def softmax(z):\n    return 'OTHER STUDENT'\n")
    (tmp_path / "other_folder").mkdir()
    (tmp_path / "other_folder" / "solution.py").write_text("def softmax(z):\n    return z\n")
    link = tmp_path / ("alice" if target == "other_folder" else "alice.py")
    link.symlink_to(target if target.startswith("/") else tmp_path / target)
    assert link in discover(tmp_path)
    submission = load(link)
    assert submission.error is not None and submission.error.kind == "unreadable"
    assert submission.error.message == f"{link.name} is a symbolic link; submissions must be real files"
    assert submission.student_id == "alice" and submission.units == () and submission.texts == ()


def test_a_notebook_nested_too_deeply_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    # json and nbformat recurse: 100,000 brackets were a RecursionError in the grader's process.
    notebook = tmp_path / "nested_too_deeply.ipynb"
    notebook.write_text("[" * 100_000 + "]" * 100_000)
    submission = load(notebook)
    assert submission.error is not None and submission.error.kind == "unreadable"


def test_a_sibling_module_nested_beyond_the_parser_does_not_stop_loading(tmp_path: Path) -> None:
    folder = tmp_path / "mallory"
    folder.mkdir()
    (folder / "solution.py").write_text("def mlp_params(N, L, h, n):\n    return 0\n")
    (folder / "helper.py").write_text("x = 1" + "+1" * 200_000 + "\n")  # RecursionError in ast
    (folder / "minus.py").write_text("x = " + "-" * 100_000 + "1\n")  # MemoryError in ast
    submission = load(folder)
    assert submission.error is None and submission.entry == folder / "solution.py"


def test_an_entry_whose_name_is_not_utf8_is_named_in_a_clear_error(tmp_path: Path) -> None:
    import os

    (tmp_path / "alice.py").write_text("x = 1\n")
    (tmp_path / os.fsdecode(b"mal\xffory.py")).write_text("x = 1\n")  # a zip unpacked with CP437
    with pytest.raises(SubmissionsError, match=r"mal\\xffory.py: the name is not UTF-8"):
        discover(tmp_path)


def test_written_text_and_notes_are_capped(tmp_path: Path) -> None:
    # 20 MB of markdown took seconds and a gigabyte to split into lines in the grader, and a
    # million magic lines made a million notes.
    folder = tmp_path / "mallory"
    folder.mkdir()
    (folder / "solution.py").write_text("def mlp_params(N, L, h, n):\n    return 0\n")
    for number in range(4):
        (folder / f"proof{number}.md").write_text("# 3a proof\n" + "\n" * 4_900_000)
    notebook = tmp_path / "magic_on_every_line.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "outputs": [],
                                               "execution_count": None, "source": "%time x = 1\n" * 10_000}],
                                    "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    texts = load(folder).texts
    assert sum(len(text) for text in texts) == 1_000_000
    notes = load(notebook).notes
    assert len(notes) == 51 and notes[-1].startswith("... and ")


def test_a_module_too_large_to_parse_is_scanned_for_its_top_level_names() -> None:
    from grader.models import SourceUnit
    from grader.stages.submissions import defined_names

    # `ast` of 4.8 MB of `x=1` lines took 25 s and 2.7 GB of the grader's memory.
    code = "def mlp_params(N, L, h, n):\n    x = 1\nsoftmax = None\n" + "x=1\n" * 60_000 + "class Net:\n    pass\n"
    assert defined_names([SourceUnit("big.py", code)]) == {"mlp_params", "softmax", "x", "Net"}



def folder_importing_files_loading_skips(folder: Path) -> Path:
    """The fixture folder, plus its `big_table.py`: a module over loading's 5 MB limit."""
    shutil.copytree(LOADING / "folder_importing_files_loading_skips", folder)
    (folder / "big_table.py").write_text("# padding\n" * 550_000 + "EXTRA = 0\n")
    return folder


@pytest.mark.parametrize("changed", ["readme_extra.py", "big_table.py", "extra.txt"])
def test_the_digest_changes_with_a_file_loading_skips_but_the_sandbox_copies(tmp_path: Path, changed: str) -> None:
    # Issue 11, point 4: README* files and code over 5 MB were left out of the digest, though
    # the student's code imports them. extra.txt: a data file changed in content, not size.
    folder = folder_importing_files_loading_skips(tmp_path / "erin")
    before = load(folder)
    assert before.error is None and any("big_table.py" in note for note in before.notes)
    change_extra(folder / changed)
    assert load(folder).digest != before.digest


def change_extra(path: Path) -> None:
    """EXTRA = 0 becomes EXTRA = 1 (or a data file's 0 a 1): new content, the same size."""
    content = path.read_bytes()
    changed = content.replace(b"EXTRA = 0", b"EXTRA = 1") if path.suffix == ".py" else content.replace(b"0", b"1")
    assert changed != content and len(changed) == len(content)
    path.write_bytes(changed)


def test_the_digest_covers_exactly_what_the_sandbox_copies(tmp_path: Path) -> None:
    from grader.sandbox.folders import files_to_copy as copied_by_the_sandbox
    from grader.stages.submission_files import copied_digest, files_to_copy

    folder = folder_importing_files_loading_skips(tmp_path / "erin")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "solution.cpython-311.pyc").write_bytes(b"stale")
    (folder / ".notes").write_text("hidden")
    assert copied_by_the_sandbox is files_to_copy  # one function decides, for both
    before = load(folder).digest
    assert before == copied_digest(folder)
    # Neither is copied, so neither can change what the child runs: no regrade.
    (folder / "__pycache__" / "solution.cpython-311.pyc").write_bytes(b"other")
    (folder / ".notes").write_text("changed")
    assert load(folder).digest == before


def test_magics_are_skipped_with_their_cell_and_line_and_timed_statements_still_run() -> None:
    submission = load(LOADING / "notebook_with_magics.ipynb")
    assert "cell 2, line 1: skipped `%matplotlib inline` (an IPython magic: it does nothing when grading)" in submission.notes
    assert "cell 2, line 3: skipped `!pip install numpy` (a shell command: it does nothing when grading)" in submission.notes
    assert "cell 6, line 3: ran `%time e = 1` once, without timing it" in submission.notes
    units = {unit.label: unit.code for unit in submission.units}
    assert "        e = 1" in units["cell 6"].splitlines()
    # The %%time line is blanked, not removed: a traceback's line numbers are the notebook's.
    assert units["cell 4"].splitlines()[1].startswith("def mlp_params")


def test_a_readme_in_a_students_folder_is_read_like_answers(tmp_path: Path) -> None:
    folder = tmp_path / "dana"
    folder.mkdir()
    (folder / "solution.py").write_text("def mlp_params(N, L, h, n):\n    return 0\n")
    (folder / "README.md").write_text("## 3(a)\nEvery exponential is positive, so ...\n")
    (tmp_path / "README.md").write_text("# Class of 2026\n")
    submission = load(folder)
    assert submission.texts == ("## 3(a)\nEvery exponential is positive, so ...\n",)
    assert discover(tmp_path) == [folder]  # the class's own README beside the students stays out


def test_a_coding_line_decides_a_modules_encoding(tmp_path: Path) -> None:
    module = tmp_path / "rene.py"
    module.write_bytes("# -*- coding: latin-1 -*-\n# René Descartes, élève\ndef mlp_params(N, L, h, n):\n"
                       "    return 0\n".encode("latin-1"))
    submission = load(module)
    assert submission.error is None and "René Descartes, élève" in submission.units[0].code
    unknown = tmp_path / "odd.py"
    unknown.write_bytes(b"# -*- coding: klingon -*-\nx = 1\n")
    error = load(unknown).error
    assert error is not None and "unknown encoding: klingon" in error.message


def test_a_folder_of_near_names_grades_that_file_not_the_helper_before_it(tmp_path: Path) -> None:
    folder = tmp_path / "edsger"
    folder.mkdir()
    (folder / "helpers.py").write_text("def square(x):\n    return x * x\n")
    (folder / "solution.py").write_text("def softmax_fn(z):\n    return z\n\ndef count_cnn_parameters(N, L, k, d, F, h, n_out):\n"
                                        "    return 0\n")
    submission = load(folder)
    assert submission.entry == folder / "solution.py"
