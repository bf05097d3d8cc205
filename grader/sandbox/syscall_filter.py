"""The seccomp filter of every child: the syscalls no graded function needs, refused.

Built with pyseccomp and compiled to BPF once in the zygote (`compile_seccomp_filter`);
each child installs the program with one prctl (`load_seccomp_program`). A deny-list: what
is not named here is allowed, and Landlock, the namespaces and rlimits stand beside it.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import socket
import tempfile

from .isolation import CLONE_THREAD, PID_IN_OWN_NAMESPACE, libc

F_SETOWN_EX = 15  # fcntl.h; Python's fcntl module lacks it before 3.12

#: Syscalls whose first argument is a pid another process could be named by (sched_setattr,
#: prlimit64 and the rest take it first); setpriority and ioprio_set take (which, who).
PID_FIRST_SYSCALLS = ("prlimit64", "sched_setscheduler", "sched_setparam", "sched_setaffinity", "sched_setattr",
                      "pidfd_open", "migrate_pages", "move_pages")
WHO_SECOND_SYSCALLS = ("setpriority", "ioprio_set")
#: Never needed by a graded function, whatever the pid: fds and memory of another process.
PROCESS_TARGETING_SYSCALLS = ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
                              "process_madvise", "process_mrelease"]
#: AF_UNIX socket types that send to an address of the sender's choosing (SOCK_RAW is a
#: datagram socket there): a datagram socketpair could still `sendto` any pathname socket.
UNIX_DATAGRAM_TYPES = (socket.SOCK_DGRAM, socket.SOCK_RAW)
SOCKET_TYPE_MASK = 0xF  # the type without SOCK_NONBLOCK | SOCK_CLOEXEC


def build_seccomp_filter(allow_processes: bool, in_pid_namespace: bool = False) -> object | None:
    """A deny-list filter (pyseccomp) for syscalls no graded function needs; None if unavailable.

    `in_pid_namespace`: the child is pid 1 of a namespace of its own, so pid 1 is itself
    (outside one, pid 1 is the host's init and only 0 names the caller)."""
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError):
        return None
    deny = seccomp.ERRNO(errno.EPERM)
    try:
        rules = seccomp.SyscallFilter(seccomp.ALLOW)
        # No socket at all: UDP escapes Landlock, raw sockets reach the host network, and an
        # AF_UNIX socket connects to any pathname socket it can name (Landlock does not
        # mediate connect): a stand-in daemon answered a child with uid 0 credentials, and
        # multiprocessing's fork server unpickles what it is sent. Nothing a child opens can
        # connect, bind, listen or accept; a connected stream socketpair (asyncio's and
        # multiprocessing.Pipe's self-pipes) reaches nothing but itself.
        names = ["socket", "connect", "bind", "listen", "accept", "accept4"]
        for kind in UNIX_DATAGRAM_TYPES:
            rules.add_rule(deny, "socketpair", seccomp.Arg(1, seccomp.MASKED_EQ, SOCKET_TYPE_MASK, kind))
        # Process-targeting calls on any pid but the child's own (0, or 1 inside its pid
        # namespace): prlimit(RLIMIT_FSIZE = 0) on the grader killed the whole run, SCHED_IDLE
        # and one pinned core on siblings made honest students time out (belt and braces with
        # the pid namespace, which leaves no other pid to name).
        # Compared as 64-bit registers: a pid with its upper bits set is refused too.
        own = PID_IN_OWN_NAMESPACE if in_pid_namespace else 0
        conditional = [(name, [seccomp.Arg(0, seccomp.GT, own)]) for name in PID_FIRST_SYSCALLS]
        for name in WHO_SECOND_SYSCALLS:  # PRIO_PROCESS and IOPRIO_WHO_PROCESS only: a group or a uid is others
            process = 0 if name == "setpriority" else 1
            conditional += [(name, [seccomp.Arg(0, seccomp.NE, process)]), (name, [seccomp.Arg(1, seccomp.GT, own)])]
        for name, comparisons in conditional:
            try:
                rules.add_rule(deny, name, *comparisons)
            except (OSError, RuntimeError, ValueError):
                continue  # a syscall this architecture (or libseccomp) lacks
        names += PROCESS_TARGETING_SYSCALLS
        names += ["execve", "execveat", "mount", "umount2",
                 "unshare", "setns", "pivot_root", "chroot", "bpf", "perf_event_open", "io_uring_setup",
                 "io_uring_enter", "io_uring_register", "keyctl", "add_key", "request_key", "init_module",
                 "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon",
                 "swapoff", "userfaultfd", "open_by_handle_at", "name_to_handle_at", "acct", "settimeofday",
                 "clock_settime", "quotactl", "syslog", "fanotify_init"]
        if not allow_processes:
            names += ["fork", "vfork"]
            # Threads (torch, OpenBLAS) stay allowed; a clone without CLONE_THREAD is a process.
            rules.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))
        for name in names:
            try:
                rules.add_rule(deny, name)
            except (OSError, RuntimeError, ValueError):
                continue  # a syscall this architecture lacks
        # Signals to other processes: Landlock scopes them only from ABI 6 (Linux 6.12); on an
        # older kernel a child could kill(pid, SIGKILL) every pid of its user, the grader
        # included. kill(0, ...) (its own process group) and signal 0 (a probe) stay allowed.
        rules.add_rule(deny, "kill", seccomp.Arg(0, seccomp.NE, 0), seccomp.Arg(1, seccomp.NE, 0))
        for name in ("tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_send_signal"):
            rules.add_rule(deny, name)
        # kill(0, ...) is safe only while the child's group is its own: no joining another
        # (the zygote's group, once the grader's too) and no new session.
        for name in ("setpgid", "setsid"):
            rules.add_rule(deny, name)
        # ... and SIGIO sent on an fd's behalf to an owner of the child's choosing.
        for command in (fcntl.F_SETOWN, F_SETOWN_EX):
            rules.add_rule(deny, "fcntl", seccomp.Arg(1, seccomp.EQ, command))
        # glibc falls back from clone3 to clone on ENOSYS, where the flag check above applies.
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    except (OSError, RuntimeError, ValueError):
        return None
    return rules


PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


class SocketFilterProgram(ctypes.Structure):
    _fields_ = [("length", ctypes.c_ushort), ("instructions", ctypes.c_void_p)]


def compile_seccomp_filter(rules: object | None) -> bytes | None:
    """The filter as the BPF program the kernel runs, compiled once in the zygote: libseccomp's
    `load` compiles it again in every child (0.9 ms of a child's ~15)."""
    if rules is None:
        return None
    try:
        with tempfile.TemporaryFile() as program:
            rules.export_bpf(program)  # type: ignore[attr-defined]
            program.seek(0)
            compiled = program.read()
    except (OSError, RuntimeError, ValueError):
        return None
    return compiled if compiled and len(compiled) % 8 == 0 else None


def load_seccomp_program(program: bytes) -> bool:
    """Install a compiled filter on this process (no_new_privs must be set already)."""
    instructions = ctypes.create_string_buffer(program, len(program))
    filter_program = SocketFilterProgram(len(program) // 8, ctypes.cast(instructions, ctypes.c_void_p))
    return libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(filter_program), 0, 0) == 0
