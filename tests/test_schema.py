"""Schema versions of the SQLite files (embedengine/schema.py): create, migrate forward, refuse newer.

tests/fixtures/v0/ holds files written before versions existed (see make_fixtures.py there): they must
open with today's code, migrate in place and keep their data. The chat history's are in
tests/gui/test_history_versions.py.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from embedengine import store as store_module
from embedengine.errors import UserError
from embedengine.schema import file_version, open_schema
from embedengine.store import CollectionStore

V0 = Path(__file__).parent / "fixtures" / "v0"

CREATE = "CREATE TABLE t (a TEXT, b TEXT DEFAULT 'new');"
MIGRATIONS = {
    1: "CREATE TABLE IF NOT EXISTS t (a TEXT);",
    2: "ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'new'; INSERT INTO t(a) VALUES ('semi;colon');",
}


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


# -- the mechanism -----------------------------------------------------------------------------

def test_a_new_file_gets_the_create_script_and_the_version(tmp_path):
    db = connect(tmp_path / "new.sqlite")
    assert open_schema(db, name="test file", version=2, create=CREATE, migrations=MIGRATIONS) == 0
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0  # no migration ran on a new file
    db.execute("INSERT INTO t(a) VALUES ('x')")
    assert db.execute("SELECT a, b FROM t").fetchall() == [("x", "new")]


def test_an_unversioned_file_migrates_step_by_step(tmp_path):
    db = connect(tmp_path / "old.sqlite")
    db.execute("CREATE TABLE t (a TEXT)")
    db.execute("INSERT INTO t VALUES ('old')")
    assert open_schema(db, name="test file", version=2, create=CREATE, migrations=MIGRATIONS) == 0
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert db.execute("SELECT a, b FROM t ORDER BY rowid").fetchall() == [("old", "new"), ("semi;colon", "new")]
    assert open_schema(db, name="test file", version=2, create=CREATE, migrations=MIGRATIONS) == 2  # no-op now
    assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 2


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "old.sqlite"
    db = connect(path)
    db.execute("CREATE TABLE t (a TEXT)")
    db.execute("PRAGMA user_version = 1")

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE t ADD COLUMN c TEXT")
        raise RuntimeError("migration bug")

    steps = {**MIGRATIONS, 3: broken}
    with pytest.raises(RuntimeError, match="migration bug"):
        open_schema(db, name="test file", version=3, create=CREATE, migrations=steps)
    assert not db.in_transaction
    db.close()
    db = connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    assert [row[1] for row in db.execute("PRAGMA table_info(t)")] == ["a"]  # step 2 was rolled back too


def test_a_newer_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "newer.sqlite"
    db = connect(path)
    db.execute("CREATE TABLE t (a TEXT, b TEXT, c TEXT)")
    db.execute("PRAGMA user_version = 3")
    with pytest.raises(UserError) as caught:
        open_schema(db, name="test file", version=2, create=CREATE, migrations=MIGRATIONS)
    message = str(caught.value)
    assert str(path) in message and "version 3" in message and "version 2" in message
    assert "update Embed Studio" in caught.value.hint
    assert caught.value.data == {"path": str(path), "file_version": 3, "supported_version": 2}
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3


def test_a_missing_step_is_a_programming_error(tmp_path):
    db = connect(tmp_path / "old.sqlite")
    db.execute("CREATE TABLE t (a TEXT)")
    with pytest.raises(ValueError, match=r"\[2\]"):
        open_schema(db, name="test file", version=2, create=CREATE, migrations={1: MIGRATIONS[1]})


# -- collections -------------------------------------------------------------------------------

@pytest.fixture
def v0_collection(tmp_path) -> Path:
    folder = tmp_path / "notes"
    shutil.copytree(V0 / "collection", folder)
    assert file_version(folder / "index.sqlite") == 0
    return folder


def test_a_v0_collection_migrates_in_place_and_keeps_its_data(v0_collection):
    with CollectionStore(v0_collection, create=False) as store:
        assert store.count_files() == 1 and store.count_items() == 2
        hits = store.search("m", np.array([0.6, 0.8, 0, 0], dtype=np.float32), k=2)
        items = store.items([item_id for item_id, _ in hits])
        assert [item.payload["text"] for item in items] == ["The oven is hot.", "Fresh bread every morning."]
        assert hits[0][1] == pytest.approx(1.0, abs=1e-3) and hits[1][1] == pytest.approx(0.6, abs=1e-3)
        assert [item.path for item in items] == ["/notes/bread.txt"] * 2
        assert store.all_meta() == {"model": "minilm"}  # the version lives in user_version, not in meta
        assert store.excludes() == ["*.log"]
    assert file_version(v0_collection / "index.sqlite") == store_module.SCHEMA_VERSION
    with CollectionStore(v0_collection, create=False) as again:  # opens as a current file now
        assert again.count_items() == 2


def test_a_new_collection_is_written_at_the_current_version(tmp_path):
    CollectionStore(tmp_path / "fresh").close()
    assert file_version(tmp_path / "fresh" / "index.sqlite") == store_module.SCHEMA_VERSION


def test_a_collection_from_a_newer_version_is_refused(v0_collection):
    newer = store_module.SCHEMA_VERSION + 1
    db = sqlite3.connect(v0_collection / "index.sqlite")
    db.execute(f"PRAGMA user_version = {newer}")
    db.close()
    with pytest.raises(UserError) as caught:
        CollectionStore(v0_collection, create=False)
    message = str(caught.value)
    assert "index.sqlite" in message and f"version {newer}" in message
    assert f"version {store_module.SCHEMA_VERSION}" in message
    assert file_version(v0_collection / "index.sqlite") == newer
