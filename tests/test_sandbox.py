"""The sandbox against hostile submissions: each attack contained, reported with the right kind,
and the honest submission graded right afterwards in the same Sandbox."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import resource
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from grader.models import CallPlan, ExecutionReport, Limits
from grader.sandbox import Sandbox
from grader.stages.submissions import load

FIXTURES = Path(__file__).parent / "fixtures"
HOSTILE, LOADING = FIXTURES / "hostile", FIXTURES / "loading"
REPOSITORY = Path(__file__).resolve().parents[1]
SECRET_IN_GRADER_MEMORY = "ANSWER-KEY-" + "p1=167"  # must never reach a child
LIMITS = Limits(timeout_seconds=1.5, load_timeout_seconds=1.5, memory_mib=512, output_kib=16)
MLP = CallPlan("p1", ("mlp_params", "count_mlp_params"), ("N", "L", "h", "n"),
               ({"N": 4, "L": 2, "h": 3, "n": 2}, {"N": 2, "L": 1, "h": 1, "n": 1}))
SOFTMAX = CallPlan("p3a", ("softmax",), ("z",), ({"z": np.array([1.0, 3.5, 757.0, -5.0])},))
EXPECTED_MLP = (167, 15)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(LIMITS, hidden_paths=[REPOSITORY]) as box:
        yield box


def run(sandbox: Sandbox, entry: Path, plans: tuple[CallPlan, ...] = (MLP, SOFTMAX)) -> ExecutionReport:
    return sandbox.execute(load(entry), plans)


def assert_honest_still_graded(sandbox: Sandbox) -> None:
    report = run(sandbox, LOADING / "honest_solution.py")
    assert [result.value for result in report.outcomes["p1"].results] == list(EXPECTED_MLP)
    assert np.allclose(report.outcomes["p3a"].results[0].value, [0, 0, 1, 0])


def student_folder(tmp_path: Path, fixture: str, **files: str) -> Path:
    folder = tmp_path / "submissions" / "mallory"
    folder.mkdir(parents=True)
    shutil.copy(HOSTILE / fixture, folder / "solution.py")
    for name, text in files.items():
        (folder / name.replace("_", ".")).write_text(text)
    return folder


def test_layers_are_probed_and_recorded(sandbox: Sandbox) -> None:
    report = run(sandbox, LOADING / "honest_solution.py")
    assert report.isolation == sandbox.isolation
    assert {"process-group", "rlimits", "no-new-privileges"} <= set(sandbox.isolation)
    if os.geteuid() == 0:
        assert {"network-namespace", "mount-namespace", "private-temp-base"} <= set(sandbox.isolation)


def test_honest_submission_values_notes_and_mutation(sandbox: Sandbox) -> None:
    mutating = CallPlan("p3a", ("mutating_softmax",), ("z",), ({"z": np.array([1.0, 2.0])},))
    report = run(sandbox, LOADING / "honest_solution.py", (MLP, mutating))
    assert report.load_error is None and report.outcomes["p1"].function_used == "mlp_params"
    assert report.outcomes["p3a"].results[0].mutated_input


def test_missing_function_is_named(sandbox: Sandbox) -> None:
    plan = CallPlan("p3b", ("softmax_jacobian", "softmax_grad"), ("z",), ({"z": np.ones(2)},))
    outcome = run(sandbox, LOADING / "honest_solution.py", (plan,)).outcomes["p3b"]
    assert outcome.function_used is None and outcome.error is not None
    assert "no function named softmax_jacobian (or softmax_grad)" in outcome.error.message


def test_traceback_shows_the_students_frames_only(sandbox: Sandbox, tmp_path: Path) -> None:
    folder = tmp_path / "submissions" / "frank"
    folder.mkdir(parents=True)
    (folder / "solution.py").write_text("from helpers import layer_size\n\n\n"
                                        "def mlp_params(N, L, h, n):\n    return layer_size(N) + h\n")
    (folder / "helpers.py").write_text("def layer_size(N):\n    raise ValueError('negative width')\n")
    error = run(sandbox, folder, (MLP,)).outcomes["p1"].results[0].error
    assert error is not None and error.kind == "exception"
    assert 'File "solution.py", line 5, in mlp_params' in error.detail and "return layer_size(N) + h" in error.detail
    assert 'File "helpers.py", line 2, in layer_size' in error.detail
    assert error.detail.rstrip().endswith("ValueError: negative width")
    assert "grader/sandbox" not in error.detail and "child.py" not in error.detail


def test_endless_loop_at_import_times_out_every_problem(sandbox: Sandbox) -> None:
    report = run(sandbox, HOSTILE / "endless_loop_at_import.py")
    assert report.load_error is not None and report.load_error.kind == "timeout"
    assert all(outcome.error.kind == "timeout" for outcome in report.outcomes.values())


def test_endless_loop_in_one_function_costs_that_problem_only(sandbox: Sandbox) -> None:
    report = run(sandbox, HOSTILE / "endless_loop_in_one_function.py")
    assert report.outcomes["p1"].error.kind == "timeout"
    assert np.allclose(report.outcomes["p3a"].results[0].value, [0, 0, 1, 0])


@pytest.mark.parametrize("fixture, kind", [
    ("memory_bomb.py", "memory"), ("segfault.py", "crash"), ("runaway_recursion.py", "crash"),
    ("sigterm_ignored.py", "timeout"),
])
def test_failing_function_is_contained_with_its_kind(sandbox: Sandbox, fixture: str, kind: str) -> None:
    report = run(sandbox, HOSTILE / fixture)
    outcome = report.outcomes["p1"]
    assert (outcome.error or outcome.results[0].error).kind == kind
    assert_honest_still_graded(sandbox)


def test_gradual_memory_bomb_is_a_memory_error(sandbox: Sandbox) -> None:
    result = run(sandbox, HOSTILE / "memory_bomb.py").outcomes["p3a"].results[0]
    assert result.error is not None and result.error.kind == "memory"


def test_memory_bomb_stopped_by_the_wall_clock_is_a_memory_error() -> None:
    # The budget fills before the timeout, but the kill comes from the wall clock: the peak
    # RSS the zygote reports, not the deadline, must decide the kind.
    limits = Limits(timeout_seconds=2.0, load_timeout_seconds=5.0, memory_mib=256, output_kib=16)
    with Sandbox(limits, preload_torch=False, hidden_paths=[REPOSITORY]) as box:
        report = box.execute(load(HOSTILE / "slow_memory_bomb.py"), (MLP, SOFTMAX))
    error = report.outcomes["p1"].error
    assert error is not None and error.kind == "memory" and "256 MiB" in error.message
    assert np.allclose(report.outcomes["p3a"].results[0].value, [0, 0, 1, 0])


def test_memory_errors_on_every_case_then_a_timeout_is_a_memory_error(sandbox: Sandbox) -> None:
    outcome = run(sandbox, HOSTILE / "memory_error_on_each_case_until_time_runs_out.py").outcomes["p1"]
    assert outcome.results[0].error is not None and outcome.results[0].error.kind == "memory"
    assert outcome.error is not None and outcome.error.kind == "memory"
    assert "then ran out of time" in outcome.error.message
    assert_honest_still_graded(sandbox)


@pytest.mark.parametrize("fixture", ["os_exit_at_import.py", "sys_exit_at_import.py"])
def test_exit_at_import_is_kind_exit(sandbox: Sandbox, fixture: str) -> None:
    report = run(sandbox, HOSTILE / fixture)
    assert report.load_error is not None and report.load_error.kind == "exit"
    assert report.outcomes["p1"].error.kind == "exit"


def test_fork_storm_starts_nothing_and_leaves_nothing(sandbox: Sandbox) -> None:
    report = run(sandbox, HOSTILE / "fork_storm.py", (MLP,))
    assert [result.value for result in report.outcomes["p1"].results] == [0, 0]
    zygote = sandbox._process.pid
    children = [Path(f"/proc/{zygote}/task/{task}/children").read_text().split()
                for task in os.listdir(f"/proc/{zygote}/task")]
    assert children == [[] for _ in children]


def test_output_flood_is_capped_and_the_answer_kept(sandbox: Sandbox) -> None:
    report = run(sandbox, HOSTILE / "output_flood.py", (MLP,))
    assert [result.value for result in report.outcomes["p1"].results] == list(EXPECTED_MLP)
    assert len(report.stdout) <= LIMITS.output_kib * 1024 and len(report.stderr) <= LIMITS.output_kib * 1024


def test_always_equal_object_and_lying_array(sandbox: Sandbox) -> None:
    report = run(sandbox, HOSTILE / "always_equal_object.py")
    error = report.outcomes["p1"].results[0].error
    assert error is not None and error.kind == "invalid-output" and "AlwaysEqual" in error.message
    value = report.outcomes["p3a"].results[0].value
    assert type(value) is np.ndarray and value.dtype == np.float64 and not np.allclose(value, [0, 0, 1, 0])


def test_monkeypatched_numpy_does_not_reach_the_grader(sandbox: Sandbox) -> None:
    value = run(sandbox, HOSTILE / "monkeypatched_numpy.py").outcomes["p3a"].results[0].value
    assert not np.allclose(value, [0, 0, 1, 0])
    assert_honest_still_graded(sandbox)  # the zygote's numpy was not patched either


def test_forged_result_frame_is_rejected(sandbox: Sandbox) -> None:
    report = run(sandbox, HOSTILE / "forged_result_frame.py")
    assert report.load_error is not None and report.load_error.kind == "invalid-output"
    assert all(outcome.results == () for outcome in report.outcomes.values())


def test_a_forged_float_beyond_float64_is_a_violation_and_the_child_is_stopped(sandbox: Sandbox) -> None:
    report = run(sandbox, HOSTILE / "forged_float_beyond_float64.py", (MLP,))
    outcome = report.outcomes["p1"]
    assert outcome.error is not None and outcome.error.kind == "invalid-output"
    assert "float64" in outcome.error.detail
    assert_honest_still_graded(sandbox)  # at once: the sleeping child was killed, its report read


def test_a_forged_array_side_of_5000_digits_is_a_violation() -> None:
    from grader.sandbox.protocol import NPY_MAGIC, ProtocolViolation, load_array

    header = ("{'descr': '<f8', 'fortran_order': False, 'shape': (" + "9" * 5000 + ",), }").encode() + b"\n"
    with pytest.raises(ProtocolViolation):
        load_array(NPY_MAGIC + struct.pack("<H", len(header)) + header)


def test_a_module_over_a_megabyte_is_graded(sandbox: Sandbox, tmp_path: Path) -> None:
    # Its job outgrew the 1 MiB header cap of the zygote's channel, which stopped the zygote
    # and left every later student of its worker ungraded.
    folder = tmp_path / "source_over_a_megabyte"
    folder.mkdir()
    source = (LOADING / "honest_solution.py").read_text() + "\n# " + "x" * 1_100_000 + "\n"
    (folder / "solution.py").write_text(source)
    report = run(sandbox, folder, (MLP,))
    assert tuple(result.value for result in report.outcomes["p1"].results) == EXPECTED_MLP


def test_grader_files_memory_and_other_students_are_unreadable(sandbox: Sandbox, tmp_path: Path) -> None:
    other = tmp_path / "submissions" / "other_student.py"
    other.parent.mkdir(parents=True)
    other.write_text("def mlp_params(N, L, h, n):\n    return 'ANSWER-KEY'\n")
    targets = [REPOSITORY / "reference" / "problem.py", REPOSITORY / "grader" / "models.py", other, REPOSITORY]
    folder = student_folder(tmp_path, "read_grader_secrets.py", target_txt="\n".join(map(str, targets)))
    assert sum(len(path.read_bytes()) for path in targets[:3]) > 0  # the attack would find something
    report = run(sandbox, folder, (MLP,))
    assert [result.value for result in report.outcomes["p1"].results] == [0, 0]


def test_writes_outside_the_temp_folder_change_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    victim = tmp_path / "submissions" / "victim.py"
    victim.parent.mkdir(parents=True)
    victim.write_text("original")
    results = tmp_path / "out" / "results.json"
    results.parent.mkdir()
    folder = student_folder(tmp_path, "write_outside.py", target_txt=f"{victim}\n{results}")
    report = run(sandbox, folder, (MLP,))
    assert [result.value for result in report.outcomes["p1"].results] == [0, 0]
    assert victim.read_text() == "original" and not results.exists()
    assert not Path("/tmp/planted_by_student").exists()


def test_loopback_tcp_and_udp_are_unreachable(sandbox: Sandbox, tmp_path: Path) -> None:
    with socket.socket() as server, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as datagrams:
        server.bind(("127.0.0.1", 0))
        server.listen()
        datagrams.bind(("127.0.0.1", 0))
        ports = f"{server.getsockname()[1]} {datagrams.getsockname()[1]}"
        folder = student_folder(tmp_path, "network_loopback.py", port_txt=ports)
        report = run(sandbox, folder, (MLP,))
        assert [result.value for result in report.outcomes["p1"].results] == [0, 0]
        datagrams.setblocking(False)
        with pytest.raises(BlockingIOError):
            datagrams.recv(16)


def test_notebook_cells_continue_after_a_failing_cell(sandbox: Sandbox) -> None:
    report = run(sandbox, LOADING / "cell_raises_then_later_cells_run.ipynb", (MLP,))
    assert any(note.startswith("cell 2, line 1: skipped") and "RuntimeError" in note for note in report.load_notes)
    assert any(note.startswith("cell 3, line 1") for note in report.load_notes)
    assert [result.value for result in report.outcomes["p1"].results] == list(EXPECTED_MLP)


def test_module_syntax_error_is_kind_syntax_with_line(sandbox: Sandbox) -> None:
    report = run(sandbox, LOADING / "syntax_error.py", (MLP,))
    assert report.load_error is not None and report.load_error.kind == "syntax"
    assert "line 2" in report.load_error.message


def test_folder_siblings_are_importable(sandbox: Sandbox) -> None:
    report = run(sandbox, LOADING / "folder_with_several_candidates")
    assert [result.value for result in report.outcomes["p1"].results] == list(EXPECTED_MLP)
    assert np.allclose(report.outcomes["p3a"].results[0].value, [0, 0, 1, 0])


def test_heavy_torch_model_survives_default_limits() -> None:
    plan = CallPlan("p2-torch", ("build_cnn",), ("N", "L", "k", "d", "F", "h", "n_out"),
                    ({"N": 64, "L": 1, "k": 3, "d": 16, "F": 1, "h": 2048, "n_out": 10},), call="torch-module")
    with Sandbox(Limits(), hidden_paths=[REPOSITORY]) as box:
        outcome = box.execute(load(LOADING / "heavy_torch_model.py"), (plan,)).outcomes["p2-torch"]
    value = outcome.results[0].value
    assert outcome.error is None and value["output_shape"] == (2, 10)
    assert value["parameters"] > 30_000_000


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_module_runs_on_cuda() -> None:
    plan = CallPlan("p2-torch", ("build_cnn",), ("N", "L", "k", "d", "F", "h", "n_out"),
                    ({"N": 16, "L": 1, "k": 3, "d": 4, "F": 1, "h": 8, "n_out": 3},), call="torch-module", device="cuda")
    with Sandbox(Limits(), hidden_paths=[REPOSITORY]) as box:
        outcome = box.execute(load(LOADING / "heavy_torch_model.py"), (plan,)).outcomes["p2-torch"]
    assert outcome.error is None and outcome.results[0].value["output_shape"] == (2, 3)


def test_two_sandboxes_in_two_threads_grade_independently() -> None:
    import threading

    values: list[list[object]] = []

    def work(box: Sandbox) -> None:
        for _ in range(5):
            report = run(box, LOADING / "honest_solution.py", (MLP,))
            values.append([result.value for result in report.outcomes["p1"].results])

    boxes = [Sandbox(LIMITS, preload_torch=False, hidden_paths=[REPOSITORY]) for _ in range(2)]
    try:
        threads = [threading.Thread(target=work, args=(box,)) for box in boxes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for box in boxes:
            box.close()
    assert values == [list(EXPECTED_MLP)] * 10


@pytest.mark.skipif(os.geteuid() != 0, reason="the mount namespace layer needs root")
def test_answer_key_files_do_not_even_exist_for_a_child(sandbox: Sandbox, tmp_path: Path) -> None:
    targets = [REPOSITORY / "reference" / "problem.py", REPOSITORY / "grader" / "models.py"]
    assert all(path.stat().st_size > 0 for path in targets)  # the attack would find them here
    folder = student_folder(tmp_path, "probe_answer_key_files_exist.py", target_txt="\n".join(map(str, targets)))
    report = run(sandbox, folder, (MLP,))
    assert "mount-namespace" in report.isolation
    assert [result.value for result in report.outcomes["p1"].results] == [0, 0]
    assert_honest_still_graded(sandbox)


MAPS_SAMPLE = """\
55899cc80000-5589a1f7f000 rw-p 00000000 00:00 0                          [heap]
7fc340d81000-7fc342557000 rw-p 00000000 00:00 0
7fc342600000-7fc342700000 rw-p 00000000 00:00 0
7fc3583e5000-7fc358e85000 rw-p 00ab2000 fd:01 1234                       /usr/lib/libtorch_cpu.so
7fc358e85000-7fc35a485000 r--p 00000000 00:00 0
7ffd1e000000-7ffd1e800000 rw-p 00000000 00:00 0                          [stack]
"""


def test_only_large_private_anonymous_regions_are_collapsed_and_on_huge_page_bounds() -> None:
    from grader.sandbox.memory import HUGE_PAGE, private_anonymous_regions

    regions = private_anonymous_regions(MAPS_SAMPLE)
    # The heap and the 23.5 MiB anonymous region; not the 1 MiB one, the library's data, the
    # read-only mapping or the stack.
    assert [(hex(start), hex(end)) for start, end in regions] == [
        ("0x55899ce00000", "0x5589a1e00000"), ("0x7fc340e00000", "0x7fc342400000")]
    assert all(start % HUGE_PAGE == 0 and end % HUGE_PAGE == 0 for start, end in regions)


@pytest.mark.skipif(not Path("/sys/kernel/mm/transparent_hugepage").exists(), reason="kernel without THP")
def test_zygote_memory_is_in_huge_pages_so_forking_it_is_cheap(sandbox: Sandbox) -> None:
    rollup = Path(f"/proc/{sandbox._process.pid}/smaps_rollup").read_text()
    huge_kib = int(next(line.split()[1] for line in rollup.splitlines() if line.startswith("AnonHugePages:")))
    assert huge_kib >= 32 * 1024  # torch alone leaves ~100 MiB of collapsible heap
    assert_honest_still_graded(sandbox)


def test_seccomp_alone_refuses_signals_to_other_processes() -> None:
    # Landlock scopes signals only from Linux 6.12: on an older kernel this filter is what
    # stops a child from killing every process of its user, the grader first.
    import fcntl

    from grader.sandbox import syscall_filter

    rules = syscall_filter.build_seccomp_filter(allow_processes=False)
    if rules is None:
        pytest.skip("pyseccomp is unavailable")
    attempts = {
        "kill": lambda: os.kill(os.getppid(), signal.SIGCONT),  # harmless to a running pytest
        "pidfd_send_signal": lambda: signal.pidfd_send_signal(os.pidfd_open(os.getppid()), signal.SIGCONT),
        "F_SETOWN": lambda: fcntl.fcntl(0, fcntl.F_SETOWN, os.getppid()),
        "join the parent's group": lambda: os.setpgid(0, os.getpgid(os.getppid())),
        "new session": lambda: os.setsid(),
        "probe with signal 0": lambda: os.kill(os.getppid(), 0),
        "own process group": lambda: os.killpg(0, 0),
    }
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)  # as a sandbox child does first: its own group, its parent's session
        rules.load()  # type: ignore[attr-defined]
        outcomes = []
        for name, attempt in attempts.items():
            try:
                attempt()
                outcomes.append(f"{name}: sent")
            except OSError as error:
                outcomes.append(f"{name}: {errno.errorcode[error.errno]}")
        os.write(write_end, "\n".join(outcomes).encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        assert pipe.read().splitlines() == [
            "kill: EPERM", "pidfd_send_signal: EPERM", "F_SETOWN: EPERM", "join the parent's group: EPERM",
            "new session: EPERM", "probe with signal 0: sent", "own process group: sent"]


def test_zygotes_forked_from_one_template_grade_and_isolate_like_their_own(sandbox: Sandbox, tmp_path: Path) -> None:
    from grader.sandbox import zygote_environment
    from grader.sandbox.template import ForkedZygote, ZygoteTemplate

    template = ZygoteTemplate(zygote_environment())
    try:
        boxes = [Sandbox(LIMITS, hidden_paths=[REPOSITORY], template=template.address) for _ in range(2)]
        try:
            for box in boxes:
                assert isinstance(box._process, ForkedZygote)  # not a zygote exec'd for it
                assert box.isolation == sandbox.isolation
                report = run(box, LOADING / "honest_solution.py", (MLP,))
                assert tuple(result.value for result in report.outcomes["p1"].results) == EXPECTED_MLP
                # Each forked zygote hides what an exec'd one hides: one attack as a witness.
                targets = [REPOSITORY / "reference" / "problem.py", REPOSITORY / "grader" / "models.py", REPOSITORY]
                folder = student_folder(tmp_path / str(id(box)), "read_grader_secrets.py",
                                        target_txt="\n".join(map(str, targets)))
                assert [result.value for result in run(box, folder, (MLP,)).outcomes["p1"].results] == [0, 0]
        finally:
            zygotes = [box._process for box in boxes]
            for box in boxes:
                box.close()
        assert all(zygote is not None and zygote.poll() is not None for zygote in zygotes)
    finally:
        template.close()
    assert not template.folder.exists()


def test_a_child_cannot_get_a_zygote_of_its_own_from_the_template(tmp_path: Path) -> None:
    # The child finds the template's socket in its inherited `sys.orig_argv` and connects:
    # a zygote forked for it would run jobs outside every layer.
    from grader.sandbox import zygote_environment
    from grader.sandbox.template import ZygoteTemplate

    template = ZygoteTemplate(zygote_environment())
    try:
        with Sandbox(LIMITS, preload_torch=False, template=template.address) as box:
            report = run(box, student_folder(tmp_path, "zygote_from_the_template.py"), (MLP,))
            assert [result.value for result in report.outcomes["p1"].results] == [0, 0]
            assert_honest_still_graded(box)  # the Sandbox's own zygote came from the template
    finally:
        template.close()


def test_ancestry_is_read_from_proc() -> None:
    from grader.sandbox.template import descends_from

    child = subprocess.Popen(["sleep", "5"])
    try:
        assert descends_from(child.pid, os.getpid())
        assert not descends_from(os.getpid(), child.pid)
    finally:
        child.kill()
        child.wait()


def test_an_unreachable_template_falls_back_to_a_zygote_of_its_own(tmp_path: Path) -> None:
    with Sandbox(LIMITS, preload_torch=False, template=str(tmp_path / "no-such.sock")) as box:
        assert isinstance(box._process, subprocess.Popen)  # exec'd for this Sandbox alone
        report = run(box, LOADING / "honest_solution.py", (MLP,))
    assert tuple(result.value for result in report.outcomes["p1"].results) == EXPECTED_MLP


def test_a_template_that_refuses_is_a_fallback_not_a_failure(tmp_path: Path) -> None:
    # A template closes the connection of a peer it cannot place (a /proc it may not read).
    address = str(tmp_path / "refusing.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(1)
    refuse = threading.Thread(target=lambda: listener.accept()[0].close())
    refuse.start()
    try:
        with Sandbox(LIMITS, preload_torch=False, template=address) as box:
            assert isinstance(box._process, subprocess.Popen)
            report = run(box, LOADING / "honest_solution.py", (MLP,))
        assert tuple(result.value for result in report.outcomes["p1"].results) == EXPECTED_MLP
    finally:
        refuse.join()
        listener.close()


def test_nothing_a_child_leaves_in_its_temp_base_reaches_the_next_child(sandbox: Sandbox, tmp_path: Path) -> None:
    folder = student_folder(tmp_path, "note_in_temp_base_for_the_next_student.py")
    first, second = (run(sandbox, folder, (MLP,)).outcomes["p1"].results[0].value for _ in range(2))
    assert (first, second) == (1, 1)  # the second child found no note: it left its own
    bases = list(Path(tempfile.gettempdir()).glob(f"grader-sandbox-{sandbox._process.pid}-*"))
    assert len(bases) == 1 and list(bases[0].iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="the private temp base is a tmpfs in the zygote's mount namespace")
def test_a_disk_flood_stops_at_the_private_temp_base_and_leaves_nothing(tmp_path: Path) -> None:
    with Sandbox(replace(LIMITS, max_disk_mib=16), preload_torch=False) as box:
        assert "private-temp-base" in box.isolation
        report = run(box, student_folder(tmp_path, "disk_flood.py"), (MLP,))
        written = [result.value for result in report.outcomes["p1"].results]
        assert written[0] is not None and 8 <= written[0] <= 16, report.outcomes["p1"]
        base = next(Path(tempfile.gettempdir()).glob(f"grader-sandbox-{box._process.pid}-*"))
        assert list(base.iterdir()) == []  # on the disk under the tmpfs: nothing, ever
        assert_honest_still_graded(box)


def test_only_regular_visible_files_of_bounded_size_are_copied_for_a_child(sandbox: Sandbox, tmp_path: Path) -> None:
    folder = student_folder(tmp_path, "sparse_files_and_fifo_in_folder.py", data_txt="1,2,3\n")
    (folder / "__pycache__").mkdir()
    # (a sparse file beside the code would make loading refuse the folder: over 20 MB)
    with open(folder / "__pycache__" / "huge.pyc", "wb") as file:
        file.truncate(2 << 30)
    os.mkfifo(folder / "pipe")
    report = run(sandbox, folder, (MLP,))
    assert [result.value for result in report.outcomes["p1"].results] == [1000, 1000]


def test_one_result_budget_covers_every_child_a_submission_takes(
        sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import grader.sandbox

    monkeypatch.setattr(grader.sandbox, "RESULT_BYTES", 12 << 20)  # 8 MB answers: the first fits
    cases = tuple({"z": np.ones(3)} for _ in range(4))
    plans = (CallPlan("p3a", ("softmax",), ("z",), cases), CallPlan("p3b", ("softmax_jacobian",), ("z",), cases))
    report = run(sandbox, student_folder(tmp_path, "huge_answers_on_every_problem.py"), plans)
    first, second = report.outcomes["p3a"], report.outcomes["p3b"]
    assert first.error is not None and first.error.kind == "invalid-output"
    assert sum(result.value is not None for result in first.results) == 1
    # The fresh child of p3b gets what is left (a minimum for its own frames), not 12 MiB anew.
    assert second.error is not None and second.error.kind == "invalid-output"
    assert all(result.value is None for result in second.results)
    assert_honest_still_graded(sandbox)


@pytest.mark.skipif(os.geteuid() != 0, reason="the mount namespace layer needs root")
def test_nested_hidden_folders_keep_the_mount_layer(tmp_path: Path) -> None:
    # A rubric in the course folder, the class and the reports inside it: once the course
    # folder was an empty tmpfs, the class folder was no mount point and the layer was lost.
    course = tmp_path / "course"
    (course / "class").mkdir(parents=True)
    (course / "out").mkdir()
    with Sandbox(LIMITS, preload_torch=False, hidden_paths=[course, course / "class", course / "out"]) as box:
        assert "mount-namespace" in box.isolation


def test_a_child_that_cannot_isolate_itself_is_the_sandboxs_failure_not_the_students() -> None:
    # An rlimit the kernel refuses (here more open files than it allows) made every child exit
    # before running any student code, and every student was told they had called sys.exit.
    from grader.errors import SandboxError

    with pytest.raises(SandboxError, match="failed before running the submission"):
        Sandbox(replace(LIMITS, max_open_files=1 << 30), preload_torch=False)


def test_a_notebook_of_many_failing_cells_is_graded_with_its_notes_cut_short(sandbox: Sandbox, tmp_path: Path) -> None:
    # Each failing cell is a note; past 200 the grader refused the child's `loaded` frame as
    # forged, and an honest notebook of 201 failing plot cells scored 0.
    cells = [(LOADING / "honest_solution.py").read_text()] + ["plot_results(epoch)\n"] * 201
    notebook = tmp_path / "many_failing_plot_cells.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                               "source": cell} for cell in cells],
                                    "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    report = run(sandbox, notebook, (MLP,))
    assert report.load_error is None
    assert tuple(result.value for result in report.outcomes["p1"].results) == EXPECTED_MLP
    assert len(report.load_notes) == 50 and report.load_notes[-1] == "... and 152 more notes like these"


def test_a_temp_base_is_emptied_however_deep_or_locked_its_folders(tmp_path: Path) -> None:
    from grader.sandbox.folders import empty_folder

    outside = tmp_path / "outside.txt"
    outside.write_text("not the child's")
    base = tmp_path / "base"
    deep = base / "work"
    deep.mkdir(parents=True)
    os.chdir(deep)  # relative steps: the absolute path outgrows PATH_MAX, as a child's can
    try:
        for level in range(1500):  # past the recursion limit that rmtree would hit
            os.mkdir("a")
            os.chdir("a")
            if level % 500 == 0:
                Path("answers.txt").write_text("x")
                os.symlink(outside, "link")
    finally:
        os.chdir(tmp_path)
    (base / "locked" / "inner").mkdir(parents=True)
    (base / "locked" / "inner" / "note.txt").write_text("x")
    for folder in (base / "locked" / "inner", base / "locked"):
        folder.chmod(0)
    empty_folder(str(base))
    assert list(base.iterdir()) == [] and outside.read_text() == "not the child's"


def test_a_new_zygote_removes_the_temp_folders_of_dead_ones_only() -> None:
    # Only a SIGKILL of a whole process group leaves a zygote's folder behind; the next
    # zygote must clear it, and never touch the folder of one still running.
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = Path(tempfile.mkdtemp(prefix=f"grader-sandbox-{dead.pid}-"))
    live = Path(tempfile.mkdtemp(prefix=f"grader-sandbox-{os.getpid()}-"))
    try:
        with Sandbox(LIMITS, preload_torch=False):
            pass
        assert not stale.exists() and live.exists()
    finally:
        shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(live, ignore_errors=True)


def test_the_child_runs_in_a_network_namespace_of_its_own(sandbox: Sandbox) -> None:
    # Reported is not entered: with unshare(CLONE_NEWNET) dropped and the layer still named,
    # every loopback test passed because seccomp refuses the socket anyway.
    report = run(sandbox, HOSTILE / "network_namespace_identity.py", (MLP,))
    assert "network-namespace" in report.isolation
    namespaces = {result.value for result in report.outcomes["p1"].results}
    assert len(namespaces) == 1 and None not in namespaces, report.outcomes["p1"]
    assert namespaces != {os.stat("/proc/self/ns/net").st_ino}


def processes_named(marker: str) -> list[int]:
    """Live (not zombie) processes whose comm is `marker`: the test's own grandchild only."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == marker:
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state not in ("Z", "X"):
                    found.append(int(entry.name))
        except OSError:
            continue  # gone while we looked
    return found


