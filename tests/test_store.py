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
