"""Where each student's page lives: a file name that stays in its folder, and the link to it."""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_SUFFIXED = re.compile(r".*-[0-9a-f]{8}")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def student_file_name(student_id: str) -> str:
    """A file name for a student's page that cannot leave the folder and cannot collide.

    Student ids are folder names chosen by students: "../../index", "a/b" or "CON" must not
    write outside `students/` or over another page, so anything unusual gets a digest suffix.
    """
    stem = _UNSAFE.sub("_", student_id).strip("_")[:64]
    if (stem != student_id or not stem or stem.lower() in _RESERVED or stem.startswith("-")
            or _SUFFIXED.fullmatch(stem)):
        # (a name that already ends like a suffix, "dave_x-f8426774", gets one of its own:
        # it was the page of "dave x" too, and one student overwrote the other's)
        # (a name starting with "-" reads as an option to `rm students/*` and its like)
        suffix = hashlib.sha256(student_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        stem = f"{stem}-{suffix}" if stem else f"student-{suffix}"
    return f"student{stem}.html" if stem.startswith("-") else f"{stem}.html"


def student_link(student_id: str) -> str:
    """The dashboard's relative link to a student's page."""
    return f"students/{student_file_name(student_id)}"
