"""What runs in a grading worker process (a pool worker, a Dask worker, or the command itself
with --jobs 1): one cached Grader per settings, the task that grades one entry, and the
guards that make a worker die with the run that started it.

A task answers with plain `result_to_data` dicts, so nothing the grader computes crosses a
process boundary as live objects; grader errors and grading faults travel as data too.
"""

from __future__ import annotations

import atexit
import multiprocessing.util
import os
import shutil
import tempfile
import threading
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader import errors
from grader.errors import GraderError, SandboxError
from grader.models import GradingFault, SubmissionResult

if TYPE_CHECKING:
    from grader.stages.pipeline import Grader, Settings

#: One Grader per (settings, thread) in this process. Keyed by thread as well because a Dask
#: worker may run tasks on several threads, and a Grader (one zygote, one pipe) serves one
#: caller at a time.
_GRADERS: dict[tuple[Settings, int], Grader] = {}
_GRADERS_LOCK = threading.Lock()

#: The key of a worker's answer that carries a grader error instead of a result.
REMOTE_ERROR = "__grader_error__"
#: The key of a worker's answer that carries a grader bug one submission triggered.
GRADING_FAULT = "__grading_fault__"


def close_graders() -> None:
    """Stop every cached Grader's zygote when the worker process exits."""
    with _GRADERS_LOCK:
        graders = list(_GRADERS.values())
        _GRADERS.clear()
    for grader in graders:
        grader.close()


atexit.register(close_graders)


def cached_grader(settings: Settings) -> Grader:
    """The Grader this process and thread keeps for `settings`, built on first use."""
    key = (settings, threading.get_ident())
    with _GRADERS_LOCK:
        grader = _GRADERS.get(key)
    if grader is None:
        # Imported here so that `import grader.stages.executors` stays cheap for the CLI and so that
        # the pipeline (which imports the answer key) loads only in worker processes.
        from grader.stages.pipeline import Grader

        grader = Grader(settings)
        with _GRADERS_LOCK:
            if not _GRADERS:
                # Pool and Dask workers leave through multiprocessing's exit path, which skips
                # `atexit`: without this finalizer their zygotes died by death signal before
                # removing their temp folders (one /tmp/grader-sandbox-* per worker per run).
                multiprocessing.util.Finalize(None, close_graders, exitpriority=100)
            _GRADERS[key] = grader
    return grader


def _forget_grader(settings: Settings) -> None:
    """Close and drop this thread's Grader for `settings`: the next task builds a fresh one."""
    with _GRADERS_LOCK:
        grader = _GRADERS.pop((settings, threading.get_ident()), None)
    if grader is not None:
        try:
            grader.close()
        except Exception:  # a zygote already gone: there is nothing left to close
            pass


def grade_entry(settings: Settings, entry: Path) -> dict[str, Any]:
    """Grade one submission in this process; the result as plain data (the task of a worker)."""
    from grader.outputs.reports.serialize import result_to_data

    started = False
    try:
        grader = cached_grader(settings)  # a sandbox that cannot start at all stops the run
        started = True
        try:
            return result_to_data(grader.grade(Path(entry)))
        except SandboxError:
            # The zygote died or misbehaved under this submission. Once more with a fresh
            # one; a second failure is this submission's fault (below), not the class's.
            _forget_grader(settings)
            return result_to_data(cached_grader(settings).grade(Path(entry)))
    except GraderError as error:
        if isinstance(error, SandboxError) and started:
            _forget_grader(settings)
            return fault_data(entry, error)
        # Sent as data: an exception crossing a process boundary is re-created by calling its
        # class with its args, which breaks for RubricError(path, key, problem) and would show
        # the instructor a pickling traceback instead of the message that says what to fix.
        return {REMOTE_ERROR: type(error).__name__, "message": error.message, "hint": error.hint}
    except Exception as error:
        # A grader bug this submission triggered (a student's 10**30 once reached an int64
        # comparison and stopped the whole class's run): this student waits for a fix, the
        # class does not. Instructor mistakes and a sandbox that cannot start are GraderErrors.
        # The Grader may be mid-run (a child alive, a report unread): the next task gets a new one.
        if started:
            _forget_grader(settings)
        return fault_data(entry, error)


def fault_data(entry: Path, error: Exception, trace: str | None = None) -> dict[str, Any]:
    """A grading fault as a task's answer: the entry, the error in a line, its traceback."""
    return {GRADING_FAULT: str(entry), "error": f"{type(error).__name__}: {error}"[:500],
            "traceback": trace if trace is not None else traceback.format_exc()}


