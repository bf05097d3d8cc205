"""Kernel isolation layers for a forked child: namespaces, Landlock, capabilities, rlimits.

Each layer is built once in the zygote where the kernel allows it (a Landlock ruleset fd) and
switched on in each child; the seccomp filter is `syscall_filter.py`'s. Layers that the
kernel refuses are skipped and simply not reported; the grader warns about the missing ones.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

PR_SET_PDEATHSIG = 1
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
