"""The way in (`grader/stages/intake.py`, `archives.py`, `lms_layouts.py`, `roster.py`, `lateness.py`):
each LMS's export of a small class, built from its documented layout, yields exactly its
students under readable ids; hostile archives and metadata are refused; roster and late policy."""

from __future__ import annotations

import datetime
import os
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from grader.stages.archives import MAX_RATIO, unpack
from grader.errors import RubricError, SubmissionsError, UsageError
from grader.stages.intake import take_in
from grader.stages.lateness import LatePolicy, assess
from grader.stages.roster import read_roster
from grader.rubric import default_rubric_path, load_rubric

ROOT = Path(__file__).resolve().parent.parent
CORRECT = (ROOT / "submissions" / "ada_lovelace.py").read_text()
NOTEBOOK = (ROOT / "submissions" / "grace_hopper.ipynb").read_text()
DUE = datetime.datetime(2026, 10, 1, 23, 59, tzinfo=datetime.timezone(datetime.timedelta(hours=-4)))


def ids(intake) -> set[str]:  # type: ignore[no-untyped-def]
    return {path.name.removesuffix(".py").removesuffix(".ipynb") for path in intake.entries}


# --------------------------------------------------------------------------- exports of a class


def canvas_export(folder: Path) -> Path:
    """Canvas "Download Submissions": login_[LATE_]userid_submissionid_original, one file each."""
    folder.mkdir(parents=True)
    (folder / "lovelaceada_23456_78901_hw1.py").write_text(CORRECT)
    (folder / "hoppergrace_LATE_23457_78902_HW1-1.ipynb").write_text(NOTEBOOK)
    (folder / "hoppergrace_LATE_23457_78902_helpers.py").write_text("SCALE = 1\n")
    return folder


def gradescope_export(folder: Path) -> Path:
    """Gradescope "Export Submissions": submission_metadata.yml and submission_ID/ folders."""
    folder.mkdir(parents=True)
    for key, code in (("submission_111", CORRECT), ("submission_112", CORRECT)):
        (folder / key).mkdir()
        (folder / key / "hw1.py").write_text(code)
    (folder / "submission_metadata.yml").write_text(
        "submission_111:\n"
        "  :submitters:\n"
        "  - :name: Ada Lovelace\n"
        "    :sid: '20261001'\n"
        "    :email: ada@example.edu\n"
        "  :created_at: 2026-10-01 20:00:00.000000000 -04:00\n"
        "  :score: 0.0\n"
        "submission_112:\n"
        "  :submitters:\n"
        "  - :name: Grace Hopper\n"
        "    :sid: '20261002'\n"
        "    :email: grace@example.edu\n"
        "  - :name: Alan Turing\n"
        "    :sid: '20261003'\n"
        "    :email: alan@example.edu\n"
        "  :created_at: 2026-10-03 09:30:00.000000000 -04:00\n")
    return folder


def moodle_export(folder: Path) -> Path:
    """Moodle "Download all submissions" in folders: Full Name_participant_assignsubmission_file_."""
    folder.mkdir(parents=True)
    jane = folder / "Jane Doe_12345_assignsubmission_file_"
    jane.mkdir()
    (jane / "hw1.py").write_text(CORRECT)
    online = folder / "Jane Doe_12345_assignsubmission_onlinetext_"
    online.mkdir()
    (online / "onlinetext.html").write_text("<p>my proof</p>")
    john = folder / "John Smith_12346_assignsubmission_file_"
    john.mkdir()
    (john / "solution.ipynb").write_text(NOTEBOOK)
    return folder


def blackboard_export(folder: Path) -> Path:
    """Blackboard "Download Assignment": Assignment_user_attempt_time_file plus the attempt .txt."""
    folder.mkdir(parents=True)
    for user, name, time in (("jdoe", "Jane Doe", "2026-09-30-12-00-00"), ("jdoe", "Jane Doe", "2026-10-02-08-00-00"),
                             ("asmith", "Ann Smith", "2026-09-30-18-30-00")):
        (folder / f"HW1_{user}_attempt_{time}_hw1.py").write_text(CORRECT)
        (folder / f"HW1_{user}_attempt_{time}.txt").write_text(
            f"Name: {name} ({user})\nAssignment: HW1\nDate Submitted: Wednesday, September 30, 2026\n\n"
            f"Files:\n\tOriginal filename: hw1.py\n\tFilename: HW1_{user}_attempt_{time}_hw1.py\n")
    return folder


