"""What runs in a forked child: isolate, run the student's units, call each function per case.

Every frame goes to the result fd; stdout and stderr go to capped pipes. The child never
learns an expected value, so nothing it sends can be more than a claim about its outputs.
"""

from __future__ import annotations

import io
import os
import select
import signal
import sys
import traceback
import types
from typing import Any

import numpy as np

from grader.stages import near_names

from . import isolation, standins, syscall_filter
from .folders import copy_submission, files_to_copy
from .convert import InvalidOutput, describe_module, encode
from .frames import stop_point, student_traceback
from .loading import Loader
from .protocol import encode_frame, write_all

MAX_DETAIL = 4000


class CappedWriter(io.TextIOBase):
    """sys.stdout/sys.stderr replacement: writes up to a cap, then drops the rest silently, so
    a 100 MB print neither fills the pipe nor makes the student's function fail with EPIPE."""

    def __init__(self, fd: int, cap: int) -> None:
        self.fd, self.remaining = fd, cap

    def write(self, text: str) -> int:
        if self.remaining > 0:
            data = text.encode("utf-8", "replace")[: self.remaining]
            self.remaining -= len(data)
            try:
                write_all(self.fd, data)
            except OSError:
                self.remaining = 0
        return len(text)

    def writable(self) -> bool:
        return True


