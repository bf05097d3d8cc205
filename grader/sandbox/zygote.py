"""The fork-server process: preload numpy (and torch), prepare isolation once, fork per run.

Started fresh by `Sandbox` with `python -m grader.sandbox.zygote CONFIG` before the grader
loads any answer, so a child's inherited memory holds no secret. It never runs a parallel
torch op (a started OpenMP pool hangs forked children) and, as child subreaper, kills and
reaps every process a run leaves behind.
"""

from __future__ import annotations

import fcntl
import gc
import json
import os
import select
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np  # noqa: F401  (preloaded: every child inherits it)

from grader.stages import student_packages

from . import child, isolation, memory, syscall_filter
from .folders import BASE_PREFIX, empty_folder, remove_folder, remove_stale_bases
from .protocol import FrameReader, encode_frame, load_array, read_frame_blocking, trusted_reader, write_all

HIGH_FD = 10  # keep prepared fds clear of 0-3, which each child rewires


@dataclass
class ZygoteState:
    """What every child inherits: prepared layers and where its work folders live."""

    pid: int
    base: str
    landlock_abi: int = 0
    ruleset: int = -1
    cuda_ruleset: int = -1
    #: Every child gets the CUDA profile (its Landlock rules, its own /proc), GPU or not:
    #: how the tests check that profile's isolation on a machine without one.
    cuda_profile_forced: bool = False
    cuda_read_paths: list[str] = field(default_factory=list)
    cuda_write_paths: list[str] = field(default_factory=list)
    seccomp_filter: bytes | None = None  # compiled (BPF)
    seccomp_filter_in_pid_namespace: bytes | None = None  # pid 1 is the child itself there
    pid_namespace: int = -1  # an fd on the zygote's own pid namespace (root), -1 otherwise
    pidfd: int = -1  # the zygote's own pidfd: a child checks that the zygote is still there
    namespaces: bool = True
    private_base: bool = False  # `base` is a tmpfs in this zygote's own mount namespace
    virtual_memory: int = 0
    hidden: list[str] = field(default_factory=list)
    mount_hidden: list[str] = field(default_factory=list)
    library_folders: list[str] = field(default_factory=list)  # site-packages: kept on a child's sys.path
    warnings: list[str] = field(default_factory=list)


def move_high(fd: int) -> int:
    if fd < 0:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, HIGH_FD)
    os.close(fd)
    return moved


INITIAL_BASE_BYTES = 64 << 20  # each child resizes the private base for its own submission


def preload(torch: bool) -> None:
    """Import what every child uses, so that no child pays for it."""
    if torch:
        try:
            import torch as _  # noqa: F401  (loaded, never computed with: see module docstring)
        except ImportError:
            pass
    import ctypes, math, random, functools, itertools, collections, typing, copy, dataclasses  # noqa: F401, E401


