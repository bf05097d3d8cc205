"""Executors: a Dask cluster and a local pool grade a class exactly as one process does.

The class is a few samples of `submissions/` (modules and a notebook, right and wrong answers)
plus, where named, a submission that never finishes loading.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from grader.errors import UsageError
from grader.stages.executors import DaskExecutor, LocalExecutor, make_executor, read_entry_files
from grader.stages.pipeline import Settings
from grader.outputs.reports.serialize import result_to_data
from grader.rubric import default_rubric_path, load_rubric

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = (
    "ada_lovelace.py",
    "mistake_p1_input_as_layer.py",
    "mistake_p2_fc_no_bias.py",
    "mistake_3a_log_softmax_returned.ipynb",
    "mistake_3b_sign_flipped.py",
    "mistake_3c_forgot_softmax.py",
)
INFINITE_LOOP = "import numpy as np\n\nwhile True:\n    pass\n"


@pytest.fixture(scope="module")
def settings() -> Settings:
    """The default rubric with short limits, so a hanging submission costs seconds."""
    rubric = load_rubric(default_rubric_path())
    limits = replace(rubric.limits, timeout_seconds=2.0, load_timeout_seconds=3.0)
    return Settings(rubric_path=rubric.path, limits=limits)


@pytest.fixture(scope="module")
def small_class(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("class")
    for name in SAMPLES:
        shutil.copy(ROOT / "submissions" / name, folder / name)
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def in_process(settings: Settings, small_class: list[Path]) -> dict[str, dict]:
    """The baseline: every submission graded in this process (jobs=1, no pool)."""
    with LocalExecutor(1) as executor:
        return by_student(executor.grade(settings, small_class))


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local_cluster:
        yield local_cluster.scheduler_address


def by_student(results: Iterator) -> dict[str, dict]:
    """Serialised results by student id: what crosses process boundaries, compared whole."""
    data = {}
    for result in results:
        assert result.student_id not in data, f"{result.student_id} graded twice"
        data[result.student_id] = result_to_data(result)
    return data


def test_baseline_grades_every_sample(in_process: dict[str, dict]) -> None:
    assert set(in_process) == {Path(name).stem for name in SAMPLES}
    # A class in which everything failed would make equality below trivially weak.
    assert any(problem["status"] == "correct" for problem in in_process["ada_lovelace"]["problems"])
    assert in_process["mistake_p1_input_as_layer"] != in_process["ada_lovelace"]


def test_local_pool_equals_one_process(settings: Settings, small_class: list[Path],
                                       in_process: dict[str, dict]) -> None:
    with LocalExecutor(2) as executor:
        assert by_student(executor.grade(settings, small_class)) == in_process


def test_a_finished_pool_leaves_no_sandbox_folder_behind(settings: Settings, small_class: list[Path]) -> None:
    def own_sandbox_folders() -> set[Path]:
        """The temp folders of zygotes below this test's process: another grader run on the
        machine (a second test suite) has folders of its own there, which are not counted."""
        own = descendants(os.getpid())
        return {folder for folder in Path(tempfile.gettempdir()).glob("grader-sandbox-*-*")
                if int(folder.name.removeprefix("grader-sandbox-").split("-", 1)[0]) in own}

    before = own_sandbox_folders()  # a Dask cluster fixture's zygotes, when it ran earlier
    with LocalExecutor(2) as executor:
        results = list(executor.grade(settings, small_class[:2]))
        during = own_sandbox_folders() - before
    assert len(results) == 2 and len(during) == 2  # one zygote folder per worker while it ran
    assert [folder for folder in during if folder.exists()] == []


def test_dask_cluster_equals_local_run(cluster: str, settings: Settings, small_class: list[Path],
                                       in_process: dict[str, dict]) -> None:
    with DaskExecutor(cluster) as executor:
        assert by_student(executor.grade(settings, small_class)) == in_process


def test_dask_with_shipped_bytes_equals_local_run(cluster: str, settings: Settings,
                                                  small_class: list[Path], in_process: dict[str, dict]) -> None:
    with DaskExecutor(cluster, ship_files=True) as executor:
        assert by_student(executor.grade(settings, small_class)) == in_process


def test_hanging_submission_costs_its_own_grade_only(settings: Settings, small_class: list[Path],
                                                     tmp_path: Path, in_process: dict[str, dict]) -> None:
    hanging = tmp_path / "infinite_loop_at_import.py"
    hanging.write_text(INFINITE_LOOP)
    with LocalExecutor(2) as executor:
        # The hanging entry goes first, holding one worker for its timeout while the other
        # grades on. Nothing here depends on which comes back first: that is the machine's speed.
        results = by_student(executor.grade(settings, [hanging, *small_class]))
    timed_out = results.pop(hanging.stem)
    assert results == in_process  # every other student graded exactly as alone
    kinds = {problem["error"]["kind"] for problem in timed_out["problems"] if problem["error"] is not None}
    kinds |= {timed_out["error"]["kind"]} if timed_out["error"] is not None else set()
    assert kinds == {"timeout"}


def test_a_sandbox_failing_under_one_submission_costs_that_submission_only(
        settings: Settings, small_class: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.stages import pipeline
    from grader.errors import SandboxError
    from grader.models import GradingFault

    first, second = small_class[0].stem, small_class[1].stem
    failures: dict[str, int] = {}
    real_grade = pipeline.Grader.grade

    def grade_with_a_dying_zygote(grader: pipeline.Grader, entry: Path):  # type: ignore[no-untyped-def]
        failures[entry.stem] = failures.get(entry.stem, 0) + 1
        # The first submission's zygote dies every time; the second's once, then a fresh one grades it.
        if entry.stem == first or (entry.stem == second and failures[second] == 1):
            raise SandboxError("the sandbox zygote died while a child was running")
        return real_grade(grader, entry)

    monkeypatch.setattr(pipeline.Grader, "grade", grade_with_a_dying_zygote)
    with LocalExecutor(1) as executor:
        results = list(executor.grade(settings, small_class))
    faults = [result for result in results if isinstance(result, GradingFault)]
    assert [fault.entry.stem for fault in faults] == [first]
    assert "zygote died" in faults[0].error
    assert len(results) - len(faults) == len(small_class) - 1 and failures[first] == failures[second] == 2


def test_shipped_files_keep_folder_structure(tmp_path: Path) -> None:
    folder = tmp_path / "carol"
    (folder / "helpers").mkdir(parents=True)
    (folder / "solution.py").write_text("x = 1\n")
    (folder / "helpers" / "maths.py").write_text("y = 2\n")
    assert read_entry_files(folder) == {"carol/helpers/maths.py": b"y = 2\n", "carol/solution.py": b"x = 1\n"}
    assert read_entry_files(folder / "solution.py") == {"solution.py": b"x = 1\n"}


def test_shipped_files_that_cannot_be_rebuilt_are_that_submissions_fault(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.stages.workers import GRADING_FAULT, grade_shipped

    # This test's own temp folder, not the machine's: another grader run ships files too.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    # A path that fits the instructor's machine may not fit a worker's longer temp path; a
    # crafted name may try to leave the folder. Either stopped the whole Dask run.
    deep = "/".join(["d" * 200] * 25) + "/solution.py"  # past PATH_MAX once rebuilt
    for files in ({"bob/" + deep: b"x = 1\n"}, {"bob/../../escape.py": b"x = 1\n"}):
        answer = grade_shipped(settings, files, Path("/class/bob"))
        assert GRADING_FAULT in answer and answer[GRADING_FAULT] == "/class/bob", answer
    assert not list(tmp_path.glob("grader-shipped-*"))


def test_make_executor_chooses_by_scheduler() -> None:
    executor = make_executor(3, None)
    assert isinstance(executor, LocalExecutor) and executor.jobs == 3
    with pytest.raises(UsageError, match="at least 1"):
        LocalExecutor(0)


def test_missing_dask_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import distributed` raise ImportError, as on a
    # machine where the optional extra was never installed.
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(UsageError) as raised:
        make_executor(2, "tcp://127.0.0.1:8786")
    assert "pip install 'grader[cluster]'" in str(raised.value)


def process_table() -> dict[int, tuple[int, str, str]]:
    """Every live process as pid -> (parent pid, start time, state), read from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # the command name may hold spaces
        table[int(entry)] = (int(fields[1]), fields[19], fields[0])
    return table


