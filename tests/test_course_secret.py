"""The course secret (`grader/course_secret.py`): hidden cases cannot be derived from anything
a student can read (issue 11, point 6)."""

from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.stages import cases
from grader.commands.cli import main
from grader.course_secret import (
    SECRET_FILE_VARIABLE, SECRET_VARIABLE, create_secret, default_secret_path, parse_secret, resolve_secret,
)
from grader.errors import UsageError
from grader.rubric import default_rubric_path, load_rubric

ROOT = Path(__file__).resolve().parent.parent
NO_SECRET: dict[str, str] = {}  # an environment that names no secret


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the default rubric in its own folder, with no secret anywhere."""
    monkeypatch.delenv(SECRET_VARIABLE, raising=False)
    monkeypatch.delenv(SECRET_FILE_VARIABLE, raising=False)
    rubric = tmp_path / "course" / "hw.toml"
    rubric.parent.mkdir()
    shutil.copy(default_rubric_path(), rubric)
    return rubric


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def secret_digits(path: Path) -> str:
    return "".join(line for line in path.read_text().splitlines() if not line.startswith("#"))


def test_init_course_writes_a_random_256_bit_secret_only_its_owner_reads(course: Path) -> None:
    code, output = invoke("init-course", "--rubric", str(course))
    secret = course.with_name("hw.secret")
    assert code == 0 and str(secret) in output
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    digits = secret_digits(secret)
    assert re.fullmatch(r"[0-9a-f]{64}", digits)
    other = create_secret(course.parent / "other.secret", course)
    assert secret_digits(other) != digits, "two courses drew the same secret"
    assert digits not in course.read_text() and "seed" not in load_rubric(course).raw
    # Never silently replaced: every hidden case would change.
    code, output = invoke("init-course", "--rubric", str(course))
    assert code == 2 and "kept" in output and "--force" in output and secret_digits(secret) == digits
    assert invoke("init-course", "--rubric", str(course), "--force")[0] == 0 and secret_digits(secret) != digits


def test_the_public_bundle_never_holds_the_secret(course: Path, tmp_path: Path) -> None:
    invoke("init-course", "--rubric", str(course))
    digits = secret_digits(course.with_name("hw.secret"))
    code, _ = invoke("bundle", "--rubric", str(course), "-o", str(tmp_path / "public.json"))
    text = (tmp_path / "public.json").read_text()
    assert code == 0 and digits not in text and str(int(digits, 16)) not in text


def test_the_secret_is_found_in_the_documented_order(course: Path, tmp_path: Path) -> None:
    files = {name: tmp_path / f"{name}.secret" for name in ("option", "variable", "beside")}
    values = {name: int(secret_digits(create_secret(path, course)), 16) for name, path in files.items()}
    shutil.copy(files["beside"], default_secret_path(course))
    variable = "ab" * 32
    environment = {SECRET_VARIABLE: variable, SECRET_FILE_VARIABLE: str(files["variable"])}
    assert resolve_secret(course, seed=7, secret_file=files["option"], environ=environment).seed == 7
    assert resolve_secret(course, secret_file=files["option"], environ=environment).seed == values["option"]
    assert resolve_secret(course, environ=environment).seed == int(variable, 16)
    assert resolve_secret(course, environ={SECRET_FILE_VARIABLE: str(files["variable"])}).seed == values["variable"]
    assert resolve_secret(course, environ=NO_SECRET).seed == values["beside"]


def test_no_secret_is_an_error_that_names_init_course_and_nothing_is_written(course: Path) -> None:
    with pytest.raises(UsageError, match="no course secret") as raised:
        resolve_secret(course, environ=NO_SECRET)
    assert "grader init-course" in raised.value.hint
    assert not default_secret_path(course).exists()


@pytest.mark.parametrize("text, words", [("2026\n", "16 bits"), ("# comment\n" + "f" * 31, "124 bits"),
                                         ("not hex at all", "hexadecimal")])
def test_a_short_or_malformed_secret_is_refused_with_how_to_make_one(course: Path, text: str, words: str) -> None:
    default_secret_path(course).write_text(text)
    with pytest.raises(UsageError, match=words) as raised:
        resolve_secret(course, environ=NO_SECRET)
    assert "grader init-course --force" in raised.value.hint
    with pytest.raises(UsageError, match=words) as raised:
        resolve_secret(course, environ={SECRET_VARIABLE: text})
    assert SECRET_VARIABLE in str(raised.value) and SECRET_VARIABLE in raised.value.hint
    assert parse_secret("# comment\n" + "f" * 32, "here") == (1 << 128) - 1


def test_a_short_explicit_seed_is_warned_about(course: Path) -> None:
    secret = resolve_secret(course, seed=20240901, environ=NO_SECRET)
    assert secret.seed == 20240901 and "25 bits" in secret.warnings[0] and "reproduce" in secret.warnings[0]
    assert resolve_secret(course, seed=1 << 200, environ=NO_SECRET).warnings == ()


def test_a_rubric_that_still_carries_a_seed_is_told_how_to_move_it_and_the_seed_is_not_used(
        course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    course.write_text(course.read_text().replace("schema_version = 1\n", "schema_version = 1\nseed = 20240901\n", 1))
    assert load_rubric(course).legacy_seed == 20240901
    create_secret(default_secret_path(course), course)
    secret = resolve_secret(course, environ=NO_SECRET, legacy_seed=20240901)
    assert secret.seed != 20240901
    (warning,) = secret.warnings
    assert "seed = 20240901" in warning and "Delete the line" in warning and "--seed 20240901" in warning
    code, output = invoke("rubric", "validate", str(course))
    assert code == 0 and "WARNING" in output and "Delete the line" in output
    from grader.stages.pipeline import Grader, Settings

    with Grader(Settings(rubric_path=course)) as grader:
        assert grader.seed == secret.seed


def test_hidden_cases_come_from_the_secret(course: Path) -> None:
    import reference

    rubric = load_rubric(course)
    policy = rubric.problem("p1")

    def hidden(seed: int) -> list[dict]:
        key = cases.build_key(reference.PROBLEMS["p1"], policy, rubric.conventions, student_id="ada", seed=seed)
        return [case.arguments for case in key.cases if case.tag == "hidden"]

    first, second = (int(secret_digits(create_secret(course.parent / f"{n}.secret", course)), 16) for n in "ab")
    assert hidden(first) == hidden(first) and hidden(first) != hidden(second)


def test_the_first_run_writes_the_secret_says_so_and_a_rerun_uses_it(course: Path, tmp_path: Path) -> None:
    submissions = tmp_path / "class"
    submissions.mkdir()
    shutil.copy(ROOT / "tests" / "fixtures" / "loading" / "honest_solution.py", submissions / "ada.py")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(submissions), "--out", str(out), "--rubric", str(course),
                                       "--jobs", "1"], catch_exceptions=False)
    secret = default_secret_path(course)
    assert result.exit_code == 0 and secret.exists() and "wrote a new course secret" in result.output
    digits = secret_digits(secret)
    again = CliRunner().invoke(main, ["run", str(submissions), "--out", str(out), "--rubric", str(course),
                                      "--jobs", "1"], catch_exceptions=False)
    assert again.exit_code == 0 and "wrote a new course secret" not in again.output
    assert "1 unchanged" in again.output and secret_digits(secret) == digits
    html = (out / "index.html").read_text()
    assert digits not in html and str(int(digits, 16)) not in html, "the dashboard shows a fingerprint only"


def test_a_mistyped_class_folder_writes_no_secret(course: Path, tmp_path: Path) -> None:
    code, output = invoke("run", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"), "--rubric", str(course))
    assert code == 2 and "nowhere" in output and not default_secret_path(course).exists()
