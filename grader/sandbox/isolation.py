"""Kernel isolation layers for a forked child: namespaces, Landlock, seccomp, capabilities, rlimits.

Each layer is built once in the zygote where the kernel allows it (a Landlock ruleset fd, a
seccomp filter object) and switched on in each child. Layers that the kernel refuses are
skipped and simply not reported; the grader warns about the missing ones.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import resource
import socket
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

PR_SET_PDEATHSIG = 1
F_SETOWN_EX = 15  # fcntl.h; Python's fcntl module lacks it before 3.12
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWNET, CLONE_THREAD = 0x10000000, 0x40000000, 0x00010000
CLONE_NEWPID = 0x20000000
#: The one pid a child in a pid namespace of its own has, as its own syscalls name it.
PID_IN_OWN_NAMESPACE = 1

# Landlock (linux/landlock.h); syscall numbers are the same on x86_64 and arm64.
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
LANDLOCK_RULE_PATH_BENEATH = 1
READ_RIGHTS = (1 << 0) | (1 << 2) | (1 << 3)  # execute, read file, read dir
FILE_RIGHTS_ALL = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)  # apply to files


class RulesetAttributes(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def prctl(option: int, argument: int = 0) -> int:
    """Call prctl(2); returns -1 on failure (the caller decides whether that matters)."""
    return libc.prctl(option, ctypes.c_ulong(argument), 0, 0, 0)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is absent or disabled."""
    version = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(version), 0)


def landlock_fs_rights(abi: int) -> int:
    """Every filesystem right this ABI knows, so that all of them are denied unless allowed."""
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= 1 << 13  # refer: renaming across folders
    if abi >= 3:
        rights |= 1 << 14  # truncate
    if abi >= 5:
        rights |= 1 << 15  # ioctl on devices
    return rights


def build_landlock_ruleset(abi: int, read_paths: Iterable[str], write_paths: Iterable[str]) -> int:
    """A ruleset fd: read-only below `read_paths`, everything below `write_paths`, TCP and
    signals outside the sandbox denied (ABI >= 4, >= 6). Returns -1 when it cannot be built."""
    handled = landlock_fs_rights(abi)
    # Scopes (ABI >= 6): abstract Unix sockets (1) and signals (2) outside the sandbox.
    attributes = RulesetAttributes(handled, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attributes), ctypes.c_size_t(size),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        return -1
    for rights, paths in ((READ_RIGHTS, read_paths), (handled, write_paths)):
        for path in paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            allowed = rights if os.path.isdir(path) else rights & FILE_RIGHTS_ALL
            rule = PathBeneath(allowed & handled, fd)
            result = libc.syscall(SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                                  ctypes.byref(rule), ctypes.c_uint32(0))
            os.close(fd)
            if result < 0:
                os.close(ruleset)
                return -1
    return int(ruleset)


def restrict_landlock(ruleset: int) -> bool:
    """Enforce the ruleset on this process and every thread or child it makes later."""
    return libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) == 0


def module_roots(hidden: Sequence[Path]) -> list[str]:
    """Folders of the packages this process imported (numpy, torch, their bundled libraries),
    never one inside a hidden path: the child may read what the zygote loaded, nothing else."""
    hidden_resolved = [Path(path).resolve() for path in hidden]
    library_folders = {Path(entry).resolve() for entry in sys.path if entry and os.path.isdir(entry)}
    roots: set[str] = set()
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        if not filename:
            continue
        path = Path(filename).resolve()
        containing = [folder for folder in library_folders if path.is_relative_to(folder)]
        if containing:  # the top-level package folder (or the single-file module) under sys.path
            folder = max(containing, key=lambda candidate: len(candidate.parts))
            root = folder / path.relative_to(folder).parts[0]
        else:
            root = path
        if any(root.is_relative_to(secret) or secret.is_relative_to(root) for secret in hidden_resolved):
            continue  # the grader's own package: the child runs its already-loaded code only
        roots.add(str(root))
        for bundled in root.parent.glob(root.name + ".libs"):  # numpy.libs: vendored BLAS
            roots.add(str(bundled))
    return sorted(roots)


def system_read_paths() -> list[str]:
    """The interpreter's standard library and the system's shared libraries."""
    standard = Path(os.__file__).resolve().parent
    candidates = [str(standard), str(Path(sys.executable).resolve().parent), "/usr/lib", "/lib", "/lib64",
                  "/usr/lib64", "/usr/share/zoneinfo", "/etc/ld.so.cache", "/etc/localtime", "/dev/urandom",
                  "/dev/zero", "/sys/devices/system/cpu"]
    return [path for path in candidates if os.path.exists(path)]


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


def drop_capabilities() -> bool:
    """Empty the bounding, ambient, effective, permitted and inheritable sets (root stays uid 0,
    because the interpreter lives in root's 0700 home on CI, but loses mount, chown, raw I/O)."""
    try:
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        last = 40
    for capability in range(last + 1):
        prctl(PR_CAPBSET_DROP, capability)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    return libc.capset(header, data) == 0