def zipped(folder: Path, archive: Path, wrapper: str = "") -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as output:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                output.write(path, f"{wrapper}{path.relative_to(folder)}")
    return archive


def test_a_canvas_export_groups_each_students_files_under_their_login(tmp_path: Path) -> None:
    intake = take_in(canvas_export(tmp_path / "canvas"), tmp_path / "out")
    assert intake.lms == "canvas"
    assert ids(intake) == {"hoppergrace", "lovelaceada"}
    grace = tmp_path / "out" / "intake" / "hoppergrace"
    # Canvas's resubmission suffix is gone: a notebook importing "HW1" finds it.
    assert sorted(path.name for path in grace.iterdir()) == ["HW1.ipynb", "helpers.py"]
    record = intake.record("hoppergrace")
    assert record is not None and record.lms_user_id == "23457" and record.late.late
    assert not intake.record("lovelaceada").late.late  # type: ignore[union-attr]


def test_a_canvas_zip_in_a_wrapper_folder_grades_the_same_students(tmp_path: Path) -> None:
    archive = zipped(canvas_export(tmp_path / "canvas"), tmp_path / "submissions.zip", wrapper="HW1 submissions/")
    intake = take_in(archive, tmp_path / "out")
    assert intake.lms == "canvas" and ids(intake) == {"hoppergrace", "lovelaceada"}


def test_a_folder_holding_only_the_downloaded_zip_grades_what_it_contains(tmp_path: Path) -> None:
    holder = tmp_path / "downloads"
    holder.mkdir()
    zipped(canvas_export(tmp_path / "canvas"), holder / "submissions.zip")
    intake = take_in(holder, tmp_path / "out")
    assert ids(intake) == {"hoppergrace", "lovelaceada"}  # not one student called "submissions"


def test_a_students_uploaded_zip_is_unpacked_into_their_folder_and_a_hostile_one_costs_only_them(
        tmp_path: Path) -> None:
    export = canvas_export(tmp_path / "canvas")
    with zipfile.ZipFile(export / "turingalan_23458_78903_hw1.zip", "w") as upload:
        upload.writestr("hw1/hw1.py", CORRECT)
    hostile_zip(export / "mallorymal_23459_78904_hw1.zip", "../../../escaped.py")
    intake = take_in(export, tmp_path / "out")
    assert ids(intake) == {"hoppergrace", "lovelaceada", "turingalan", "mallorymal"}
    assert (tmp_path / "out" / "intake" / "turingalan" / "hw1" / "hw1.py").read_text() == CORRECT, intake.notes
    assert list((tmp_path / "out" / "intake" / "mallorymal").iterdir()) == []
    assert any(note.startswith("mallorymal: ") and "not unpacked" in note and "path traversal" in note
               for note in intake.notes)
    assert not list(tmp_path.rglob("escaped.py"))


def test_a_gradescope_export_names_students_by_sid_and_never_grades_the_metadata(tmp_path: Path) -> None:
    intake = take_in(zipped(gradescope_export(tmp_path / "gs"), tmp_path / "gs.zip", "assignment_1_export/"),
                     tmp_path / "out", LatePolicy(due=DUE, penalty_per_day=0.1))
    assert intake.lms == "gradescope"
    assert ids(intake) == {"20261001", "20261002"}  # not submission_111, not submission_metadata
    ada, group = intake.record("20261001"), intake.record("20261002")
    assert ada is not None and ada.name == "Ada Lovelace" and ada.email == "ada@example.edu" and not ada.late.late
    assert group is not None and [member.sid for member in group.members] == ["20261002", "20261003"]
    assert group.late.late and group.late.days == 2 and group.late.penalty == pytest.approx(0.2)
    assert any("submission_metadata.yml" in note for note in intake.notes)


def test_a_moodle_export_names_students_readably_and_keeps_the_participant_id(tmp_path: Path) -> None:
    intake = take_in(moodle_export(tmp_path / "moodle"), tmp_path / "out")
    assert intake.lms == "moodle" and ids(intake) == {"jane-doe", "john-smith"}
    jane = intake.record("jane-doe")
    assert jane is not None and jane.name == "Jane Doe" and jane.lms_user_id == "12345"
    # The file and the online text of one participant are one entry.
    assert sorted(p.name for p in (tmp_path / "out" / "intake" / "jane-doe").iterdir()) == ["hw1.py", "onlinetext.html"]


