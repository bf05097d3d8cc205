"""The folders a sandbox writes: each zygote's temp base, and each child's copy of a submission.

A child may write anywhere in its zygote's base, so the base is emptied after every child
and a dead zygote's base is removed by the next; a child's copy holds what
`grader.stages.submission_files.files_to_copy` lists, the files the submission's digest covers.
Nothing here recurses: a student's folder may be thousands of levels deep.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# What a copy holds is decided in one place, which the digest of a submission also uses: a
# file the child can import must be one whose change makes a rerun regrade.
from grader.stages.submission_files import files_to_copy

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


def copy_submission(files: list[tuple[str, str, int]], workdir: str) -> None:
    """The private copy the child works in: `files_to_copy`'s files, and nothing else."""
    for path, inside, _ in files:
        target = os.path.join(workdir, inside)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(path, target, follow_symlinks=False)
