"""The way in: a folder or a .zip as an LMS exports it -> one entry per student, under readable ids.

`take_in` unpacks a zip safely (`archives.py`), recognises Canvas, Gradescope, Moodle and
Blackboard layouts (`lms_layouts.py`), and copies each student's files into `OUT/intake/ID/`
(so several Canvas files of one student are one entry, and the LMS's own metadata files are
never graded). A plain folder of `alice.py`, `bob/` is read in place, as before. A roster maps
ids to names and emails and adds the students who handed in nothing; the rubric's late policy
marks and prices late work. `OUT/intake.json` keeps all of it for `grader feedback`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from grader.stages import archives
from grader.errors import SubmissionsError, UsageError
from grader.stages.lateness import ON_TIME, LatePolicy, Lateness, assess
from grader.stages.lms_layouts import IntakeEntry, Layout, Member, detect
from grader.models import SubmissionResult
from grader.stages.roster import RosterStudent
from grader.stages.submissions import discover, ignored, student_id

INTAKE_FOLDER = "intake"
INTAKE_RECORD = "intake.json"
#: A file copied out of an export folder larger than this is left out (load() caps a file at 5 MB).
MAX_COPIED_BYTES = 50_000_000
#: What one student's uploaded .zip may unpack to (the grader reads 20 MB of a folder at most).
MAX_STUDENT_ARCHIVE_BYTES = 100_000_000


@dataclass(frozen=True)
class StudentRecord:
    """Who one id is, where their work came from, and whether it was late."""

    student_id: str
    status: str  # "submitted" | "no submission"
    lms: str = "folder"
    name: str = ""
    email: str = ""
    sid: str = ""
    section: str = ""
    lms_user_id: str = ""
    submission_id: str = ""
    submitted_at: str = ""  # ISO text as the export gave it
    late: Lateness = ON_TIME
    members: tuple[Member, ...] = ()
    on_roster: bool = False


@dataclass(frozen=True)
class Intake:
    """What `grader run` grades: the entries, and a record for every student."""

    lms: str
    folder: Path  # where the entries are (the input folder, or OUT/intake)
    entries: tuple[Path, ...]
    students: tuple[StudentRecord, ...]
    notes: tuple[str, ...] = ()

    def record(self, student: str) -> StudentRecord | None:
        return next((record for record in self.students if record.student_id == student), None)


def take_in(source: Path, out: Path, policy: LatePolicy = LatePolicy(),
            roster: Sequence[RosterStudent] | None = None) -> Intake:
    """Turn SOURCE (a folder or a .zip) into entries to grade; stages under OUT/intake when needed."""
    source = Path(source)
    notes: list[str] = []
    if source.is_dir():
        children = [path for path in source.iterdir() if not ignored(path)]
        if len(children) == 1 and children[0].suffix.lower() == ".zip" and children[0].is_file():
            # A folder holding the download: the zip is the class, not a student called "submissions".
            notes.append(f"{source} holds only {children[0].name}: graded what it contains")
            source = children[0]
    if source.is_file() and source.suffix.lower() == ".zip":
        unpacked = archives.unpack(source)
        try:
            return _from_folder(unpacked, out, policy, roster, from_archive=True, notes=notes)
        finally:
            shutil.rmtree(unpacked, ignore_errors=True)
    if not source.is_dir():
        raise SubmissionsError(f"submissions {source} does not exist or is not a folder or a .zip file",
                               hint="pass the folder or the .zip your LMS exported (one entry per student)")
    return _from_folder(source, out, policy, roster, from_archive=False, notes=notes)


def _from_folder(root: Path, out: Path, policy: LatePolicy, roster: Sequence[RosterStudent] | None,
                 *, from_archive: bool, notes: list[str]) -> Intake:
    layout = detect(root)
    while layout is None:  # an export's single wrapper folder ("assignment_123_export/")
        children = [path for path in root.iterdir() if not ignored(path) and path.name != "__MACOSX"]
        if len(children) != 1 or not children[0].is_dir() or children[0].is_symlink():
            break
        inner = detect(children[0])
        if inner is None and not from_archive:
            break
        root, layout = children[0], inner
    staging = out / INTAKE_FOLDER
    if layout is None and not from_archive:
        entries = tuple(discover(root))  # a plain class folder: read in place, as always
        found = [IntakeEntry(student_id=student_id(entry), sources=((entry, entry.name),)) for entry in entries]
        return _finish(found, "folder", root, entries, policy, roster, notes)
    if layout is None:
        layout = Layout("folder", tuple(
            IntakeEntry(student_id=student_id(path), sources=((path, path.name),))
            for path in sorted(root.iterdir()) if not ignored(path) and path.name != "__MACOSX"))
    notes += layout.notes
    notes += [f"not graded: {path.name} (the {layout.lms} export's metadata)" for path in layout.metadata_files]
    found = _stage(_with_roster_ids(list(layout.entries), roster), staging, notes, layout.lms == "folder")
    return _finish(found, layout.lms, staging, tuple(discover(staging)), policy, roster, notes)


def _with_roster_ids(found: list[IntakeEntry], roster: Sequence[RosterStudent] | None) -> list[IntakeEntry]:
    """Entries the roster knows by another id (an SID, an email) take the roster's id."""
    if not roster:
        return found
    renamed = []
    for entry in found:
        match = next((student for student in roster if student.aliases() & entry.aliases()), None)
        renamed.append(replace(entry, student_id=match.student_id) if match else entry)
    return renamed