def test_a_flat_moodle_download_names_each_file_after_the_prefix(tmp_path: Path) -> None:
    export = tmp_path / "moodle"
    export.mkdir()
    (export / "Jane Doe_12345_assignsubmission_file_hw1.py").write_text(CORRECT)
    (export / "Jane Doe_12345_assignsubmission_file_notes.md").write_text("# 3(a)\nproof")
    intake = take_in(export, tmp_path / "out")
    assert intake.lms == "moodle" and ids(intake) == {"jane-doe"}
    assert sorted(p.name for p in (tmp_path / "out" / "intake" / "jane-doe").iterdir()) == ["hw1.py", "notes.md"]


def test_a_blackboard_export_grades_the_latest_attempt_and_not_its_receipt(tmp_path: Path) -> None:
    intake = take_in(blackboard_export(tmp_path / "bb"), tmp_path / "out", LatePolicy(due=DUE))
    assert intake.lms == "blackboard" and ids(intake) == {"jdoe", "asmith"}
    jdoe = intake.record("jdoe")
    assert jdoe is not None and jdoe.name == "Jane Doe" and jdoe.submitted_at.startswith("2026-10-02")
    assert jdoe.late.late and not intake.record("asmith").late.late  # type: ignore[union-attr]
    assert [p.name for p in (tmp_path / "out" / "intake" / "jdoe").iterdir()] == ["hw1.py"]


def test_a_plain_folder_is_still_read_in_place_one_entry_per_file(tmp_path: Path) -> None:
    intake = take_in(ROOT / "submissions", tmp_path / "out")
    assert intake.lms == "folder" and intake.folder == ROOT / "submissions"
    assert "ada_lovelace" in ids(intake) and not (tmp_path / "out" / "intake").exists()


def test_a_plain_zip_falls_back_to_one_entry_per_file_or_folder(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "bob").mkdir(parents=True)
    (plain / "alice.py").write_text(CORRECT)
    (plain / "bob" / "main.py").write_text(CORRECT)
    intake = take_in(zipped(plain, tmp_path / "plain.zip", "class/"), tmp_path / "out")
    assert intake.lms == "folder" and ids(intake) == {"alice", "bob"}


# --------------------------------------------------------------------------- hostile archives


def hostile_zip(path: Path, name: str, data: bytes = b"x = 1\n", mode: int | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as output:
        output.writestr("alice.py", CORRECT)
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        if mode is not None:
            info.external_attr = mode << 16
        output.writestr(info, data)
    return path


@pytest.mark.parametrize("name, words", [
    ("../../escaped.py", "path traversal"),
    ("class/../../escaped.py", "path traversal"),
    ("..\\..\\escaped.py", "path traversal"),
    ("TMP/escaped.py", "absolute name"),
    ("C:/escaped.py", "absolute name"),
])
def test_a_zip_whose_names_leave_the_folder_is_refused_before_writing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, words: str) -> None:
    import tempfile

    # Unpacked two folders below tmp_path: an escape lands in tmp_path, never elsewhere on the machine.
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "a" / "b"))
    archive = hostile_zip(tmp_path / "slip.zip", name.replace("TMP", str(tmp_path)))
    with pytest.raises(SubmissionsError, match=words) as caught:
        take_in(archive, tmp_path / "out")
    assert "slip.zip" in str(caught.value) and "refused" in str(caught.value)
    assert not list(tmp_path.rglob("escaped.py"))


def test_a_symbolic_link_in_a_zip_is_refused(tmp_path: Path) -> None:
    archive = hostile_zip(tmp_path / "link.zip", "bob.py", b"/etc/passwd", mode=stat.S_IFLNK | 0o777)
    with pytest.raises(SubmissionsError, match="symbolic link"):
        unpack(archive)


def test_a_zip_bomb_is_refused_and_leaves_nothing_behind(tmp_path: Path) -> None:
    # 60 MB of zeros compress to ~60 kB: a ratio of 1000, far past any notebook's.
    archive = hostile_zip(tmp_path / "bomb.zip", "bomb.py", b"\0" * 60_000_000)
    assert (archive.stat().st_size * MAX_RATIO) < 60_000_000
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("grader-intake-*"))
    with pytest.raises(SubmissionsError, match="zip bomb"):
        unpack(archive)
    assert set(Path(os.environ.get("TMPDIR", "/tmp")).glob("grader-intake-*")) == before


