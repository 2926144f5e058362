"""Schema versions of the SQLite files Embed Studio writes (collections, chat history, ...).

Each file keeps its schema version in ``PRAGMA user_version`` (0 = a file written before versions
existed). :func:`open_schema` brings a freshly opened connection up to the version this code knows::

    SCHEMA_VERSION = 2
    CREATE = "CREATE TABLE t (a, b);"              # the whole schema of SCHEMA_VERSION, for new files
    MIGRATIONS = {
        1: "CREATE TABLE IF NOT EXISTS t (a);",     # 0 -> 1: version 0 files already hold this table
        2: "ALTER TABLE t ADD COLUMN b;",           # 1 -> 2 (a str is SQL; a callable gets the connection)
    }
    open_schema(db, name="example", version=SCHEMA_VERSION, create=CREATE, migrations=MIGRATIONS)

- a new, empty file gets ``create`` and then ``user_version = version``;
- an older file gets ``migrations[v + 1]``, ``migrations[v + 2]``, ... ``migrations[version]``, all in ONE
  transaction together with the new ``user_version`` (a crash or an error leaves the file as it was);
- a newer file (written by a later Embed Studio) is refused with a :class:`UserError`: this code cannot
  know what the newer version changed.

Rules for migrations: never edit a released step, add a new one; a callable step must use
``db.execute`` only (``executescript`` would commit in the middle of the migration).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Callable, Mapping, Optional, Union

from embedengine.errors import UserError

Migration = Union[str, Callable[[sqlite3.Connection], None]]


def open_schema(
    db: sqlite3.Connection,
    *,
    name: str,
    version: int,
    create: str,
    migrations: Mapping[int, Migration],
    path: Optional[Union[str, Path]] = None,
) -> int:
    """Create, migrate or refuse the file behind ``db`` (see the module docstring); returns its old version.

    ``name`` says what the file is in messages ("collection index"); ``path`` names it (default: the
    connection's main database file). Call it with no transaction open, after the connection's pragmas.
    """
    found = _user_version(db)
    if found == version:
        return found
    if found > version:
        raise _newer(found, version, name, path or _db_path(db))
    missing = [step for step in range(found + 1, version + 1) if step not in migrations]
    if missing:
        raise ValueError(f"{name}: no migration to version(s) {missing}")
    db.execute("BEGIN IMMEDIATE")  # one writer migrates; a second process waits, then sees the new version
    try:
        found = _user_version(db)
        if found > version:
            raise _newer(found, version, name, path or _db_path(db))
        if _is_empty(db):
            _run(db, create)
        else:
            for step in range(found + 1, version + 1):
                _run(db, migrations[step])
        db.execute(f"PRAGMA user_version = {int(version)}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return found


def _user_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def file_version(path: Union[str, Path]) -> int:
    """The schema version a SQLite file records (0: written before versions), read without changing it."""
    db = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    try:
        return _user_version(db)
    finally:
        db.close()


def _is_empty(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchone()[0] == 0


def _db_path(db: sqlite3.Connection) -> str:
    for _seq, schema, file in db.execute("PRAGMA database_list").fetchall():
        if schema == "main":
            return file or ":memory:"
    return "?"


def _newer(found: int, version: int, name: str, path) -> UserError:
    return UserError(
        f"{path} was written by a newer Embed Studio: its {name} has schema version {found}, "
        f"this Embed Studio supports version {version} at most",
        hint="update Embed Studio to open it (this version leaves the file untouched)",
        data={"path": str(path), "file_version": found, "supported_version": version},
    )


def _run(db: sqlite3.Connection, step: Migration) -> None:
    """Run one step inside the open transaction: a callable, or SQL statements one by one."""
    if callable(step):
        step(db)
        return
    statement = ""
    for piece in step.split(";"):
        statement += piece + ";"
        if sqlite3.complete_statement(statement):  # a ";" inside a string or trigger body waits for the rest
            db.execute(statement)
            statement = ""
    if statement.strip(" \t\r\n;"):
        raise ValueError(f"incomplete SQL at the end of a migration: {statement.strip()[:80]!r}")