def timed_out_with_a_grandchild(tmp_path: Path, sandbox: Sandbox, *, leave_group: bool) -> list[int]:
    """Run the hanging child that leaves a grandchild; the grandchildren still alive after."""
    marker = "gc" + os.urandom(6).hex()  # 14 characters: comm holds 15
    files = {"marker_txt": marker} | ({"leave_group": ""} if leave_group else {})
    folder = student_folder(tmp_path, "grandchild_left_behind_by_a_hanging_child.py", **files)
    try:
        report = sandbox.execute(load(folder), (MLP,))
        assert "grandchild started" in report.stdout, report  # it existed: the test can fail
        assert report.load_error is not None and report.load_error.kind == "timeout"
        return processes_named(marker)
    finally:
        for pid in processes_named(marker):  # a defence that failed leaves it: clean up
            os.kill(pid, signal.SIGKILL)


FORKING_LIMITS = replace(LIMITS, max_processes=4)


def test_a_timed_out_childs_group_is_killed_with_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The group kill alone: this zygote's final sweep of its descendants is switched off, so a
    # timeout that killed only the child's pid would leave the grandchild running.
    import grader.sandbox

    monkeypatch.setattr(grader.sandbox, "ZYGOTE_PROGRAM", ("-c", "import grader.sandbox.zygote as zygote; "
                                                            "zygote.kill_descendants = lambda: None; zygote.main()"))
    with Sandbox(FORKING_LIMITS, preload_torch=False, hidden_paths=[REPOSITORY]) as box:
        assert timed_out_with_a_grandchild(tmp_path, box, leave_group=False) == []


