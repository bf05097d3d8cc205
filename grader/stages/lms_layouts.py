"""Recognise the folder an LMS export unpacks to, and say whose work each file is.

Each detector reads names (and Gradescope's metadata file), never student code, and returns
one `IntakeEntry` per student, or None when the folder is not in its layout. The formats, and
where they are documented:

- Canvas, "Download Submissions": one file per uploaded file, named
  `login_[LATE_]userid_submissionid_original.ext`; `login` is the sortable name in lower case
  without spaces ("hoppergrace"), `LATE_` marks a submission after the due date, and Canvas adds
  `-1`, `-2` before the extension of a resubmitted file ("HW1-1.ipynb").
  (Canvas Instructor Guide, "How do I download all student submissions for an assignment?";
  the same scheme is parsed by canvas-code-correction's submissions_unzip.py.)
- Gradescope, "Export Submissions": `submission_metadata.yml` beside one `submission_ID/`
  folder per submission; the YAML (Ruby symbols as keys) maps `submission_ID` to
  `:submitters:` (each `:name:`, `:sid:`, `:email:`) and `:created_at:`. (Gradescope Help,
  "Exporting submissions"; gradescope-autograders.readthedocs.io "Submission Metadata" for what
  the fields mean; public export parsers read the same keys.)
- Moodle, "Download all submissions": `First Last_participantId_assignsubmission_file_` folders
  (or files with the original name after that prefix); `_assignsubmission_onlinetext_` holds
  the online text. (mod/assign/lang/en/assign.php `downloadasfolders_help`: "each submission
  is put in a separate folder ... files are not renamed"; Moodle's feedback-upload guide names
  the folder format.)
- Blackboard Learn, "Download Assignment": `Assignment_username_attempt_YYYY-MM-DD-HH-MM-SS_file`
  plus `Assignment_username_attempt_YYYY-MM-DD-HH-MM-SS.txt` with "Name: Full Name (username)"
  and "Date Submitted: ...". (Blackboard Help, "Download assignments".)
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import SubmissionsError


@dataclass(frozen=True)
class Member:
    """A person an entry's grade goes to (a Gradescope group has several)."""

    student_id: str
    name: str = ""
    email: str = ""
    sid: str = ""  # the institution's student id (Gradescope SID, Canvas SIS id)

    def aliases(self) -> set[str]:
        found = {self.student_id, self.sid, self.email, self.email.split("@")[0] if self.email else ""}
        return {alias.casefold() for alias in found if alias}


@dataclass(frozen=True)
class IntakeEntry:
    """One student's work as the export holds it: which files, whose, and when."""

    student_id: str  # readable: the Canvas login, the Gradescope SID, the Moodle name
    sources: tuple[tuple[Path, str], ...]  # (file or folder in the export, name to give it)
    lms: str = "folder"  # "canvas" | "gradescope" | "moodle" | "blackboard" | "folder"
    name: str = ""
    email: str = ""
    sid: str = ""
    lms_user_id: str = ""  # Canvas user id, Moodle participant id
    submission_id: str = ""
    submitted_at: datetime.datetime | None = None  # naive: the LMS's local time
    late_flag: bool = False  # the export itself says late (Canvas LATE_)
    members: tuple[Member, ...] = ()  # everyone the grade goes to (empty: the student alone)
    notes: tuple[str, ...] = ()

    def aliases(self) -> set[str]:
        """Every id a roster may use for this student."""
        own = Member(self.student_id, email=self.email, sid=self.sid).aliases()
        return own | ({self.lms_user_id.casefold()} if self.lms_user_id else set())


@dataclass(frozen=True)
class Layout:
    """A recognised export: its LMS, its entries, and files that are the LMS's, not a student's."""

    lms: str
    entries: tuple[IntakeEntry, ...]
    metadata_files: tuple[Path, ...] = ()
    notes: tuple[str, ...] = ()


def slug(text: str) -> str:
    """A readable id that is also a safe file name: "Jane Doe" -> "jane-doe"."""
    cleaned = re.sub(r"[^\w.@+-]+", "-", text.strip().casefold(), flags=re.UNICODE).strip("-.")
    return cleaned[:80] or "student"


def _unique(entries: list[IntakeEntry], tiebreak: str) -> list[IntakeEntry]:
    """Two students of one readable id (two Jane Does) each get their LMS id appended."""
    from dataclasses import replace

    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.student_id] = counts.get(entry.student_id, 0) + 1
    return [replace(entry, student_id=f"{entry.student_id}-{getattr(entry, tiebreak)}")
            if counts[entry.student_id] > 1 else entry for entry in entries]