def descendants(root: int) -> dict[int, str]:
    """The processes below `root`, as pid -> start time (a reused pid is another process)."""
    table = process_table()
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, started, _) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = started
                frontier.append(pid)
    return found


def still_running(processes: dict[int, str]) -> list[int]:
    """Those of `processes` alive now; a zombie is dead (init may be slow to reap it)."""
    table = process_table()
    return [pid for pid, started in processes.items()
            if pid in table and table[pid][1] == started and table[pid][2] != "Z"]


def stored_results(gradebook: Path) -> int:
    try:
        with sqlite3.connect(f"file:{gradebook}?mode=ro", uri=True, timeout=1) as connection:
            return connection.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.Error:  # not created yet, or locked mid-write
        return 0


def test_kill_9_of_grader_run_leaves_no_process_behind(tmp_path: Path) -> None:
    # `kill -9` runs no cleanup: workers and their zygotes (torch loaded) must die with the
    # grader by themselves, through death signals, instead of living on under init.
    submissions = tmp_path / "class"
    submissions.mkdir()
    shutil.copy(ROOT / "submissions" / "ada_lovelace.py", submissions / "a_graded_first.py")
    for number in range(4):  # keep both workers (and their zygotes' children) busy at the kill
        (submissions / f"z_hanging_{number}.py").write_text(INFINITE_LOOP)
    out = tmp_path / "out"
    grader_run = subprocess.Popen(
        [sys.executable, "-m", "grader", "run", str(submissions), "--out", str(out), "--jobs", "2"],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    left: dict[int, str] = {}
    try:
        for _ in range(1200):  # bounded: a cold worker imports torch before its first result
            if stored_results(out / "gradebook.sqlite") or grader_run.poll() is not None:
                break
            time.sleep(0.25)
        assert grader_run.poll() is None and stored_results(out / "gradebook.sqlite") >= 1
        left = descendants(grader_run.pid)
        assert len(left) >= 3  # the fork server and two workers at least: the pool is running
        os.kill(grader_run.pid, signal.SIGKILL)  # the main process only, not its group
        grader_run.wait()
        for _ in range(300):
            if not still_running(left):
                break
            time.sleep(0.1)
        assert still_running(left) == []
    finally:
        grader_run.kill() if grader_run.poll() is None else None
        for pid in still_running(left):  # only the processes this test started
            os.kill(pid, signal.SIGKILL)
