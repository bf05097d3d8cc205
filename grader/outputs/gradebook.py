"""The SQLite gradebook: runs, one result per submission and rubric, and points a person awarded.

Every submission is saved in its own transaction in WAL mode, so a run killed with kill -9 at
any moment loses at most the submission in flight, and `grader run` again continues from there.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from grader.errors import GradebookError, did_you_mean
from grader.models import ManualItem, SubmissionResult
from grader.outputs.reports.serialize import plain, result_from_data, result_to_data

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rubric_digest TEXT NOT NULL,
    settings TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT
);
CREATE TABLE IF NOT EXISTS results (
    student_id TEXT NOT NULL,
    rubric_digest TEXT NOT NULL,
    digest TEXT NOT NULL,
    result TEXT NOT NULL,
    graded_at TEXT NOT NULL,
    PRIMARY KEY (student_id, rubric_digest)
);
CREATE TABLE IF NOT EXISTS manual (
    student_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    points REAL NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    imported_at TEXT NOT NULL,
    PRIMARY KEY (student_id, item_id)
);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


#: What reading back a damaged stored result raises (a disk error or a hand edit).
DAMAGED = (TypeError, ValueError, KeyError, AttributeError)


class Gradebook:
    """A gradebook file; results are kept per rubric digest and never mixed across digests."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly
            # one submission and never silently spans two (the sqlite3 module's implicit ones can).
            self._connection = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            self._connection.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (committed pages are in the WAL file);
            # only a power cut may lose the last commits, and a rerun regrades those.
            self._connection.execute("PRAGMA synchronous=NORMAL")
            with self._transaction() as connection:
                # Statement by statement: executescript() would COMMIT our transaction early.
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    connection.execute(statement)
                row = connection.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                if row is None:
                    connection.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                elif row[0] != str(SCHEMA_VERSION):
                    raise GradebookError(
                        f"{self.path}: gradebook schema {row[0]}, this grader reads schema {SCHEMA_VERSION}",
                        hint="grade into a new --out folder, or delete the old gradebook.sqlite",
                    )
        except sqlite3.DatabaseError as problem:
            raise GradebookError(
                f"{self.path}: cannot open the gradebook ({problem})",
                hint="is it an SQLite file? move it away and run again to start a fresh gradebook",
            ) from problem

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by SQLite)."""
        self._connection.close()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock up front, so two writers wait instead of failing
        # half-way through with SQLITE_BUSY on upgrade.
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield self._connection
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")

    # ------------------------------------------------------------------ runs

    def start_run(self, rubric_digest: str, settings: Mapping[str, object]) -> int:
        """Record that a run began; returns its id for `finish_run`."""
        with self._transaction() as connection:
            cursor = connection.execute(
                "INSERT INTO runs (rubric_digest, settings, started) VALUES (?, ?, ?)",
                (rubric_digest, json.dumps(plain(settings), sort_keys=True), _now()),
            )
            return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int) -> None:
        """Mark a run finished (a run without a finish time was killed or is in progress)."""
        with self._transaction() as connection:
            connection.execute("UPDATE runs SET finished = ? WHERE id = ?", (_now(), run_id))

    def runs(self) -> list[dict[str, object]]:
        """Every run, oldest first: id, rubric_digest, settings, started, finished."""
        rows = self._connection.execute(
            "SELECT id, rubric_digest, settings, started, finished FROM runs ORDER BY id"
        ).fetchall()
        return [
            {
                "id": row[0], "rubric_digest": row[1], "settings": json.loads(row[2]),
                "started": row[3], "finished": row[4],
            }
            for row in rows
        ]

    # ------------------------------------------------------------------ results

    def is_current(self, student_id: str, digest: str, rubric_digest: str) -> bool:
        """Whether this exact submission was already graded under this exact rubric."""
        # json_valid: a damaged row (a disk error, a hand edit) is not current, so it is graded
        # again; SQLite checks it without handing the text to Python.
        row = self._connection.execute(
            "SELECT 1 FROM results WHERE student_id = ? AND rubric_digest = ? AND digest = ? AND json_valid(result)",
            (student_id, rubric_digest, digest),
        ).fetchone()
        return row is not None

    def save(self, result: SubmissionResult, rubric_digest: str) -> None:
        """Store one graded submission, replacing its earlier result under the same rubric."""
        # allow_nan=False: serialisation already turned NaN into strings; a bare NaN here would
        # be a grader bug that makes the stored JSON unreadable by strict parsers.
        text = json.dumps(result_to_data(result), allow_nan=False, ensure_ascii=False)
        with self._transaction() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO results (student_id, rubric_digest, digest, result, graded_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (result.student_id, rubric_digest, result.digest, text, _now()),
            )

    def results(self, rubric_digest: str) -> list[SubmissionResult]:
        """Every result graded under this rubric, by student id, with manual points applied."""
        rows = self._connection.execute(
            "SELECT result FROM results WHERE rubric_digest = ? ORDER BY student_id", (rubric_digest,)
        ).fetchall()
        awarded = self._manual_points()
        found = []
        for (text,) in rows:
            try:
                result = result_from_data(json.loads(text))
            except DAMAGED:
                # Left out (and not current, so the next run grades that student again) rather
                # than stopping every report of the class.
                continue
            found.append(self._apply_manual(result, awarded))
        return found

    def _manual_points(self) -> dict[tuple[str, str], tuple[float, str]]:
        rows = self._connection.execute("SELECT student_id, item_id, points, comment FROM manual").fetchall()
        return {(row[0], row[1]): (float(row[2]), row[3]) for row in rows}

    @staticmethod
    def _apply_manual(
        result: SubmissionResult, awarded: Mapping[tuple[str, str], tuple[float, str]]
    ) -> SubmissionResult:
        items: list[ManualItem] = []
        for item in result.manual:
            points = awarded.get((result.student_id, item.item_id))
            if points is not None:
                item = dataclasses.replace(item, score=points[0], comment=points[1])
            items.append(item)
        return dataclasses.replace(result, manual=tuple(items))

    # ------------------------------------------------------------------ manual points

    def _known_items(self) -> tuple[set[str], dict[str, float]]:
        """Student ids and manual item ids (with their maximum) of every stored result."""
        students: set[str] = set()
        items: dict[str, float] = {}
        for student_id, text in self._connection.execute("SELECT student_id, result FROM results"):
            students.add(student_id)
            for entry in json.loads(text).get("manual", ()):
                items[entry["id"]] = float(entry["max"])
        return students, items

    def import_manual(self, csv_path: Path | str) -> int:
        """Import points a person awarded (student_id,item_id,points[,comment]); returns rows read.

        The whole file is checked before anything is written: one bad row imports nothing.
        """
        csv_path = Path(csv_path)
        students, items = self._known_items()
        try:
            with csv_path.open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                rows = list(reader)
                header = [name.strip().lower() for name in reader.fieldnames or []]
        except UnicodeDecodeError:
            raise GradebookError(f"{csv_path}: not UTF-8 text",
                                 hint="save it as \"CSV UTF-8 (comma delimited)\"") from None
        except (OSError, csv.Error) as problem:
            raise GradebookError(f"{csv_path}: cannot read the manual points ({problem})") from problem
        missing = {"student_id", "item_id", "points"} - set(header)
        if missing:  # an empty file too: a wrong header is no way to say "no points"
            found = ",".join(reader.fieldnames or []) or "nothing"
            raise GradebookError(
                f"{csv_path}: missing column(s) {', '.join(sorted(missing))}; the header read was {found!r}",
                hint="the header must be student_id,item_id,points[,comment], separated by commas"
                     + (" (this file uses semicolons)" if ";" in found else ""),
            )
        records: list[tuple[str, str, float, str]] = []
        seen: dict[tuple[str, str], int] = {}
        for line, raw in enumerate(rows, start=2):  # line 1 is the header
            if None in raw:  # DictReader's key for fields beyond the header
                raise GradebookError(f"{csv_path}, row {line}: more fields than the header has",
                                     hint='quote a comment that holds a comma: "good, but ..."')
            row = {str(name).strip().lower(): value for name, value in raw.items()}
            record = self._check_row(csv_path, line, row, students, items)
            if record[:2] in seen:
                raise GradebookError(f"{csv_path}, row {line}: {record[0]} already has points for {record[1]} "
                                     f"in row {seen[record[:2]]}", hint="keep one row per student and item")
            seen[record[:2]] = line
            records.append(record)
        now = _now()
        with self._transaction() as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO manual (student_id, item_id, points, comment, imported_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(*record, now) for record in records],
            )
        return len(records)

    @staticmethod
    def _check_row(
        csv_path: Path, line: int, row: Mapping[str, str | None], students: set[str], items: Mapping[str, float]
    ) -> tuple[str, str, float, str]:
        where = f"{csv_path}, row {line}"
        student_id = (row.get("student_id") or "").strip()
        item_id = (row.get("item_id") or "").strip()
        text = (row.get("points") or "").strip()
        if student_id not in students:
            raise GradebookError(
                f"{where}: unknown student_id {student_id!r}",
                hint=did_you_mean(student_id, students)
                or "import manual points after `grader run` graded that student",
            )
        if item_id not in items:
            raise GradebookError(
                f"{where}: unknown item_id {item_id!r}",
                hint=did_you_mean(item_id, items)
                or f"manual items of this rubric: {', '.join(sorted(items)) or 'none'}",
            )
        try:
            points = float(text)
        except ValueError:
            points = math.nan
        if not math.isfinite(points) or not 0.0 <= points <= items[item_id]:
            raise GradebookError(
                f"{where}: points {text!r} for {item_id} is not a number from 0 to {items[item_id]:g}",
                hint="write the points as a plain number such as 7.5",
            )
        return student_id, item_id, points, (row.get("comment") or "").strip()