def unshare_namespaces() -> list[str]:
    """New network, IPC and UTS namespaces (a user namespace first when not root): no loopback
    to reach the grader's services over TCP or UDP, no shared memory segments."""
    flags = CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    if os.geteuid() != 0:
        uid, gid = os.geteuid(), os.getegid()
        if libc.unshare(CLONE_NEWUSER | flags) != 0:
            return []
        try:
            Path("/proc/self/setgroups").write_text("deny")
            Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
            Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
        except OSError:
            pass
        return ["user-namespace", "network-namespace", "ipc-namespace", "uts-namespace"]
    if libc.unshare(flags) != 0:
        return []
    return ["network-namespace", "ipc-namespace", "uts-namespace"]


#: mount(2) and umount2(2) flags (linux/mount.h).
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 1 << 14, 1 << 18
MNT_DETACH = 2


def private_mount_namespace() -> bool:
    """A mount namespace of this process's own (the zygote's, then each child's), whose mounts
    its parent never sees.

    Root only (an unprivileged child would need a user namespace of its own first)."""
    if os.geteuid() != 0 or libc.unshare(CLONE_NEWNS) != 0:
        return False
    # Private propagation first, or the tmpfs mounts that follow would appear on the host too.
    return libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) == 0


def private_base_options(size_bytes: int, files: int = 0) -> bytes:
    """tmpfs options: `size_bytes`, and one inode per page of it (plus the copy's `files`).

    An empty file takes no page, so `size` alone let a child make 400,000 of them in 3 s:
    400 MB of kernel memory that no limit counted. With the inodes capped at one per page,
    empty files cost no more than full ones could."""
    inodes = size_bytes // 4096 + 2 * files + 64  # a folder per file at worst, the base itself
    return f"size={size_bytes},nr_inodes={inodes},mode=0700".encode()


def mount_private_base(base: str, size_bytes: int) -> bool:
    """An empty tmpfs over the zygote's temp base, in the zygote's own mount namespace.

    Landlock lets a child write anywhere in the base, and RLIMIT_FSIZE caps one file, not how
    many: on the disk a child could fill it under every other student's run and the gradebook.
    On this tmpfs what a child writes is capped (`resize_private_base`) and never on disk.
    The zygote mounts it before building its Landlock rules, which must name the tmpfs: a
    rule on a folder that a mount covers does not reach into the mount."""
    options = private_base_options(size_bytes)
    return libc.mount(b"tmpfs", base.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options) == 0


def resize_private_base(base: str, size_bytes: int, files: int) -> bool:
    """Size the private base (bytes and inodes) for the next child, which copies `files` files
    into it (the zygote empties it between children)."""
    options = private_base_options(size_bytes, files)
    return libc.mount(b"tmpfs", base.encode(), b"tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV, options) == 0


def unmount(folder: str) -> None:
    """Detach a mount (the private base, as its zygote exits), so the folder can be removed."""
    libc.umount2(folder.encode(), MNT_DETACH)


def own_pid_namespace() -> int:
    """An fd on this process's pid namespace, or -1 when it may not make new ones (not root):
    the zygote forks each child into a namespace of its own and then returns to this one."""
    if os.geteuid() != 0:
        return -1
    try:
        return os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1


def fork_into_pid_namespace(own_namespace: int) -> int:
    """`os.fork()`, the child pid 1 of a new pid namespace when `own_namespace` is an fd.

    Inside it no other process has a pid: `prlimit`, `sched_setaffinity`, `setpriority` and the
    rest have nothing to name (the issue's runs: RLIMIT_FSIZE = 0 set on the grader killed the
    run; siblings set to SCHED_IDLE timed out). No extra fork: `unshare(CLONE_NEWPID)` makes
    the zygote's *next* child the namespace's first process, and `setns` back to its own
    namespace lets the zygote do it again for the next one (a second unshare is EINVAL)."""
    if own_namespace < 0 or libc.unshare(CLONE_NEWPID) != 0:
        return os.fork()
    try:
        pid = os.fork()
    except OSError:
        libc.setns(own_namespace, CLONE_NEWPID)
        raise
    if pid != 0:
        libc.setns(own_namespace, CLONE_NEWPID)
    return pid


def mount_own_proc() -> bool:
    """A fresh procfs over /proc, in this child's mount namespace: from inside its own pid
    namespace it lists this process alone (the CUDA profile grants /proc, where
    `/proc/<pid>/net/unix` named the listener of multiprocessing's fork server, which unpickles
    what it is sent)."""
    return libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None) == 0


def hide_folders(folders: Sequence[str]) -> list[str]:
    """In this private mount namespace, each folder becomes an empty read-only tmpfs.

    Landlock already denies reading these folders, but not `stat`: without this layer a child
    still learns which answer-key files exist and how large they are, and on kernels without
    Landlock this layer is what keeps the grader's files and other students' work away.
    """
    flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
    for folder in folders:
        if libc.mount(b"tmpfs", folder.encode(), b"tmpfs", flags, b"size=4k,mode=0555") != 0:
            return []  # a layer half in force is not reported as in force
    return ["mount-namespace"]


def set_limits(cpu_seconds: int, address_space: int | None, open_files: int, file_bytes: int,
               processes: int | None) -> None:
    """Apply rlimits; CPU soft < hard so a loop gets SIGXCPU first and SIGKILL after."""
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
    if processes is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    if address_space is not None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))


def virtual_memory_size() -> int:
    """This process's VmSize in bytes: RLIMIT_AS counts the preloaded libraries too."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def anonymous_memory_kib() -> int:
    """This process's resident anonymous memory (RssAnon) in KiB: what a forked child starts
    with in its peak RSS, since fork copies page tables for anonymous mappings only."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return 0