def _visible(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir()
                  if not path.name.startswith(".") and path.name != "__MACOSX")


# --------------------------------------------------------------------------- Canvas

CANVAS_NAME = re.compile(r"^(?P<login>[^_]+)_(?P<late>LATE_)?(?P<user>\d+)_(?P<submission>\d+)_(?P<original>.+)$")
#: Canvas's resubmission suffix: "HW1-1.ipynb" is the student's "HW1.ipynb".
CANVAS_COPY_SUFFIX = re.compile(r"-\d+(?=\.[^.]+$)")


def canvas(folder: Path) -> Layout | None:
    children = _visible(folder)
    matches = [(path, CANVAS_NAME.match(path.name)) for path in children if path.is_file()]
    if not children or sum(1 for _, match in matches if match) * 2 < len(children):
        return None
    grouped: dict[str, list[tuple[Path, re.Match[str]]]] = {}
    strays: list[str] = []
    for path, match in matches:
        if match is None:
            strays.append(path.name)
            continue
        grouped.setdefault(match["user"], []).append((path, match))
    entries = []
    for user, files in grouped.items():
        first = files[0][1]
        sources = tuple((path, CANVAS_COPY_SUFFIX.sub("", match["original"])) for path, match in files)
        entries.append(IntakeEntry(
            student_id=slug(first["login"]), sources=sources, lms="canvas", name=first["login"],
            lms_user_id=user, submission_id=first["submission"],
            late_flag=any(match["late"] for _, match in files)))
    notes = tuple(f"ignored {name}: not named as Canvas names a submission" for name in strays)
    notes += tuple(f"ignored folder {path.name} in a Canvas export" for path in children if path.is_dir())
    return Layout("canvas", tuple(_unique(entries, "lms_user_id")), notes=notes)


# --------------------------------------------------------------------------- Gradescope

GRADESCOPE_METADATA = "submission_metadata.yml"
MAX_METADATA_BYTES = 20_000_000


def _safe_yaml(path: Path) -> Any:
    """PyYAML's safe loader (plain data only, no Python objects), a size cap, and no aliases:
    `&a [*a, *a, ...]` nested ten deep is a billion elements to anyone who walks it."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise yaml.YAMLError("YAML aliases (*name) are not allowed in an export's metadata")
            return super().compose_node(parent, index)

    if path.stat().st_size > MAX_METADATA_BYTES:
        raise SubmissionsError(f"{path}: {path.stat().st_size / 1e6:.0f} MB of metadata, over the "
                               f"{MAX_METADATA_BYTES / 1e6:.0f} MB limit", hint="export the assignment again")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=NoAliasLoader)  # noqa: S506 (safe loader subclass)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as error:
        raise SubmissionsError(f"{path}: not readable YAML ({str(error)[:300]})",
                               hint="export the submissions from Gradescope again") from None


def _field(record: Any, name: str) -> Any:
    """Gradescope writes Ruby symbols as keys (":submitters"); accept the bare name too."""
    if not isinstance(record, dict):
        return None
    return record.get(f":{name}", record.get(name))


def _timestamp(value: Any) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, str):
        text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace(" ", "T", 1)
        text = re.sub(r"\s+([+-]\d\d):?(\d\d)$", r"\1:\2", text)  # Ruby's "... -07:00"
        try:
            return datetime.datetime.fromisoformat(text)
        except ValueError:
            return None
    return None


def _member(person: dict[str, Any], fallback: str) -> Member:
    """A Gradescope submitter, known by their SID, else their email's name, else their name."""
    name, email, sid = (str(_field(person, key) or "") for key in ("name", "email", "sid"))
    return Member(student_id=slug(sid or email.split("@")[0] or name or fallback), name=name, email=email, sid=sid)


