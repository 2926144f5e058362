"""The generic collection store: incremental planning, atomic batches, tombstones, crash repair."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from embedengine.errors import UserError
from embedengine.collections.files import file_sha256, stat_file, walk_files
from embedengine.linalg import top_k
from embedengine.store import CollectionStore, FileEntry, list_collections


def unit_rows(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def entry_for(path, n_items: int, sha256: str | None = None) -> FileEntry:
    stat = stat_file(path)
    return FileEntry(stat.path, stat.size, stat.mtime, sha256=sha256,
                     payloads=[{"text": f"{path.name}#{i}"} for i in range(n_items)])


@pytest.fixture
def files(tmp_path):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    (folder / "node_modules").mkdir()
    paths = {name: folder / name for name in ("a.txt", "sub/b.txt", "c.log")}
    for name, path in paths.items():
        path.write_text(f"content of {name}")
    (folder / ".hidden" / "x.txt").write_text("hidden")
    (folder / "node_modules" / "y.txt").write_text("tool")
    return folder, paths


def test_walk_skips_hidden_tool_folders_and_excludes(files):
    folder, paths = files
    found = {p.relative_to(folder).as_posix() for p in walk_files([folder])}
    assert found == {"a.txt", "sub/b.txt", "c.log"}
    assert {p.name for p in walk_files([folder], {".txt"}, ["sub"])} == {"a.txt"}
    assert {p.name for p in walk_files([folder], None, ["*.log"])} == {"a.txt", "b.txt"}


def test_batch_search_and_items_roundtrip(files):
    folder, paths = files
    store = CollectionStore.open("documents", "notes")
    vectors = unit_rows(3)
    ids = store.write_batch([entry_for(paths["a.txt"], 2), entry_for(paths["sub/b.txt"], 1)], {"m": vectors})
    hits = store.search("m", vectors[2], k=2)
    assert hits[0][0] == ids[2] and hits[0][1] == pytest.approx(1.0, abs=1e-3)
    assert [item.payload["text"] for item in store.items(ids)] == ["a.txt#0", "a.txt#1", "b.txt#0"]
    assert list_collections("documents") == ["notes"]
    assert store.count_items() == 3


def test_plan_detects_new_changed_touched_deleted(files):
    folder, paths = files
    store = CollectionStore.open("documents", "plan")
    store.write_batch([entry_for(p, 1, file_sha256(p)) for p in paths.values()], {"m": unit_rows(3)})
    paths["a.txt"].write_text("new content that is longer")
    later = time.time() + 5
    os.utime(paths["c.log"], (later, later))  # same bytes, new mtime
    paths["sub/b.txt"].unlink()
    (folder / "d.txt").write_text("brand new")
    plan = store.plan(walk_files([folder]))
    assert [s.path for s in plan.changed] == [str(paths["a.txt"])]
    assert [s.path for s in plan.touched] == [str(paths["c.log"])]
    assert plan.deleted == [str(paths["sub/b.txt"])]
    assert [s.path for s in plan.new] == [str(folder / "d.txt")]


def test_deleted_files_become_tombstones_then_compacted(files):
    folder, paths = files
    store = CollectionStore.open("documents", "tomb")
    vectors = unit_rows(4)
    ids = store.write_batch([entry_for(paths["a.txt"], 3), entry_for(paths["c.log"], 1)], {"m": vectors})
    store.remove_files([str(paths["a.txt"])])
    assert [item_id for item_id, _ in store.search("m", vectors[0], k=5)] == [ids[3]]
    assert store.compact("m") is True
    assert store.vector_sets()[0].rows == 1
    assert store.search("m", vectors[3], k=5)[0][0] == ids[3]
    assert len(list((store.folder / "vectors").glob("*.f16"))) == 1


def test_uncommitted_tail_is_truncated_on_open(files):
    folder, paths = files
    store = CollectionStore.open("documents", "crash")
    store.write_batch([entry_for(paths["a.txt"], 2)], {"m": unit_rows(2)})
    vector_file = next((store.folder / "vectors").glob("*.f16"))
    store.close()
    with open(vector_file, "ab") as handle:  # what a kill -9 between append and commit leaves behind
        handle.write(b"\x00" * 37)
    reopened = CollectionStore.open("documents", "crash", create=False)
    assert vector_file.stat().st_size == 2 * 8 * 2
    assert len(reopened.search("m", unit_rows(2)[0], k=10)) == 2


def test_missing_vectors_and_filters(files):
    folder, paths = files
    store = CollectionStore.open("documents", "later")
    ids = store.write_batch([entry_for(paths["a.txt"], 2), entry_for(paths["c.log"], 1)], {})
    assert store.item_ids_without_vectors("m") == ids
    vectors = unit_rows(3)
    store.add_vectors("m", ids, vectors)
    assert store.item_ids_without_vectors("m") == []
    allowed = store.item_ids_for_paths(lambda p: p.endswith(".log"))
    assert [i for i, _ in store.search("m", vectors[0], k=3, allowed_items=allowed)] == [ids[2]]
    np.testing.assert_allclose(store.vectors_for_items("m", [ids[1]])[0], vectors[1], atol=1e-3)


def test_bad_names_and_missing_collection():
    with pytest.raises(UserError):
        CollectionStore.open("documents", "../evil")
    with pytest.raises(UserError, match="no documents collection"):
        CollectionStore.open("documents", "absent", create=False)


def test_top_k_orders_best_first():
    scores = np.array([0.1, 0.9, 0.5, 0.7], dtype=np.float32)
    assert top_k(scores, 2).tolist() == [1, 3]
    assert top_k(scores, 10).tolist() == [1, 3, 2, 0]


def test_retry_predicate_replans_known_files(files):
    folder, paths = files
    store = CollectionStore.open("documents", "retry")
    skipped = FileEntry(**{**entry_for(paths["c.log"], 0).to_dict(), "status": "skipped", "reason": "unreadable: x"})
    store.write_batch([entry_for(paths["a.txt"], 1), skipped], {"m": unit_rows(1)})
    plan = store.plan([paths["a.txt"], paths["c.log"]], retry=lambda record: record.reason.startswith("unreadable"))
    assert [s.path for s in plan.changed] == [str(paths["c.log"])]
    assert plan.unchanged == [str(paths["a.txt"])]


def test_forget_root_drops_only_the_files_no_other_root_covers(files, tmp_path):
    folder, paths = files
    store = CollectionStore.open("documents", "roots")
    store.add_root(folder)
    store.add_root(folder / "sub")
    other = tmp_path / "other"
    other.mkdir()
    (other / "d.txt").write_text("elsewhere")
    store.add_root(other)
    entries = [entry_for(paths["a.txt"], 1), entry_for(paths["sub/b.txt"], 1), entry_for(other / "d.txt", 1)]
    store.write_batch(entries, {"m": unit_rows(3)})

    assert store.forget_root(folder) == 1  # a.txt; sub/b.txt stays under the "sub" root
    assert sorted(os.path.basename(p) for p in store.file_records()) == ["b.txt", "d.txt"]
    assert store.live_count("m") == 2 and paths["a.txt"].exists()  # the file itself is untouched
    assert store.forget_root(folder / "sub") == 1
    with pytest.raises(UserError, match="is not a folder of this collection"):
        store.forget_root(folder)
    assert store.roots() == [str(other.resolve())]


# -- the saved row -> item map (vectors/<method>.<generation>.items-v1.npy) -------------------------

def filled_store(folder, files: int = 4, items: int = 3, seed: int = 0) -> tuple[CollectionStore, np.ndarray]:
    store = CollectionStore(folder)
    vectors = unit_rows(files * items, seed=seed)
    entries = [FileEntry(f"/data/f{seed}-{f}.txt", 1, 1.0, payloads=[{"n": i} for i in range(items)])
               for f in range(files)]
    store.write_batch(entries, {"m": vectors})
    return store, vectors


def row_items_in_sqlite(folder) -> np.ndarray:
    """The row -> item map as SQLite has it (-1: tombstone), read without the store."""
    import sqlite3
    with sqlite3.connect(folder / "index.sqlite") as db:
        rows = db.execute("SELECT rows FROM vector_sets WHERE method='m'").fetchone()[0]
        truth = np.full(rows, -1, dtype=np.int64)
        for row, item in db.execute("SELECT row, item_id FROM vector_rows WHERE method='m'"):
            truth[row] = item
    return truth


def item_map_file(folder):
    return next((folder / "vectors").glob("*.items-v1.npy"))


def test_item_map_is_saved_and_opened_memory_mapped(tmp_path):
    folder = tmp_path / "c"
    store, vectors = filled_store(folder)
    expected = store.search("m", vectors[5], k=4)
    store.close()
    first = CollectionStore(folder)
    assert np.array_equal(first.matrix("m").row_items, row_items_in_sqlite(folder))
    assert item_map_file(folder).exists()
    again = CollectionStore(folder)
    if os.name != "nt":
        assert isinstance(again.matrix("m").row_items, np.memmap)  # read from the saved map, not SQLite
    assert again.search("m", vectors[5], k=4) == expected


@pytest.mark.parametrize("damage", ["delete", "truncate", "flip an id", "garbage"])
def test_missing_or_damaged_item_map_is_rebuilt(tmp_path, damage):
    folder = tmp_path / "c"
    store, vectors = filled_store(folder)
    expected = store.search("m", vectors[7], k=5)
    path = item_map_file(folder)
    good = path.read_bytes()
    store.close()
    if damage == "delete":
        path.unlink()
    elif damage == "truncate":
        path.write_bytes(good[:len(good) - 12])
    elif damage == "flip an id":  # header intact, one id changed: the CRC catches it
        path.write_bytes(good[:-8] + (int.from_bytes(good[-8:], "little") ^ 1).to_bytes(8, "little"))
    else:
        path.write_bytes(b"not a map at all")
    reopened = CollectionStore(folder)
    assert reopened.search("m", vectors[7], k=5) == expected
    assert np.array_equal(reopened.matrix("m").row_items, row_items_in_sqlite(folder))
    assert path.read_bytes() == good  # saved again


@pytest.mark.parametrize("change", ["items added", "file removed"])
def test_stale_item_map_is_never_used(tmp_path, change):
    folder = tmp_path / "c"
    store, vectors = filled_store(folder)
    reader = CollectionStore(folder)  # the desktop app, open while another run indexes
    reader.matrix("m")
    path = item_map_file(folder)
    stale = path.read_bytes()
    other = CollectionStore(folder)  # another index run, its own connection
    if change == "items added":
        new_vectors = unit_rows(3, seed=9)
        new_ids = other.write_batch([FileEntry("/data/new.txt", 1, 1.0, payloads=[{}] * 3)], {"m": new_vectors})
        query, wanted = new_vectors[1], new_ids[1]
    else:
        gone = {item.id for item in other.iter_items() if item.path == "/data/f0-0.txt"}
        other.remove_files(["/data/f0-0.txt"])
        query, wanted = vectors[0], None
    other.close()
    path.write_bytes(stale)  # the map as it was before the change, with a valid CRC
    truth = row_items_in_sqlite(folder)
    for opened in (reader, CollectionStore(folder)):
        assert np.array_equal(opened.matrix("m").row_items, truth)
        found = [item for item, _ in opened.search("m", query, k=20)]
        if wanted is not None:
            assert found[0] == wanted
        else:
            assert not gone & set(found) and len(found) == len(vectors) - 3


def test_kill_during_item_map_writes_leaves_a_usable_collection(tmp_path):
    import signal
    import subprocess
    import sys
    folder = tmp_path / "c"
    store, vectors = filled_store(folder, files=500, items=100)  # a 400 KB map: kills land mid-write
    expected = store.search("m", vectors[123], k=10)
    store.close()
    rewrite_forever = (
        "import sys\nfrom pathlib import Path\nfrom embedengine.store import CollectionStore\n"
        "folder = Path(sys.argv[1])\nprint('ready', flush=True)\n"
        "while True:\n"
        "    for path in (folder / 'vectors').glob('*.items-v1.npy'):\n"
        "        path.unlink(missing_ok=True)\n"
        "    CollectionStore(folder).matrix('m')\n")
    for pause in (0.3, 0.55, 0.8):
        process = subprocess.Popen([sys.executable, "-c", rewrite_forever, str(folder)], stdout=subprocess.PIPE)
        process.stdout.readline()
        time.sleep(pause)
        process.send_signal(signal.SIGKILL)
        process.wait()
        reopened = CollectionStore(folder)
        assert reopened.search("m", vectors[123], k=10) == expected
        assert np.array_equal(reopened.matrix("m").row_items, row_items_in_sqlite(folder))
        reopened.close()
    leftovers = list((folder / "vectors").glob("*.tmp"))
    for path in leftovers:  # a killed writer's temporary file, old enough to be given up
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    CollectionStore(folder).close()
    assert not list((folder / "vectors").glob("*.tmp"))
    assert len(list((folder / "vectors").glob("*.items-v1.npy"))) == 1
