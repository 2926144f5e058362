"""A generic, crash-safe, incremental collection store (documents, images, ...).

Layout of one collection folder (``collection_folder(kind, name)``)::

    data_home()/collections/<name>/          kind "documents"
    data_home()/image-collections/<name>/    kind "images"
        index.sqlite        WAL; tables meta, roots, excludes, files, items, vector_sets, vector_rows
        vectors/<method>.<generation>.f16    float16 rows, append-only, row r <-> vector_rows(method, r)
        vectors/<method>.<generation>.items-v1.npy   derived: the item id of each row (see below)

Tables
    files(id, path UNIQUE, size, mtime, sha256, status 'ok'|'skipped', reason, indexed_at)
    items(id, file_id -> files ON DELETE CASCADE, ordinal, payload JSON)   e.g. passage text/span/page
    vector_sets(method, dim, rows, generation, settings JSON)   ``rows`` = committed row count
    vector_rows(method, row, item_id -> items ON DELETE CASCADE)

Crash safety: :meth:`CollectionStore.write_batch` appends the vectors of every method to their files
(fsync) and only then commits, in ONE SQLite transaction, the files, items, row mappings and the new
committed row counts. A ``kill -9`` at any point leaves either the old or the new state; bytes past the
committed count are truncated when the store is opened. Deleting a file deletes its items and (by
cascade) its row mappings: the rows become tombstones, masked at search time and removed by
:meth:`compact` (writes a new generation file, then commits the switch; stale files are deleted on open).

Row -> item map: opening a set needs the item id of every row, which SQLite gives at about 0.7 µs a row
(0.7 s for 1M). :meth:`CollectionStore.matrix` keeps a copy, ``<method>.<generation>.items-v1.npy``
(int64, memory-mapped), whose header holds the state it was taken from: row count, live rows, smallest
and largest live item id, and a CRC-32 of the ids. Within a generation rows are only appended (row count
grows) or unmapped (live rows fall), so a header that matches SQLite's current values (one scan of an
index) describes the current map; a missing, damaged or stale copy is rebuilt from SQLite and saved again
(temp file + rename). It is saved when a set is read (an index run's last step reads it) and by
:meth:`compact`, not by each batch: that would rewrite the whole map per batch.

Typical use::

    store = CollectionStore.open("documents", "notes")          # creates it if needed
    store.add_root("/home/me/notes"); store.set_excludes(["*.log"])
    paths = list(walk_files(store.roots(), {".txt"}, store.excludes()))   # embedengine.collections.files
    plan = store.plan(paths)                                    # new / changed / unchanged / deleted
    store.remove_files(plan.deleted)
    store.write_batch([FileEntry(path, size, mtime, sha, payloads=[{...}, ...])],
                      {"minilm": vectors})                       # vectors: [n_items, dim] in item order
    hits = store.search("minilm", query_vector, k=10)           # [(item_id, score)], cosine
    store.items([item_id for item_id, _ in hits])               # -> [Item(id, file_id, path, ordinal, payload)]

Only one writer at a time per collection (callers serialise); readers may run concurrently.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sqlite3
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from embedengine.errors import UserError
from embedengine.collections.files import FileStat, file_sha256, is_within, stat_file
from embedengine.collections.lock import FileLock
from embedengine.linalg import top_k
from embedengine.results import Result
from embedengine.runtime import data_home
from embedengine.schema import open_schema

KIND_FOLDERS = {"documents": "collections", "images": "image-collections"}
SETTINGS_COPY = "settings.json"  # folders, excludes and small settings, for rebuilding a damaged index
RUN_META = frozenset({"run_open", "last_indexed"})  # meta that changes with every run (not settings)
MAP_VECTORS_FROM_BYTES = 64 << 20  # vector files from this size are memory-mapped, not read into memory
ITEM_MAP_VERSION = 1  # of the saved row -> item maps (in their file name and header)
ITEM_MAP_SUFFIX = f".items-v{ITEM_MAP_VERSION}.npy"
ITEM_MAP_TEMP_AGE_S = 300  # a temporary map file this old is a killed writer's: deleted on open

NAME_PATTERN = re.compile(r"^[\w][\w .-]{0,63}$")
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS roots (path TEXT PRIMARY KEY, added_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS excludes (pattern TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, size INTEGER NOT NULL, mtime REAL NOT NULL,
    sha256 TEXT, status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', indexed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS items_file ON items(file_id);
CREATE TABLE IF NOT EXISTS vector_sets (
    method TEXT PRIMARY KEY, dim INTEGER NOT NULL, rows INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0, settings TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS vector_rows (
    method TEXT NOT NULL, row INTEGER NOT NULL,
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE, PRIMARY KEY (method, row));
CREATE INDEX IF NOT EXISTS vector_rows_item ON vector_rows(item_id);
"""
# Version 2: one vector per item and method. Two index runs at once (before the collection lock) could
# give an item two rows: the earliest is kept, the others become tombstones.
ONE_VECTOR_PER_ITEM = """
DELETE FROM vector_rows WHERE rowid NOT IN (SELECT MIN(rowid) FROM vector_rows GROUP BY method, item_id);
CREATE UNIQUE INDEX IF NOT EXISTS vector_rows_method_item ON vector_rows(method, item_id);
"""
SCHEMA_VERSION = 2  # PRAGMA user_version of index.sqlite (embedengine/schema.py); 0 = before versions
# Step n takes a file from version n-1 to n. Step 1: version 0 files hold these tables already (the script
# is idempotent). Never edit a released step: add one (and extend CREATE).
MIGRATIONS = {1: SCHEMA, 2: ONE_VECTOR_PER_ITEM}
CREATE = SCHEMA + ONE_VECTOR_PER_ITEM