def test_a_grandchild_that_left_the_group_is_swept_after_a_timeout(tmp_path: Path) -> None:
    # The final sweep alone: the grandchild left the child's process group (setsid), where no
    # group kill reaches, so only the zygote's sweep of its descendants (a subreaper) stops it.
    with Sandbox(FORKING_LIMITS, preload_torch=False, hidden_paths=[REPOSITORY]) as box:
        assert timed_out_with_a_grandchild(tmp_path, box, leave_group=True) == []


# --------------------------------------------------------------------------- loading what the student wrote

ROOMY = Limits(timeout_seconds=10.0, load_timeout_seconds=60.0, memory_mib=1024, output_kib=16)
CNN = CallPlan("p2", ("cnn_params", "count_cnn_params"), ("N", "L", "k", "d", "F", "h", "n_out"),
               ({"N": 8, "L": 1, "k": 3, "d": 2, "F": 1, "h": 3, "n_out": 2},))
CROSS_ENTROPY = CallPlan("p3c", ("cross_entropy_grad",), ("z", "y"),
                         ({"z": np.array([1.0, 3.5]), "y": np.array([0.0, 1.0])},))


@pytest.fixture(scope="module")
def roomy_sandbox() -> Iterator[Sandbox]:
    """Importing matplotlib and pandas takes seconds on a busy machine: a load budget for that."""
    with Sandbox(ROOMY, hidden_paths=[REPOSITORY]) as box:
        yield box