class Child:
    """One forked child's run: the job from the parent and the zygote's prepared layers."""

    def __init__(self, job: dict, arrays: list[np.ndarray], result_fd: int, zygote: Any) -> None:
        self.job, self.arrays, self.result_fd, self.zygote = job, arrays, result_fd, zygote
        self.namespace: dict[str, Any] = {}
        self.loader = Loader(self.namespace, [], "module")
        self.workdir = ""  # the private copy of the submission, set by `isolate`
        self.sending = False  # a frame is half written: a stop report must wait for its end
        self.pending_stop: dict | None = None

    def send(self, header: dict, blobs: list[bytes] | None = None) -> None:
        self.sending = True
        try:
            write_all(self.result_fd, encode_frame(header, blobs or []))
        finally:
            self.sending = False
        if self.pending_stop is not None:
            self.stop(self.pending_stop)

    # ------------------------------------------------------------------ CPU time
    def start_cpu_clock(self, seconds: float) -> None:
        """Allow the stage that starts now `seconds` of user CPU time (every thread's), then
        stop it.

        CPU time, not the wall clock: a stage gets the same verdict on a busy machine as on an
        idle one (an honest student who needs a second of CPU timed out beside a burner).
        User time only: the kernel's time faulting in a memory bomb's pages grows with the
        machine's memory pressure (reclaim, compaction), and a bomb that MemoryError would
        have stopped was a timeout under load. The parent's wall clock is a generous backstop
        for code that sleeps, RLIMIT_CPU (user and system) one for code that lives in syscalls."""
        signal.setitimer(signal.ITIMER_VIRTUAL, max(seconds, 0.001))

    def stop_cpu_clock(self) -> None:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)

    def out_of_cpu_time(self, number: int, frame: types.FrameType | None) -> None:
        """SIGVTALRM: the stage used its CPU time. Say where the student's code was, then exit."""
        where = stop_point(frame, {label for label, _ in self.job["units"]}, self.workdir)
        if self.sending:
            self.pending_stop = where  # `send` reports it once its frame is whole
            return
        self.stop(where)

    def stop(self, where: dict) -> None:
        self.pending_stop = None
        try:
            write_all(self.result_fd, encode_frame({"event": "stopped", **where}, []))
        finally:
            os._exit(0)

    # ------------------------------------------------------------------ isolation
    def isolate(self, workdir: str) -> list[str]:
        """Apply every layer the zygote prepared, strongest last (seccomp blocks unshare)."""
        job, zygote, layers = self.job, self.zygote, ["process-group"]
        # Forked into a pid namespace of its own (as root), the child is its pid 1.
        in_pid_namespace = os.getpid() == isolation.PID_IN_OWN_NAMESPACE
        if in_pid_namespace:
            layers.append("pid-namespace")
        uses_cuda = any(str(plan["device"]).startswith("cuda") for plan in job["plans"])
        cuda_profile = uses_cuda or zygote.cuda_profile_forced
        limits = job["limits"]
        files = files_to_copy(job["source"])
        if zygote.private_base:  # room for the copy, then `max_disk_mib` of the child's own
            room = sum(size for _, _, size in files) + (limits["max_disk_mib"] << 20)
            if isolation.resize_private_base(zygote.base, room, len(files)):
                layers.append("private-temp-base")
        copy_submission(files, workdir)
        self.workdir = workdir  # as sys.path names it, so frame file names start with it
        os.chdir(workdir)
        own_proc = False
        if zygote.namespaces:
            layers += isolation.unshare_namespaces()
            if isolation.private_mount_namespace():
                layers += isolation.hide_folders(zygote.mount_hidden)
                if cuda_profile and in_pid_namespace and isolation.mount_own_proc():
                    own_proc = True
                    layers.append("own-proc")
        cpu = int(limits["load_timeout_seconds"] + limits["timeout_seconds"] * max(len(job["plans"]), 1)) + 1
        # CUDA maps huge virtual ranges, so RLIMIT_AS would break it (research, gotcha 2).
        address_space = None if uses_cuda else zygote.virtual_memory + limits["memory_mib"] * (1 << 20)
        processes = limits["max_processes"] + 64 if os.geteuid() != 0 and limits["max_processes"] else None
        isolation.set_limits(cpu, address_space, limits["max_open_files"], limits["max_file_mib"] << 20, processes)
        layers.append("rlimits" if address_space else "rlimits-without-address-space")
        if isolation.prctl(isolation.PR_SET_NO_NEW_PRIVS, 1) == 0:
            layers.append("no-new-privileges")
        if os.geteuid() == 0 and isolation.drop_capabilities():
            layers.append("capabilities-dropped")
        ruleset = zygote.cuda_ruleset if cuda_profile else zygote.ruleset
        if own_proc and zygote.landlock_abi:  # its rule must name this /proc, not the zygote's
            ruleset = isolation.build_landlock_ruleset(zygote.landlock_abi, zygote.cuda_read_paths,
                                                       zygote.cuda_write_paths)
        if ruleset >= 0 and isolation.restrict_landlock(ruleset):
            layers.append(f"landlock-abi-{zygote.landlock_abi}")
        for fd in {zygote.ruleset, zygote.cuda_ruleset, ruleset}:
            if fd >= 0:
                os.close(fd)
        program = zygote.seccomp_filter_in_pid_namespace if in_pid_namespace else zygote.seccomp_filter
        if program is not None and syscall_filter.load_seccomp_program(program):
            layers.append("seccomp")
        return layers

    # ------------------------------------------------------------------ running
    def run(self, layers: list[str]) -> None:
        """Send `ready`, run the units, then each plan from `start`; frames say what happened."""
        self.send({"event": "ready", "isolation": layers})
        notes, error = self.load()
        self.send({"event": "loaded", "notes": notes, "error": error})
        if error is not None:
            return
        for plan in self.job["plans"][self.job["start"]:]:
            self.run_plan(plan)
        self.send({"event": "done"})

    def load(self) -> tuple[list[str], dict | None]:
        """Run every unit statement by statement (loading.py); a failing statement is a note."""
        job = self.job
        name = job["module_name"]
        module = types.ModuleType(name)
        module.__file__ = os.path.join(os.getcwd(), os.path.basename(job["entry_name"]))
        sys.modules[name] = module
        self.namespace = module.__dict__
        self.loader = Loader(self.namespace, job["units"], job["kind"])
        standins.install(self.workdir)
        self.start_cpu_clock(job["limits"]["load_timeout_seconds"])
        try:
            error = self.loader.run()
        finally:
            self.stop_cpu_clock()
        return self.loader.notes + standins.notes(), error

    def find(self, plan: dict) -> tuple[str | None, Any, dict]:
        """The function graded for a plan and how it was found. In order: the student's own
        function under the name or an alias; a near name of theirs (`softmax_fn`) that takes as
        many arguments; a function imported under the name (`from scipy.special import softmax`)."""
        loader, workdir = self.loader, self.workdir
        imported = None
        for name in plan["names"]:
            candidate = self.namespace.get(name)
            own = loader.written.get(name)
            if callable(candidate) and loader.student_wrote(candidate, workdir):
                return name, candidate, {}
            if callable(own):
                # `from scipy.special import softmax` after their own def, or `softmax = softmax(z)`
                # in a test cell: the student's function wins over what later took its name.
                return name, own, {}
            if callable(candidate) and imported is None:
                imported = name, candidate, {"imported_from": origin(candidate)}
        taken = {name for other in self.job["plans"] for name in other["names"]}
        pool = [name for name, value in list(self.namespace.items()) if name not in taken and not name.startswith("__")
                and callable(value) and loader.student_wrote(value, workdir)
                and accepts(value, len(plan["parameters"]))]
        others = [other["names"] for other in self.job["plans"] if other["problem_id"] != plan["problem_id"]]
        ranked = near_names.rank(pool, plan["names"], others)
        if ranked:
            return ranked[0], self.namespace[ranked[0]], {"others": ranked[1:6]}
        return imported or (None, None, {})

    def missing(self, plan: dict) -> str:
        """Why no function was found, with the skipped statement that would have defined it."""
        wanted = plan["names"]
        also = f" (or {', '.join(wanted[1:])})" if len(wanted) > 1 else ""
        message = f"no function named {wanted[0]}{also} was defined"
        skipped = next((self.loader.skipped[name] for name in wanted if name in self.loader.skipped), None)
        if skipped is not None:
            message += f": {skipped.place} would have defined it but raised {skipped.error}"
        return message

    def run_plan(self, plan: dict) -> None:
        used, function, found = self.find(plan)
        error = None
        if function is None:
            error = {"kind": "exception", "message": self.missing(plan), "exception_type": None, "detail": ""}
        self.send({"event": "problem", "problem_id": plan["problem_id"], "function_used": used, "error": error,
                   **found})
        if function is not None:
            self.start_cpu_clock(self.job["limits"]["timeout_seconds"])  # for all its cases
            for index, case in enumerate(plan["cases"]):
                header, blobs = self.call(plan, function, case)
                header.update(event="case", index=index)
                self.send(header, blobs)
            self.stop_cpu_clock()
        self.send({"event": "problem-done", "problem_id": plan["problem_id"]})

    def call(self, plan: dict, function: Any, case: dict) -> tuple[dict, list[bytes]]:
        """Call with fresh copies of the arguments; report mutation, value or error."""
        originals = [self.argument(case[name]) for name in plan["parameters"]]
        passed = [value.copy() if isinstance(value, np.ndarray) else value for value in originals]
        try:
            value = function(*passed)
            if plan["call"] == "torch-module":
                return {"value": describe_module(value, int(case["N"]["value"]), plan["device"]),
                        "mutated": False, "note": "", "error": None}, []
            encoded, blobs, note = encode(value)
        except InvalidOutput as error:
            return {"value": None, "error": failure("invalid-output", str(error), None, "")}, []
        except BaseException as error:  # any student exception, even KeyboardInterrupt, is data
            labels = {label for label, _ in self.job["units"]}
            return {"value": None, "error": exception_error(error, labels, self.workdir)}, []
        # Raw bytes: student code may have patched numpy's comparison helpers in this process.
        mutated = any(isinstance(before, np.ndarray) and before.tobytes() != after.tobytes()
                      for before, after in zip(originals, passed))
        return {"value": encoded, "mutated": mutated, "note": note, "error": None}, blobs

    def argument(self, description: dict) -> Any:
        if description["type"] == "array":
            return self.arrays[description["blob"]].copy()
        return description["value"]