def prepare(config: dict) -> ZygoteState:
    """Preload libraries, then build the Landlock rulesets and the seccomp filter once."""
    preload(bool(config.get("preload_torch")))
    remove_stale_bases()
    state = ZygoteState(pid=os.getpid(), base=tempfile.mkdtemp(prefix=f"{BASE_PREFIX}{os.getpid()}-"))
    # Before the Landlock rules: they must name the tmpfs, not the folder under it.
    state.private_base = (isolation.private_mount_namespace()
                          and isolation.mount_private_base(state.base, INITIAL_BASE_BYTES))
    package_root = Path(child.__file__).resolve().parents[2]
    state.hidden = [str(package_root)] + list(config.get("hidden", []))
    # The grader's package is loaded already; the child must not read its files (or reference/).
    excluded = [package_root / "grader", package_root / "reference"]
    # The packages students may import (never imported here: a child that needs one imports it).
    offered = [*student_packages.OFFERED, *config.get("packages", [])]
    read_paths = isolation.system_read_paths() + isolation.module_roots(excluded) + [
        root for root in student_packages.read_roots(offered) if not any(
            Path(root).is_relative_to(folder) for folder in excluded)]
    for hidden in config.get("hidden", []):
        for allowed in read_paths:
            if Path(hidden).resolve().is_relative_to(Path(allowed).resolve()):
                state.warnings.append(f"hidden path {hidden} lies inside the readable library folder {allowed}")
    # Folders to cover with an empty tmpfs in the child's mount namespace: never one that holds
    # a library the child may import, nor the child's own temp base.
    candidates = dict.fromkeys(str(Path(path).resolve()) for path in [*excluded, *config.get("hidden", [])])
    covered = [folder for folder in candidates if os.path.isdir(folder) and not any(
        Path(keep).resolve().is_relative_to(folder) for keep in [*read_paths, state.base])]
    # The outermost only: once `course/` is an empty tmpfs, `course/submissions` is no folder to
    # mount on, and the whole layer failed (a rubric in the course folder, the class inside it).
    state.mount_hidden = [folder for folder in covered if not any(
        folder != other and Path(folder).is_relative_to(other) for other in covered)]
    state.library_folders = [entry for entry in sys.path if Path(entry).name in ("site-packages", "dist-packages")]
    write_paths = [state.base, os.devnull]
    state.landlock_abi = isolation.landlock_abi()
    state.cuda_profile_forced = bool(config.get("cuda_profile"))
    # CUDA needs its device nodes, /proc and /sys. A child in a pid namespace of its own
    # mounts a /proc of its own and builds this ruleset itself (a rule names an inode: the
    # zygote's /proc is not the child's); this one serves a child that cannot.
    state.cuda_read_paths = read_paths + ["/proc", "/sys"]
    state.cuda_write_paths = write_paths + [str(path) for path in Path("/dev").glob("nvidia*")]
    if state.landlock_abi:
        state.ruleset = move_high(isolation.build_landlock_ruleset(state.landlock_abi, read_paths, write_paths))
        if os.path.exists("/dev/nvidiactl") or state.cuda_profile_forced:
            state.cuda_ruleset = move_high(isolation.build_landlock_ruleset(
                state.landlock_abi, state.cuda_read_paths, state.cuda_write_paths))
    state.pid_namespace = move_high(isolation.own_pid_namespace())
    try:
        state.pidfd = move_high(os.pidfd_open(os.getpid()))
    except OSError:  # Linux before 5.3: a child checks its parent's pid instead (no pid namespace
        state.pid_namespace = -1  # to hide it then)
    state.seccomp_filter = syscall_filter.compile_seccomp_filter(
        syscall_filter.build_seccomp_filter(bool(config.get("allow_processes"))))
    state.seccomp_filter_in_pid_namespace = syscall_filter.compile_seccomp_filter(
        syscall_filter.build_seccomp_filter(bool(config.get("allow_processes")), in_pid_namespace=True))
    if state.seccomp_filter is None:
        state.warnings.append("seccomp is unavailable: exec, fork and raw sockets are not blocked")
    # Last, once everything is loaded. Frozen objects are never traversed by a collection,
    # in this process or a child, so neither writes to (and copies) the preloaded pages.
    gc.freeze()
    memory.collapse_into_huge_pages()  # forking then copies ~75 page-table entries, not 36,000
    return state


def release_base(state: ZygoteState) -> None:
    """Delete the temp base on the way out (its tmpfs first, which would keep it busy)."""
    if state.private_base:
        isolation.unmount(state.base)
    remove_folder(state.base)