def test_input_costs_only_its_own_statement(sandbox: Sandbox) -> None:
    report = run(sandbox, LOADING / "input_then_functions.py")
    assert [result.value for result in report.outcomes["p1"].results] == list(EXPECTED_MLP)
    assert np.allclose(report.outcomes["p3a"].results[0].value, [0, 0, 1, 0])
    (note,) = report.load_notes
    assert note.startswith("input_then_functions.py, line 3: skipped `N = int(input(\"N? \"))`")
    assert "EOFError" in note and "input() gets no keyboard input" in note and "would have defined N" in note


def test_a_statement_needing_a_skipped_one_fails_on_its_own(sandbox: Sandbox) -> None:
    report = run(sandbox, LOADING / "later_statement_needs_a_skipped_one.py")
    assert [result.value for result in report.outcomes["p1"].results] == list(EXPECTED_MLP)
    notes = "\n".join(report.load_notes)
    assert "line 4: skipped `import seaborn as sns` (ModuleNotFoundError" in notes and "would have defined sns" in notes
    assert "line 5: skipped `sns.set_theme()` (NameError" in notes
    missing = report.outcomes["p3a"].error
    assert missing is not None and report.outcomes["p3a"].function_used is None
    assert "line 13 would have defined it but raised NameError" in missing.message