# ---------------------------------------------------------------------------------------------
# Result records
# ---------------------------------------------------------------------------------------------

@dataclass
class FileRecord(Result):
    """One row of ``files``."""

    id: int
    path: str
    size: int
    mtime: float
    sha256: Optional[str]
    status: str  # "ok" | "skipped"
    reason: str
    indexed_at: float


@dataclass
class FileEntry(Result):
    """A file to (re)write: its stat, hash, status and the payloads of its items (in order)."""

    path: str
    size: int
    mtime: float
    sha256: Optional[str] = None
    status: str = "ok"
    reason: str = ""
    payloads: list[dict] = field(default_factory=list)


@dataclass
class Item(Result):
    """One item (a passage, an image ...) with the path of its file."""

    id: int
    file_id: int
    path: str
    ordinal: int
    payload: dict


@dataclass
class Plan(Result):
    """What an index run must do. ``touched``: same content, new mtime (only the stat is updated)."""

    new: list[FileStat] = field(default_factory=list)
    changed: list[FileStat] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    touched: list[FileStat] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)  # sha256 computed while planning

    @property
    def to_process(self) -> list[FileStat]:
        return self.new + self.changed


@dataclass
class VectorSetInfo(Result):
    method: str
    dim: int
    rows: int
    live_rows: int
    generation: int
    settings: dict


# ---------------------------------------------------------------------------------------------
# Helpers: names and folders
# ---------------------------------------------------------------------------------------------

class CollectionDamaged(UserError):
    """The collection's database or a vector file is damaged (its message says which; repair rebuilds it)."""


def read_settings_copy(folder: Path) -> dict:
    """What ``settings.json`` of a collection folder holds (``{}`` when it is absent or unreadable)."""
    try:
        copy = json.loads((Path(folder) / SETTINGS_COPY).read_text())
        return copy if isinstance(copy, dict) else {}
    except (OSError, ValueError):
        return {}


def sql_path(path: str | Path) -> str | bytes:
    """A path as the store keeps it: text, or the raw bytes of a name that is not UTF-8.

    File names are bytes on POSIX: one that is not UTF-8 arrives as a str with surrogate escapes, which
    SQLite text cannot hold. Stored as a BLOB of its bytes, it round-trips exactly through :func:`py_path`."""
    text = str(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return os.fsencode(text)


def py_path(value: str | bytes) -> str:
    """A path read from the store (see :func:`sql_path`)."""
    return os.fsdecode(value) if isinstance(value, bytes) else value


def check_name(name: str) -> str:
    """A collection name safe as a folder name, or :class:`UserError`."""
    name = name.strip()
    if not NAME_PATTERN.match(name):
        raise UserError(f"'{name}' is not a valid collection name",
                        hint="use letters, digits, spaces, '.', '-' or '_' (at most 64 characters)")
    return name


def collections_root(kind: str = "documents") -> Path:
    if kind not in KIND_FOLDERS:
        raise ValueError(f"unknown collection kind {kind!r}; expected one of {sorted(KIND_FOLDERS)}")
    return data_home() / KIND_FOLDERS[kind]


def collection_folder(kind: str, name: str) -> Path:
    return collections_root(kind) / check_name(name)


def list_collections(kind: str = "documents") -> list[str]:
    root = collections_root(kind)
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "index.sqlite").exists())


