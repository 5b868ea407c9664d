"""Durable answer storage: SQLite in WAL mode with ``synchronous=FULL``.

The server acknowledges an answer only after its transaction has committed,
and with ``synchronous=FULL`` a commit in WAL mode is fsync'ed to the log
before ``commit()`` returns, so an acknowledged answer survives a SIGKILL of
the server (and a power cut). One row per (rater, item): resubmitting the same
answer (a network retry) changes nothing; a different answer for the same
item replaces the old one and counts a revision.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.survey.answers import Answer
from eval.survey.study import StudyError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    rater_id    TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    answer_json TEXT NOT NULL,
    first_at    REAL NOT NULL,
    updated_at  REAL NOT NULL,
    revisions   INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (rater_id, item_id)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class StoredAnswer:
    rater_id: str
    item_id: str
    answer: dict[str, Any]  # Answer.stored(): values, comment, elapsed_ms
    first_at: float
    updated_at: float
    revisions: int


@dataclass(frozen=True)
class SubmitResult:
    created: bool  # False: the item was answered before (retry or revision)
    changed: bool  # False: identical to the stored answer (a retry)
    answered: int  # how many items this rater has answered now


class AnswerStore:
    """Thread-safe: one connection, one lock (writes are serialised by SQLite anyway)."""

    def __init__(self, path: str | Path, study_id: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='study_id'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta(key, value) VALUES('study_id', ?)", (study_id,))
            elif row[0] != study_id:
                raise StudyError(
                    f"{self.path} holds answers of study {row[0]}, not {study_id}.",
                    "Each study keeps its own database; do not copy databases between studies.",
                )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def submit(self, rater_id: str, answer: Answer) -> SubmitResult:
        payload = json.dumps(answer.stored(), sort_keys=True, ensure_ascii=False)
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT answer_json FROM answers WHERE rater_id=? AND item_id=?", (rater_id, answer.item_id)
                ).fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO answers(rater_id, item_id, answer_json, first_at, updated_at, revisions) "
                        "VALUES (?, ?, ?, ?, ?, 1)",
                        (rater_id, answer.item_id, payload, now, now),
                    )
                elif row[0] != payload:
                    self._db.execute(
                        "UPDATE answers SET answer_json=?, updated_at=?, revisions=revisions+1 "
                        "WHERE rater_id=? AND item_id=?",
                        (payload, now, rater_id, answer.item_id),
                    )
                answered = self._db.execute("SELECT COUNT(*) FROM answers WHERE rater_id=?", (rater_id,)).fetchone()[0]
                self._db.execute("COMMIT")  # fsync'ed (WAL + synchronous=FULL) before we acknowledge
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return SubmitResult(created=row is None, changed=row is None or row[0] != payload, answered=answered)

    def answers_for(self, rater_id: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT item_id, answer_json FROM answers WHERE rater_id=?", (rater_id,)).fetchall()
        return {item: json.loads(js) for item, js in rows}

    def all_answers(self) -> list[StoredAnswer]:
        with self._lock:
            rows = self._db.execute(
                "SELECT rater_id, item_id, answer_json, first_at, updated_at, revisions FROM answers "
                "ORDER BY rater_id, first_at"
            ).fetchall()
        return [StoredAnswer(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5]) for r in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
