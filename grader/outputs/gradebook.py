"""The SQLite gradebook: runs, one result per submission and rubric, and points a person awarded
(to manual items, and to written answers that awaited review).

Every submission is saved in its own transaction in WAL mode, so a run killed with kill -9 at
any moment loses at most the submission in flight, and `grader run` again continues from there.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from grader.errors import GradebookError
from grader.models import ManualItem, SubmissionResult
from grader.outputs.manual_points import Graded, read_awards
from grader.outputs.review_decisions import ReviewDecision, apply_decisions
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
CREATE TABLE IF NOT EXISTS review_decisions (
    student_id TEXT NOT NULL,
    problem_id TEXT NOT NULL,
    points REAL NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    digest TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    PRIMARY KEY (student_id, problem_id)
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
        decisions = self._review_decisions()
        found = []
        for (text,) in rows:
            try:
                result = result_from_data(json.loads(text))
            except DAMAGED:
                # Left out (and not current, so the next run grades that student again) rather
                # than stopping every report of the class.
                continue
            found.append(apply_decisions(self._apply_manual(result, awarded), decisions.get(result.student_id, {})))
        return found

    def _review_decisions(self) -> dict[str, dict[str, ReviewDecision]]:
        decisions: dict[str, dict[str, ReviewDecision]] = {}
        for student_id, problem_id, points, comment, digest in self._connection.execute(
                "SELECT student_id, problem_id, points, comment, digest FROM review_decisions"):
            decisions.setdefault(student_id, {})[problem_id] = ReviewDecision(float(points), comment, digest)
        return decisions

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

    def _graded(self, run_identity: str | None) -> Graded:
        """What a manual-points row may name; problems awaiting review from the results of
        `run_identity` (the run a report shows), or each student's newest result without one."""
        students: set[str] = set()
        items: dict[str, float] = {}
        problems: set[str] = set()
        reviews: dict[str, tuple[str, dict[str, float]]] = {}
        # rowid order: INSERT OR REPLACE gives a regraded result a new, larger rowid.
        for student_id, identity, text in self._connection.execute(
                "SELECT student_id, rubric_digest, result FROM results ORDER BY rowid"):
            data = json.loads(text)
            students.add(student_id)
            items.update((entry["id"], float(entry["max"])) for entry in data.get("manual", ()))
            problems.update(entry["id"] for entry in data.get("problems", ()))
            if run_identity is None or identity == run_identity:
                reviews[student_id] = (data.get("digest", ""), {
                    entry["id"]: float(entry["max"]) for entry in data.get("problems", ())
                    if entry.get("status") == "review"})
        return Graded(frozenset(students), items, frozenset(problems), reviews)

    def import_manual(self, csv_path: Path | str, run_identity: str | None = None) -> int:
        """Import points a person awarded (student_id,item_id,points[,comment]) to manual items
        and to problems awaiting review; returns rows read.

        The whole file is checked before anything is written: one bad row imports nothing.
        """
        awards = read_awards(Path(csv_path), self._graded(run_identity))
        now = _now()
        with self._transaction() as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO manual (student_id, item_id, points, comment, imported_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(a.student_id, a.item_id, a.points, a.comment, now) for a in awards if a.digest is None],
            )
            connection.executemany(
                "INSERT OR REPLACE INTO review_decisions "
                "(student_id, problem_id, points, comment, digest, imported_at) VALUES (?, ?, ?, ?, ?, ?)",
                [(a.student_id, a.item_id, a.points, a.comment, a.digest, now) for a in awards if a.digest is not None],
            )
        return len(awards)