def origin(function: Any) -> str:
    """Where an imported function comes from, as `module.name` ("scipy.special.softmax")."""
    try:
        module = getattr(function, "__module__", None)
        name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    except Exception:  # a student's object whose attributes raise
        module, name = None, None
    if isinstance(module, str):  # "scipy.special._logsumexp" is "scipy.special" to a student
        module = ".".join(part for part in module.split(".") if not part.startswith("_")) or module
    text = ".".join(part for part in (module, name) if isinstance(part, str))
    return text[:200] or type(function).__name__[:200]


def accepts(function: Any, count: int) -> bool:
    """Whether `function` can be called with `count` positional arguments."""
    import inspect

    try:
        inspect.signature(function).bind(*range(count))
    except Exception:  # TypeError, ValueError, or whatever a student's __signature__ raises
        return False
    return True


def failure(kind: str, message: str, exception_type: str | None, detail: str) -> dict:
    return {"kind": kind, "message": message, "exception_type": exception_type, "detail": detail[-MAX_DETAIL:]}


def exception_error(error: BaseException, labels: set[str] | None = None, workdir: str = "") -> dict:
    """An exception raised by student code as an error record, with the student's frames only."""
    detail = student_traceback(error, labels or set(), workdir)
    name = type(error).__name__
    if isinstance(error, MemoryError):
        return failure("memory", "ran out of memory (MemoryError)", name, detail)
    if isinstance(error, SystemExit):
        return failure("exit", f"called sys.exit({error.code!r})", name, detail)
    return failure("exception", f"{name}: {str(error)[:500]}", name, detail)


