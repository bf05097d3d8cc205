"""The pipeline end to end: the sample class, results.json, resume after kill -9, check parity."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from grader.outputs.bundle import read_bundle, write_bundle
from grader.stages.pipeline import Grader, Settings
from grader.rubric import default_rubric_path, load_rubric
from grader.commands.runs import rerender, run_class
from grader.commands.student_check import check_one
from tests.sample_expectations import EXPECTED, EXPECTED_ERROR_KINDS, EXPECTED_FUNCTIONS

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "submissions"
STATUSES = {"correct", "partial", "incorrect", "missing", "error", "review"}
ERROR_KINDS = {"timeout", "memory", "crash", "exit", "exception", "syntax", "invalid-output", "unreadable"}


def fast_settings() -> Settings:
    """The default rubric with short limits: hostile samples cost seconds, not minutes.

    Memory shrinks with time: a bomb must fill its budget before the 2 s clock stops it, or
    it is (rightly) a timeout. At 512 MiB the sample bomb's second 256 MiB block sometimes
    had not been written when the clock stopped it, on a machine running two test suites at
    once; at 256 MiB its first block is refused at once. Still far more than any honest
    sample uses.
    """
    rubric = load_rubric(default_rubric_path())
    limits = replace(rubric.limits, timeout_seconds=2.0, load_timeout_seconds=4.0, memory_mib=256)
    return Settings(rubric_path=rubric.path, limits=limits)


def students_folder(folder: Path, *students: str) -> Path:
    """A class folder of these honest students, one module each."""
    folder.mkdir(parents=True)
    for student in students:
        shutil.copy(ROOT / "tests" / "fixtures" / "loading" / "honest_solution.py", folder / f"{student}.py")
    return folder


def grader_bug_on(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, student: str, error: Exception) -> None:
    """Make `owner.name` raise `error` for `student`'s entry (its last argument), as a grader bug
    that one submission triggers would, and behave as before for everyone else."""
    real = getattr(owner, name)

    def with_a_bug(*arguments: object) -> object:
        if Path(arguments[-1]).stem == student:  # type: ignore[arg-type]
            raise error
        return real(*arguments)

    monkeypatch.setattr(owner, name, with_a_bug)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("sample-run")
    run_class(SUBMISSIONS, out, fast_settings(), jobs=2)
    return json.loads((out / "results.json").read_text()), out


def by_student(results: dict) -> dict[str, dict]:
    return {entry["id"]: entry for entry in results["submissions"]}


def test_every_sample_is_graded(sample_run: tuple[dict, Path]) -> None:
    results, _ = sample_run
    assert set(by_student(results)) == set(EXPECTED)


@pytest.mark.parametrize("student_id", sorted(EXPECTED))
def test_sample_gets_its_pinned_status_and_mistakes(sample_run: tuple[dict, Path], student_id: str) -> None:
    entry = by_student(sample_run[0])[student_id]
    problems = {problem["id"]: problem for problem in entry["problems"]}
    for problem_id, (status, misconceptions) in EXPECTED[student_id].items():
        got = problems[problem_id]
        assert (got["status"], frozenset(got["misconceptions"])) == (status, misconceptions), (
            f"{student_id} {problem_id}: {got['explanation']} {got['error']}")


def test_results_json_has_exactly_the_design_fields(sample_run: tuple[dict, Path]) -> None:
    results, _ = sample_run
    assert {"rubric", "seed", "submissions"} <= set(results)
    for entry in results["submissions"]:
        assert {"id", "total", "max", "error", "problems"} <= set(entry)
        for problem in entry["problems"]:
            assert {"id", "status", "score", "max", "function", "misconceptions", "explanation",
                    "error", "cases"} <= set(problem)
            assert problem["id"] in {"p1", "p2", "p2-torch", "p3a", "p3b", "p3c"}
            assert problem["status"] in STATUSES
            assert set(problem["cases"]) == {"passed", "total"}
            if problem["error"] is not None:
                assert problem["error"]["kind"] in ERROR_KINDS
                assert problem["error"]["message"]


def test_write_up_p2_is_named_as_its_six_mistakes(sample_run: tuple[dict, Path]) -> None:
    write_ups = [entry for entry in sample_run[0]["submissions"] if "write_up" in entry["id"]]
    assert write_ups, "the sample class must hold the transcribed write-up"
    p2 = next(problem for problem in write_ups[0]["problems"] if problem["id"] == "p2")
    assert set(p2["misconceptions"]) == {"conv-ignores-input-channels", "flatten-is-filter-params",
                                         "fc-no-bias", "fc-F-minus-2", "fc-weights-linear-in-h",
                                         "output-no-bias"}


def test_every_output_is_written(sample_run: tuple[dict, Path]) -> None:
    _, out = sample_run
    for name in ("index.html", "results.json", "grades.csv", "gradebook.sqlite"):
        assert (out / name).exists(), name
    students = list((out / "students").glob("*.html"))
    assert len(students) == len(EXPECTED)
    assert len(list((out / "gradescope").glob("*.json"))) == len(EXPECTED)


def own_copy(sample_run: tuple[dict, Path], tmp_path: Path) -> Path:
    """The sample run's output folder copied for a test that writes to it: the module's run
    stays as it was graded, so tests pass in any order."""
    copy = tmp_path / "out"
    shutil.copytree(sample_run[1], copy)
    return copy


def test_a_rerun_regrades_nothing_and_keeps_the_results(sample_run: tuple[dict, Path], tmp_path: Path) -> None:
    results, out = sample_run[0], own_copy(sample_run, tmp_path)
    outcome = run_class(SUBMISSIONS, out, fast_settings(), jobs=2)
    assert outcome.graded == 0 and outcome.reused == len(EXPECTED)
    again = json.loads((out / "results.json").read_text())
    assert again["submissions"] == results["submissions"]


def honest_class(tmp_path: Path, count: int) -> Path:
    """A class of `count` copies of a correct sample, under distinct student ids."""
    folder = tmp_path / "class"
    folder.mkdir()
    source = SUBMISSIONS / "ada_lovelace.py"
    for index in range(count):
        (folder / f"student_{index:03d}.py").write_text(source.read_text())
    return folder


@pytest.mark.slow
def test_a_run_killed_with_sigkill_continues_to_identical_results(tmp_path: Path) -> None:
    folder = honest_class(tmp_path, 24)
    interrupted, reference_out = tmp_path / "interrupted", tmp_path / "uninterrupted"
    command = [sys.executable, "-m", "grader", "run", str(folder), "--jobs", "1"]
    process = subprocess.Popen([*command, "--out", str(interrupted)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    gradebook = interrupted / "gradebook.sqlite"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if gradebook.exists() and _stored(gradebook) >= 3:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    stored_before = _stored(gradebook)
    assert 0 < stored_before < 24, "the kill must land mid-run"
    subprocess.run([*command, "--out", str(interrupted)], cwd=ROOT, check=True, capture_output=True)
    subprocess.run([*command, "--out", str(reference_out)], cwd=ROOT, check=True, capture_output=True)
    resumed = json.loads((interrupted / "results.json").read_text())["submissions"]
    clean = json.loads((reference_out / "results.json").read_text())["submissions"]
    assert resumed == clean


def _stored(gradebook: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(gradebook, timeout=1) as connection:
            return int(connection.execute("SELECT COUNT(*) FROM results").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_check_from_a_bundle_agrees_with_the_answer_key(tmp_path: Path) -> None:
    rubric = load_rubric(default_rubric_path())
    bundle = read_bundle(write_bundle(rubric, tmp_path / "public.json"))
    assert '"seed"' not in (tmp_path / "public.json").read_text(), "the seed would reveal hidden cases"
    write_up = SUBMISSIONS / "write_up_student.ipynb"  # code: its naive softmax overflows
    result = check_one(write_up, bundle).result
    verdicts = {v.problem_id: v for v in result.verdicts}
    assert verdicts["p1"].misconceptions == ("input-as-layer",)
    assert "naive-exp-overflow" in verdicts["p3a"].misconceptions
    correct = SUBMISSIONS / "ada_lovelace.py"
    assert all(v.status == "correct" for v in check_one(correct, bundle).result.verdicts)


def test_a_grader_bug_on_one_submission_leaves_it_ungraded_and_grades_the_class(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.stages import pipeline

    submissions = students_folder(tmp_path / "class", "alice", "mallory")
    # As a student's 10**30 once met an int64 comparison:
    grader_bug_on(monkeypatch, pipeline.Grader, "grade", "mallory", OverflowError("Python int too large to convert to C long"))
    out = tmp_path / "out"
    outcome = run_class(submissions, out, fast_settings(), jobs=1)
    assert [fault.entry.stem for fault in outcome.faults] == ["mallory"]
    assert [result.student_id for result in outcome.summary.results] == ["alice"]
    assert outcome.faults_log is not None and "OverflowError" in outcome.faults_log.read_text()
    monkeypatch.undo()  # the bug fixed: the next run grades mallory alone, and the log goes
    outcome = run_class(submissions, out, fast_settings(), jobs=1)
    assert (outcome.graded, outcome.reused, outcome.faults) == (1, 1, ())
    assert not (out / "grader-faults.log").exists()


def test_a_grader_bug_reading_one_entry_leaves_it_ungraded_and_grades_the_class(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.commands import runs

    submissions = students_folder(tmp_path / "class", "alice", "mallory")
    grader_bug_on(monkeypatch, runs, "load", "mallory", RecursionError("maximum recursion depth exceeded"))
    outcome = run_class(submissions, tmp_path / "out", fast_settings(), jobs=1)
    assert [fault.entry.stem for fault in outcome.faults] == ["mallory"]
    assert [result.student_id for result in outcome.summary.results] == ["alice"]
    assert (outcome.graded, outcome.reused) == (1, 0)


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_holds_it(tmp_path: Path) -> None:
    from grader.errors import UsageError
    from grader.commands.runs import hold_output_folder, prepare_output_folder

    out = tmp_path / "out"
    prepare_output_folder(out, SUBMISSIONS)
    with hold_output_folder(out):  # as a run in another process holds it
        with pytest.raises(UsageError, match=r"another `grader run` \(pid \d+\) is writing to this folder"):
            run_class(SUBMISSIONS, out, fast_settings(), jobs=1)
    assert not (out / "results.json").exists()


def test_an_output_folder_inside_the_class_or_unwritable_is_a_usage_error(tmp_path: Path) -> None:
    from grader.errors import UsageError

    submissions = students_folder(tmp_path / "class", "alice")
    with pytest.raises(UsageError, match="inside the submissions folder"):
        run_class(submissions, submissions / "out", fast_settings(), jobs=1)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(UsageError, match="cannot write the output folder"):
        run_class(submissions, tmp_path / "a-file", fast_settings(), jobs=1)


def test_rerendering_from_an_emptied_gradebook_keeps_the_results_it_would_erase(tmp_path: Path) -> None:
    from grader.errors import UsageError

    submissions = students_folder(tmp_path / "class", "alice")
    out = tmp_path / "out"
    run_class(submissions, out, fast_settings(), jobs=1)
    results = (out / "results.json").read_text()
    (out / "gradebook.sqlite").write_bytes(b"")  # emptied: `: > out/gradebook.sqlite`
    with pytest.raises(UsageError, match="holds none of the 1 results"):
        rerender(out, default_rubric_path())
    assert (out / "results.json").read_text() == results  # the only copy, untouched
    (out / "results.json").write_text("[]")
    with pytest.raises(UsageError, match="not the results of a run"):
        rerender(out, default_rubric_path())


def test_code_that_never_loads_is_an_error_in_every_problem_not_missing(tmp_path: Path) -> None:
    (tmp_path / "exits_at_import.py").write_text("import sys\nsys.exit(3)\n\ndef mlp_params(N, L, h, n):\n    return 0\n")
    rubric = load_rubric(default_rubric_path())
    bundle = read_bundle(write_bundle(rubric, tmp_path / "public.json"))
    result = check_one(tmp_path / "exits_at_import.py", bundle).result
    assert result.error is not None and result.error.kind == "exit"
    assert {verdict.status for verdict in result.verdicts} == {"error"}
    assert {verdict.error.kind for verdict in result.verdicts if verdict.error} == {"exit"}


def test_manual_points_imported_by_report_show_up_and_survive_a_rerun(
        sample_run: tuple[dict, Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from grader.commands.cli import main

    out = own_copy(sample_run, tmp_path)
    scores = tmp_path / "proof-scores.csv"
    scores.write_text("student_id,item_id,points,comment\nada_lovelace,p3a-proof,4,clear and complete\n")
    invoked = CliRunner().invoke(main, ["report", str(out), "--manual", str(scores)])
    assert invoked.exit_code == 0, invoked.output

    def ada_proof() -> dict:
        results = json.loads((out / "results.json").read_text())
        return next(item for item in by_student(results)["ada_lovelace"]["manual"] if item["id"] == "p3a-proof")

    assert (ada_proof()["score"], ada_proof()["comment"]) == (4.0, "clear and complete")
    assert "clear and complete" in (out / "students" / "ada_lovelace.html").read_text()
    run_class(SUBMISSIONS, out, fast_settings(), jobs=2)
    assert ada_proof()["score"] == 4.0


def test_a_function_never_written_is_missing_with_no_error_record(sample_run: tuple[dict, Path]) -> None:
    p2 = next(p for p in by_student(sample_run[0])["missing_cnn_params"]["problems"] if p["id"] == "p2")
    assert (p2["status"], p2["error"]) == ("missing", None)
    assert "cnn_params" in p2["explanation"]


@pytest.mark.parametrize("student_id", sorted(EXPECTED_ERROR_KINDS))
def test_each_failing_sample_fails_with_its_pinned_error_kind(sample_run: tuple[dict, Path], student_id: str) -> None:
    problems = {p["id"]: p for p in by_student(sample_run[0])[student_id]["problems"]}
    for problem_id, kind in EXPECTED_ERROR_KINDS[student_id].items():
        error = problems[problem_id]["error"]
        assert error is not None and error["kind"] == kind, (student_id, problem_id, error)


def test_files_written_while_grading_equal_a_rerender_from_the_gradebook(
        sample_run: tuple[dict, Path], tmp_path: Path) -> None:
    # Student pages and Gradescope files are written as each result arrives, not from the
    # gradebook at the end: they must be exactly what the gradebook renders.
    _, out = sample_run
    copy = own_copy(sample_run, tmp_path)
    for written in [*(copy / "students").iterdir(), *(copy / "gradescope").iterdir()]:
        written.unlink()
    rerender(copy, default_rubric_path())
    for folder in ("students", "gradescope"):
        names = sorted(path.name for path in (out / folder).iterdir())
        assert len(names) == len(EXPECTED) and names == sorted(path.name for path in (copy / folder).iterdir())
        for name in names:
            assert (out / folder / name).read_bytes() == (copy / folder / name).read_bytes(), name


@pytest.mark.parametrize("student_id", sorted(EXPECTED_FUNCTIONS))
def test_the_report_names_the_alias_a_student_used(sample_run: tuple[dict, Path], student_id: str) -> None:
    problems = {p["id"]: p for p in by_student(sample_run[0])[student_id]["problems"]}
    for problem_id, name in EXPECTED_FUNCTIONS[student_id].items():
        assert problems[problem_id]["function"] == name


def test_nothing_a_hostile_sample_plants_appears_in_the_class_folder(sample_run: tuple[dict, Path]) -> None:
    from tests.sample_expectations import PLANTED_FILES

    for name in PLANTED_FILES:
        assert not list(SUBMISSIONS.rglob(name)), name


NETWORK_WITHOUT_CONVOLUTION_BIASES = '''
import torch.nn as nn


def build_cnn(N, L, k, d, F, h, n_out):
    layers, channels, side = [], 3, N
    for _ in range(L):
        layers += [nn.Conv2d(channels, d, k, padding=k // 2, bias=False), nn.ReLU(), nn.MaxPool2d(2)]
        channels, side = d, side // 2
    layers.append(nn.Flatten())
    width = channels * side * side
    for _ in range(F):
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)
'''


@pytest.mark.slow
def test_a_students_torch_network_is_run_counted_and_diagnosed(tmp_path: Path) -> None:
    text = default_rubric_path().read_text()
    assert "[problems.p2-torch]\nenabled = false" in text
    rubric_path = tmp_path / "with-build-cnn.toml"
    rubric_path.write_text(text.replace("[problems.p2-torch]\nenabled = false", "[problems.p2-torch]\nenabled = true"))
    bundle = read_bundle(write_bundle(load_rubric(rubric_path), tmp_path / "public.json"))
    (tmp_path / "no_conv_bias.py").write_text(NETWORK_WITHOUT_CONVOLUTION_BIASES)
    verdicts = {
        path.stem: {v.problem_id: v for v in check_one(path, bundle).result.verdicts}["p2-torch"]
        for path in (SUBMISSIONS / "ada_lovelace.py", SUBMISSIONS / "alias_names_student.py",
                     tmp_path / "no_conv_bias.py")
    }
    assert verdicts["ada_lovelace"].status == "correct"
    assert verdicts["alias_names_student"].status == "missing"
    assert verdicts["no_conv_bias"].misconceptions == ("conv-no-bias",)
    # A network no misconception explains (batch norm after each convolution) is explained in
    # words; int() of the module's expected report once stopped the run here.
    (tmp_path / "batch_norm.py").write_text(NETWORK_WITHOUT_CONVOLUTION_BIASES.replace(
        "bias=False), nn.ReLU()", "bias=False), nn.BatchNorm2d(d), nn.ReLU()"))
    unexplained = {v.problem_id: v for v in check_one(tmp_path / "batch_norm.py", bundle).result.verdicts}["p2-torch"]
    assert unexplained.status in ("incorrect", "partial") and unexplained.explanation


def test_changing_only_a_file_loading_skips_regrades_the_submission(tmp_path: Path) -> None:
    # Issue 11, point 4: each student's answer depends on one file loading never reads (a
    # README-named module, a module over 5 MB, a data file); change only that file and the
    # rerun must regrade that student, with the new grade, not keep the old one as unchanged.
    from tests.test_submissions import change_extra, folder_importing_files_loading_skips

    submissions = tmp_path / "class"
    changed = {"rita": "readme_extra.py", "bill": "big_table.py", "dana": "extra.txt"}
    for student in changed:
        folder_importing_files_loading_skips(submissions / student)
    out = tmp_path / "out"

    def p1_statuses() -> dict[str, str]:
        results = json.loads((out / "results.json").read_text())
        return {entry["id"]: next(p["status"] for p in entry["problems"] if p["id"] == "p1")
                for entry in results["submissions"]}

    assert run_class(submissions, out, fast_settings(), jobs=1).graded == 3
    assert p1_statuses() == dict.fromkeys(changed, "correct")
    for student, name in changed.items():
        change_extra(submissions / student / name)
    outcome = run_class(submissions, out, fast_settings(), jobs=1)
    assert (outcome.graded, outcome.reused) == (3, 0)
    assert all(status != "correct" for status in p1_statuses().values())


def test_the_public_bundle_holds_public_and_stress_cases_only(tmp_path: Path) -> None:
    # Issue 15: only the absence of the seed was checked; a bundle that carried hidden cases
    # (under any tag) would have given them away. Each problem's cases must be exactly its
    # public cases, its stress cases and the probes around the first, straight from the reference.
    import reference
    from grader.stages.cases import case_identity, probe_cases
    from grader.models import Case

    rubric = load_rubric(default_rubric_path())
    bundle = read_bundle(write_bundle(rubric, tmp_path / "public.json"))
    assert [key.problem_id for key in bundle.keys] == [policy.problem_id for policy in rubric.problems]
    for key, policy in zip(bundle.keys, rubric.problems):
        problem = reference.PROBLEMS[key.problem_id]
        expected = [Case(problem.id, arguments, "public")
                    for arguments in problem.public_cases(rubric.conventions)[:policy.cases.public]]
        if policy.cases.stress:
            expected += [Case(problem.id, arguments, "stress") for arguments in problem.stress_cases(rubric.conventions)]
        expected += probe_cases(problem, expected[0], 0, rubric.conventions)
        assert [(case.tag, case_identity(case.arguments)) for case in key.cases] == \
            [(case.tag, case_identity(case.arguments)) for case in expected], key.problem_id


def test_a_failing_case_is_shown_shrunk_end_to_end(tmp_path: Path) -> None:
    # Issue 15: shrinking could be switched off in the pipeline and every test still passed.
    # A wrong answer's first failing case in results.json must be a shrunk one, smaller than
    # the drawn hidden case it came from, and still failing.
    import reference

    submissions = tmp_path / "class"
    submissions.mkdir()
    shutil.copy(SUBMISSIONS / "mistake_p1_input_as_layer.py", submissions / "ivan.py")
    out = tmp_path / "out"
    run_class(submissions, out, fast_settings(), jobs=1)
    (entry,) = json.loads((out / "results.json").read_text())["submissions"]
    p1 = next(problem for problem in entry["problems"] if problem["id"] == "p1")
    first, *others = p1["failing"]
    assert first["shrunk"] and first["expected"] != first["got"]
    size = reference.PROBLEMS["p1"].size
    drawn = next(case for case in others if case["tag"] == "hidden")  # the first failing hidden case
    assert size(first["arguments"]) < size(drawn["arguments"])
    assert "grader replay" in first["replay"] and json.dumps(first["arguments"]).replace(" ", "") in \
        first["replay"].replace(" ", "")


# --------------------------------------------------------------------------- notebooks as students write them

#: Each realistic notebook (tests/fixtures/loading/) as a careful human grader would grade it:
#: problem -> (status, points, function graded), and words the notes must hold.
REALISTIC = {
    # Colab: !pip, drive.mount, %matplotlib inline, a softmax cell that starts with an import
    # of pyplot and ends in plt.show(), input() above 3(b) and 3(c), tqdm's notebook bar, a
    # pandas table shown with display(), a figure saved to the (absent) Drive.
    "colab_notebook_with_plots.ipynb": (
        {"p1": ("correct", 10, "mlp_params"), "p2": ("correct", 15, "cnn_params"), "p3a": ("correct", 5, "softmax"),
         "p3b": ("correct", 10, "softmax_jacobian"), "p3c": ("correct", 10, "cross_entropy_grad")},
        ["cell 2, line 1: skipped `!pip install -q torchinfo` (a shell command",
         "cell 4, line 1: skipped `%matplotlib inline`",
         "cell 12, line 1: skipped `N = int(input(\"N? \"))` (EOFError",
         "cell 14, line 5: skipped `plt.savefig(f\"{DATA}/figures.png\")`",
         "google.colab exists only on its notebook platform"]),
    # JupyterLab 4: scipy's softmax imported, not written (graded, noted, no deduction by
    # default); count_cnn_parameters and crossentropy_grad are near names; a %%time cell;
    # display() without an import, as Jupyter provides it.
    "jupyterlab4_scipy_softmax_renamed.ipynb": (
        {"p1": ("correct", 10, "count_mlp_params"), "p2": ("correct", 15, "count_cnn_parameters"),
         "p3a": ("correct", 5, "softmax"), "p3b": ("correct", 10, "softmax_jacobian"),
         "p3c": ("correct", 10, "crossentropy_grad")},
        ["cell 5: ran the cell's code without its %%time line"]),
    # VS Code: seaborn is not installed (its import and uses are skipped, nothing else); the
    # student's own softmax wins over scipy's imported after it; softmax_jacobian_matrix is a
    # near name; 3(c) has its sign flipped, a catalogued mistake still named.
    "vscode_own_softmax_wins_sign_flipped.ipynb": (
        {"p1": ("correct", 10, "mlp_params"), "p2": ("correct", 15, "cnn_params"), "p3a": ("correct", 5, "softmax"),
         "p3b": ("correct", 10, "softmax_jacobian_matrix"), "p3c": ("partial", 6, "cross_entropy_grad")},
        ["cell 1, line 2: skipped `import seaborn as sns` (ModuleNotFoundError",
         "cell 7, line 1: skipped `sns.heatmap(softmax_jacobian_matrix(z))` (NameError"]),
}


@pytest.fixture(scope="module")
def realistic_results() -> dict[str, object]:
    from grader.stages.pipeline import Grader

    # The default limits: importing matplotlib and pandas takes a few seconds on a busy machine.
    with Grader(Settings(rubric_path=default_rubric_path(), hidden_paths=(ROOT,))) as grader:
        return {name: grader.grade(ROOT / "tests" / "fixtures" / "loading" / name) for name in REALISTIC}


@pytest.mark.parametrize("notebook", sorted(REALISTIC))
def test_realistic_notebooks_are_graded_as_a_careful_grader_would(realistic_results: dict, notebook: str) -> None:
    result = realistic_results[notebook]
    expected, notes = REALISTIC[notebook]
    got = {v.problem_id: (v.status, v.score, v.function) for v in result.verdicts}
    assert got == expected
    for words in notes:
        assert any(note.startswith(words) for note in result.notes), words


def test_realistic_notebooks_say_how_each_function_was_found(realistic_results: dict) -> None:
    lab = {v.problem_id: v for v in realistic_results["jupyterlab4_scipy_softmax_renamed.ipynb"].verdicts}
    assert lab["p3a"].notes == ("softmax is scipy.special.softmax, imported, not written by the student; it was "
                                "graded as their answer",)
    assert lab["p2"].notes == ("graded count_cnn_parameters() as cnn_params(): no function has the asked-for name "
                               "and count_cnn_parameters is close to it",)
    vscode = {v.problem_id: v for v in realistic_results["vscode_own_softmax_wins_sign_flipped.ipynb"].verdicts}
    assert vscode["p3a"].notes == () and vscode["p3c"].misconceptions == ("sign-flipped",)


def test_counting_p1_by_building_layers_is_partial_where_memory_stops_the_largest_case(tmp_path: Path) -> None:
    # Built in the sandbox: torch's allocator refuses the 2.3 GiB first layer of the N = 224,
    # h = 4096 stress case; every other case is right and runs before it.
    fixture = ROOT / "tests" / "fixtures" / "checking" / "p1_counts_by_building_linear_layers.py"
    with Grader(replace(fast_settings(), only=("p1",))) as grader:
        verdict = grader.grade(fixture).verdicts[0]
    assert verdict.status == "partial" and verdict.score == pytest.approx(9.0), verdict
    assert verdict.passed == verdict.total - 1
    assert "3·224²·4096 = 617 million weights" in verdict.explanation
    assert "Allocator" not in verdict.explanation and "Allocator" not in json.dumps([c.got for c in verdict.failing])


def test_the_samples_report_float32_acceptance_and_the_size_that_ran_out_of_memory(
        sample_run: tuple[dict, Path]) -> None:
    students = by_student(sample_run[0])
    float32 = {p["id"]: p for p in students["float32_torch_student"]["problems"]}
    for problem_id in ("p3b", "p3c"):
        assert float32[problem_id]["score"] == float32[problem_id]["max"]
        assert any("float32 precision" in note for note in float32[problem_id]["notes"])
    layered = {p["id"]: p for p in students["p1_counts_by_building_linear_layers"]["problems"]}["p1"]
    assert layered["score"] == pytest.approx(9.0) and "617 million weights" in layered["explanation"]
    assert "Allocator" not in json.dumps(layered)


# ---------------------------------------------------------------- verdicts whatever the load
CPU_HUNGRY = ("\n\n_counted = mlp_params\n_warmed_up = False\n\n\n"
              "def mlp_params(N, L, h, n):\n"
              "    \"\"\"Honest, but its first call spends about 1.1 s of CPU (18 million additions).\"\"\"\n"
              "    global _warmed_up\n"
              "    if not _warmed_up:\n"
              "        total = 0\n"
              "        for index in range(18_000_000):\n"
              "            total += index\n"
              "        _warmed_up = True\n"
              "    return _counted(N, L, h, n)\n")


def verdicts(results: dict) -> dict[str, list[tuple[object, ...]]]:
    """What must not depend on the machine's load: each problem's status, score and error kind."""
    return {entry["id"]: [(problem["id"], problem["status"], problem["score"],
                           (problem["error"] or {}).get("kind")) for problem in entry["problems"]]
            for entry in results["submissions"]}


@pytest.mark.slow
def test_a_class_graded_beside_a_cpu_burner_gets_identical_results(tmp_path: Path) -> None:
    # Limits count the CPU time a student computes, not the wall clock: beside processes that
    # burn every core, the honest student who needs 1.1 s of its 2 s of CPU is not out of
    # time, the memory bomb is still "memory" and the endless loop still "timeout".
    folder = tmp_path / "class"
    folder.mkdir()
    for sample in ("ada_lovelace.py", "hostile_memory_bomb.py", "hostile_endless_softmax.py"):
        shutil.copy(SUBMISSIONS / sample, folder / sample)
    (folder / "cpu_hungry_honest.py").write_text((SUBMISSIONS / "ada_lovelace.py").read_text() + CPU_HUNGRY)
    run_class(folder, tmp_path / "idle", fast_settings(), jobs=2)
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3 * (os.cpu_count() or 1))]
    try:
        run_class(folder, tmp_path / "busy", fast_settings(), jobs=2)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    idle, busy = (verdicts(json.loads((tmp_path / name / "results.json").read_text())) for name in ("idle", "busy"))
    assert busy == idle
    assert {status for _, status, _, _ in idle["cpu_hungry_honest"]} == {"correct"}
    assert ("p1", "error", 0, "memory") in [(p, s, float(score), k) for p, s, score, k in idle["hostile_memory_bomb"]]


HOSTILE = ROOT / "tests" / "fixtures" / "hostile"
#: Hostile fixtures graded with a class, each attacking at import: (fixture, its attack).
ATTACKS_AT_IMPORT = {"prlimit_on_another_process.py": "limited", "idle_and_pinned_siblings.py": "starved",
                     "connect_to_unix_socket_outside.py": "answered", "inode_flood.py": "mlp_params(1, 1, 1, 1)",
                     "endless_loop_deep_in_a_recursion.py": "mlp_params(1, 1, 1, 1)"}


@pytest.mark.slow
def test_hostile_submissions_beside_honest_ones_leave_every_honest_grade_unchanged(tmp_path: Path) -> None:
    from tests.test_sandbox import MARKED_PROCESS, stand_in_daemon

    honest = students_folder(tmp_path / "honest", "alice", "bob", "carol")
    run_class(honest, tmp_path / "honest-out", fast_settings(), jobs=2)
    mixed = students_folder(tmp_path / "class", "alice", "bob", "carol")
    marker = 271_828
    target = subprocess.Popen([sys.executable, "-c", MARKED_PROCESS, str(marker), "sibling"], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout is not None and target.stdout.readline().strip() == "ready"
        scheduling = (os.sched_getscheduler(target.pid), os.sched_getaffinity(target.pid))
        with stand_in_daemon(tmp_path) as (path, socket_marker, callers):
            targets = {"prlimit_on_another_process.py": f"{target.pid} {marker}",
                       "idle_and_pinned_siblings.py": f"{target.pid} {marker}",
                       "connect_to_unix_socket_outside.py": f"{path} {socket_marker}"}
            for fixture, attack in ATTACKS_AT_IMPORT.items():
                student = mixed / fixture.removesuffix(".py")
                student.mkdir()
                call = attack if "(" in attack else f"{attack}()"
                (student / "solution.py").write_text((HOSTILE / fixture).read_text() + f"\n\n{call}\n")
                if fixture in targets:
                    (student / "target.txt").write_text(targets[fixture])
            outcome = run_class(mixed, tmp_path / "out", fast_settings(), jobs=2)
        assert callers == []
        assert (os.sched_getscheduler(target.pid), os.sched_getaffinity(target.pid)) == scheduling
        import resource
        assert resource.prlimit(target.pid, resource.RLIMIT_FSIZE)[0] == resource.RLIM_INFINITY
    finally:
        target.kill()
        target.wait()
    assert outcome.graded == 3 + len(ATTACKS_AT_IMPORT)
    results = verdicts(json.loads((tmp_path / "out" / "results.json").read_text()))
    alone = verdicts(json.loads((tmp_path / "honest-out" / "results.json").read_text()))
    assert {student: results[student] for student in alone} == alone
    assert set(results) == set(alone) | {fixture.removesuffix(".py") for fixture in ATTACKS_AT_IMPORT}
    assert _stored(tmp_path / "out" / "gradebook.sqlite") == len(results)
    # The recursion that never ends says where it was stopped, in results.json and on its page.
    entries = json.loads((tmp_path / "out" / "results.json").read_text())["submissions"]
    stopped = next(entry for entry in entries if entry["id"] == "endless_loop_deep_in_a_recursion")
    where = "stopped in `down()` at line 8 of solution.py, 50,001 calls deep"
    assert all(where in problem["error"]["message"] for problem in stopped["problems"])
    page = next((tmp_path / "out" / "students").glob("endless_loop_deep_in_a_recursion*.html")).read_text()
    assert "50,001 calls deep" in page