# ---------------------------------------------------------------------------------------------
# Vector matrix cache
# ---------------------------------------------------------------------------------------------

@dataclass
class VectorMatrix:
    """One vector set as stored (float16) plus the item id of each row (-1 = tombstone).

    ``vectors`` is the float32 copy, made on first use; :meth:`rows` converts only the rows asked for,
    so a search that only re-scores candidates never pays for converting the whole set.
    """

    method: str
    generation: int
    rows: int
    stored: np.ndarray  # float16 [rows, dim], as on disk
    row_items: np.ndarray  # int64 [rows]
    version: tuple  # store write version when built

    def __post_init__(self) -> None:
        self._live = self.row_items >= 0
        self.live_rows = int(np.count_nonzero(self._live))
        self._float32: Optional[np.ndarray] = None
        self._convert_lock = threading.Lock()

    @property
    def vectors(self) -> np.ndarray:
        """float32 [rows, dim] (converted once, then cached)."""
        with self._convert_lock:
            if self._float32 is None:
                self._float32 = np.asarray(self.stored, dtype=np.float32)
            return self._float32

    def rows_as_float32(self, rows: np.ndarray) -> np.ndarray:
        """float32 copies of some rows, without converting the whole set."""
        source = self._float32 if self._float32 is not None else self.stored
        return np.asarray(source[rows], dtype=np.float32)

    def live_mask(self) -> np.ndarray:
        return self._live


def item_map_header(row_items: np.ndarray) -> np.ndarray:
    """[version, rows, live rows, smallest and largest live item id (-1 when none), CRC-32 of the ids]."""
    live = row_items[row_items >= 0]
    smallest, largest = (int(live.min()), int(live.max())) if len(live) else (-1, -1)
    return np.array([ITEM_MAP_VERSION, len(row_items), len(live), smallest, largest,
                     zlib.crc32(np.ascontiguousarray(row_items))], dtype=np.int64)


ITEM_MAP_HEADER = len(item_map_header(np.zeros(0, dtype=np.int64)))