def kill_descendants() -> None:
    """Kill and reap every process left under this subreaper (setsid escapees included)."""
    for _ in range(1000):
        children: set[int] = set()
        for task in Path(f"/proc/{os.getpid()}/task").iterdir():
            try:
                children.update(int(pid) for pid in (task / "children").read_text().split())
            except (OSError, ValueError):
                continue
        if not children:
            break
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def run_one(control: socket.socket, reader: FrameReader, header: dict, blobs: list[bytes], state: ZygoteState) -> bool:
    """Fork one child for a job, hand its pipes to the parent, wait, clean up.

    Returns False when the parent went away (the zygote should exit)."""
    arrays = [load_array(blob, float64_only=False) for blob in blobs]
    workdir = tempfile.mkdtemp(dir=state.base)
    result_read, result_write = os.pipe()
    stdout_read, stdout_write = os.pipe()
    stderr_read, stderr_write = os.pipe()
    state.virtual_memory = isolation.virtual_memory_size()
    # What the child starts with: fork copies the page tables of anonymous memory only (file
    # pages are faulted in lazily), so the child's peak RSS begins near the zygote's RssAnon.
    base_rss_kib = isolation.anonymous_memory_kib()
    pid = isolation.fork_into_pid_namespace(state.pid_namespace)
    if pid == 0:
        child.main(header["job"], arrays, (result_write, stdout_write, stderr_write), workdir, state)
    try:
        os.setpgid(pid, pid)  # both sides set it: no window where killpg misses the child
    except OSError:
        pass
    for fd in (result_write, stdout_write, stderr_write):
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    socket.send_fds(control, [encode_frame({"event": "started", "pid": pid})], [result_read, stdout_read, stderr_read])
    for fd in (result_read, stdout_read, stderr_read):
        os.close(fd)
    killed, alive = False, True
    status, peak_rss_kib = 0, 0
    while True:
        ready, _, _ = select.select([control.fileno(), pidfd], [], [])
        if pidfd in ready:
            # wait4, not waitpid: the child's peak RSS tells a memory bomb that the wall clock
            # stopped first (filling the budget is slow under load) from an endless loop.
            _, status, usage = os.wait4(pid, 0)
            peak_rss_kib = int(usage.ru_maxrss)
            break
        frame = read_frame_blocking(control.fileno(), reader)
        if frame is None:
            alive = False
        if frame is None or frame.header.get("op") == "kill":
            killed = True
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                os.kill(pid, signal.SIGKILL)
    os.close(pidfd)
    try:
        os.killpg(pid, signal.SIGKILL)  # stragglers left in the group
    except (ProcessLookupError, PermissionError):
        pass
    kill_descendants()
    # The whole base, not just `workdir`: Landlock lets a child write anywhere in the base (the
    # ruleset is built once, before any work folder exists), and a file left beside the work
    # folder would reach the next student this zygote runs (fixture
    # note_in_temp_base_for_the_next_student.py).
    empty_folder(state.base)
    exited = {"event": "exited", "killed": killed,
              "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
              "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
              "peak_rss_kib": peak_rss_kib, "base_rss_kib": base_rss_kib}
    if alive:
        write_all(control.fileno(), encode_frame(exited))
    return alive


def serve(control: socket.socket, config: dict) -> None:
    """Prepare the layers, say hello, then run each job that arrives on `control` until the
    Sandbox closes it; never returns (os._exit skips the interpreter's teardown of torch,
    ~0.1 s at the end of every run)."""
    isolation.prctl(isolation.PR_SET_CHILD_SUBREAPER, 1)
    state = prepare(config)

    def stop(number: int, frame: object) -> None:
        """The death signal of an exec'd zygote whose worker died (even by kill -9): clean up."""
        kill_descendants()
        release_base(state)
        os._exit(1)

    signal.signal(signal.SIGTERM, stop)
    reader = trusted_reader()
    write_all(control.fileno(), encode_frame({"event": "hello", "pid": state.pid, "landlock_abi": state.landlock_abi,
                                              "warnings": state.warnings}))
    try:
        while True:
            frame = read_frame_blocking(control.fileno(), reader)
            if frame is None:
                break
            if frame.header.get("op") != "run":
                continue  # a late `kill` for a child that had already exited
            if not run_one(control, reader, frame.header, frame.blobs, state):
                break
    finally:
        kill_descendants()
        release_base(state)
    sys.stderr.flush()
    os._exit(0)


def main() -> None:
    """A zygote of its own, exec'd by one Sandbox: serve on the socket it passed us."""
    config = json.loads(sys.argv[1])
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGTERM)  # `serve` cleans up on it
    serve(socket.socket(fileno=move_high(int(config["control_fd"]))), config)


if __name__ == "__main__":
    main()