def gradescope(folder: Path) -> Layout | None:
    metadata_path = folder / GRADESCOPE_METADATA
    if not metadata_path.is_file():
        return None
    metadata = _safe_yaml(metadata_path)
    if not isinstance(metadata, dict):
        raise SubmissionsError(f"{metadata_path}: expected a mapping of submission folders to their metadata",
                               hint="export the submissions from Gradescope again")
    entries = []
    notes = []
    for key, record in metadata.items():
        submitters = _field(record, "submitters")
        if not isinstance(submitters, list) or not submitters or not all(isinstance(s, dict) for s in submitters):
            raise SubmissionsError(f"{metadata_path}: {key}: no :submitters: list",
                                   hint="each submission lists its submitters (:name:, :sid:, :email:)")
        submission = folder / str(key)
        if not submission.is_dir():
            notes.append(f"{key} is in {GRADESCOPE_METADATA} but not in the export; skipped")
            continue
        members = tuple(_member(person, str(key)) for person in submitters)
        lead = members[0]
        entries.append(IntakeEntry(
            student_id=lead.student_id, sources=((submission, lead.student_id),), lms="gradescope",
            name=lead.name, email=lead.email, sid=lead.sid, submission_id=str(key).removeprefix("submission_"),
            submitted_at=_timestamp(_field(record, "created_at")),
            members=members if len(members) > 1 else ()))
    listed = {str(key) for key in metadata}
    notes += [f"ignored {path.name}: not listed in {GRADESCOPE_METADATA}"
              for path in _visible(folder) if path.name not in listed and path != metadata_path]
    return Layout("gradescope", tuple(_unique(entries, "submission_id")), (metadata_path,), tuple(notes))


# --------------------------------------------------------------------------- Moodle

MOODLE_NAME = re.compile(r"^(?P<name>.+?)_(?P<participant>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<rest>.*)$")


def moodle(folder: Path) -> Layout | None:
    children = _visible(folder)
    matches = [(path, MOODLE_NAME.match(path.name)) for path in children]
    if not children or sum(1 for _, match in matches if match) * 2 < len(children):
        return None
    grouped: dict[str, list[tuple[Path, re.Match[str]]]] = {}
    for path, match in matches:
        if match is not None:
            grouped.setdefault(match["participant"], []).append((path, match))
    entries = []
    for participant, parts in grouped.items():
        sources = []
        for path, match in parts:
            # A folder's files keep their names; a flat download's file is named after the prefix.
            sources.append((path, match["plugin"] if path.is_dir() else match["rest"] or path.name))
        name = parts[0][1]["name"]
        entries.append(IntakeEntry(student_id=slug(name), sources=tuple(sources), lms="moodle", name=name,
                                   lms_user_id=participant))
    notes = tuple(f"ignored {path.name}: not named as Moodle names a submission" for path, match in matches if not match)
    return Layout("moodle", tuple(_unique(entries, "lms_user_id")), notes=notes)


# --------------------------------------------------------------------------- Blackboard

BLACKBOARD_NAME = re.compile(
    r"^(?P<assignment>.+)_(?P<user>[^_]+)_attempt_(?P<time>\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)(?:_(?P<original>.+)|\.txt)$")
BLACKBOARD_NAME_LINE = re.compile(r"^Name:\s*(?P<name>.*?)\s*(?:\((?P<user>[^)]*)\))?\s*$", re.MULTILINE)


def blackboard(folder: Path) -> Layout | None:
    children = _visible(folder)
    matches = [(path, BLACKBOARD_NAME.match(path.name)) for path in children if path.is_file()]
    if not children or sum(1 for _, match in matches if match) * 2 < len(children):
        return None
    attempts: dict[str, dict[str, list[tuple[Path, re.Match[str]]]]] = {}
    for path, match in matches:
        if match is not None:
            attempts.setdefault(match["user"], {}).setdefault(match["time"], []).append((path, match))
    entries = []
    metadata: list[Path] = []
    notes: list[str] = []
    for user, by_time in attempts.items():
        latest = max(by_time)
        if len(by_time) > 1:
            notes.append(f"{user}: graded the latest of {len(by_time)} attempts ({latest})")
        files = by_time[latest]
        texts = [path for path, match in files if match["original"] is None]
        metadata += [path for attempt in by_time.values() for path, match in attempt if match["original"] is None]
        name = ""
        for text in texts:
            found = BLACKBOARD_NAME_LINE.search(text.read_text(encoding="utf-8", errors="replace")[:100_000])
            if found:
                name = found["name"]
        sources = tuple((path, match["original"]) for path, match in files if match["original"] is not None)
        entries.append(IntakeEntry(
            student_id=slug(user), sources=sources, lms="blackboard", name=name, lms_user_id=user,
            submitted_at=datetime.datetime.strptime(latest, "%Y-%m-%d-%H-%M-%S")))
    return Layout("blackboard", tuple(entries), tuple(metadata), tuple(notes))


#: Tried in order; the first that recognises the folder wins.
DETECTORS = (gradescope, canvas, moodle, blackboard)


def detect(folder: Path) -> Layout | None:
    """The LMS layout of `folder`, or None for a plain folder of one entry per student."""
    for detector in DETECTORS:
        layout = detector(folder)
        if layout is not None:
            return layout
    return None
