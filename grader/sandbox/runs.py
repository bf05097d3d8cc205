"""The grader's side of one child: send the job, read frames under wall-clock backstops.

A problem that hangs, crashes or exits costs that problem only: the run reports where it
stopped so `Sandbox` can go on in a fresh child. A stage's limit is CPU time, kept by the
child itself (which reports where it was stopped); the deadlines here are wall-clock
backstops per stage (loading, then each problem): when one passes, the zygote kills the
child's whole process group.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from grader.stages import near_names
from grader.errors import SandboxError
from grader.models import CallPlan, CallResult, ExecutionError, Limits, ProblemOutcome

from . import decode
from .clock import StageClock, wall_clock_backstop
from .protocol import Frame, FrameReader, ProtocolViolation, encode_frame, write_all

START_TIMEOUT = 60.0
EXIT_GRACE = 5.0

#: Result bytes one submission may send in all, over every child it takes: an honest one sends
#: a few MB; answers of 6 million numbers re-sent after each crash took a worker to 1.7 GB.
RESULT_BYTES = 256 << 20


@dataclass
class RunResult:
    """What one child got through: layers, loading, finished problems, where it stopped."""

    layers: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    load_error: ExecutionError | None = None
    outcomes: dict[str, ProblemOutcome] = field(default_factory=dict)
    stopped_at: int | None = None  # the first problem not finished; None when all are
    stdout: bytes = b""
    stderr: bytes = b""
    result_bytes: int = 0  # what the child wrote to its result channel
    stop: decode.StopPoint | None = None  # the child ran out of CPU time there


@dataclass
class Progress:
    """Where the child is: loading (problem None) or inside plans[problem]."""

    plans: Sequence[CallPlan]
    problem: int | None = None
    next_problem: int = 0
    function_used: str | None = None
    results: list[CallResult] = field(default_factory=list)
    problem_error: ExecutionError | None = None
    found: dict = field(default_factory=dict)  # near_name, other_candidates, imported_from
    loaded: bool = False
    done: bool = False


#: Share of `Limits.memory_mib` a child's peak RSS must reach for a kill to count as memory.
MEMORY_EXHAUSTED_SHARE = 0.8


def kib_field(exited: dict, name: str) -> int:
    """A KiB count from the zygote's `exited` message, 0 when absent or malformed. The zygote
    is trusted (no child can write to its socket), but a wrong type must not crash grading."""
    value = exited.get(name)
    return value if type(value) is int and value > 0 else 0


def memory_used_mib(exited: dict) -> float:
    """The child's peak resident memory above what it inherited from the zygote, in MiB."""
    return max(kib_field(exited, "peak_rss_kib") - kib_field(exited, "base_rss_kib"), 0) / 1024


def describe_exit(exited: dict, stage: str, killed_for_time: bool, limits: Limits, stderr: bytes,
                  stop: decode.StopPoint | None = None) -> ExecutionError:
    """The error kind and words for a child that stopped without finishing `stage`."""
    number, code = exited.get("signal"), exited.get("exit_code")
    detail = stderr.decode("utf-8", "replace")[-2000:]
    used = memory_used_mib(exited)
    out_of_time = killed_for_time or stop is not None or number == signal.SIGKILL
    if out_of_time and used >= MEMORY_EXHAUSTED_SHARE * limits.memory_mib:
        # A memory bomb spends seconds of system time filling its budget, so its CPU time
        # (or, under load, the wall clock) can run out before MemoryError comes; "timeout"
        # would send the student hunting for a slow loop.
        return ExecutionError("memory", f"{stage} used all of its {limits.memory_mib} MiB of memory "
                              "and was stopped", detail=detail)
    seconds = limits.load_timeout_seconds if stage == "loading" else limits.timeout_seconds
    if stop is not None:
        stack = "".join(f"  {entry}\n" for entry in stop.stack)
        return ExecutionError("timeout", f"{stage} used its {seconds:g} s of CPU time and was stopped{stop.phrase()}",
                              detail=(f"Stopped while running (innermost first):\n{stack}" if stack else "") + detail)
    if killed_for_time:
        return ExecutionError("timeout", f"{stage} was stopped by the clock: {wall_clock_backstop(seconds):g} s passed "
                              f"without it computing (was it sleeping or waiting?); its limit is {seconds:g} s of CPU "
                              "time", detail=detail)
    if number in (signal.SIGXCPU, signal.SIGKILL):
        return ExecutionError("timeout", f"{stage} used up its CPU time and was stopped", detail=detail)
    if number is not None:
        if "bad_alloc" in detail or "MemoryError" in detail or "Cannot allocate memory" in detail:
            return ExecutionError("memory", f"{stage} ran out of memory", detail=detail)
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
        return ExecutionError("crash", f"the process crashed with {name} during {stage}", detail=detail)
    return ExecutionError("exit", f"the process exited with status {code} during {stage} "
                          "(sys.exit or os._exit in the submission)", detail=detail)