def from_data(data: dict[str, Any]) -> SubmissionResult | GradingFault:
    """A worker's answer back as a result or a grading fault, or its grader error raised here."""
    if GRADING_FAULT in data:
        return GradingFault(Path(data[GRADING_FAULT]), data["error"], data["traceback"])
    if REMOTE_ERROR in data:
        kind = getattr(errors, data[REMOTE_ERROR], None)
        kind = kind if isinstance(kind, type) and issubclass(kind, GraderError) else GraderError
        error = kind.__new__(kind)
        GraderError.__init__(error, data["message"], hint=data["hint"])
        raise error
    from grader.outputs.reports.serialize import result_from_data

    return result_from_data(data)


def parent_pid_of(pid: int) -> int | None:
    """The parent of process `pid` from /proc, None when it is gone or unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: parse after the last ")".
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None


def start_worker(grader_pid: int) -> None:
    """Pool-worker initializer: make this worker die with the `grader run` that started it.

    Without it, `kill -9` of `grader run` left every worker and its zygote (torch loaded, about
    225 MB each) running under init. A death signal alone is not enough: under forkserver a
    worker's parent is the fork server, and the fork server stays up as long as any worker
    holds its `alive` pipe, so each waits for the other forever. Hence two guards: the death
    signal (for the parent we have: the fork server, or the grader under spawn) and a thread
    watching the grader itself through a pidfd. The worker's zygote dies with the worker (its
    own death signal), and the zygote's child with the zygote.
    """
    import signal

    from grader.sandbox import isolation

    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    try:
        grader = os.pidfd_open(grader_pid)
    except OSError:  # ProcessLookupError: the grader died before this worker got here
        os._exit(1)
    # The parent may have died between fork and prctl, when no death signal was armed yet;
    # then our parent is a reaper now, neither the grader nor the fork server it started.
    # (Checked after pidfd_open: while the chain holds, the pidfd is the grader, not a reused pid.)
    parent = os.getppid()
    if parent != grader_pid and parent_pid_of(parent) != grader_pid:
        os._exit(1)
    threading.Thread(target=_exit_with_grader, args=(grader,), name="grader-watch", daemon=True).start()


def _exit_with_grader(grader: int) -> None:
    """Block until the grader process exits, let this worker's zygotes clean up, then exit."""
    import select

    select.select([grader], [], [])
    try:
        with _GRADERS_LOCK:
            graders = list(_GRADERS.values())
        for cached in graders:
            cached.sandbox.abandon()
    finally:
        os._exit(1)  # the task in progress has no one to report to


# --------------------------------------------------------------------------- shipped bytes


def read_entry_files(entry: Path) -> dict[str, bytes]:
    """Every file of a submission (a file or a folder) by path relative to its parent.

    Symbolic links are never followed: `alice.py -> /etc/passwd` would ship the target's
    bytes to a worker as if the student had written them (`load` rejects such an entry)."""
    if entry.is_symlink():
        return {}
    if entry.is_file():
        return {entry.name: entry.read_bytes()}
    return {
        str(path.relative_to(entry.parent)): path.read_bytes()
        for path in sorted(entry.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def _replace_text(data: Any, old: str, new: str) -> Any:
    if isinstance(data, str):
        return data.replace(old, new)
    if isinstance(data, dict):
        return {key: _replace_text(value, old, new) for key, value in data.items()}
    if isinstance(data, list):
        return [_replace_text(item, old, new) for item in data]
    return data


def grade_shipped(settings: Settings, files: dict[str, bytes], entry: Path) -> dict[str, Any]:
    """Grade a submission whose bytes came over the wire: rebuilt under its own name in a
    private temp folder, so the student id (taken from the entry's name) is unchanged, and
    reported under its original path (replay commands name the file the instructor has)."""
    folder = Path(tempfile.mkdtemp(prefix="grader-shipped-"))
    try:
        try:
            for relative, content in files.items():
                target = (folder / relative).resolve()
                # A relative path is built by our own client, but refuse `..` all the same: a
                # crafted file name must never write outside the private folder.
                if folder.resolve() not in target.parents:
                    raise SandboxError(f"shipped file {relative!r} escapes its folder")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
        except (OSError, SandboxError) as error:  # a tree too deep for this worker's temp path
            return fault_data(entry, error)
        data = grade_entry(settings, folder / entry.name)
        return _replace_text(data, str(folder), str(entry.parent))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
