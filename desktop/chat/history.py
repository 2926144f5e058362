"""Conversation history per tab, kept in the workspace's ``history.sqlite``.

Each answered query is one row: the tab, the query text, an optional JSON payload of the user message
(e.g. a dropped image path), the answer ``kind`` and its JSON result. Restoring replays the rows through
the tab's renderer, so restored answers look like live ones.

Two versions keep old files readable (see ``embedengine/schema.py`` for the mechanism):

- the file's schema version (``PRAGMA user_version``): 0 = before versions, 1 = the ``entries`` table,
  2 = plus ``result_version``;
- each entry's ``result_version``: the format of its result JSON. Format 1 is ``to_jsonable(result)``
  of the result records of the time (every entry saved before the column existed is format 1). A kind
  whose saved form changes declares its new format with :func:`register_result_format`, giving the
  function that upgrades the previous one; :func:`upgrade_result` brings an old entry up to date before
  it reaches the renderer and refuses (:class:`UnknownResultFormat`) one saved by a newer Embed Studio.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from embedengine.schema import open_schema

SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tab TEXT NOT NULL,
    query TEXT NOT NULL,
    payload TEXT,
    kind TEXT NOT NULL,
    result TEXT NOT NULL,
    created REAL NOT NULL,
    result_version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS entries_tab ON entries(tab, id);
"""
MIGRATIONS = {  # step n takes a file from version n-1 to n; never edit a released step
    1: """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tab TEXT NOT NULL, query TEXT NOT NULL, payload TEXT,
    kind TEXT NOT NULL, result TEXT NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS entries_tab ON entries(tab, id);
""",
    2: "ALTER TABLE entries ADD COLUMN result_version INTEGER NOT NULL DEFAULT 1;",
}

RESULT_VERSION = 1  # the format of a kind's result JSON until it registers a newer one
_result_formats: dict[str, int] = {}  # kind -> its current format
_upgrades: dict[tuple[str, int], Callable[[Any], Any]] = {}  # (kind, n) -> turns format n-1 into n


class UnknownResultFormat(Exception):
    """A saved result in a format this code does not know (saved by a newer Embed Studio)."""


def register_result_format(kind: str, version: int, upgrade: Callable[[Any], Any]) -> None:
    """Declare that ``kind`` results are saved in format ``version`` from now on.

    ``upgrade(result_json)`` turns a format ``version - 1`` result into a format ``version`` one (it may be
    the identity when readers cope with both); register versions in order: 2, then 3, ...
    """
    if version != result_version(kind) + 1:
        raise ValueError(f"{kind!r} results are at format {result_version(kind)}; the next one is "
                         f"{result_version(kind) + 1}, not {version}")
    _upgrades[(kind, version)] = upgrade
    _result_formats[kind] = version


def result_version(kind: str) -> int:
    """The format ``kind`` results are saved in now."""
    return _result_formats.get(kind, RESULT_VERSION)


def upgrade_result(kind: str, version: int, result: Any) -> Any:
    """A saved ``kind`` result of format ``version`` in today's format (raises UnknownResultFormat if newer)."""
    current = result_version(kind)
    if version > current:
        raise UnknownResultFormat(f"a {kind!r} result of format {version}; this version reads up to {current}")
    for step in range(version + 1, current + 1):
        result = _upgrades[(kind, step)](result)
    return result


@dataclass
class HistoryEntry:
    id: int
    tab: str
    query: str
    payload: Any
    kind: str
    result: Any  # as saved: pass it through upgrade_result(kind, result_version, result) before rendering
    created: float
    result_version: int = RESULT_VERSION


