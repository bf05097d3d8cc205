"""Untrusted execution: the only place student code runs, in isolated forks of a fresh zygote.

`Sandbox(limits)` starts `python -m grader.sandbox.zygote` (never a fork of the grader, whose
memory may hold answers), probes which isolation layers the kernel grants, and `execute`
runs one submission's units and call plans in a child, re-forking after a problem that
hangs or dies. One Sandbox serves one thread at a time; use one per worker.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from types import TracebackType

import numpy as np

from grader.errors import SandboxError
from grader.models import CallPlan, ExecutionError, ExecutionReport, Limits, ProblemOutcome, Submission

from .protocol import Frame, array_bytes, encode_frame, trusted_reader
from .runs import RESULT_BYTES, ChildRun
from .template import ForkedZygote
from .template import connect as template_connect

__all__ = ["Sandbox"]

HELLO_TIMEOUT = 180.0  # importing torch on a cold 2-core machine takes a while
#: What the interpreter runs as an exec'd zygote (its config follows as the one argument). A
#: seam for tests only: two defences that cover for each other (the process-group kill and the
#: final sweep) are each proven by a zygote started with the other one switched off.
ZYGOTE_PROGRAM: tuple[str, ...] = ("-m", "grader.sandbox.zygote")
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def encode_plans(plans: Sequence[CallPlan]) -> tuple[list[dict], list[bytes]]:
    """Plans as JSON plus `.npy` blobs; arrays travel as float64 (or their own numeric dtype)."""
    blobs: list[bytes] = []
    encoded = []
    for plan in plans:
        cases = []
        for case in plan.cases:
            arguments = {}
            for name in plan.parameters:
                value = case[name]
                if type(value) is int:  # most arguments: skip the checks below (~2,000 a student)
                    arguments[name] = {"type": "int", "value": value}
                elif isinstance(value, np.ndarray):
                    arguments[name] = {"type": "array", "blob": len(blobs)}
                    blobs.append(array_bytes(value))
                elif isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                    raise SandboxError(f"case argument {plan.problem_id}.{name} is a {type(value).__name__}",
                                       hint="case arguments must be ints, floats or numpy arrays")
                else:
                    arguments[name] = {"type": "int" if isinstance(value, (int, np.integer)) else "float",
                                       "value": value.item() if isinstance(value, np.generic) else value}
            cases.append(arguments)
        encoded.append({"problem_id": plan.problem_id, "names": list(plan.names), "parameters": list(plan.parameters),
                        "cases": cases, "call": plan.call, "device": plan.device})
    return encoded, blobs


def zygote_environment() -> dict[str, str]:
    """A clean environment: nothing of the grader's (tokens, paths to answers) reaches a child."""
    environment = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": str(SOURCE_ROOT),
                   "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                   "OPENBLAS_NUM_THREADS": "1"}
    if os.environ.get("CUDA_VISIBLE_DEVICES"):
        environment["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    return environment


class Sandbox:
    """A zygote process and the isolation layers it grants; runs submissions one at a time."""

    def __init__(self, limits: Limits, *, preload_torch: bool = True, hidden_paths: Sequence[Path] = (),
                 template: str | None = None, packages: Sequence[str] = (), cuda_profile: bool = False) -> None:
        """`template`: the address of a `ZygoteTemplate` to fork the zygote from, sparing this
        Sandbox its own import of torch; without one (or when it is unreachable) a zygote is
        exec'd for this Sandbox alone. `packages`: names a student may import besides
        `student_packages.OFFERED` (a rubric's `packages`). `cuda_profile`: give every child the
        isolation of a CUDA child (its file rules, its own /proc), GPU or not, as the tests do
        to check it."""
        self.limits = limits
        self._lock = threading.Lock()
        self._reader = trusted_reader()
        self._stderr = tempfile.TemporaryFile()
        config = {"preload_torch": preload_torch, "hidden": [str(Path(path).resolve()) for path in hidden_paths],
                  "allow_processes": limits.max_processes > 0, "packages": list(packages),
                  "cuda_profile": cuda_profile}
        self._process: subprocess.Popen[bytes] | ForkedZygote | None = None
        forked = template_connect(template, config, self._stderr.fileno()) if template else None
        hello = None
        if forked is not None:
            self._control = forked
            hello = self._receive_hello()
            if hello is not None and type(hello.header.get("pid")) is int:
                self._process = ForkedZygote(hello.header["pid"])
            else:  # the template refused us (it could not read who we are) or died: exec one
                forked.close()
                self._reader = trusted_reader()
        if self._process is None:
            self._control, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self._process = subprocess.Popen(
                [sys.executable, *ZYGOTE_PROGRAM, json.dumps({**config, "control_fd": zygote_end.fileno()})],
                pass_fds=[zygote_end.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self._stderr, env=zygote_environment(), cwd="/",
                # Its own session: no child can join the grader's process group and signal it
                # all at once (and a Ctrl-C meant for the grader does not reach it half-way).
                start_new_session=True)
            zygote_end.close()
            hello = self._receive_hello()
        if hello is None or hello.header.get("event") != "hello" or self._process is None:
            failure = self._zygote_stderr()
            self.close()
            raise SandboxError(f"the sandbox zygote failed to start: {failure}",
                               hint="run `python -m grader.sandbox.zygote '{}'` to see the failure")
        try:
            probe = self._run(Submission("probe", Path("/nonexistent"), None, "module", (), (), (), ""), [], 0)
        except SandboxError:
            self.close()  # a child that cannot isolate itself: no zygote is left waiting
            raise
        self.isolation: tuple[str, ...] = probe.layers
        self.warnings: tuple[str, ...] = tuple(hello.header.get("warnings", [])) + self._missing_layers()

    def _receive_hello(self) -> Frame | None:
        """The zygote's first frame, or None when it closed or stayed silent too long."""
        self._control.settimeout(HELLO_TIMEOUT)
        hello = None
        try:
            while not self._reader.pending and (data := self._control.recv(1 << 16)):
                self._reader.pending.extend(self._reader.feed(data))
            hello = self._reader.pending.pop(0) if self._reader.pending else None
        except OSError:  # includes the socket timeout
            pass
        self._control.settimeout(None)
        return hello

    def _missing_layers(self) -> tuple[str, ...]:
        layers = " ".join(self.isolation)
        warnings = []
        if "landlock" not in layers and "mount-namespace" not in layers:
            warnings.append("WARNING: neither Landlock nor a mount namespace is in force: student code can read "
                            "every file this user can (answer keys, other students' work)")
        if "network-namespace" not in layers and "seccomp" not in layers:
            warnings.append("WARNING: no network isolation: student code can open TCP and UDP connections")
        if "seccomp" not in layers:
            warnings.append("seccomp is not in force: student code can start processes and run programs")
        if "private-temp-base" not in layers:
            warnings.append("no private temp folder (it needs root): a submission's writes are capped per file "
                            "(max_file_mib), not in all, so one could fill the disk while it runs")
        return tuple(warnings)

    def _zygote_stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-2000:].decode("utf-8", "replace")

    def execute(self, submission: Submission, plans: Sequence[CallPlan]) -> ExecutionReport:
        """Run a submission's units, then every plan; never raises for the student's faults."""
        if submission.error is not None:
            unread = {plan.problem_id: ProblemOutcome(plan.problem_id, None, (), submission.error) for plan in plans}
            return ExecutionReport(outcomes=unread, load_error=submission.error, isolation=self.isolation)
        outcomes: dict[str, ProblemOutcome] = {}
        notes: tuple[str, ...] = ()
        stdout, stderr = bytearray(), bytearray()
        cap = self.limits.output_kib * 1024
        start: int | None = 0
        layers: tuple[str, ...] = ()
        load_error: ExecutionError | None = None
        budget = RESULT_BYTES  # for the whole submission, however many children it takes
        while start is not None:
            run = self._run(submission, plans, start, budget)
            budget = max(budget - run.result_bytes, 1 << 20)  # a next child still says what it does
            layers = layers or run.layers
            notes = notes or run.notes
            outcomes.update(run.outcomes)
            stdout.extend(run.stdout[: max(cap - len(stdout), 0)])
            stderr.extend(run.stderr[: max(cap - len(stderr), 0)])
            if run.load_error is not None:
                # Loading failed (an endless loop at import, a syntax error): every problem
                # would fail the same way, so do not re-run it once per problem.
                load_error = run.load_error
                for plan in plans:
                    outcomes.setdefault(plan.problem_id, ProblemOutcome(plan.problem_id, None, (), run.load_error))
                break
            start = run.stopped_at
        return ExecutionReport(outcomes={plan.problem_id: outcomes[plan.problem_id] for plan in plans if plan.problem_id in outcomes},
                               load_notes=notes, stdout=stdout.decode("utf-8", "replace"),
                               stderr=stderr.decode("utf-8", "replace"), isolation=layers or self.isolation,
                               load_error=load_error)

    def _run(self, submission: Submission, plans: Sequence[CallPlan], start: int,
             result_bytes: int = RESULT_BYTES):  # -> runs.RunResult
        encoded, blobs = encode_plans(plans)
        entry = submission.entry or submission.path
        module_name = "__main__" if submission.kind == "notebook" else (
            entry.stem if entry.stem.isidentifier() and entry.stem not in sys.modules else "submission")
        job = {"units": [[unit.label, unit.code] for unit in submission.units], "kind": submission.kind or "module",
               "module_name": module_name,
               "entry_name": str(entry.relative_to(submission.path)) if entry != submission.path else entry.name, "source": str(submission.path),
               "plans": encoded, "start": start, "limits": asdict(self.limits)}  # every limit, by name
        frame = encode_frame({"op": "run", "job": job}, blobs)
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                raise SandboxError(f"the sandbox zygote has exited: {self._zygote_stderr()}",
                                   hint="create a new Sandbox; report the stderr above if it repeats")
            return ChildRun(self._control, self._reader, plans, self.limits, start, result_bytes).run(frame)

    def close(self) -> None:
        """Stop the zygote (it kills and reaps anything left) and release its resources."""
        try:
            self._control.close()
        finally:
            zygote = self._process
            if zygote is not None:
                try:
                    zygote.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    zygote.kill()
                    zygote.wait()
            self._stderr.close()

    def abandon(self, timeout: float = 5.0) -> None:
        """Stop the zygote from another thread, the one using this Sandbox maybe mid-run.

        For a worker whose grader died: `shutdown` (unlike `close`, which leaves a socket that a
        blocked call still holds open) gives the zygote EOF at once, so it kills its child and
        removes its temp folders before this process exits and its death signal arrives."""
        try:
            self._control.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # closed already
        zygote = self._process
        if zygote is not None:
            try:
                zygote.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                zygote.kill()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()
