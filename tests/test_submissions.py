"""Loading submissions: files, notebooks of every version, folders, and unreadable input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.errors import SubmissionsError
from grader.submissions import discover, load

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
