"""One torch import for every zygote of a run: a template process that forks them.

Each pool worker's Sandbox exec'd a zygote of its own, and each imported torch: ~1.5 s of
CPU apiece, so three at once on two cores were the first ~3 s of every run, and each held
its own copy of torch's memory. The template is exec'd fresh like a zygote (it never holds
an answer), preloads once, listens on a Unix socket in a private folder, and forks a zygote
for each Sandbox that connects. A forked zygote serves its Sandbox exactly as an exec'd one
does; it stops when that Sandbox closes its end (or its worker dies), like an exec'd one.
"""

from __future__ import annotations

import gc
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import isolation, memory, zygote

SOCKET_NAME = "zygotes.sock"
LENGTH = struct.Struct(">I")
MAX_CONFIG_BYTES = 1 << 20
#: getsockopt(SO_PEERPIDFD), Linux 6.5: a pidfd of the process that connected, which cannot
#: be confused with a later process given the same pid. Python 3.11 lacks the constant.
SO_PEERPIDFD = getattr(socket, "SO_PEERPIDFD", 77)
CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid


def parent_of(pid: int) -> int:
    """The parent pid from /proc/PID/stat (after the last ')': a name may hold anything)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rindex(")") + 2:].split()[1])


def descends_from(pid: int, ancestor: int) -> bool:
    """Whether `ancestor` is `pid` or one of its ancestors."""
    while pid > 1:
        if pid == ancestor:
            return True
        pid = parent_of(pid)
    return pid == ancestor


def peer_is_trusted(connection: socket.socket) -> bool:
    """Whether the process at the other end may have a zygote: only one outside this template's
    own tree, which holds every zygote and every student's child.

    The attack: a child's memory holds this template's command line (`sys.orig_argv`, which
    names the socket's folder); Landlock does not cover `connect` on a Unix socket, and seccomp
    allows AF_UNIX. A zygote forked for a student would run jobs outside every sandbox layer,
    and a job's source is copied before its child is isolated: another student's folder or the
    answer key would land where that student's code could read it. Fails closed."""
    pidfd = -1
    try:
        try:
            pidfd = connection.getsockopt(socket.SOL_SOCKET, SO_PEERPIDFD)
            fields = dict(line.split(":", 1) for line in Path(f"/proc/self/fdinfo/{pidfd}").read_text().splitlines())
            pid = int(fields["Pid"])
        except (OSError, KeyError, ValueError):  # a kernel before 6.5: the pid it had on connect
            pid, _, _ = CREDENTIALS.unpack(connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                 CREDENTIALS.size))
        if pid <= 0 or descends_from(pid, os.getpid()):
            return False
        # Still the process that connected: its pid was not reused while we read its ancestry.
        return pidfd < 0 or not select.select([pidfd], [], [], 0)[0]
    except (OSError, ValueError):
        return False  # it exited mid-check, or /proc is unreadable
    finally:
        if pidfd >= 0:
            os.close(pidfd)


def send_request(connection: socket.socket, config: dict, stderr_fd: int) -> None:
    """Ask the template for a zygote: its config, and the file its stderr should go to."""
    data = json.dumps(config).encode()
    socket.send_fds(connection, [LENGTH.pack(len(data)) + data], [stderr_fd])


def receive_request(connection: socket.socket) -> tuple[dict, list[int]]:
    """The config and fds of one request (the template side of `send_request`)."""
    data, fds, _, _ = socket.recv_fds(connection, 1 << 16, 1)
    if len(data) < LENGTH.size:
        raise ValueError("a request shorter than its length prefix")
    (length,) = LENGTH.unpack_from(data)
    if length > MAX_CONFIG_BYTES:
        raise ValueError("a request over the size cap")
    data = data[LENGTH.size:]
    while len(data) < length:
        more = connection.recv(length - len(data))
        if not more:
            raise ValueError("a request cut short")
        data += more
    return json.loads(data), fds


def fork_zygote(connection: socket.socket, listener: socket.socket) -> None:
    """Serve one request: fork, and make the child the zygote of the connecting Sandbox."""
    if not peer_is_trusted(connection):
        connection.close()
        return
    try:
        config, fds = receive_request(connection)
    except (OSError, ValueError):
        connection.close()
        return
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the template's handler deletes its socket
        listener.close()
        for fd in fds[:1]:
            os.dup2(fd, 2)
        for fd in fds:
            os.close(fd)
        # Clear of the fds 0-3 each run's child rewires, as an exec'd zygote's socket is.
        control = socket.socket(fileno=zygote.move_high(connection.detach()))
        zygote.serve(control, config)  # never returns
    connection.close()
    for fd in fds:
        os.close(fd)


def main() -> None:
    """Listen first (a Sandbox may connect while torch loads), preload, then fork on demand."""
    folder = Path(sys.argv[1])

    def stop(number: int, frame: object) -> None:
        shutil.rmtree(folder, ignore_errors=True)  # the grader may be dead: no one else will
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGTERM)  # dies with the grader, even by kill -9
    if os.getppid() == 1:
        stop(0, None)  # the grader died before the line above
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(folder / SOCKET_NAME))
    listener.listen(64)
    zygote.preload(torch=json.loads(sys.argv[2]))
    gc.freeze()
    memory.collapse_into_huge_pages()
    while True:
        ready, _, _ = select.select([listener], [], [], 1.0)
        while True:  # reap the zygotes that have finished
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if ready:
            connection, _ = listener.accept()
            fork_zygote(connection, listener)


class ForkedZygote:
    """A zygote the template forked, as a Sandbox handles it: the part of Popen it uses.

    It is not the Sandbox's child, so it is watched through a pidfd; its exit status is
    unknown (its parent, the template, reaps it) and reads as 0."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._pidfd: int | None = os.pidfd_open(pid)

    def poll(self) -> int | None:
        return 0 if self._exited(0.0) else None

    def wait(self, timeout: float | None = None) -> int:
        if not self._exited(timeout):
            raise subprocess.TimeoutExpired(f"zygote {self.pid}", timeout or 0.0)
        return 0

    def kill(self) -> None:
        if self._pidfd is None:
            return  # gone already
        try:
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        except OSError:
            pass  # exiting already

    def _exited(self, timeout: float | None) -> bool:
        if self._pidfd is None:
            return True
        ready, _, _ = select.select([self._pidfd], [], [], timeout)
        if ready:
            os.close(self._pidfd)
            self._pidfd = None
        return bool(ready)


def connect(address: str, config: dict, stderr_fd: int) -> socket.socket | None:
    """A control socket to a zygote forked for us, or None when the template is unreachable
    (a Dask worker on another machine, a template that died): then exec a zygote instead."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(address)
        send_request(connection, config, stderr_fd)
    except OSError:
        connection.close()
        return None
    return connection


class ZygoteTemplate:
    """The grader's handle on a template process: its address, and `close` to stop it."""

    def __init__(self, environment: dict[str, str], *, preload_torch: bool = True) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="grader-zygotes-"))  # 0700: this user only
        self.address = str(self.folder / SOCKET_NAME)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "grader.sandbox.template", str(self.folder), json.dumps(preload_torch)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=environment, cwd="/", start_new_session=True)  # as an exec'd zygote: its own session
        for _ in range(500):  # the socket exists within milliseconds; torch loads after that
            if os.path.exists(self.address) or self._process.poll() is not None:
                break
            time.sleep(0.01)

    def close(self) -> None:
        """Stop the template (zygotes it forked live on until their Sandboxes close them)."""
        self._process.kill()
        self._process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


if __name__ == "__main__":
    main()
