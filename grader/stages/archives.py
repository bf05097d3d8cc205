"""Unpack an LMS export (.zip) into a private folder, refusing what could hurt the grader.

A downloaded archive is as hostile as the code inside it: a name like `../../.bashrc` or
`/etc/cron.d/x` would write outside the folder (the "zip slip" attack), a symbolic link member
would make a later read follow it anywhere, and a 42 kB "zip bomb" inflates to petabytes. Every
member is checked before a byte is written, and the bytes actually written are counted (a
header's declared size is the attacker's word, not a fact).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from grader.errors import SubmissionsError

#: Caps for a class's export: a course of 1,000 students at 20 MB each stays well under.
MAX_MEMBERS = 20_000
MAX_TOTAL_BYTES = 2_000_000_000
MAX_MEMBER_BYTES = 200_000_000
#: A member that inflates more than this many times its compressed size is a bomb, not a notebook
#: (text compresses 5-10x; a run of zeros 1000x).
MAX_RATIO = 200
#: Folders nested deeper than this are not a course export.
MAX_DEPTH = 32
CHUNK = 1 << 20
HINT = "download the export again from the LMS, or unpack it yourself and pass the folder"


def refuse(archive: Path, problem: str) -> SubmissionsError:
    return SubmissionsError(f"{archive}: refused to unpack: {problem}", hint=HINT)


def member_path(archive: Path, info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's relative path, None for a folder entry; a SubmissionsError for a name that
    leaves the folder (absolute, `..`, a drive letter, a backslash trick) or a symbolic link."""
    name = info.filename
    if "\x00" in name:
        raise refuse(archive, f"member {name!r} has a NUL byte in its name")
    # Windows tools write backslashes; treat them as separators so `..\\..\\x` is caught too.
    normalised = name.replace("\\", "/")
    path = PurePosixPath(normalised)
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        raise refuse(archive, f"member {name!r} has an absolute name (it would be written outside the folder)")
    if ".." in path.parts:
        raise refuse(archive, f"member {name!r} climbs out of the folder with '..' (a path traversal)")
    if len(path.parts) > MAX_DEPTH:
        raise refuse(archive, f"member {name!r} is nested {len(path.parts)} folders deep")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise refuse(archive, f"member {name!r} is a symbolic link; an export holds only files")
    if info.is_dir():
        return None
    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # no type bits at all: a plain file (Python's zipfile)
        raise refuse(archive, f"member {name!r} is not a regular file (a device or a pipe)")
    return path


def unpack(archive: Path, max_total: int | None = None) -> Path:
    """Unpack `archive` into a new private temp folder (mode 0700) and return it.

    The caller removes the folder. Any refusal removes what was written and raises a
    SubmissionsError that names the archive and the member. `max_total`: a smaller cap on
    the bytes unpacked (one student's zip), never a larger one."""
    total_cap = MAX_TOTAL_BYTES if max_total is None else min(max_total, MAX_TOTAL_BYTES)
    archive = Path(archive)
    try:
        opened = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as error:
        raise SubmissionsError(f"{archive}: not a readable .zip file ({error})", hint=HINT) from None
    with opened:
        members = opened.infolist()
        if len(members) > MAX_MEMBERS:
            raise refuse(archive, f"{len(members):,} members, over the limit of {MAX_MEMBERS:,}")
        planned = [(info, member_path(archive, info)) for info in members]  # every name checked first
        declared = sum(info.file_size for info in members)
        if declared > total_cap:
            raise refuse(archive, f"it would unpack to {declared / 1e6:,.0f} MB, over the "
                         f"{total_cap / 1e6:,.0f} MB limit (a zip bomb?)")
        folder = Path(tempfile.mkdtemp(prefix="grader-intake-"))  # mkdtemp: mode 0700, ours alone
        try:
            written = 0
            for info, path in planned:
                if path is None:
                    continue
                written += _extract(opened, archive, info, folder / Path(*path.parts), total_cap - written)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return folder


def _extract(opened: zipfile.ZipFile, archive: Path, info: zipfile.ZipInfo, target: Path, room: int) -> int:
    """Copy one member, counting real bytes against the caps; returns the bytes written."""
    limit = min(MAX_MEMBER_BYTES, room, max(info.compress_size, 1) * MAX_RATIO + CHUNK)
    written = 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError:  # "a" is a file and "a/b" wants it as a folder
        raise refuse(archive, f"member {info.filename!r} cannot be written (a file holds its folder's name)") from None
    try:
        # O_EXCL and O_NOFOLLOW: two members of one name, or a link planted between the
        # checks and the write, fail instead of overwriting or following.
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise refuse(archive, f"member {info.filename!r} appears twice") from None
    except OSError as error:  # a name past 255 bytes
        raise refuse(archive, f"member {info.filename!r} cannot be written ({error.strerror})") from None
    with os.fdopen(descriptor, "wb") as output, opened.open(info) as source:
        while True:
            try:
                chunk = source.read(CHUNK)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as error:
                raise refuse(archive, f"member {info.filename!r} is damaged or encrypted ({error})") from None
            if not chunk:
                break
            written += len(chunk)
            if written > limit:
                raise refuse(archive, f"member {info.filename!r} inflates past {limit / 1e6:.0f} MB "
                             f"from {info.compress_size:,} compressed bytes (a zip bomb?)")
            output.write(chunk)
    return written
