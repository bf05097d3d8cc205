"""What of a student's entry the sandbox copies, and the digest of exactly those bytes.

One function, `files_to_copy`, decides what a child sees; the digest that decides whether a
rerun regrades a submission hashes the same list. Before, loading hashed only what it read
(no README*, no code file over 5 MB) while the sandbox copied those too and the student's code
could import them: changing only such a file kept a stale grade ("unchanged").
Kept free of heavy imports: the sandbox's zygote imports it.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

#: Folders the copy leaves out, as loading does (`grader.stages.submissions.ignored`); so is every
#: name that starts with a dot.
SKIPPED_FOLDERS = frozenset({"__pycache__", ".ipynb_checkpoints"})
#: The most a copy holds, by apparent size: loading refuses a folder whose files it reads
#: exceed 4 x 5 MB, and what it does not read must not make the copy any larger.
COPY_LIMIT_BYTES = 20_000_000
CHUNK_BYTES = 1 << 20


def files_to_copy(source: str | Path) -> list[tuple[str, str, int]]:
    """(path, path in the copy, size) of each file the child's copy of `source` holds.

    Only regular files: a symlink may point at another student's folder or /etc/shadow (this
    runs before isolation), and a FIFO or device would be read forever. Nothing hidden or
    cached, and at most `COPY_LIMIT_BYTES` in all by apparent size: a 2 GB sparse file takes
    12 KB of disk and would take 2 GB of the tmpfs it is copied to, every run."""
    root = Path(source)
    if root.is_symlink():
        return []
    if not root.is_dir():
        status = os.lstat(root) if root.exists() else None
        if status is None or not stat.S_ISREG(status.st_mode) or status.st_size > COPY_LIMIT_BYTES:
            return []
        return [(str(root), root.name, status.st_size)]
    found: list[tuple[str, str, int]] = []
    total = 0
    pending = [(str(root), "")]  # a stack, not recursion: a student's folder may be deep
    while pending:
        folder, relative = pending.pop()
        with os.scandir(folder) as entries:
            ordered = sorted(entries, key=lambda entry: entry.name)
        for entry in ordered:
            if entry.name.startswith(".") or entry.name in SKIPPED_FOLDERS or entry.is_symlink():
                continue
            inside = os.path.join(relative, entry.name)
            if entry.is_dir(follow_symlinks=False):
                pending.append((entry.path, inside))
            elif entry.is_file(follow_symlinks=False):
                size = entry.stat(follow_symlinks=False).st_size
                if total + size <= COPY_LIMIT_BYTES:
                    found.append((entry.path, inside, size))
                    total += size
    return found


def copied_digest(entry: Path) -> str:
    """SHA-256 of every file `files_to_copy` gives for `entry`: its path in the copy, its size
    and its bytes. A single file too large to copy is hashed by its size, which is all that
    loading's refusal says about it."""
    digest = hashlib.sha256()
    files = files_to_copy(entry)
    if not files and not entry.is_symlink() and entry.is_file():
        digest.update(b"not copied\0" + str(entry.stat().st_size).encode())
    for path, inside, size in files:
        digest.update(inside.encode("utf-8", "surrogateescape") + b"\0" + str(size).encode() + b"\0")
        with open(path, "rb") as file:
            while chunk := file.read(CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()