def test_future_imports_apply_to_the_statements_after_them(sandbox: Sandbox) -> None:
    report = run(sandbox, LOADING / "future_annotations_per_statement.py")
    assert report.load_notes == ()
    assert [result.value for result in report.outcomes["p1"].results] == list(EXPECTED_MLP)


def test_the_offered_packages_and_stand_ins_load_under_every_layer(roomy_sandbox: Sandbox) -> None:
    report = run(roomy_sandbox, LOADING / "imports_the_scientific_stack.py")
    assert report.load_error is None
    assert [note for note in report.load_notes if "skipped" in note] == []
    assert any(note.startswith("google.colab exists only on its notebook platform") for note in report.load_notes)
    assert [result.value for result in report.outcomes["p1"].results] == list(EXPECTED_MLP)
    assert np.allclose(report.outcomes["p3a"].results[0].value, [0, 0, 1, 0])
    assert "DISPLAYED" not in report.stdout  # display-only calls do nothing
    assert "non-GUI" not in report.stderr and "Warning" not in report.stderr  # plt.show() is quiet


def test_the_zygote_preloads_none_of_the_offered_packages(sandbox: Sandbox) -> None:
    report = run(sandbox, LOADING / "counts_preloaded_student_packages.py", (MLP,))
    assert [result.value for result in report.outcomes["p1"].results] == [0, 0]


