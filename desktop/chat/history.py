"""Conversation history per tab, kept in the workspace's ``history.sqlite``.

Each answered query is one row: the tab, the query text, an optional JSON payload of the user message
(e.g. a dropped image path), the answer ``kind`` and its JSON result. Restoring replays the rows through
the tab's renderer, so restored answers look like live ones.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tab TEXT NOT NULL,
    query TEXT NOT NULL,
    payload TEXT,
    kind TEXT NOT NULL,
    result TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_tab ON entries(tab, id);
"""


@dataclass
class HistoryEntry:
    id: int
    tab: str
    query: str
    payload: Any
    kind: str
    result: Any
    created: float


class HistoryStore:
    """A tiny SQLite log of (tab, query, kind, result JSON). Use from the UI thread only."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db: Optional[sqlite3.Connection] = sqlite3.connect(str(self.path))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    @property
    def closed(self) -> bool:
        return self._db is None

    def add(self, tab: str, query: str, kind: str, result: Any, payload: Any = None) -> int:
        """Append one answered query; returns its id (0 once closed: late answers at exit are dropped)."""
        if self._db is None:
            return 0
        with self._db:
            cursor = self._db.execute(
                "INSERT INTO entries(tab, query, payload, kind, result, created) VALUES (?,?,?,?,?,?)",
                (tab, query, _dumps(payload), kind, _dumps(result), time.time()),
            )
        return int(cursor.lastrowid)

    def entries(self, tab: str, limit: int = 200) -> list[HistoryEntry]:
        """The last ``limit`` entries of ``tab``, oldest first."""
        if self._db is None:
            return []
        rows = self._db.execute(
            "SELECT id, tab, query, payload, kind, result, created FROM entries WHERE tab=? ORDER BY id DESC LIMIT ?",
            (tab, limit),
        ).fetchall()
        return [_entry(row) for row in reversed(rows)]

    def count(self, tab: str) -> int:
        if self._db is None:
            return 0
        return int(self._db.execute("SELECT COUNT(*) FROM entries WHERE tab=?", (tab,)).fetchone()[0])

    def queries(self, tab: str, limit: int = 500) -> list[str]:
        """Past query texts of ``tab``, oldest first (for Up/Down in the input)."""
        return [entry.query for entry in self.entries(tab, limit)]

    def clear(self, tab: str) -> None:
        if self._db is None:
            return
        with self._db:
            self._db.execute("DELETE FROM entries WHERE tab=?", (tab,))

    def close(self) -> None:
        """Close the database; later calls are harmless no-ops (timers may fire while the app exits)."""
        if self._db is not None:
            self._db.close()
            self._db = None


def _dumps(value: Any) -> Optional[str]:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _entry(row: tuple) -> HistoryEntry:
    id_, tab, query, payload, kind, result, created = row
    return HistoryEntry(id_, tab, query, json.loads(payload) if payload else None, kind, json.loads(result), created)
