"""The command line: help with examples, exit codes, and messages that never show a traceback."""

from __future__ import annotations

import csv
import html
import json
import re
import shlex
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.commands.cli import main
from grader.rubric import load_rubric

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "submissions"
COMMANDS = ["run", "check", "report", "bundle", "init-course", "build-checker", "init-ci", "replay", "reference", "rubric", "feedback"]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize("command", ["run", "check", "report", "bundle", "init-course", "build-checker", "init-ci", "replay", "feedback"])
def test_every_command_has_help_with_an_example(command: str) -> None:
    code, output = invoke(command, "--help")
    assert code == 0
    assert "Example" in output


def test_the_group_lists_every_command() -> None:
    code, output = invoke("--help")
    assert code == 0
    for command in COMMANDS:
        assert command in output


def test_a_missing_submissions_folder_is_a_clear_error(tmp_path: Path) -> None:
    code, output = invoke("run", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert code == 2
    assert "nowhere" in output and "Traceback" not in output


def test_a_rubric_typo_names_the_file_key_and_a_fix(tmp_path: Path) -> None:
    original = (ROOT / "rubrics" / "dl-hw1.toml").read_text()
    broken = tmp_path / "broken.toml"
    broken.write_text(original.replace("[problems.p1]", "[problems.p1]\npionts = 3", 1))
    code, output = invoke("rubric", "validate", str(broken))
    assert code == 2
    assert "broken.toml" in output and "pionts" in output and 'did you mean "points"' in output
    assert "Traceback" not in output


def test_an_unknown_problem_for_only_suggests_the_right_one(tmp_path: Path) -> None:
    code, output = invoke("run", str(SUBMISSIONS), "--out", str(tmp_path / "out"), "--only", "p3d")
    assert code == 2 and "p3d" in output and "Traceback" not in output


def test_check_without_a_bundle_says_where_to_get_one(tmp_path: Path) -> None:
    (tmp_path / "solution.py").write_text("def mlp_params(N, L, h, n):\n    return 0\n")
    code, output = invoke("check", str(tmp_path))
    assert code == 2
    assert "public.json" in output and "Traceback" not in output


def test_bundle_then_check_exits_zero_for_a_correct_repository(tmp_path: Path) -> None:
    correct = SUBMISSIONS / "ada_lovelace.py"
    repository = tmp_path / "repository"
    repository.mkdir()
    shutil.copy(correct, repository / "homework.py")
    code, output = invoke("bundle", "-o", str(repository / "public.json"))
    assert code == 0, output
    code, output = invoke("check", str(repository), "--format", "json")
    assert code == 0, output
    assert all(problem["status"] == "correct" for problem in json.loads(output)["problems"])


def test_check_exits_one_and_annotates_a_wrong_repository(tmp_path: Path) -> None:
    # The transcribed write-up (code): the markdown-only one is graded from formulas, not run.
    write_up = SUBMISSIONS / "write_up_student_folder"
    repository = tmp_path / "repository"
    if write_up.is_dir():
        shutil.copytree(write_up, repository)
    else:
        repository.mkdir()
        shutil.copy(write_up, repository / write_up.name)
    invoke("bundle", "-o", str(repository / "public.json"))
    code, output = invoke("check", str(repository), "--format", "github")
    assert code == 1
    assert "::error" in output and "input-as-layer" in output


def test_init_ci_writes_a_workflow_that_installs_the_student_checker(tmp_path: Path) -> None:
    invoke("bundle", "-o", str(tmp_path / "public.json"))
    code, output = invoke("init-ci", str(tmp_path))
    assert code == 0, output
    workflow = (tmp_path / ".github" / "workflows" / "grader.yml").read_text()
    assert "grader check . --format github" in workflow
    # Not `pip install grader`: on the public index that name is someone else's package.
    (wheel,) = (tmp_path / ".github" / "grader").glob("grader_checker-*.whl")
    assert f"python -m pip install ./.github/grader/{wheel.name}" in workflow and "install grader\n" not in workflow
    assert "cache: pip" in workflow and "commit them with public.json" in output
    # The homework runs in this job: its token reads, and is not left in .git/config.
    assert "permissions:\n  contents: read" in workflow and "persist-credentials: false" in workflow
    code, output = invoke("init-ci", str(tmp_path))
    assert code == 2 and "--force" in output
    code, output = invoke("init-ci", str(tmp_path), "--force", "--checker", str(wheel),
                          "--checker-url", f"https://example.org/{wheel.name}\n    permissions: write-all")
    assert code == 2 and "not an https URL of one word" in output


def test_check_refuses_a_bundle_that_is_no_file(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    # A FIFO nobody writes to (or /dev/zero) was read forever. In a subprocess, so that a
    # regression fails here instead of hanging the suite; the limit tells a hang from an answer.
    os.mkfifo(tmp_path / "public.json")
    (tmp_path / "homework.py").write_text("x = 1\n")
    done = subprocess.run([sys.executable, "-m", "grader", "check", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "not a bundle file" in done.stderr + done.stdout


def test_reference_breakdown_prints_each_term_and_the_total() -> None:
    code, output = invoke("reference", "breakdown", "p1", "N=2", "L=1", "h=3", "n=4", "--no-verify")
    assert code == 0, output
    assert str((3 * 4 + 1) * 3 + (3 + 1) * 4) in output


def test_reference_breakdown_rejects_a_vanishing_feature_map() -> None:
    code, output = invoke("reference", "breakdown", "p2", "N=4", "L=3", "k=3", "d=2", "F=1", "h=4",
                          "n_out=2", "--no-verify")
    assert code == 2 and "Traceback" not in output


def test_replay_runs_one_case_and_shows_expected_and_got() -> None:
    correct = SUBMISSIONS / "ada_lovelace.py"
    code, output = invoke("replay", str(correct), "p1", "--args", '{"N": 2, "L": 1, "h": 3, "n": 4}')
    assert code == 0, output
    assert "expected:  55" in output and "got:       55" in output


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_refused_before_any_grading(tmp_path: Path) -> None:
    code, output = invoke("run", str(SUBMISSIONS), "--out", str(tmp_path / "out"), "--device", "cuda")
    assert code == 2 and "CUDA" in output and "Traceback" not in output
    assert not (tmp_path / "out" / "gradebook.sqlite").exists()


def test_report_on_a_damaged_results_file_says_how_to_recover(tmp_path: Path) -> None:
    (tmp_path / "gradebook.sqlite").write_bytes(b"")
    (tmp_path / "results.json").write_text('{"submissions": [')
    code, output = invoke("report", str(tmp_path))
    assert code == 2 and "results.json" in output and "grader run" in output
    assert "internal error" not in output


def test_check_prints_replay_commands_that_rerun_against_the_same_bundle(tmp_path: Path) -> None:
    import re
    import shlex

    repository = tmp_path / "repository"
    repository.mkdir()
    shutil.copy(SUBMISSIONS / "mistake_p1_input_as_layer.py", repository / "homework.py")
    invoke("bundle", "-o", str(repository / "public.json"))
    code, output = invoke("check", str(repository))
    assert code == 1
    lines = output.splitlines()
    at = next(i for i, line in enumerate(lines) if "replay: grader replay" in line and " p1 " in line)
    line, failing = lines[at], lines[at - 1]  # "failing case: ... → expected 47, got 35", then the command
    command = shlex.split(line.split("replay: ", 1)[1])
    assert command[-2:] == ["--bundle", str(repository / "public.json")]
    code, replayed = invoke(*command[1:])
    assert code == 0, replayed
    expected = re.search(r"expected (\d+), got (\d+)", failing)
    assert expected and f"expected:  {expected.group(1)}" in replayed and f"got:       {expected.group(2)}" in replayed
    assert "input-as-layer" in replayed


def test_replay_from_a_bundle_refuses_a_case_it_does_not_hold(tmp_path: Path) -> None:
    invoke("bundle", "-o", str(tmp_path / "public.json"))
    code, output = invoke("replay", str(SUBMISSIONS / "ada_lovelace.py"), "p1", "--args",
                          '{"N": 97, "L": 5, "h": 3, "n": 4}', "--bundle", str(tmp_path / "public.json"))
    assert code == 2 and "public cases" in output and "Traceback" not in output


def test_a_grader_bug_on_one_submission_exits_70_after_grading_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.stages import pipeline
    from tests.test_pipeline import grader_bug_on, students_folder

    submissions = students_folder(tmp_path / "class", "alice", "mallory")
    grader_bug_on(monkeypatch, pipeline.Grader, "grade", "mallory", OverflowError("Python int too large to convert to C long"))
    code, output = invoke("run", str(submissions), "--out", str(tmp_path / "out"), "--jobs", "1")
    assert code == 70
    assert "the grader failed on 1 submission(s), which are not graded: mallory.py" in output
    assert "OverflowError" in output and "Traceback" not in output
    assert "alice" in (tmp_path / "out" / "grades.csv").read_text()


HOSTILE_OUTPUT = ROOT / "tests" / "fixtures" / "hostile" / "terminal_escapes_and_workflow_commands.py"


def test_replay_shows_a_students_escape_sequences_instead_of_sending_them() -> None:
    code, output = invoke("replay", str(HOSTILE_OUTPUT), "p1", "--args", '{"N": 2, "L": 1, "h": 3, "n": 4}')
    assert "\x1b" not in output and "\x07" not in output  # nothing a terminal would act on
    assert "\\x1b]52;c;" in output and "\\x1b[2J" in output  # shown, as text


def test_check_for_github_leaves_no_line_a_workflow_command_but_its_annotations(tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    repository.mkdir()
    shutil.copy(HOSTILE_OUTPUT, repository / "homework.py")
    invoke("bundle", "-o", str(repository / "public.json"))
    code, output = invoke("check", str(repository), "--format", "github")
    assert code == 1
    commands = [line for line in output.splitlines() if line.lstrip().startswith(("::", "##["))]
    assert commands and all(line.startswith("::error ") for line in commands)
    assert "\x1b" not in output


def test_a_terminated_run_stops_like_ctrl_c_and_leaves_no_process(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from tests.test_executors import stored_results

    def leftovers() -> list[str]:
        return subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()

    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "grader", "run", str(SUBMISSIONS), "--out", str(out),
                            "--jobs", "2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Started when the first result is stored: the pool and its sandboxes are up (polled, not
    # a fixed sleep, which was too short on a loaded machine and wasted time on an idle one).
    deadline = time.monotonic() + 300
    while not stored_results(out / "gradebook.sqlite") and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.poll() is None, "the run ended before it could be interrupted"
    run.send_signal(signal.SIGTERM)
    _, errors = run.communicate(timeout=60)
    assert run.returncode == 130 and "interrupted: finished submissions are kept" in errors, errors
    assert "Traceback" not in errors and "leaked" not in errors
    deadline = time.monotonic() + 30  # processes being reaped right now may still be listed
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers() == []


@pytest.mark.parametrize(("problem", "arguments", "words"), [
    ("p1", '{"N": 1e300, "L": 1, "h": 3, "n": 2}', "larger than any case"),  # was OverflowError, exit 70
    ("p1", '{"N": 2.5, "L": 1, "h": 3, "n": 2}', "must be whole numbers"),  # was graded as N = 2
    ("p3a", '{"z": [[1, 2], [3]]}', "not a vector of numbers"),  # was ValueError, exit 70
])
def test_replay_refuses_arguments_no_case_could_have(problem: str, arguments: str, words: str) -> None:
    code, output = invoke("replay", str(SUBMISSIONS / "ada_lovelace.py"), problem, "--args", arguments)
    assert code == 2 and words in output and "internal error" not in output, output


@pytest.mark.parametrize(("damage", "words"), [
    (lambda data: data["limits"].update(timeout_seconds="fast"), "limits.timeout_seconds"),
    (lambda data: data["manual"][0].update(heading="(unclosed"), "missing )"),
    (lambda data: data.update(problems=[]), "holds no problem"),
])
def test_a_hand_damaged_bundle_is_refused_before_any_grading(tmp_path: Path, damage, words: str) -> None:  # type: ignore[no-untyped-def]
    # Each once graded: every student "called sys.exit", an internal error, or exit 0 for nothing checked.
    repository = tmp_path / "repository"
    repository.mkdir()
    shutil.copy(SUBMISSIONS / "ada_lovelace.py", repository / "homework.py")
    invoke("bundle", "-o", str(repository / "public.json"))
    data = json.loads((repository / "public.json").read_text())
    damage(data)
    (repository / "public.json").write_text(json.dumps(data))
    code, output = invoke("check", str(repository))
    assert code == 2 and "damaged bundle" in output and words in output, output


def test_a_student_id_cannot_break_a_progress_line() -> None:
    from grader.commands.cli_support import one_line

    # A file named "a\n::error::pwned.py" printed a GitHub workflow command of its own.
    assert "\n" not in one_line("a\n::error::pwned") and "\u202e" not in one_line("a\u202eb")



# --------------------------------------------------------------------------- LMS exports in, feedback out


#: A Canvas download of a small class: a correct module, a late notebook, a wrong sign (with
#: failing public cases to replay) and a PDF no one can grade.
CANVAS_CLASS = {
    "lovelaceada_23456_78901_hw1.py": SUBMISSIONS / "ada_lovelace.py",
    "hoppergrace_LATE_23457_78902_HW1-1.ipynb": SUBMISSIONS / "grace_hopper.ipynb",
    "flipperjoan_23459_78904_hw1.py": SUBMISSIONS / "mistake_3b_sign_flipped.py",
}
CLASS_IDS = ("lovelaceada", "hoppergrace", "flipperjoan", "turingalan", "noetheremmy")
CLASS_NAMES = ("Ada Lovelace", "Grace Hopper", "Joan Flipper", "Alan Turing", "Emmy Noether")


@pytest.fixture(scope="module")
def released_canvas_class(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """`grader run canvas.zip --roster` then `grader feedback --to release/`, once for the module."""
    base = tmp_path_factory.mktemp("canvas class")
    archive = base / "HW1 submissions.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as output:
        for name, source in CANVAS_CLASS.items():
            output.write(source, name)
        output.writestr("turingalan_23458_78903_hw1.pdf", b"%PDF-1.4 not code")
    roster = base / "roster.csv"
    roster.write_text("ID,NAME,Email\n" + "".join(
        f"{student},{name},{student}@example.edu\n" for student, name in zip(CLASS_IDS, CLASS_NAMES)))
    rubric = base / "rubric.toml"
    rubric.write_text((ROOT / "rubrics" / "dl-hw1.toml").read_text()
                      + "\n[late]\ndue = 2026-10-01T23:59:00-04:00\npenalty_per_day = 0.1\n")
    out, release = base / "out", base / "release"
    run = CliRunner().invoke(main, ["run", str(archive), "--roster", str(roster), "--rubric", str(rubric),
                                    "--out", str(out), "--jobs", "2"], catch_exceptions=False)
    feedback = CliRunner().invoke(main, ["feedback", str(out), "--to", str(release), "--lms", "canvas",
                                         "--canvas-assignment-id", "12345"], catch_exceptions=False)
    return {"base": base, "out": out, "release": release, "run": run, "feedback": feedback, "rubric": rubric}


def test_a_canvas_zip_grades_exactly_its_students_and_exits_65_for_the_unreadable_one(
        released_canvas_class: dict[str, object]) -> None:
    run = released_canvas_class["run"]
    assert run.exit_code == 65, run.output  # type: ignore[attr-defined]
    output = run.output  # type: ignore[attr-defined]
    assert "1 of 4 entries could not be graded (unreadable): turingalan" in output
    assert "no submission): noetheremmy" in output and "hoppergrace (marked late by the LMS: -10%)" in output
    results = json.loads((released_canvas_class["out"] / "results.json").read_text())  # type: ignore[operator]
    assert sorted(entry["id"] for entry in results["submissions"]) == ["flipperjoan", "hoppergrace", "lovelaceada",
                                                                       "turingalan"]
    assert results["intake"]["no_submission"] == ["noetheremmy"] and results["intake"]["lms"] == "canvas"


def test_feedback_pages_hold_only_their_students_results_and_no_instructor_path(
        released_canvas_class: dict[str, object]) -> None:
    feedback = released_canvas_class["feedback"]
    assert feedback.exit_code == 0, feedback.output  # type: ignore[attr-defined]
    pages = sorted((released_canvas_class["release"] / "students").glob("*.html"))  # type: ignore[operator]
    assert [page.stem for page in pages] == ["flipperjoan", "hoppergrace", "lovelaceada", "turingalan"]
    base = str(released_canvas_class["base"])
    for page in pages:
        text = page.read_text(encoding="utf-8")
        owner = CLASS_IDS.index(page.stem)
        others = [word for index, pair in enumerate(zip(CLASS_IDS, CLASS_NAMES)) if index != owner for word in pair]
        assert not [word for word in others if word in text], page.name
        assert base not in text and "/tmp/" not in text and "/intake/" not in text, page.name
        assert "index.html" not in text  # no link to the class dashboard
        assert CLASS_NAMES[owner] in text
    assert "Late: marked late by the LMS: -10%; 50 points before the penalty" in pages[1].read_text()


def test_feedback_writes_the_canvas_upload_with_the_assignment_column(released_canvas_class: dict[str, object]) -> None:
    upload = released_canvas_class["release"] / "canvas-grades.csv"  # type: ignore[operator]
    rows = list(csv.reader(upload.open(newline="", encoding="utf-8")))
    title = load_rubric(released_canvas_class["rubric"]).title  # type: ignore[arg-type]
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{title} (12345)"]
    grades = {row[1]: row[5] for row in rows[1:]}
    assert float(grades["23456"]) > 0
    assert float(grades["23457"]) == pytest.approx(0.9 * float(grades["23456"]))  # Grace: late, -10%
    assert "" in grades.values()  # Emmy: no submission, no grade written


def test_a_released_replay_command_works_in_the_students_own_repository(
        released_canvas_class: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = (released_canvas_class["release"] / "students" / "flipperjoan.html").read_text()  # type: ignore[operator]
    commands = [html.unescape(found) for found in re.findall(r'<code class="replay">([^<]*)</code>', page)]
    assert commands and all(command.endswith("--bundle public.json") for command in commands)
    repository = tmp_path / "flipperjoan-hw1"
    repository.mkdir()
    shutil.copy(SUBMISSIONS / "mistake_3b_sign_flipped.py", repository / "hw1.py")
    code, output = invoke("bundle", "--rubric", str(released_canvas_class["rubric"]),
                          "-o", str(repository / "public.json"))
    assert code == 0, output
    monkeypatch.chdir(repository)
    words = shlex.split(commands[0])
    assert words[:3] == ["grader", "replay", "."]
    code, output = invoke(*words[1:])
    assert code == 0, output
    assert "expected" in output.lower()


def test_feedback_before_any_run_says_what_to_do(tmp_path: Path) -> None:
    code, output = invoke("feedback", str(tmp_path / "out"), "--to", str(tmp_path / "release"))
    assert code == 2 and "grader run" in output and "Traceback" not in output


def test_report_after_an_export_run_keeps_the_late_penalty_and_the_intake(
        released_canvas_class: dict[str, object]) -> None:
    out = released_canvas_class["out"]
    before = json.loads((out / "results.json").read_text())  # type: ignore[operator]
    code, output = invoke("report", str(out), "--rubric", str(released_canvas_class["rubric"]))
    assert code == 0, output
    after = json.loads((out / "results.json").read_text())  # type: ignore[operator]
    totals = {entry["id"]: entry["total"] for entry in after["submissions"]}
    assert totals == {entry["id"]: entry["total"] for entry in before["submissions"]}
    assert after["intake"] == before["intake"] and "hoppergrace" in after["intake"]["late"]


def test_a_zip_that_climbs_out_of_its_folder_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as output:
        output.writestr("alice.py", "x = 1\n")
        output.writestr("../../evil.py", "x = 1\n")
    code, output = invoke("run", str(archive), "--out", str(tmp_path / "out"))
    assert code == 2 and "Traceback" not in output
    assert "class.zip: refused to unpack: member '../../evil.py' climbs out of the folder" in output