def test_a_zip_declaring_more_than_the_total_cap_is_refused_before_unpacking(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import grader.stages.archives

    monkeypatch.setattr(grader.stages.archives, "MAX_TOTAL_BYTES", 1000)
    archive = hostile_zip(tmp_path / "big.zip", "big.py", b"y = 2\n" * 400)
    with pytest.raises(SubmissionsError, match="unpack to"):
        unpack(archive)


@pytest.mark.parametrize("second, words", [("alice.py/inner.py", "cannot be written"),
                                            ("alice.py", "appears twice"),
                                            ("x" * 300 + ".py", "cannot be written")])
def test_a_zip_whose_members_collide_is_refused_with_their_names(tmp_path: Path, second: str, words: str) -> None:
    import warnings

    archive = tmp_path / "collide.zip"
    with zipfile.ZipFile(archive, "w") as output, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name it writes
        output.writestr("alice.py", CORRECT)
        output.writestr(second, CORRECT)
    with pytest.raises(SubmissionsError, match=words):
        unpack(archive)


def test_a_file_that_is_no_zip_is_a_clear_error(tmp_path: Path) -> None:
    fake = tmp_path / "class.zip"
    fake.write_text("not a zip")
    with pytest.raises(SubmissionsError, match="not a readable .zip"):
        take_in(fake, tmp_path / "out")


@pytest.mark.parametrize("metadata, words", [
    ("a: &x [1, 2]\nb: *x\n", "aliases"),
    ("submission_1: !!python/object/apply:os.system ['true']\n", "not readable YAML"),
    ("- just a list\n", "expected a mapping"),
    ("submission_1:\n  :score: 3\n", "no :submitters:"),
])
def test_gradescope_metadata_is_read_with_a_safe_bounded_loader(tmp_path: Path, metadata: str, words: str) -> None:
    export = tmp_path / "gs"
    (export / "submission_1").mkdir(parents=True)
    (export / "submission_1" / "hw1.py").write_text(CORRECT)
    (export / "submission_metadata.yml").write_text(metadata)
    with pytest.raises(SubmissionsError, match=words):
        take_in(export, tmp_path / "out")


# --------------------------------------------------------------------------- roster


def test_a_roster_names_students_adds_those_with_no_submission_and_maps_sids(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("ID,Name,EMAIL\n"
                      + "ada,Ada Lovelace,ada@example.edu\ngrace,Grace Hopper,grace@example.edu\n"
                        "emmy,Emmy Noether,emmy@example.edu\nalan,Alan Turing,alan@example.edu\n")
    intake = take_in(gradescope_export(tmp_path / "gs"), tmp_path / "out", roster=read_roster(roster))
    # Matched by email: the roster's ids, not the SIDs.
    assert ids(intake) == {"ada", "grace"}
    emmy = intake.record("emmy")
    assert emmy is not None and emmy.status == "no submission" and emmy.name == "Emmy Noether"
    # Alan handed in with Grace's group: he is not "no submission".
    assert intake.record("alan") is None


@pytest.mark.parametrize("text, words", [
    ("id,name,emial\nada,Ada,ada@x.edu\n", '(?s)row 1, column 3: unknown column .emial.*did you mean "email"'),
    ("name,email\nAda,ada@x.edu\n", "row 1: no id column"),
    ("id,name\nada,Ada\n,Nobody\n", "row 3, column id: empty"),
    ("id,name\nada,Ada\nADA,Ada again\n", "row 3, column id: 'ADA' is also on row 2"),
    ("id,email\nada,not-an-address\n", "row 2, column email"),
])
def test_a_roster_mistake_names_row_and_column(tmp_path: Path, text: str, words: str) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(text)
    with pytest.raises(UsageError, match=words):
        read_roster(roster)


# --------------------------------------------------------------------------- late policy


def rubric_with(tmp_path: Path, late: str) -> Path:
    path = tmp_path / "rubric.toml"
    path.write_text(default_rubric_path().read_text() + "\n[late]\n" + late)
    return path


def test_the_rubrics_late_policy_is_read_and_prices_each_day() -> None:
    policy = LatePolicy(due=DUE, penalty_per_day=0.1, grace_minutes=15, max_days=3)
    local = DUE.replace(tzinfo=None)  # an export's naive time is read in the due date's zone
    assert not assess(policy, local + datetime.timedelta(minutes=14), False).late
    assert assess(policy, local + datetime.timedelta(minutes=16), False).penalty == pytest.approx(0.1)
    assert assess(policy, local + datetime.timedelta(days=2, hours=1), False).penalty == pytest.approx(0.3)
    past = assess(policy, local + datetime.timedelta(days=3, hours=1), False)
    assert past.penalty == 1.0 and "no credit" in past.text
    assert assess(policy, None, True).days == 1  # Canvas's LATE flag, no time


def test_a_late_table_loads_from_the_rubric(tmp_path: Path) -> None:
    from grader.rubric import validate_rubric

    path = rubric_with(tmp_path, 'due = 2026-10-01T23:59:00-04:00\npenalty_per_day = 0.1\nmax_days = 5\n')
    rubric = load_rubric(path)
    assert rubric.late.due == DUE and rubric.late.penalty_per_day == 0.1
    assert "  late:     due 2026-10-01T23:59:00-04:00, -10% per started day, 0 minutes' grace, no credit after 5 days" \
        in validate_rubric(path)


@pytest.mark.parametrize("late, words", [
    ("due = 2026-10-01T23:59:00-04:00\npenalty_per_dya = 0.1\n", "(?s)late.penalty_per_dya.*did you mean \"penalty_per_day\""),
    ("due = 2026-10-01T23:59:00\n", "no time zone"),
    ("due = 2026-10-01\n", "a date without a time"),
    ('due = "tomorrow"\n', "not a date and time"),
    ("penalty_per_day = 0.1\n", "a late penalty needs a due date"),
    ("due = 2026-10-01T23:59:00Z\npenalty_per_day = 2\n", "out of range"),
])
def test_a_late_policy_mistake_is_named_with_a_fix(tmp_path: Path, late: str, words: str) -> None:
    with pytest.raises(RubricError, match=words):
        load_rubric(rubric_with(tmp_path, late))


def test_staging_never_follows_a_link_in_an_export_folder(tmp_path: Path) -> None:
    export = canvas_export(tmp_path / "canvas")
    secret = tmp_path / "secret.py"
    secret.write_text("ANSWER = 42\n")
    (export / "lovelaceada_23456_78901_extra.py").symlink_to(secret)
    intake = take_in(export, tmp_path / "out")
    assert not (tmp_path / "out" / "intake" / "lovelaceada" / "extra.py").exists()
    assert any("link is never followed" in note for note in intake.notes)
    shutil.rmtree(tmp_path / "out")


# --------------------------------------------------------------------------- graded end to end


@pytest.mark.parametrize("export, expected", [
    (canvas_export, {"hoppergrace", "lovelaceada"}),
    (gradescope_export, {"20261001", "20261002"}),
    (moodle_export, {"jane-doe", "john-smith"}),
    (blackboard_export, {"jdoe", "asmith"}),
])
def test_each_lms_zip_grades_exactly_its_students_under_readable_ids(tmp_path: Path, export, expected) -> None:  # type: ignore[no-untyped-def]
    from grader.stages.pipeline import Settings
    from grader.commands.runs import run_class

    archive = zipped(export(tmp_path / "export"), tmp_path / "export.zip", "download/")
    outcome = run_class(archive, tmp_path / "out", Settings(rubric_path=default_rubric_path()), jobs=1)
    assert {result.student_id for result in outcome.summary.results} == expected
    assert not outcome.unreadable and not outcome.faults
    assert all(result.total == result.max_score - sum(item.max_score for item in result.manual)
               for result in outcome.summary.results if not result.late_note)


def test_grading_the_same_export_again_regrades_nothing(tmp_path: Path) -> None:
    from grader.stages.pipeline import Settings
    from grader.commands.runs import run_class

    archive = zipped(canvas_export(tmp_path / "canvas"), tmp_path / "canvas.zip")
    settings = Settings(rubric_path=default_rubric_path())
    run_class(archive, tmp_path / "out", settings, jobs=1)
    again = run_class(archive, tmp_path / "out", settings, jobs=1)  # staged afresh: same names, same bytes
    assert (again.graded, again.reused) == (0, 2)