class HistoryStore:
    """A tiny SQLite log of (tab, query, kind, result JSON). Use from the UI thread only."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db: Optional[sqlite3.Connection] = sqlite3.connect(str(self.path))
        self._db.execute("PRAGMA journal_mode=WAL")
        open_schema(self._db, name="chat history", version=SCHEMA_VERSION, create=SCHEMA, migrations=MIGRATIONS)

    @property
    def closed(self) -> bool:
        return self._db is None

    def add(self, tab: str, query: str, kind: str, result: Any, payload: Any = None) -> int:
        """Append one answered query; returns its id (0 once closed: late answers at exit are dropped)."""
        if self._db is None:
            return 0
        with self._db:
            cursor = self._db.execute(
                "INSERT INTO entries(tab, query, payload, kind, result, created, result_version) "
                "VALUES (?,?,?,?,?,?,?)",
                (tab, query, _dumps(payload), kind, _dumps(result), time.time(), result_version(kind)),
            )
        return int(cursor.lastrowid)

    def entries(self, tab: str, limit: int = 200) -> list[HistoryEntry]:
        """The last ``limit`` entries of ``tab``, oldest first."""
        if self._db is None:
            return []
        rows = self._db.execute(
            "SELECT id, tab, query, payload, kind, result, created, result_version FROM entries WHERE tab=? "
            "ORDER BY id DESC LIMIT ?",
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

    def move(self, from_tab: str, to_tab: str) -> int:
        """Give ``from_tab``'s entries to ``to_tab`` (a conversation renamed); how many moved."""
        if self._db is None:
            return 0
        with self._db:
            return self._db.execute("UPDATE entries SET tab=? WHERE tab=?", (to_tab, from_tab)).rowcount

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
    id_, tab, query, payload, kind, result, created, version = row
    return HistoryEntry(id_, tab, query, json.loads(payload) if payload else None, kind, json.loads(result), created,
                        version)


# -- result format upgrades --------------------------------------------------------------------------------
# "index" and "status" 2: documents and images share one IndexReport and one CollectionStatus
# (embedengine.collections.report); format 1 had one record per kind with its own field names.

def _index_report_v2(old: dict) -> dict:
    if "items_added" in old:
        return old
    common = {"collection": old["collection"], "skipped": old.get("skipped", []), "unavailable": [],
              "seconds": old.get("seconds", 0.0), "cancelled": old.get("cancelled", False)}
    if "passages_added" in old:  # documents
        return {**common, "kind": "documents", "item_noun": "passages", "roots": [],
                "files_seen": old.get("files_seen", 0), "files_new": old["files_new"],
                "files_changed": old["files_changed"], "files_unchanged": old["files_unchanged"],
                "files_removed": old["files_deleted"], "items_added": old["passages_added"],
                "embedded": old.get("embedded", {}), "caught_up": old.get("caught_up", 0),
                "items": None, "items_per_s": old.get("passages_per_s", 0.0)}  # the total was not reported
    indexed = old["indexed"]  # images: one image per file
    return {**common, "kind": "images", "item_noun": "images", "roots": old.get("roots", []),
            "files_seen": old.get("found", 0), "files_new": indexed, "files_changed": 0,
            "files_unchanged": old["unchanged"], "files_removed": old["removed"], "items_added": indexed,
            "embedded": {"resnet50": indexed} if indexed else {}, "caught_up": 0, "items": old["images"],
            "items_per_s": old.get("images_per_s", 0.0), "warnings": old.get("warnings", [])}


def _collection_status_v2(old: dict) -> dict:
    if "collections" in old:  # images: every collection's status
        return {"collections": [_image_status_v2(status) for status in old["collections"]]}
    if "passages" not in old:
        return old
    return {"name": old["name"], "kind": "documents", "item_noun": "passages", "folder": old["folder"],
            "roots": old["roots"], "unavailable": [], "excludes": old.get("excludes", []), "files": old["files"],
            "items": old["passages"], "skipped": old["skipped"], "methods": old.get("methods", []),
            "vector_sets": old.get("vector_sets", []), "pending": old.get("pending", {}), "last_indexed": None,
            "word_model": old.get("word_model")}


def _image_status_v2(old: dict) -> dict:
    if "items" in old:
        return old
    return {"name": old["name"], "kind": "images", "item_noun": "images", "folder": old["folder"],
            "roots": old["roots"], "unavailable": [], "excludes": old.get("excludes", []), "files": old["images"],
            "items": old["images"], "skipped": old["skipped"], "methods": ["resnet50"], "vector_sets": [],
            "pending": {}, "last_indexed": old.get("last_indexed"), "word_model": None}


register_result_format("index", 2, _index_report_v2)
register_result_format("status", 2, _collection_status_v2)