class ChildRun:
    """One child's run, from the `run` request to the zygote's `exited` report."""

    def __init__(self, control: socket.socket, reader: FrameReader, plans: Sequence[CallPlan], limits: Limits,
                 start: int = 0, result_bytes: int = RESULT_BYTES) -> None:
        self.control, self.control_reader, self.limits = control, reader, limits
        self.progress = Progress(plans, next_problem=start)
        self.result = RunResult()
        self.output_cap = limits.output_kib * 1024
        self.result_reader = FrameReader(max_total_bytes=result_bytes)
        self.child_pid: int | None = None  # its pid as the zygote (and so the grader) names it

    def run(self, job_frame: bytes) -> RunResult:
        try:
            write_all(self.control.fileno(), job_frame)
            fds = self.wait_started()
            try:
                exited, killed_for_time, violation = self.pump(*fds)
            finally:
                for fd in fds:
                    os.close(fd)
        except OSError as error:  # BrokenPipeError: the zygote is gone; the worker builds another
            raise SandboxError(f"the sandbox zygote's channel broke: {error}",
                               hint="rerun; report it with the submission if it repeats") from None
        self.finish(exited, killed_for_time, violation)
        self.result.result_bytes = self.result_reader.received
        return self.result

    def wait_started(self) -> list[int]:
        deadline = time.monotonic() + START_TIMEOUT
        while not self.control_reader.pending:
            self.control.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                data, fds, _, _ = socket.recv_fds(self.control, 1 << 16, 3)
            except (TimeoutError, OSError) as error:
                raise SandboxError(f"the sandbox zygote did not start a child: {error}",
                                   hint="see the zygote's stderr; is the machine out of processes?") from None
            if not data:
                raise SandboxError("the sandbox zygote exited unexpectedly", hint="rerun; report it if it repeats")
            self.control_reader.pending.extend(self.control_reader.feed(data))
            if fds:
                self.control.settimeout(None)
                started = self.control_reader.pending.pop(0) if self.control_reader.pending else None
                if started is None or started.header.get("event") != "started":
                    raise SandboxError("the sandbox zygote sent pipes without a `started` message")
                pid = started.header.get("pid")
                self.child_pid = pid if type(pid) is int and pid > 0 else None
                return fds
        raise SandboxError("the sandbox zygote answered without the child's pipes")

    def pump(self, result_fd: int, stdout_fd: int, stderr_fd: int) -> tuple[dict, bool, str | None]:
        """Read every channel until the zygote reports the child gone; enforce deadlines."""
        selector = selectors.DefaultSelector()
        for fd in (result_fd, stdout_fd, stderr_fd):
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        selector.register(self.control.fileno(), selectors.EVENT_READ)
        clock = StageClock(self.child_pid, self.limits.load_timeout_seconds)
        killed_for_time, kill_sent, violation = False, False, None
        exited: dict | None = None
        buffers = {stdout_fd: bytearray(), stderr_fd: bytearray()}
        while exited is None:
            timeout = clock.remaining()
            if timeout <= 0 and not kill_sent and clock.expired():
                killed_for_time = not self.progress.done
                self.kill()
                kill_sent = True
            for key, _ in selector.select(max(clock.remaining(), 0.0) if not kill_sent else None):
                fd = key.fd
                if fd == self.control.fileno():
                    exited = self.read_control()
                    continue
                try:
                    data = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not data:
                    selector.unregister(fd)
                elif fd == result_fd:
                    boundary = False
                    try:
                        for frame in self.result_reader.feed(data):
                            boundary |= self.handle(frame)
                    except Exception as error:  # bytes a child wrote: whatever fails is its doing,
                        # and the run must still kill the child and read the zygote's report
                        # (a forged float 10**400 once escaped as OverflowError, leaving the child
                        # running and the next student waiting a minute for a zygote that was busy)
                        violation = str(error) if isinstance(error, ProtocolViolation) else \
                            f"unreadable frame ({type(error).__name__}: {str(error)[:200]})"
                        selector.unregister(fd)
                    if violation and not kill_sent:
                        self.kill()
                        kill_sent = True
                    if boundary and not kill_sent:
                        if self.progress.done:  # only its exit is left to wait for
                            clock.grace(EXIT_GRACE)
                        else:
                            clock.restart(self.limits.timeout_seconds)
                else:
                    buffer = buffers[fd]
                    buffer.extend(data[: max(self.output_cap - len(buffer), 0)])
                    if len(buffer) >= self.output_cap:
                        selector.unregister(fd)  # closing on return gives a flooding child EPIPE
        selector.close()
        self.result.stdout, self.result.stderr = bytes(buffers[stdout_fd]), bytes(buffers[stderr_fd])
        return exited, killed_for_time, violation

    def kill(self) -> None:
        write_all(self.control.fileno(), encode_frame({"op": "kill"}))

    def read_control(self) -> dict:
        while not self.control_reader.pending:
            data = self.control.recv(1 << 16)
            if not data:
                raise SandboxError("the sandbox zygote died while a child was running",
                                   hint="rerun; report it with the submission if it repeats")
            self.control_reader.pending.extend(self.control_reader.feed(data))
        frame = self.control_reader.pending.pop(0)
        if frame.header.get("event") != "exited":
            raise SandboxError(f"unexpected zygote message {frame.header.get('event')!r}")
        return frame.header

    def handle(self, frame: Frame) -> bool:
        """Apply one frame; True when a stage ended (its successor's deadline starts now)."""
        event, progress, plans = frame.header.get("event"), self.progress, self.progress.plans
        if event == "ready" and not self.result.layers and not progress.loaded:
            self.result.layers = decode.string_list(frame.header.get("isolation"), 30)
            return False
        if event == "stopped" and self.result.layers and self.result.stop is None and not progress.done:
            self.result.stop = decode.stop_point(frame.header)  # the child exits next
            return False
        if event == "loaded" and not progress.loaded and self.result.layers:
            progress.loaded = True
            self.result.notes = decode.string_list(frame.header.get("notes"))
            self.result.load_error = decode.error(frame.header.get("error"))
            return True
        if event == "problem" and progress.loaded and progress.problem is None and not progress.done:
            index = progress.next_problem
            if index >= len(plans) or frame.header.get("problem_id") != plans[index].problem_id:
                raise ProtocolViolation("problem frame out of order")
            used = frame.header.get("function_used")
            if used is not None and (not isinstance(used, str) or (
                    used not in plans[index].names and not near_names.is_near(used, plans[index].names))):
                raise ProtocolViolation("function_used is neither one of the names asked for nor near one")
            progress.problem, progress.function_used, progress.results = index, used, []
            progress.problem_error = decode.error(frame.header.get("error"))
            progress.found = decode.found(frame.header, used is not None and used not in plans[index].names)
            return False
        if event == "case" and progress.problem is not None:
            plan = plans[progress.problem]
            if frame.header.get("index") != len(progress.results) or len(progress.results) >= len(plan.cases):
                raise ProtocolViolation("case frame out of order")
            progress.results.append(decode.case_result(frame, plan.call))
            return False
        if event == "problem-done" and progress.problem is not None:
            plan = plans[progress.problem]
            if progress.problem_error is None and len(progress.results) != len(plan.cases):
                raise ProtocolViolation("problem ended before every case was answered")
            self.result.outcomes[plan.problem_id] = ProblemOutcome(
                plan.problem_id, progress.function_used, tuple(progress.results), progress.problem_error,
                **progress.found)
            finished = progress.problem
            progress.problem, progress.next_problem = None, finished + 1
            return True
        if event == "done" and progress.loaded and progress.problem is None and progress.next_problem == len(plans):
            progress.done = True
            return True
        raise ProtocolViolation(f"unexpected frame {str(event)[:40]!r} (a forged or out-of-order message)")

    def finish(self, exited: dict, killed_for_time: bool, violation: str | None) -> None:
        """Attribute an unfinished stage to the error that ended it."""
        progress, result = self.progress, self.result
        if not result.layers and not killed_for_time and violation is None:
            # No `ready`: the child died isolating itself, before any student code ran (a limit
            # its rlimits refused once told every student they had called sys.exit).
            raise SandboxError("the sandbox child failed before running the submission: "
                               + result.stderr.decode("utf-8", "replace")[-1000:].strip(),
                               hint="check the rubric's [limits]; report it with the submission if it repeats")
        if progress.done or (progress.loaded and result.load_error is not None):
            return
        if progress.loaded and progress.problem is None and progress.next_problem >= len(progress.plans):
            return  # every problem answered; the child died on its way out
        stage = "loading" if not progress.loaded else \
            f"problem {progress.plans[progress.problem if progress.problem is not None else progress.next_problem].problem_id}"
        if violation is not None:
            failure = ExecutionError("invalid-output", f"the submission wrote malformed data to the grader's "
                                     f"private result channel during {stage}", detail=violation)
        else:
            failure = describe_exit(exited, stage, killed_for_time, self.limits, result.stderr, result.stop)
        answered = progress.results if progress.problem is not None else []
        if failure.kind == "timeout" and answered and all(
                r.error is not None and r.error.kind == "memory" for r in answered):
            # A bomb that ran out of memory on every case it finished, then out of time on
            # the next (30 bombs take seconds on a busy machine): its story is memory.
            failure = ExecutionError("memory", f"{stage} ran out of memory on each of the {len(answered)} "
                                     "cases it finished, then ran out of time", detail=failure.detail)
        if not progress.loaded:
            result.load_error = failure
            return
        index = progress.problem if progress.problem is not None else progress.next_problem
        if index >= len(progress.plans):
            return
        plan = progress.plans[index]
        filler = [CallResult(error=failure)] * (len(plan.cases) - len(answered))
        function_used = progress.function_used if progress.problem is not None else None
        found = progress.found if progress.problem is not None else {}
        result.outcomes[plan.problem_id] = ProblemOutcome(plan.problem_id, function_used,
                                                          tuple(answered) + tuple(filler), failure, **found)
        result.stopped_at = index + 1 if index + 1 < len(progress.plans) else None