def _stage(found: list[IntakeEntry], staging: Path, notes: list[str], keep_names: bool) -> list[IntakeEntry]:
    """Copy each student's files into STAGING/ID/ (a fallback entry keeps its own name); the
    entries come back with ids that are their staged names, as `discover` will read them."""
    shutil.rmtree(staging, ignore_errors=True)  # last run's copies: a student may have resubmitted
    staging.mkdir(parents=True)
    staging.chmod(0o700)
    staged: list[IntakeEntry] = []
    taken: set[str] = set()
    for entry in found:
        single = keep_names and len(entry.sources) == 1
        name = entry.sources[0][1] if single else file_safe(entry.student_id)
        if name.casefold() in taken:
            raise SubmissionsError(f"two submissions for student {entry.student_id!r} in the export",
                                   hint="remove one of them, or give the roster distinct ids")
        taken.add(name.casefold())
        target = staging / name
        if single and _is_zip(entry.sources[0][0]):
            target = staging / Path(name).stem  # "alice.zip" is the folder "alice/"
            target.mkdir()
            _unpack_into(entry.sources[0][0], target, notes)
        elif single and entry.sources[0][0].is_file():
            _copy_file(entry.sources[0][0], target, notes)
        else:
            target.mkdir()
            for path, given in entry.sources:
                if path.is_dir() and not path.is_symlink():
                    _copy_tree(path, target, notes)
                elif _is_zip(path):
                    _unpack_into(path, target, notes)
                else:
                    _copy_file(path, target / Path(given).name, notes)
        staged.append(replace(entry, student_id=student_id(target)))
    return staged


def file_safe(text: str) -> str:
    """An id as a file name: no separators, no leading dot (it would be skipped as hidden)."""
    return text.replace("/", "-").replace("\\", "-").replace("\x00", "").lstrip(".") or "student"


def _is_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip" and path.is_file() and not path.is_symlink()


def _unpack_into(archive: Path, target: Path, notes: list[str]) -> None:
    """A student's uploaded .zip, unpacked (once: a zip inside it stays a file) into their folder.
    A hostile one costs that student their entry, never the run: the note says why."""
    try:
        unpacked = archives.unpack(archive, max_total=MAX_STUDENT_ARCHIVE_BYTES)
    except SubmissionsError as error:
        notes.append(f"{target.name}: {archive.name} not unpacked: {error.message.split(': ', 2)[-1]}")
        return
    try:
        _copy_tree(unpacked, target, notes)
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
    notes.append(f"{target.name}: unpacked {archive.name}")


def _copy_file(path: Path, target: Path, notes: list[str]) -> None:
    if path.is_symlink() or not path.is_file():
        notes.append(f"skipped {path.name}: not a regular file (a link is never followed)")
        return
    if path.stat().st_size > MAX_COPIED_BYTES:
        notes.append(f"skipped {path.name}: {path.stat().st_size / 1e6:.0f} MB")
        return
    if target.exists():
        target = target.with_name(f"{target.stem}-{path.name}")
    shutil.copyfile(path, target, follow_symlinks=False)