def test_near_names_are_graded_and_the_students_own_function_wins(sandbox: Sandbox) -> None:
    report = run(sandbox, LOADING / "near_names_and_imports.py", (MLP, CNN, SOFTMAX, CROSS_ENTROPY))
    mlp, cnn, softmax, cross_entropy = (report.outcomes[p] for p in ("p1", "p2", "p3a", "p3c"))
    # Two near names of p1 tie; mlp_params_fn takes three arguments and is no candidate.
    assert (mlp.function_used, mlp.near_name, mlp.other_candidates) == ("calc_mlp_params", True, ("num_mlp_parameters",))
    assert [result.value for result in mlp.results] == list(EXPECTED_MLP)
    assert (cnn.function_used, cnn.near_name, cnn.results[0].value) == ("count_cnn_parameters", True, 163)
    # The student's own softmax, not scipy's imported over it later.
    assert (softmax.function_used, softmax.near_name, softmax.imported_from) == ("softmax", False, None)
    # A near name bound to a library function is not the student's work.
    assert cross_entropy.function_used is None and cross_entropy.error is not None


def test_an_imported_implementation_is_graded_and_named(sandbox: Sandbox, tmp_path: Path) -> None:
    module = tmp_path / "imports_softmax.py"
    module.write_text("from scipy.special import softmax\n")
    outcome = run(sandbox, module, (SOFTMAX,)).outcomes["p3a"]
    assert outcome.function_used == "softmax" and outcome.imported_from == "scipy.special.softmax"
    assert np.allclose(outcome.results[0].value, [0, 0, 1, 0])


def test_a_rubric_package_is_readable_only_when_the_rubric_adds_it(tmp_path: Path) -> None:
    # click is installed (the grader's own CLI) but not offered: the child may not read it.
    module = tmp_path / "uses_click.py"
    module.write_text("import click\n\ndef mlp_params(N, L, h, n):\n    return len(click.__name__)\n")
    with Sandbox(LIMITS, preload_torch=False, hidden_paths=[REPOSITORY]) as box:
        if not any(layer.startswith("landlock") for layer in box.isolation):
            pytest.skip("Landlock is not in force here: every installed package is readable")
        refused = box.execute(load(module), (MLP,))
    with Sandbox(LIMITS, preload_torch=False, hidden_paths=[REPOSITORY], packages=["click"]) as box:
        allowed = box.execute(load(module), (MLP,))
    assert any("skipped `import click`" in note for note in refused.load_notes)
    assert allowed.load_notes == () and [r.value for r in allowed.outcomes["p1"].results] == [5, 5]


def test_near_name_claims_and_origins_from_a_child_are_checked() -> None:
    from grader.stages import near_names as names
    from grader.sandbox import decode
    from grader.sandbox.protocol import ProtocolViolation

    for near in ("count_cnn_parameters", "cnn_param_count", "CNNParams"):
        assert names.is_near(near, ("cnn_params",))
    assert names.rank(["softmax_fn"], ("softmax",), [("softmax_jacobian",)]) == ["softmax_fn"]
    assert names.rank(["softmax_jacobian_matrix"], ("softmax_jacobian",), [("softmax",)]) == ["softmax_jacobian_matrix"]
    assert names.rank(["crossentropy_grad"], ("cross_entropy_grad",), [("softmax",)]) == ["crossentropy_grad"]
    assert names.rank(["dsoftmax", "log_softmax", "sigmoid"], ("softmax",), [("softmax_grad",)]) == []
    assert not names.is_near("os.system", ("softmax",)) and not names.is_near("relu", ("softmax",))
    assert decode.found({"imported_from": "\x1b[2J<script>"}, False)["imported_from"] == "another module"
    with pytest.raises(ProtocolViolation):
        decode.found({"others": ["<b>"]}, True)