def write_item_map(path: Path, row_items: np.ndarray) -> None:
    """Save a row -> item map with its header (temp file, fsync, rename); a failure only loses the copy."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            np.save(handle, np.concatenate([item_map_header(row_items), row_items]))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)


def read_item_map(path: Path, expected: tuple[int, int, int, int]) -> Optional[np.ndarray]:
    """The saved ids of a map whose header says (rows, live rows, smallest, largest live id) = ``expected``
    and whose CRC matches; None when it is missing, damaged or stale. Memory-mapped (read on Windows,
    where a mapped file could not be replaced)."""
    try:
        saved = np.load(path, mmap_mode=None if os.name == "nt" else "r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if saved.dtype != np.int64 or saved.ndim != 1 or len(saved) != ITEM_MAP_HEADER + expected[0]:
        return None
    header, row_items = np.asarray(saved[:ITEM_MAP_HEADER]), saved[ITEM_MAP_HEADER:]
    if tuple(int(v) for v in header[:-1]) != (ITEM_MAP_VERSION, *expected):
        return None
    return row_items if int(header[-1]) == zlib.crc32(np.ascontiguousarray(row_items)) else None


# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------

class CollectionStore:
    """One collection: SQLite metadata + float16 vector files. See the module docstring."""

    def __init__(self, folder: str | Path, create: bool = True) -> None:
        self.folder = Path(folder)
        if not (self.folder / "index.sqlite").exists() and not create:
            raise UserError(f"no collection at {self.folder}", hint="index a folder first")
        (self.folder / "vectors").mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._matrices: dict[str, VectorMatrix] = {}
        self._version = 0
        self._db = sqlite3.connect(self.folder / "index.sqlite", check_same_thread=False,
                                   isolation_level=None, timeout=30)
        try:
            self._open_database()
            with self._writer():
                self._repair_vector_files()
        except (sqlite3.DatabaseError, CollectionDamaged) as error:
            self._db.close()
            raise CollectionDamaged(f"the collection at {self.folder} is damaged: {error}",
                                    hint="repair it: it is rebuilt from your files") from None

    def _open_database(self) -> None:
        """Pragmas and the schema version; a file that is not a database raises ``DatabaseError`` here."""
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        open_schema(self._db, name="collection index", version=SCHEMA_VERSION, create=CREATE,
                    migrations=MIGRATIONS)
        self._db.execute("SELECT COUNT(*) FROM files").fetchone()  # reads the table's pages

    @classmethod
    def open(cls, kind: str, name: str, create: bool = True) -> "CollectionStore":
        folder = collection_folder(kind, name)
        if not create and not (folder / "index.sqlite").exists():
            raise UserError(f"there is no {kind} collection named '{name}'",
                            hint=f"existing: {', '.join(list_collections(kind)) or 'none'}")
        return cls(folder, create=create)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "CollectionStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- small SQL helpers ---------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _transaction(self):
        return _Transaction(self)

    def _writer(self) -> FileLock:
        """Serialises vector-file writers across processes (a CLI run beside the desktop app)."""
        return FileLock(self.folder / "write.lock")

    # -- meta, roots, excludes -----------------------------------------------------------------

    def get_meta(self, key: str, default=None):
        rows = self._query("SELECT value FROM meta WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def set_meta(self, key: str, value) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))
        if key not in RUN_META:
            self._save_settings_copy()

    def restore_meta(self, meta: dict) -> None:
        """Set several settings at once (a repair restoring what ``settings.json`` kept)."""
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
        self._save_settings_copy()

    def all_meta(self) -> dict:
        return {k: json.loads(v) for k, v in self._query("SELECT key, value FROM meta")}

    def roots(self) -> list[str]:
        return [py_path(r[0]) for r in self._query("SELECT path FROM roots ORDER BY added_at, path")]

    def add_root(self, path: str | Path) -> str:
        resolved = Path(path).expanduser().resolve()
        if not resolved.exists():
            raise UserError(f"{resolved} does not exist", hint="pick an existing folder")
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO roots VALUES (?, ?)", (sql_path(resolved), time.time()))
        self._save_settings_copy()
        return str(resolved)

    def remove_root(self, path: str | Path) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM roots WHERE path=?", (sql_path(Path(path).expanduser().resolve()),))
        self._save_settings_copy()

    def forget_root(self, path: str | Path) -> int:
        """Remove a root now, with the indexed files no other root covers; returns how many files went.

        The files themselves are not touched: only the collection forgets them.
        """
        root = str(Path(path).expanduser().resolve())
        if root not in self.roots():
            raise UserError(f"{root} is not a folder of this collection",
                            hint="status lists the collection's folders")
        self.remove_root(root)
        remaining = self.roots()
        orphans = [p for p in self.file_records() if is_within(p, root) and not any(is_within(p, r) for r in remaining)]
        return self.remove_files(orphans)

    def excludes(self) -> list[str]:
        return [py_path(r[0]) for r in self._query("SELECT pattern FROM excludes ORDER BY pattern")]

    def set_excludes(self, patterns: Iterable[str]) -> None:
        cleaned = sorted({p.strip() for p in patterns if p.strip()})
        with self._transaction() as db:
            db.execute("DELETE FROM excludes")
            db.executemany("INSERT INTO excludes VALUES (?)", [(sql_path(p),) for p in cleaned])
        self._save_settings_copy()

    def _save_settings_copy(self) -> None:
        """Keep folders, excludes and small settings in ``settings.json`` too: a repair of a damaged index
        knows what to rebuild from it (temp file + rename)."""
        small = {k: v for k, v in self.all_meta().items() if k not in RUN_META and len(json.dumps(v)) < 4096}
        copy = {"roots": self.roots(), "excludes": self.excludes(), "meta": small}
        temporary = self.folder / f"{SETTINGS_COPY}.{os.getpid()}.tmp"
        temporary.write_text(json.dumps(copy, indent=1))
        os.replace(temporary, self.folder / SETTINGS_COPY)

    # -- files and planning --------------------------------------------------------------------

    def file_records(self) -> dict[str, FileRecord]:
        rows = self._query("SELECT id, path, size, mtime, sha256, status, reason, indexed_at FROM files")
        records = (FileRecord(row[0], py_path(row[1]), *row[2:]) for row in rows)
        return {record.path: record for record in records}

    def plan(
        self,
        paths: Iterable[str | Path],
        hash_unchanged_stat: bool = False,
        retry: Optional[Callable[[FileRecord], bool]] = None,
    ) -> Plan:
        """Compare files on disk with the index: size+mtime first, then the content hash.

        ``retry(record)`` True marks a known file as changed anyway (e.g. one skipped as unreadable,
        whose permissions may have been fixed without touching its mtime). Files that vanish while
        planning are left out of the plan.
        """
        known = self.file_records()
        plan = Plan()
        seen: set[str] = set()
        for path in paths:
            try:
                stat = stat_file(path)
            except OSError:
                continue
            seen.add(stat.path)
            record = known.get(stat.path)
            if record is not None and retry is not None and retry(record):
                plan.changed.append(stat)
                continue
            self._plan_one(stat, record, plan, hash_unchanged_stat)
        plan.deleted = sorted(p for p in known if p not in seen)
        return plan

    def _plan_one(self, stat: FileStat, record: Optional[FileRecord], plan: Plan, force_hash: bool) -> None:
        if record is None:
            plan.new.append(stat)
            return
        same_stat = record.size == stat.size and record.mtime == stat.mtime
        if same_stat and not force_hash:
            plan.unchanged.append(stat.path)
            return
        if record.sha256 is None or record.size != stat.size:
            plan.changed.append(stat)
            return
        try:
            digest = file_sha256(stat.path)
        except OSError:
            plan.changed.append(stat)  # let the indexer record why it cannot be read
            return
        plan.hashes[stat.path] = digest
        if digest == record.sha256:
            (plan.unchanged.append(stat.path) if same_stat else plan.touched.append(stat))
        else:
            plan.changed.append(stat)

    def update_stats(self, stats: Iterable[FileStat]) -> None:
        """Record a new size/mtime for files whose content did not change."""
        with self._transaction() as db:
            db.executemany("UPDATE files SET size=?, mtime=? WHERE path=?",
                           [(s.size, s.mtime, sql_path(s.path)) for s in stats])

    def remove_files(self, paths: Iterable[str]) -> int:
        """Forget files (their items and vector rows go with them). Returns how many were known."""
        paths = list(paths)
        with self._transaction() as db:
            removed = db.executemany("DELETE FROM files WHERE path=?", [(sql_path(p),) for p in paths]).rowcount
        if paths:
            self._bump()
        return removed

    # -- writing -------------------------------------------------------------------------------

    def write_batch(self, entries: Sequence[FileEntry], vectors: dict[str, np.ndarray]) -> list[int]:
        """Replace the given files, their items and their vectors atomically.

        ``vectors[method]`` has one row per payload of ``entries`` (in order, over all entries).
        Returns the new item ids in the same order.
        """
        n_items = sum(len(e.payloads) for e in entries)
        self._check_vectors(vectors, n_items)
        with self._lock, self._writer():
            starts = {m: self._append_vectors(m, v) for m, v in vectors.items()}
            with self._transaction() as db:
                item_ids = self._insert_entries(db, entries)
                for method, matrix in vectors.items():
                    self._commit_rows(db, method, starts[method], item_ids, matrix.shape[1])
            self._bump()
        return item_ids

    def add_vectors(self, method: str, item_ids: Sequence[int], vectors: np.ndarray) -> None:
        """Add vectors of ``method`` for existing items (a method added later, or a resume)."""
        self._check_vectors({method: vectors}, len(item_ids))
        with self._lock, self._writer():
            start = self._append_vectors(method, vectors)
            with self._transaction() as db:
                self._commit_rows(db, method, start, list(item_ids), vectors.shape[1])
            self._bump()

    def item_ids_without_vectors(self, method: str) -> list[int]:
        rows = self._query(
            "SELECT id FROM items WHERE id NOT IN (SELECT item_id FROM vector_rows WHERE method=?) ORDER BY id",
            (method,))
        return [r[0] for r in rows]

    def drop_vector_set(self, method: str) -> None:
        with self._lock, self._writer():
            with self._transaction() as db:
                db.execute("DELETE FROM vector_rows WHERE method=?", (method,))
                db.execute("DELETE FROM vector_sets WHERE method=?", (method,))
            self._matrices.pop(method, None)
            self._repair_vector_files()
            self._bump()

    def set_vector_settings(self, method: str, settings: dict) -> None:
        with self._transaction() as db:
            db.execute("UPDATE vector_sets SET settings=? WHERE method=?", (json.dumps(settings), method))

    @staticmethod
    def _check_vectors(vectors: dict[str, np.ndarray], n_items: int) -> None:
        for method, matrix in vectors.items():
            if matrix.ndim != 2 or matrix.shape[0] != n_items:
                raise ValueError(f"vectors for {method!r} have shape {matrix.shape}; expected ({n_items}, dim)")

    def _insert_entries(self, db: sqlite3.Connection, entries: Sequence[FileEntry]) -> list[int]:
        now = time.time()
        item_ids: list[int] = []
        for entry in entries:
            db.execute("DELETE FROM files WHERE path=?", (sql_path(entry.path),))
            cursor = db.execute(
                "INSERT INTO files (path, size, mtime, sha256, status, reason, indexed_at) VALUES (?,?,?,?,?,?,?)",
                (sql_path(entry.path), entry.size, entry.mtime, entry.sha256, entry.status, entry.reason, now))
            file_id = cursor.lastrowid
            for ordinal, payload in enumerate(entry.payloads):
                cursor = db.execute("INSERT INTO items (file_id, ordinal, payload) VALUES (?,?,?)",
                                    (file_id, ordinal, json.dumps(payload, ensure_ascii=False)))
                item_ids.append(cursor.lastrowid)
        return item_ids

    def _vector_set_row(self, method: str) -> Optional[tuple[int, int, int]]:
        rows = self._query("SELECT dim, rows, generation FROM vector_sets WHERE method=?", (method,))
        return rows[0] if rows else None

    def _vector_file(self, method: str, generation: int) -> Path:
        safe = re.sub(r"[^\w.-]", "_", method)
        return self.folder / "vectors" / f"{safe}.{generation}.f16"

    def _append_vectors(self, method: str, matrix: np.ndarray) -> int:
        """Append rows past the committed count (fsync); returns the first row number."""
        info = self._vector_set_row(method)
        dim, rows, generation = info if info else (matrix.shape[1], 0, 0)
        if matrix.shape[1] != dim:
            raise ValueError(f"vector set {method!r} has dim {dim}, got {matrix.shape[1]}")
        path = self._vector_file(method, generation)
        data = np.ascontiguousarray(matrix, dtype=np.float16).tobytes()
        with open(path, "ab") as handle:
            handle.truncate(rows * dim * 2)
            handle.seek(rows * dim * 2)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return rows

    @staticmethod
    def _commit_rows(db: sqlite3.Connection, method: str, start: int, item_ids: list[int], dim: int) -> None:
        db.execute("INSERT OR IGNORE INTO vector_sets (method, dim, rows, generation) VALUES (?, ?, 0, 0)",
                   (method, dim))
        db.executemany("INSERT INTO vector_rows (method, row, item_id) VALUES (?,?,?)",
                       [(method, start + i, item_id) for i, item_id in enumerate(item_ids)])
        db.execute("UPDATE vector_sets SET rows=? WHERE method=?", (start + len(item_ids), method))

    def _repair_vector_files(self) -> None:
        """Truncate uncommitted tails and delete files of old generations or dropped sets.

        Callers hold the writer lock, so another process's in-flight append is never cut."""
        keep: set[Path] = set()
        for method, dim, rows, generation in self._query("SELECT method, dim, rows, generation FROM vector_sets"):
            path = self._vector_file(method, generation)
            keep.update((path, self._item_map_file(method, generation)))
            size = path.stat().st_size if path.exists() else 0
            if size < rows * dim * 2:  # committed rows are missing: never fill them with zeros
                raise CollectionDamaged(f"{path.name} holds {size // (dim * 2):,} of its {rows:,} vectors")
            if size > rows * dim * 2:
                with open(path, "r+b") as handle:
                    handle.truncate(rows * dim * 2)
        for path in (self.folder / "vectors").glob("*.f16"):
            if path not in keep:
                path.unlink(missing_ok=True)
        self._delete_stale_item_maps(keep)

    def _delete_stale_item_maps(self, keep: set[Path]) -> None:
        """Row -> item maps of old generations, dropped sets or older versions, and old temporaries."""
        for path in (self.folder / "vectors").glob("*.items-v*"):
            try:
                if path.suffix == ".tmp" and time.time() - path.stat().st_mtime > ITEM_MAP_TEMP_AGE_S:
                    path.unlink()
                elif path.suffix == ".npy" and path not in keep:
                    path.unlink()
            except OSError:
                pass

    def _bump(self) -> None:
        self._version += 1

    def _current_version(self) -> tuple[int, int]:
        """Changes with our own writes and with commits made by other connections."""
        return self._version, self._query("PRAGMA data_version")[0][0]

    # -- reading -------------------------------------------------------------------------------

    def items(self, ids: Sequence[int]) -> list[Item]:
        """Items by id, in the order asked (unknown ids are left out)."""
        found: dict[int, Item] = {}
        ids = list(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT items.id, file_id, files.path, ordinal, payload FROM items JOIN files ON files.id=file_id "
                f"WHERE items.id IN ({marks})", chunk)
            for row in rows:
                found[row[0]] = Item(row[0], row[1], py_path(row[2]), row[3], json.loads(row[4]))
        return [found[i] for i in ids if i in found]

    def iter_items(self, batch: int = 2000) -> Iterator[Item]:
        last = -1
        while True:
            rows = self._query(
                "SELECT items.id, file_id, files.path, ordinal, payload FROM items JOIN files ON files.id=file_id "
                "WHERE items.id > ? ORDER BY items.id LIMIT ?", (last, batch))
            if not rows:
                return
            for row in rows:
                yield Item(row[0], row[1], py_path(row[2]), row[3], json.loads(row[4]))
            last = rows[-1][0]

    def item_ids_for_paths(self, predicate) -> np.ndarray:
        """Ids of items whose file path satisfies ``predicate(path) -> bool``."""
        rows = self._query("SELECT items.id, files.path FROM items JOIN files ON files.id=file_id")
        return np.array([i for i, path in rows if predicate(py_path(path))], dtype=np.int64)

    def items_signature(self) -> tuple[int, int]:
        """(count, largest id) of the items: changes whenever items are added or removed."""
        count, largest = self._query("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM items")[0]
        return int(count), int(largest)

    def count_files(self, status: Optional[str] = None) -> int:
        """Files known to the collection (only those with ``status`` 'ok' or 'skipped' when given)."""
        if status is None:
            return int(self._query("SELECT COUNT(*) FROM files")[0][0])
        return int(self._query("SELECT COUNT(*) FROM files WHERE status=?", (status,))[0][0])

    def file_paths(self) -> list[str]:
        return [py_path(r[0]) for r in self._query("SELECT path FROM files ORDER BY path")]

    def skipped_files(self) -> list[tuple[str, str]]:
        """(path, reason) of the files left out, by path."""
        rows = self._query("SELECT path, reason FROM files WHERE status='skipped' ORDER BY path")
        return [(py_path(path), reason) for path, reason in rows]

    def count_items(self) -> int:
        return self._query("SELECT COUNT(*) FROM items")[0][0]

    def vector_methods(self) -> list[str]:
        return [r[0] for r in self._query("SELECT method FROM vector_sets ORDER BY method")]

    def vector_sets(self) -> list[VectorSetInfo]:
        live = dict(self._query("SELECT method, COUNT(*) FROM vector_rows GROUP BY method"))
        return [VectorSetInfo(method, dim, rows, live.get(method, 0), generation, json.loads(settings))
                for method, dim, rows, generation, settings in self._query(
                    "SELECT method, dim, rows, generation, settings FROM vector_sets ORDER BY method")]

    def matrix(self, method: str) -> VectorMatrix:
        """A vector set as a :class:`VectorMatrix` (read once, cached until the set changes)."""
        with self._lock, self._read_snapshot():  # the row count and the row -> item map agree
            info = self._vector_set_row(method)
            if info is None:
                raise UserError(f"this collection has no '{method}' vectors", hint="index it with that method first")
            dim, rows, generation = info
            cached = self._matrices.get(method)
            version = self._current_version()
            if cached and (cached.generation, cached.rows, cached.version) == (generation, rows, version):
                return cached
            vectors = self._load_rows(method, generation, rows, dim)
            matrix = VectorMatrix(method, generation, rows, vectors, self._row_items(method, generation, rows), version)
            self._matrices[method] = matrix
            return matrix

    @contextmanager
    def _read_snapshot(self) -> Iterator[None]:
        """One read transaction: queries inside see one committed state. Under the lock."""
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def _row_items(self, method: str, generation: int, rows: int) -> np.ndarray:
        """The item id of each committed row (-1: tombstone): the saved map when it is current, else read
        from SQLite and saved again."""
        path = self._item_map_file(method, generation)
        expected = (rows, *self._live_signature(method))
        saved = read_item_map(path, expected)
        if saved is not None:
            return saved
        row_items = np.full(rows, -1, dtype=np.int64)
        with self._lock:  # streamed into one array: no list of a million tuples
            cursor = self._db.execute("SELECT row, item_id FROM vector_rows WHERE method=?", (method,))
            mapping = np.fromiter(itertools.chain.from_iterable(cursor), dtype=np.int64).reshape(-1, 2)
        mapping = mapping[mapping[:, 0] < rows]
        row_items[mapping[:, 0]] = mapping[:, 1]
        write_item_map(path, row_items)
        return row_items

    def _live_signature(self, method: str) -> tuple[int, int, int]:
        """(live rows, smallest, largest live item id) of a set, as SQLite has them now (-1 when none)."""
        def one(aggregate: str) -> int:  # separately: MIN and MAX then read one index entry each
            return int(self._query(f"SELECT COALESCE({aggregate}, -1) FROM vector_rows WHERE method=?", (method,))[0][0])
        return one("COUNT(*)"), one("MIN(item_id)"), one("MAX(item_id)")

    def _item_map_file(self, method: str, generation: int) -> Path:
        return self._vector_file(method, generation).with_suffix(ITEM_MAP_SUFFIX)

    def _load_rows(self, method: str, generation: int, rows: int, dim: int) -> np.ndarray:
        """The committed rows as stored, float16 [rows, dim].

        Memory-mapped read-only (pages are read as searches touch them, so a large set never has to fit in
        memory): committed rows never change, and a compaction writes a new file, while the old one, deleted,
        stays readable through its mapping. On Windows, where a mapped file cannot be deleted, and for small
        sets, the rows are read into memory."""
        if rows == 0:
            return np.zeros((0, dim), dtype=np.float16)
        path = self._vector_file(method, generation)
        if os.name == "nt" or rows * dim * 2 < MAP_VECTORS_FROM_BYTES:
            return np.fromfile(path, dtype=np.float16, count=rows * dim).reshape(rows, dim)
        return np.memmap(path, dtype=np.float16, mode="r", shape=(rows, dim))

    def vectors_for_items(self, method: str, item_ids: Sequence[int]) -> np.ndarray:
        """Stored vectors (float32) of the given items, in order; raises KeyError for a missing one."""
        matrix = self.matrix(method)
        row_of = {int(item): row for row, item in enumerate(matrix.row_items) if item >= 0}
        return matrix.vectors[[row_of[int(i)] for i in item_ids]]

    def search(
        self,
        method: str,
        query: np.ndarray,
        k: int = 10,
        allowed_items: Optional[np.ndarray] = None,
    ) -> list[tuple[int, float]]:
        """Cosine top-k (query and stored vectors are assumed L2-normalised): [(item_id, score)]."""
        matrix = self.matrix(method)
        if matrix.rows == 0:
            return []
        scores = matrix.vectors @ np.asarray(query, dtype=np.float32).ravel()
        mask = matrix.live_mask()
        if allowed_items is not None:
            mask = mask & np.isin(matrix.row_items, allowed_items)
        if matrix.live_rows < matrix.rows or allowed_items is not None:
            scores[~mask] = -np.inf
        best = top_k(scores, min(k, int(np.count_nonzero(mask))))
        return [(int(matrix.row_items[r]), float(scores[r])) for r in best]

    def live_count(self, method: str) -> int:
        """Rows of a vector set that belong to existing items (0 when the set does not exist)."""
        return self.matrix(method).live_rows if method in self.vector_methods() else 0

    # -- maintenance ---------------------------------------------------------------------------

    def dead_fraction(self, method: str) -> float:
        info = next((s for s in self.vector_sets() if s.method == method), None)
        return 0.0 if not info or not info.rows else 1.0 - info.live_rows / info.rows

    def compact(self, method: str, min_dead_fraction: float = 0.25) -> bool:
        """Rewrite a vector set without tombstones when enough rows are dead. True when it did."""
        if self.dead_fraction(method) < min_dead_fraction:
            return False
        with self._lock, self._writer():
            dim, rows, generation = self._vector_set_row(method)
            live = np.array(self._query("SELECT row, item_id FROM vector_rows WHERE method=? ORDER BY row",
                                        (method,)), dtype=np.int64).reshape(-1, 2)
            old = self._load_rows(method, generation, rows, dim)[live[:, 0]]
            new_path = self._vector_file(method, generation + 1)
            with open(new_path, "wb") as handle:
                handle.write(old.astype(np.float16).tobytes())
                handle.flush()
                os.fsync(handle.fileno())
            with self._transaction() as db:
                db.execute("DELETE FROM vector_rows WHERE method=?", (method,))
                db.executemany("INSERT INTO vector_rows VALUES (?,?,?)",
                               [(method, row, int(item)) for row, item in enumerate(live[:, 1])])
                db.execute("UPDATE vector_sets SET rows=?, generation=? WHERE method=?",
                           (len(live), generation + 1, method))
            write_item_map(self._item_map_file(method, generation + 1), live[:, 1])
            self._repair_vector_files()
            self._bump()
        return True


class _Transaction:
    """``with store._transaction() as db``: BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error)."""

    def __init__(self, store: CollectionStore) -> None:
        self.store = store

    def __enter__(self) -> sqlite3.Connection:
        self.store._lock.acquire()
        self.store._db.execute("BEGIN IMMEDIATE")
        return self.store._db

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.store._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.store._lock.release()
