"""What every kind of collection does the same way (documents and images through the one base)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from documents_fixtures import write_notes
from embedengine.collections import search
from embedengine.collections.report import IndexReport
from embedengine.documents import DocumentCollection
from embedengine.errors import UserError
from embedengine.images_index import ImageCollection
from embedengine.linalg import normalise
from embedengine.runtime import resources_dir

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ("rocket.jpg", "horse.png", "camera.png", "brick.png")


def documents_folder(base: Path) -> Path:
    write_notes(base)
    (base / "sub").mkdir()
    (base / "sub" / "deep.txt").write_text("A note kept in a sub-folder about tides and the moon.")
    return base


def images_folder(base: Path) -> Path:
    base.mkdir(parents=True)
    for name in PHOTOS[:3]:
        shutil.copy(resources_dir() / "images" / name, base / name)
    (base / "sub").mkdir()
    shutil.copy(resources_dir() / "images" / PHOTOS[3], base / "sub" / PHOTOS[3])
    return base


KINDS = {"documents": (DocumentCollection, documents_folder), "images": (ImageCollection, images_folder)}


@pytest.fixture(params=sorted(KINDS))
def kind(request, models_dir):
    return KINDS[request.param]


def test_every_kind_reports_with_the_same_names(kind, tmp_path):
    collection_class, make_folder = kind
    folder = make_folder(tmp_path / "data")
    with collection_class("same", create=True) as collection:
        report = collection.index([folder])
        status = collection.status()
    assert isinstance(report, IndexReport) and report.kind == collection_class.kind
    assert report.files_new == report.files_seen and report.items == status.items > 0
    assert report.embedded and status.pending in ({}, {"minilm": 0})


def test_removing_a_subfolder_forgets_its_files_and_keeps_it_out(kind, tmp_path):
    collection_class, make_folder = kind
    folder = make_folder(tmp_path / "data")
    with collection_class("sub", create=True) as collection:
        collection.index([folder])
        before = collection.store.count_files()
        removed = collection.remove_folder(folder / "sub")
        assert (removed.files_removed, removed.files_left, removed.roots_left) == (1, before - 1, [str(folder)])
        again = collection.index()
        assert (again.files_new, again.files_seen) == (0, before - 1)  # the sub-folder stays out
        assert not any("/sub/" in path for path in collection.store.file_paths())
        with pytest.raises(UserError, match="not a folder of this collection"):
            collection.remove_folder(tmp_path)


def test_a_folder_inside_another_root_counts_each_file_once(kind, tmp_path):
    collection_class, make_folder = kind
    folder = make_folder(tmp_path / "data")
    with collection_class("nested", create=True) as collection:
        first = collection.index([folder])
        again = collection.index([folder / "sub"])
    assert again.files_seen == first.files_seen == again.files_unchanged


def test_an_unavailable_folder_keeps_its_items(kind, tmp_path):
    """An unplugged drive: its items stay, the report and status say so; back again, nothing is re-read."""
    collection_class, make_folder = kind
    folder = make_folder(tmp_path / "drive")
    with collection_class("unplugged", create=True) as collection:
        items = collection.index([folder]).items
        folder.rename(tmp_path / "elsewhere")
        report = collection.index()
        assert (report.unavailable, report.files_removed, report.items) == ([str(folder)], 0, items)
        assert collection.status().unavailable == [str(folder)]
        (tmp_path / "elsewhere").rename(folder)
        back = collection.index()
        assert (back.files_new, back.files_changed, back.items, back.unavailable) == (0, 0, items, [])


def test_search_during_an_index_run_sees_the_committed_passages(tmp_path, models_dir, monkeypatch):
    """A second reader (the GUI searching while the worker indexes) gets committed rows only, and no error."""
    folder = tmp_path / "many"
    folder.mkdir()
    for number in range(12):
        (folder / f"note{number:02d}.txt").write_text(f"Note {number} is about the harbour, ships and tides.")
    monkeypatch.setattr(DocumentCollection, "items_per_commit", 2)
    seen: list[tuple[int, int]] = []
    reader = DocumentCollection("busy", create=True)

    def search_meanwhile(progress):
        if progress.stage == "embed" and threading.current_thread() is not threading.main_thread():
            result = reader.search("ships in the harbour", k=20)
            seen.append((len(result.hits), reader.store.live_count("minilm")))

    writer = DocumentCollection("busy")
    worker = threading.Thread(target=writer.index, args=([folder],), kwargs={"progress": search_meanwhile})
    worker.start()
    worker.join(120)
    assert seen and all(hits == committed for hits, committed in seen)
    assert seen[0][1] < 12 and reader.search("ships", k=20).passages_searched == 12
    writer.close()
    reader.close()


def test_int8_first_pass_ranks_signed_text_vectors_exactly(tmp_path, models_dir, monkeypatch):
    """MiniLM vectors have both signs: the first pass still picks the exact best among re-scored candidates."""
    folder = documents_folder(tmp_path / "notes")
    with DocumentCollection("fast", create=True) as collection:
        collection.index([folder])
        monkeypatch.setattr(search, "FAST_SEARCH_MIN", 0)
        monkeypatch.setattr(search, "RERANK", 1)
        matrix = collection.store.matrix("minilm")
        assert matrix.vectors.min() < 0
        for row in range(matrix.rows):
            query = normalise(matrix.vectors[row] + 0.1 * np.random.default_rng(row).standard_normal(384))
            fast = collection.nearest("minilm", query, k=3)
            exact = collection.store.search("minilm", query, k=3)
            assert [i for i, _ in fast] == [i for i, _ in exact]
            approximate = collection.searcher.int8_copy(matrix).scores(query)
            assert np.corrcoef(approximate, matrix.vectors @ query)[0, 1] > 0.99
        assert len(list(collection.folder.glob("search-int8/minilm.*.weights.npy"))) == 1


def test_a_damaged_int8_copy_is_rebuilt(tmp_path, models_dir, monkeypatch):
    folder = images_folder(tmp_path / "pics")
    monkeypatch.setattr(search, "FAST_SEARCH_MIN", 2)
    with ImageCollection("damaged", create=True) as collection:
        collection.index([folder])
        copy = next(collection.folder.glob("search-int8/*.weights.npy"))
        copy.write_bytes(copy.read_bytes()[:100])
    (collection.folder / "search-int8.0.3.onnx").write_bytes(b"old")  # a version 0.1 copy
    with ImageCollection("damaged") as reopened:
        query = reopened.store.matrix("resnet50").rows_as_float32(np.array([1]))[0]
        assert reopened.nearest("resnet50", query, k=1)[0][1] == pytest.approx(1.0, abs=1e-3)
        assert np.load(copy).shape[1] == 4
        assert not list(reopened.folder.glob("search-int8.*.onnx"))


def test_a_typo_leaves_no_collection_behind(kind, tmp_path):
    collection_class, _ = kind
    with pytest.raises(UserError):
        collection_class.open("never-made")
    assert "never-made" not in collection_class.names()


def test_one_writer_at_a_time_and_a_second_run_is_told_why(tmp_path, models_dir):
    folder = documents_folder(tmp_path / "notes")
    with DocumentCollection("locked", create=True) as collection, collection.writer():
        run = subprocess.run([sys.executable, "-m", "embedengine.cli", "docs", "index", str(folder),
                              "--collection", "locked", "--json"], cwd=ROOT, capture_output=True, text=True,
                             env=dict(os.environ), timeout=120)
        with pytest.raises(UserError, match="being indexed by another run"):
            collection.index([folder])  # the same process, another handle: refused too
    assert run.returncode == 2 and "Traceback" not in run.stderr
    error = json.loads(run.stdout)
    assert "being indexed by another run" in error["error"] and f"process {os.getpid()}" in error["error"]
    with DocumentCollection("locked") as collection:  # the lock went with its holder
        assert collection.index([folder]).files_new == 5


def test_two_index_runs_at_once_never_store_a_passage_twice(tmp_path, models_dir):
    folder = tmp_path / "many"
    folder.mkdir()
    for number in range(40):
        (folder / f"note{number:02d}.txt").write_text(f"Note {number}: the harbour, the ships and the tides.")
    command = [sys.executable, "-m", "embedengine.cli", "docs", "index", str(folder), "--collection", "race",
               "--json"]
    runs = [subprocess.Popen(command, cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert sorted(run.returncode for run in runs) in ([0, 0], [0, 2])
    assert not any("Traceback" in err for _, err in outputs)
    with DocumentCollection("race") as collection:
        hits = collection.search("ships in the harbour", k=50).hits
        assert len(hits) == len({hit.item_id for hit in hits}) == 40
        assert collection.store.live_count("minilm") == 40


def test_duplicate_vectors_of_an_older_file_are_repaired_on_open(tmp_path):
    """A collection written by two runs at once before the lock existed: each item keeps one vector."""
    from embedengine.store import CollectionStore, FileEntry

    folder = tmp_path / "old"
    with CollectionStore(folder) as store:
        ids = store.write_batch([FileEntry("/x.txt", 1, 0.0, payloads=[{"t": 1}, {"t": 2}])],
                                {"m": normalise(np.eye(2, 4, dtype=np.float32))})
    with sqlite3.connect(folder / "index.sqlite") as db:  # as version 1 allowed: a second row for item 0
        db.execute("DROP INDEX vector_rows_method_item")
        db.execute("INSERT INTO vector_rows VALUES ('m', 2, ?)", (ids[0],))
        db.execute("UPDATE vector_sets SET rows = 3")
        db.execute("PRAGMA user_version = 1")
    with open(folder / "vectors" / "m.0.f16", "ab") as handle:
        handle.write(np.eye(1, 4, dtype=np.float16).tobytes())
    with CollectionStore(folder) as store:
        hits = store.search("m", np.eye(1, 4, dtype=np.float32)[0], k=3)
        assert [item for item, _ in hits] == ids and store.live_count("m") == 2