def test_a_module_that_fails_midway_runs_whole_up_to_the_failure_then_goes_on(sandbox: Sandbox, tmp_path: Path) -> None:
    # The fast path runs a unit whole; after a failure inside a loop, the statements after the
    # loop still run, and the statements before it ran once (the counter is 1, not 2).
    module = tmp_path / "fails_in_a_loop.py"
    module.write_text("runs = []\nruns.append(1)\nfor k in range(3):\n    if k == 2:\n        raise KeyError(k)\n\n"
                      "def mlp_params(N, L, h, n):\n    return len(runs)\n")
    report = run(sandbox, module, (MLP,))
    assert report.load_notes == ("fails_in_a_loop.py, line 3: skipped `for k in range(3):` (KeyError: 2); "
                                 "it would have defined k",)
    assert [result.value for result in report.outcomes["p1"].results] == [1, 1]


def test_a_later_cell_that_rebinds_the_students_function_does_not_replace_it(sandbox: Sandbox, tmp_path: Path) -> None:
    import nbformat

    cells = ["import numpy as np\n\ndef softmax(z):\n    e = np.exp(z - np.max(z))\n    return e / e.sum()",
             "from scipy.special import softmax  # to compare with mine",
             "def mlp_params(N, L, h, n):\n    return 7\n\nmlp_params = mlp_params(1, 1, 1, 1)  # a test cell reusing the name"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    path = tmp_path / "rebinding_cells.ipynb"
    nbformat.write(notebook, path)
    report = run(sandbox, path)
    softmax = report.outcomes["p3a"]
    assert (softmax.function_used, softmax.imported_from) == ("softmax", None)
    assert np.allclose(softmax.results[0].value, [0, 0, 1, 0])
    assert [result.value for result in report.outcomes["p1"].results] == [7, 7]


# ---------------------------------------------------------------- other processes, sockets, /proc
def probe(name: str) -> CallPlan:
    """A plan calling the fixture's function `name()` once, without arguments."""
    return CallPlan(name, (name,), (), ({},))


def probed(report: ExecutionReport, name: str) -> object:
    outcome = report.outcomes[name]
    assert outcome.error is None and outcome.results[0].error is None, outcome
    return outcome.results[0].value


MARKED_PROCESS = ("import resource, sys, time\n"
                  "from grader.sandbox.isolation import drop_capabilities\n"
                  "marker = int(sys.argv[1])\n"
                  "resource.setrlimit(resource.RLIMIT_MSGQUEUE, (marker, marker))\n"
                  "if sys.argv[2] == 'sibling':\n"
                  "    drop_capabilities()\n"
                  "print('ready', flush=True)\n"
                  "time.sleep(600)\n")


@pytest.fixture
def marked_process() -> Iterator[tuple[int, int]]:
    """A stand-in for a sibling child (capabilities dropped, as a child's are: the kernel lets
    such a process renice and pin another only if that one holds no capability it lacks): a
    process of this test's own, its RLIMIT_MSGQUEUE set to a random marker that the process
    fixtures check before they touch anything."""
    marker = random.randrange(1000, 800_000)
    process = subprocess.Popen([sys.executable, "-c", MARKED_PROCESS, str(marker), "sibling"], cwd=REPOSITORY,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        yield process.pid, marker
    finally:
        process.kill()
        process.wait()


def test_prlimit_on_another_process_changes_nothing(sandbox: Sandbox, tmp_path: Path,
                                                   marked_process: tuple[int, int]) -> None:
    pid, marker = marked_process
    folder = student_folder(tmp_path, "prlimit_on_another_process.py", target_txt=f"{pid} {marker}")
    assert probed(run(sandbox, folder, (probe("limited"),)), "limited") == 0
    assert resource.prlimit(pid, resource.RLIMIT_FSIZE)[0] == resource.RLIM_INFINITY
    assert_honest_still_graded(sandbox)


def test_idle_and_pinned_siblings_are_refused(sandbox: Sandbox, tmp_path: Path,
                                              marked_process: tuple[int, int]) -> None:
    pid, marker = marked_process

    def scheduling() -> tuple[object, ...]:
        return os.sched_getscheduler(pid), os.sched_getaffinity(pid), os.getpriority(os.PRIO_PROCESS, pid)

    before = scheduling()
    folder = student_folder(tmp_path, "idle_and_pinned_siblings.py", target_txt=f"{pid} {marker}")
    assert probed(run(sandbox, folder, (probe("starved"),)), "starved") == 0
    assert scheduling() == before


@pytest.mark.skipif(os.geteuid() != 0, reason="a pid namespace per child needs root")
def test_a_child_sees_no_process_but_itself(sandbox: Sandbox, tmp_path: Path, marked_process: tuple[int, int]) -> None:
    # kill(pid, 0) passes seccomp (a probe sends nothing): only the pid namespace hides the target.
    pid, marker = marked_process
    assert "pid-namespace" in sandbox.isolation
    folder = student_folder(tmp_path, "prlimit_on_another_process.py", target_txt=f"{pid} {marker}")
    assert probed(run(sandbox, folder, (probe("seen"),)), "seen") == 0


def test_seccomp_alone_refuses_process_calls_on_other_pids(marked_process: tuple[int, int]) -> None:
    # Belt and braces with the pid namespace (and all there is for a child that is not root).
    import ctypes

    from grader.sandbox import syscall_filter

    rules = syscall_filter.build_seccomp_filter(allow_processes=False)
    if rules is None:
        pytest.skip("pyseccomp is unavailable")
    pid, _ = marked_process
    libc = ctypes.CDLL(None, use_errno=True)

    def raw(number: int, *arguments: int) -> None:
        if libc.syscall(number, *arguments) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))

    attempts = {
        "prlimit read": lambda: resource.prlimit(pid, resource.RLIMIT_NOFILE),
        "prlimit write": lambda: resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY)),
        "SCHED_IDLE": lambda: os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0)),
        "sched_setparam": lambda: os.sched_setparam(pid, os.sched_param(0)),
        "pinned": lambda: os.sched_setaffinity(pid, {0}),
        "niced": lambda: os.setpriority(os.PRIO_PROCESS, pid, 19),
        "niced by uid": lambda: os.setpriority(os.PRIO_USER, 0, 0),
        "io idle": lambda: raw(251, 1, pid, 3 << 13),  # ioprio_set(IOPRIO_WHO_PROCESS, pid, idle)
        "pidfd": lambda: os.close(os.pidfd_open(pid)),
        "own limits": lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)),
        "own affinity": lambda: os.sched_setaffinity(0, os.sched_getaffinity(0)),
        "own priority": lambda: os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0)),
    }
    outcomes = in_a_filtered_child(rules, attempts)
    assert outcomes == ["prlimit read: EPERM", "prlimit write: EPERM", "SCHED_IDLE: EPERM", "sched_setparam: EPERM",
                        "pinned: EPERM", "niced: EPERM", "niced by uid: EPERM", "io idle: EPERM", "pidfd: EPERM",
                        "own limits: done", "own affinity: done", "own priority: done"]
    assert os.sched_getscheduler(pid) == os.SCHED_OTHER


