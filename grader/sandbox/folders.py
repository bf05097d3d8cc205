"""The folders a sandbox writes: each zygote's temp base, and each child's copy of a submission.

A child may write anywhere in its zygote's base, so the base is emptied after every child
and a dead zygote's base is removed by the next; a child's copy holds only what loading
would read. Nothing here recurses: a student's folder may be thousands of levels deep.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

BASE_PREFIX = "grader-sandbox-"


def remove_stale_bases() -> None:
    """Delete the temp folders of zygotes that no longer exist.

    A zygote deletes its folder on the way out, even on its death signal; only a SIGKILL of
    the whole process group at once (`kill -9 -PGID`) leaves one behind, for this to find."""
    for folder in Path(tempfile.gettempdir()).glob(f"{BASE_PREFIX}*-*"):
        owner = folder.name.removeprefix(BASE_PREFIX).split("-", 1)[0]
        if not owner.isdigit() or folder.is_symlink() or folder.stat().st_uid != os.getuid():
            continue
        try:
            os.kill(int(owner), 0)
        except ProcessLookupError:
            remove_folder(str(folder))
        except PermissionError:
            pass  # alive, another user's


def empty_folder(folder: str) -> None:
    """Delete everything inside `folder`, whatever a child built there.

    Not `shutil.rmtree`: it recurses (a tree 2,000 folders deep is a RecursionError in the
    zygote, which would stop the whole run) and its paths grow with the depth past PATH_MAX.
    Here every operation is on `folder/NAME/NAME`: a folder's subfolders are lifted up into
    `folder` (a rename is O(1)) until each folder is empty and can go. Folders a child made
    unreadable (chmod 0) are opened up first; symlinks are removed, never followed."""
    lifted = 0
    while True:
        with os.scandir(folder) as entries:
            names = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
        if not names:
            return
        progress = False
        for name, is_folder in names:
            path = os.path.join(folder, name)
            try:
                if not is_folder:
                    os.unlink(path)
                    progress = True
                    continue
                os.chmod(path, 0o700)
                with os.scandir(path) as entries:
                    inner = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
                for inner_name, inner_is_folder in inner:
                    if inner_is_folder:
                        while os.path.lexists(target := os.path.join(folder, f".lifted-{lifted}")):
                            lifted += 1
                        os.rename(os.path.join(path, inner_name), target)
                    else:
                        os.unlink(os.path.join(path, inner_name))
                os.rmdir(path)
                progress = True
            except OSError:
                continue  # (changed under us: the next pass sees it again)
        if not progress:
            return  # nothing this process may delete: leave it rather than spin


def remove_folder(folder: str) -> None:
    """Delete `folder` and all in it (see `empty_folder`); what cannot be deleted stays."""
    try:
        empty_folder(folder)
        os.rmdir(folder)
    except OSError:
        pass


#: Folders the copy leaves out, as loading does (`grader.submissions.ignored`); so is every
#: name that starts with a dot.
SKIPPED_FOLDERS = frozenset({"__pycache__", ".ipynb_checkpoints"})
#: The most a copy holds, by apparent size: loading refuses a folder whose files it reads
#: exceed 4 x 5 MB, and what it does not read must not make the copy any larger.
COPY_LIMIT_BYTES = 20_000_000


def files_to_copy(source: str) -> list[tuple[str, str, int]]:
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


def copy_submission(files: list[tuple[str, str, int]], workdir: str) -> None:
    """The private copy the child works in: `files_to_copy`'s files, and nothing else."""
    for path, inside, _ in files:
        target = os.path.join(workdir, inside)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(path, target, follow_symlinks=False)