def main(job: dict, arrays: list[np.ndarray], pipes: tuple[int, int, int], workdir: str, zygote: Any) -> None:
    """Entry point after fork; never returns (os._exit keeps the zygote's atexit handlers out)."""
    result_fd, stdout_fd, stderr_fd = pipes
    try:
        os.setpgid(0, 0)
        isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
        # (Not getppid where it can: in a pid namespace of its own the child's parent has no pid.)
        if select.select([zygote.pidfd], [], [], 0)[0] if zygote.pidfd >= 0 else os.getppid() != zygote.pid:
            os._exit(1)  # the zygote died between fork and prctl
        for signal_number in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(signal_number, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(stdout_fd, 1)
        os.dup2(stderr_fd, 2)
        os.dup2(result_fd, 3)
        keep = {0, 1, 2, 3, zygote.ruleset, zygote.cuda_ruleset}
        for fd in map(int, os.listdir("/proc/self/fd")):
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        child = Child(job, arrays, 3, zygote)
        layers = child.isolate(workdir)
        # A handler, never the default: pid 1 of a namespace ignores a default-action signal
        # (research, gotcha 5), and the report of where the code was needs one anyway.
        signal.signal(signal.SIGVTALRM, child.out_of_cpu_time)
        cap = int(job["limits"]["output_kib"]) * 1024
        sys.stdout = sys.__stdout__ = CappedWriter(1, cap)  # type: ignore[misc, assignment]
        sys.stderr = sys.__stderr__ = CappedWriter(2, cap)  # type: ignore[misc, assignment]
        sys.stdin = sys.__stdin__ = open(os.devnull)  # type: ignore[misc]
        entry_folder = os.path.join(workdir, os.path.dirname(job["entry_name"]))
        if os.path.isdir(entry_folder):
            os.chdir(entry_folder)  # the student's relative paths start where the graded file is
        # The library folders stay even inside a hidden path (a .venv in the repository): without
        # them `import scipy` failed although Landlock lets the child read scipy.
        sys.path[:] = [entry_folder] + [entry for entry in sys.path if entry and (
            entry in zygote.library_folders or not any(entry.startswith(str(hidden)) for hidden in zygote.hidden))]
        sys.argv = [job["entry_name"]]
        child.run(layers)
    except BaseException:  # a grader fault in the child: say so on stderr, never hang
        try:
            os.write(2, traceback.format_exc().encode()[-MAX_DETAIL:])
        except OSError:
            pass
        os._exit(70)
    os._exit(0)