def in_a_filtered_child(rules: object, attempts: dict) -> list[str]:
    """Each attempt's outcome ("done" or its errno) in a forked child under the filter alone."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            rules.load()  # type: ignore[attr-defined]
            outcomes = []
            for name, attempt in attempts.items():
                try:
                    attempt()
                    outcomes.append(f"{name}: done")
                except OSError as error:
                    outcomes.append(f"{name}: {errno.errorcode.get(error.errno or 0, error.errno)}")
            os.write(write_end, "\n".join(outcomes).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    with os.fdopen(read_end) as pipe:
        return pipe.read().splitlines()


@contextlib.contextmanager
def stand_in_daemon(folder: Path) -> Iterator[tuple[str, str, list[int]]]:
    """A Unix socket daemon of this test's own (Docker's, D-Bus's stand-in), its path carrying
    a random marker; it answers each caller with its credentials. Yields path, marker, and
    the list it appends each caller's pid to."""
    marker = secrets.token_hex(6)
    path = str(folder / f"d-{marker}.sock")
    callers: list[int] = []
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    listener.settimeout(0.2)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            with connection:
                callers.append(struct.unpack("3i", connection.getsockopt(
                    socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0])
                connection.sendall(b"uid 0: at your service")

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield path, marker, callers
    finally:
        stopping.set()
        thread.join()
        listener.close()


def test_a_unix_socket_outside_the_sandbox_is_unreachable(sandbox: Sandbox, tmp_path: Path) -> None:
    with stand_in_daemon(tmp_path) as (path, marker, callers):
        folder = student_folder(tmp_path, "connect_to_unix_socket_outside.py", target_txt=f"{path} {marker}")
        assert probed(run(sandbox, folder, (probe("answered"),)), "answered") == 0
    assert callers == []


def test_seccomp_alone_refuses_every_socket_but_a_stream_socketpair(tmp_path: Path) -> None:
    from grader.sandbox import syscall_filter

    rules = syscall_filter.build_seccomp_filter(allow_processes=False)
    if rules is None:
        pytest.skip("pyseccomp is unavailable")

    def stream_pair() -> None:
        left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        left.sendall(b"x")
        assert right.recv(1) == b"x"

    with stand_in_daemon(tmp_path) as (path, _, callers):
        attempts = {
            "unix socket": lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM),
            "udp socket": lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
            "datagram pair": lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM),
            "connect a pair's end": lambda: socket.socketpair()[0].connect(path),
            "stream pair": stream_pair,
        }
        outcomes = in_a_filtered_child(rules, attempts)
    assert outcomes == ["unix socket: EPERM", "udp socket: EPERM", "datagram pair: EPERM",
                        "connect a pair's end: EPERM", "stream pair: done"]
    assert callers == []


UNPICKLING_LISTENER = ("import pickle, socket, sys\n"
                       "server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
                       "server.bind(sys.argv[1])\n"
                       "server.listen(8)\n"
                       "print('ready', flush=True)\n"
                       "while True:\n"
                       "    connection, _ = server.accept()\n"
                       "    data = b''\n"
                       "    while chunk := connection.recv(65536):\n"
                       "        data += chunk\n"
                       "    connection.close()\n"
                       "    try:\n"
                       "        pickle.loads(data)\n"
                       "    except Exception:\n"
                       "        pass\n")


@pytest.mark.skipif(os.geteuid() != 0, reason="a /proc of the child's own needs its pid and mount namespaces (root)")
def test_the_cuda_profile_shows_a_child_its_own_proc_only(tmp_path: Path) -> None:
    # The listener stands in for multiprocessing's fork server: it unpickles what it is sent.
    # Forced onto the CUDA profile (which grants /proc), the child must not even find it.
    marker = secrets.token_hex(6)
    proof = tmp_path / f"proof-{marker}"
    listener = subprocess.Popen([sys.executable, "-c", UNPICKLING_LISTENER, str(tmp_path / f"l-{marker}.sock")],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        folder = student_folder(tmp_path, "pickle_to_a_listener_found_in_proc.py", target_txt=f"{marker} {proof}")
        with Sandbox(LIMITS, preload_torch=False, hidden_paths=[REPOSITORY], cuda_profile=True) as box:
            assert "own-proc" in box.isolation
            report = box.execute(load(folder), (probe("seen"), probe("delivered"), probe("reads_own_proc")))
        assert probed(report, "reads_own_proc") == 1  # what CUDA reads of /proc is still there
        assert probed(report, "seen") == 0
        assert probed(report, "delivered") == 0
        assert not proof.exists()
    finally:
        listener.kill()
        listener.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="the private temp base is a tmpfs in the zygote's mount namespace")
def test_an_inode_flood_stops_at_the_private_temp_bases_inode_cap(tmp_path: Path) -> None:
    limits = replace(LIMITS, max_disk_mib=16, timeout_seconds=30.0)
    with Sandbox(limits, preload_torch=False, hidden_paths=[REPOSITORY]) as box:
        report = run(box, student_folder(tmp_path, "inode_flood.py"), (replace(MLP, cases=MLP.cases[:1]),))
        made = report.outcomes["p1"].results[0].value
        assert isinstance(made, int) and 0 < made <= 16 * 256 + 100, report.outcomes["p1"]  # one inode a page
        assert_honest_still_graded(box)


def test_a_timeout_says_where_the_code_was_stopped_and_how_deep(sandbox: Sandbox) -> None:
    report = run(sandbox, HOSTILE / "endless_loop_deep_in_a_recursion.py", (MLP, SOFTMAX))
    error = report.outcomes["p1"].error
    assert error is not None and error.kind == "timeout"
    assert error.message == ("problem p1 used its 1.5 s of CPU time and was stopped in `down()` at line 8 of "
                             "endless_loop_deep_in_a_recursion.py, 50,001 calls deep")
    assert "in down (50,000 times in a row)" in error.detail


def test_the_wall_clock_ends_a_sleeping_child_and_waits_for_a_computing_one() -> None:
    # The wall clock is a backstop for code that sleeps: a child still computing when its
    # period passes (a machine five times oversubscribed) is left to its own CPU clock.
    import time

    from grader.sandbox.clock import StageClock, cpu_seconds_used

    sleeper = subprocess.Popen(["sleep", "600"])
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        clocks = {"sleeper": StageClock(sleeper.pid, 1.0), "spinner": StageClock(spinner.pid, 1.0)}
        start = clocks["spinner"].cpu_then
        assert start is not None
        while (cpu_seconds_used(spinner.pid) or 0.0) - start < 0.1:  # however busy the machine
            time.sleep(0.01)
        for clock in clocks.values():
            clock.deadline = time.monotonic()  # as if each period had passed now
        assert clocks["sleeper"].expired()
        assert not clocks["spinner"].expired()
        assert clocks["spinner"].remaining() > 0
    finally:
        for process in (sleeper, spinner):
            process.kill()
            process.wait()