def _copy_tree(folder: Path, target: Path, notes: list[str]) -> None:
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") or part == "__MACOSX" for part in relative.parts) or path.is_dir():
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        _copy_file(path, destination, notes)


def _finish(found: list[IntakeEntry], lms: str, folder: Path, entries: tuple[Path, ...], policy: LatePolicy,
            roster: Sequence[RosterStudent] | None, notes: list[str]) -> Intake:
    by_id = {student.student_id.casefold(): student for student in roster or ()}
    records = []
    matched: set[str] = set()
    for entry in found:
        known = by_id.get(entry.student_id.casefold())
        if known is None and roster is not None:
            known = next((student for student in roster if student.aliases() & entry.aliases()), None)
        if known is not None:
            matched.add(known.student_id.casefold())
        elif roster is not None:
            notes.append(f"{entry.student_id} is not on the roster")
        for member in entry.members[1:]:  # a group's other members handed in with the first
            matched.update(student.student_id.casefold() for student in roster or ()
                           if student.aliases() & member.aliases())
        submitted = entry.submitted_at
        records.append(StudentRecord(
            student_id=entry.student_id, status="submitted", lms=lms,
            # The roster's words win over the export's (a Canvas "name" is only the login).
            name=known.name if known and known.name else entry.name,
            email=known.email if known and known.email else entry.email,
            sid=known.sid if known and known.sid else entry.sid, section=known.section if known else "",
            lms_user_id=entry.lms_user_id, submission_id=entry.submission_id,
            submitted_at=submitted.isoformat() if submitted else "",
            late=assess(policy, submitted, entry.late_flag), members=entry.members, on_roster=known is not None))
    for student in roster or ():
        if student.student_id.casefold() not in matched:
            records.append(StudentRecord(student_id=student.student_id, status="no submission", lms=lms,
                                         name=student.name, email=student.email, sid=student.sid,
                                         section=student.section, on_roster=True))
    if not entries and not any(record.status == "no submission" for record in records):
        raise UsageError(f"{folder}: no submissions found (expected NAME.py, NAME.ipynb, NAME/ or an LMS export)",
                         hint="point `grader run` at the folder or .zip that holds the class's work")
    return Intake(lms=lms, folder=folder, entries=entries, students=tuple(records), notes=tuple(notes))


def with_lateness(result: SubmissionResult, record: StudentRecord | None) -> SubmissionResult:
    """The result with its late penalty (from the intake record) in force."""
    if record is None or not record.late.late:
        return result
    return replace(result, late_penalty=record.late.penalty, late_note=record.late.text)


def intake_summary(intake: Intake) -> dict[str, object]:
    """What results.json says about the intake: the LMS, late work, students with no submission."""
    return {"lms": intake.lms,
            "late": {record.student_id: record.late.text for record in intake.students if record.late.late},
            "no_submission": [record.student_id for record in intake.students if record.status == "no submission"]}


# --------------------------------------------------------------------------- intake.json


def write_record(intake: Intake, out: Path) -> Path:
    """OUT/intake.json: the LMS, every student's record, and the notes of the intake."""
    path = out / INTAKE_RECORD
    data = {"lms": intake.lms, "notes": list(intake.notes),
            "students": [asdict(record) for record in intake.students]}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def read_record(out: Path) -> tuple[str, dict[str, StudentRecord]]:
    """The LMS and the records of OUT/intake.json ("folder" and none when there is no file)."""
    path = out / INTAKE_RECORD
    if not path.exists():
        return "folder", {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        records = {}
        for item in data["students"]:
            item = dict(item)
            item["late"] = Lateness(**item["late"])
            item["members"] = tuple(Member(**member) for member in item.get("members", ()))
            records[item["student_id"]] = StudentRecord(**item)
        return str(data["lms"]), records
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{path}: unreadable ({error!r})",
                         hint="run `grader run` again: it rewrites the file, and regrades nothing unchanged") from None

