"""The ANN index behind the shared searcher (embedengine/collections/ann.py, search.py), on real collections
with the threshold lowered: it agrees with exact search, deleted items never come back, filters hold, and a
kill -9 during an update leaves an index that is consistent or rebuilt on the next open."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from embedengine.collections import ann, search
from embedengine.documents import DocumentCollection
from embedengine.images_index import METHOD as IMAGE_METHOD
from embedengine.images_index import ImageCollection
from embedengine.linalg import normalise
from embedengine.runtime import resources_dir
from embedengine import store as store_module
from embedengine.store import CollectionStore, FileEntry

ROOT = Path(__file__).resolve().parents[1]
DIM = 16  # synthetic sets: few dimensions, so that HNSW's candidates hold the exact top 3 of random vectors
QUERIES = ["the flood and the ark of Noah", "a king of Israel goes to war", "bread and wine for the feast",
           "the heaven and the earth were created", "sons and daughters were born"]

pytestmark = pytest.mark.skipif(not ann.available(), reason="the ANN library (usearch) is not installed")


@pytest.fixture
def small_threshold(monkeypatch):
    """Every set of 10 or more vectors is searched through its ANN index, which re-scores only 10 × k
    candidates (fewer than the rows: the ANN really picks them), filtered or not."""
    monkeypatch.setattr(search, "ANN_MIN", 10)
    monkeypatch.setattr(search, "ANN_RESCORE", 1)
    monkeypatch.setattr(search, "EXACT_FILTERED_MAX", 0)  # filters and tombstones go through the ANN too


def write_texts(folder: Path, files: int = 24, words: int = 400) -> list[Path]:
    """``files`` real text files (consecutive parts of the shipped King James Bible) in two subfolders."""
    text = (resources_dir() / "corpus" / "kjv.txt").read_text(encoding="utf-8").split()
    paths = []
    for number in range(files):
        path = folder / ("first" if number % 2 else "second") / f"part{number:02d}.{'md' if number % 3 else 'txt'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(" ".join(text[number * 4000:number * 4000 + words]), encoding="utf-8")
        paths.append(path)
    return paths


def exact(collection, method: str, vector: np.ndarray, k: int, allowed=None) -> list[tuple[int, float]]:
    return collection.store.search(method, vector, k, allowed_items=allowed)


def assert_same_ranking(found, expected) -> None:
    assert [item for item, _ in found] == [item for item, _ in expected]
    assert np.allclose([score for _, score in found], [score for _, score in expected], atol=1e-5)


def index_files(collection) -> list[Path]:
    return sorted((collection.folder / ann.FOLDER).glob("*.usearch"))


def noisy_queries(matrix, dim: int, scale: float) -> list[np.ndarray]:
    return [normalise(matrix.rows_as_float32(np.array([row]))[0] + scale * np.random.default_rng(row).standard_normal(dim))
            for row in range(0, matrix.rows, max(1, matrix.rows // 12))]


def test_ann_search_of_real_documents_agrees_with_exact_search(small_threshold, tmp_path, models_dir):
    write_texts(tmp_path / "texts")
    with DocumentCollection("ann-docs", create=True) as collection:
        collection.index([tmp_path / "texts"], methods=["minilm"])
        matrix = collection.store.matrix("minilm")
        assert matrix.rows >= 24 and len(index_files(collection)) == 1  # built by the index run
        encoder = collection.encoder("minilm")
        vectors = [encoder.encode_query(text) for text in QUERIES] + noisy_queries(matrix, 384, 0.02)
        assert matrix.rows > 30  # k = 3: 30 candidates of them are re-scored
        found = [collection.nearest("minilm", vector, 3) for vector in vectors]
        assert matrix._float32 is None  # no ANN search converted the whole set to float32
        for vector, ranked in zip(vectors, found):
            assert_same_ranking(ranked, exact(collection, "minilm", vector, 3))


def test_ann_search_of_real_photos_agrees_with_exact_search(monkeypatch, tmp_path, models_dir):
    monkeypatch.setattr(search, "ANN_MIN", 2)
    photos = tmp_path / "photos"
    photos.mkdir()
    for source in (resources_dir() / "images").iterdir():
        if source.suffix != ".md":
            shutil.copy(source, photos / source.name)
    with ImageCollection("ann-photos", create=True) as collection:
        collection.index([photos])
        matrix = collection.store.matrix(IMAGE_METHOD)
        assert matrix.rows >= 10 and len(index_files(collection)) == 1
        for vector in noisy_queries(matrix, 2048, 0.01):
            assert_same_ranking(collection.nearest(IMAGE_METHOD, vector, 5), exact(collection, IMAGE_METHOD, vector, 5))
        (hit,) = collection.search(photos / "chelsea.png", k=1, exclude_self=False).hits
        assert Path(hit.path).name == "chelsea.png" and hit.score == pytest.approx(1.0, abs=1e-3)


def test_removed_and_changed_files_never_come_back_and_the_index_is_updated_not_rebuilt(small_threshold, tmp_path,
                                                                                          models_dir):
    paths = write_texts(tmp_path / "texts")
    with DocumentCollection("ann-changes", create=True) as collection:
        collection.index([tmp_path / "texts"], methods=["minilm"])
        removed, changed = paths[3], paths[4]
        old_items = {item.id: item.path for item in collection.store.iter_items()}
        gone = {i for i, path in old_items.items() if path in (str(removed), str(changed))}
        gone_vectors = collection.store.vectors_for_items("minilm", sorted(gone))
        rows_before = collection.store.matrix("minilm").rows
        notices = list(collection.searcher.notices)  # the first build's
        removed.unlink()
        changed.write_text("A completely different text about volcanoes and lava flows.", encoding="utf-8")
        collection.index(methods=["minilm"])
        matrix = collection.store.matrix("minilm")
        assert matrix.rows > rows_before and matrix.generation == 0  # appended rows, no compaction
        (index_file,) = index_files(collection)
        assert f".0.{matrix.rows}.v{ann.FORMAT}." in index_file.name  # brought up to date, the old file removed
        assert collection.searcher.notices == notices  # never rebuilt
        live = {item.id for item in collection.store.iter_items()}
        for vector in gone_vectors:  # the removed passages' own vectors: their best matches are gone
            found = collection.nearest("minilm", vector, len(live))
            assert {item for item, _ in found} == live
            assert_same_ranking(found[:3], exact(collection, "minilm", vector, 3))
        lava = collection.search("lava from a volcano", "minilm", k=1).hits[0]
        assert lava.file_name == changed.name


def test_a_filter_returns_only_matching_files(small_threshold, tmp_path, models_dir):
    write_texts(tmp_path / "texts")
    with DocumentCollection("ann-filter", create=True) as collection:
        collection.index([tmp_path / "texts"], methods=["minilm"])
        first = str(tmp_path / "texts" / "first")
        for query in QUERIES:
            hits = collection.search(query, "minilm", k=5, folder=first).hits
            assert hits and all(Path(hit.path).parent == Path(first) for hit in hits)
            typed = collection.search(query, "minilm", k=5, file_types=[".txt"]).hits
            assert typed and all(hit.path.endswith(".txt") for hit in typed)
            vector = collection.encoder("minilm").encode_query(query)
            allowed = collection.store.item_ids_for_paths(lambda path: path.startswith(first + "/"))
            found = collection.nearest("minilm", vector, 2, allowed)  # 20 candidates fetched of ~70 rows
            assert set(item for item, _ in found) <= set(allowed.tolist())
            assert_same_ranking(found, exact(collection, "minilm", vector, 2, allowed))


def synthetic_store(folder: Path, rows: int, dim: int = DIM, seed: int = 0) -> CollectionStore:
    store = CollectionStore(folder)
    add_rows(store, rows, dim, seed)
    return store


def add_rows(store: CollectionStore, rows: int, dim: int, seed: int) -> None:
    vectors = normalise(np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32))
    files = [FileEntry(f"/synthetic/{seed}-{n}.txt", 1, 1.0, payloads=[{"n": j} for j in range(10)])
             for n in range(rows // 10)]
    store.write_batch(files, {"v": vectors})


def assert_agrees_with_exact(store: CollectionStore, searcher: search.VectorSearcher, queries: int = 20) -> None:
    """Every query's best item and every score exact; the top 3 as a whole at recall ≥ 0.9: the index is
    approximate (usearch's int8 graph misses a true top-3 row in about 1 search of 40 on random vectors, even
    with 400 of 500 rows as candidates)."""
    matrix = store.matrix("v")
    found_all = expected_all = 0
    for seed in range(queries):
        vector = normalise(np.random.default_rng(1000 + seed).standard_normal(matrix.stored.shape[1]))
        found, expected = searcher.nearest("v", vector, 3), store.search("v", vector, 3)
        assert found[0][0] == expected[0][0] and np.isclose(found[0][1], expected[0][1], atol=1e-5)
        exact = dict(store.search("v", vector, matrix.rows))
        assert all(np.isclose(score, exact[item], atol=1e-5) for item, score in found)  # re-scored exactly
        found_all += len({item for item, _ in found} & {item for item, _ in expected})
        expected_all += len(expected)
    assert found_all >= 0.9 * expected_all, f"recall@3 {found_all / expected_all:.2f}"


def test_a_damaged_or_older_index_is_rebuilt_with_a_message(small_threshold, tmp_path):
    with synthetic_store(tmp_path / "c", 500) as store:
        assert search.VectorSearcher(store).prepare("v")
    (saved,) = (tmp_path / "c" / ann.FOLDER).glob("*.usearch")
    saved.write_bytes(saved.read_bytes()[:1000])  # damaged
    with CollectionStore(tmp_path / "c") as store:
        searcher = search.VectorSearcher(store)
        assert searcher.prepare("v")
        assert "damaged" in searcher.notices[0]
        assert_agrees_with_exact(store, searcher)
    older = saved.with_name(saved.name.replace(f".v{ann.FORMAT}.", ".v0."))
    saved.rename(older)  # a file of an older format
    with CollectionStore(tmp_path / "c") as store:
        searcher = search.VectorSearcher(store)
        assert searcher.prepare("v")
        assert "older version" in searcher.notices[0]
        assert not older.exists() and len(list(older.parent.glob("*.usearch"))) == 1
        assert_agrees_with_exact(store, searcher)


UPDATER = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
sys.path.insert(0, {tests!r})
from embedengine.collections import search
from embedengine.store import CollectionStore
from test_ann import add_rows
search.ANN_MIN = 10
store = CollectionStore(Path({folder!r}))
searcher = search.VectorSearcher(store)
for round in range(1000):
    add_rows(store, 2000, {dim}, seed=round + 1)
    print("updating", flush=True)
    searcher.prepare("v")
"""


def test_kill_9_during_an_ann_update_leaves_a_consistent_or_rebuilt_index(small_threshold, tmp_path):
    with synthetic_store(tmp_path / "c", 2000) as store:
        assert search.VectorSearcher(store).prepare("v")
    script = UPDATER.format(root=str(ROOT), tests=str(ROOT / "tests"), folder=str(tmp_path / "c"), dim=DIM)
    behind = []
    for delay in (0.0, 0.05, 0.3):
        process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(2):  # the second update: the kill lands in the middle of it (or just after)
            assert process.stdout.readline().strip() == "updating"
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdout.close()
        with CollectionStore(tmp_path / "c") as store:
            searcher = search.VectorSearcher(store)
            saved = ann.newest_rows(tmp_path / "c", "v", 0)
            behind.append(saved < store.matrix("v").rows)  # killed before its update was saved
            assert_agrees_with_exact(store, searcher, queries=5)  # before any update: old index + exact tail
            assert searcher.prepare("v")
            index = searcher.ann_index(store.matrix("v"), wait=False)
            assert index.rows == store.matrix("v").rows
            assert_agrees_with_exact(store, searcher, queries=5)
    assert any(behind)


def test_memory_mapped_vectors_stay_readable_across_a_compaction(small_threshold, tmp_path, monkeypatch):
    """Large vector files are mapped, not read: searching touches only the candidates' pages, and a
    compaction (a new file; the old one deleted) leaves an open matrix readable and the new one right."""
    monkeypatch.setattr(store_module, "MAP_VECTORS_FROM_BYTES", 0)
    with synthetic_store(tmp_path / "c", 3000) as store:
        searcher = search.VectorSearcher(store)
        assert searcher.prepare("v")
        before = store.matrix("v")
        assert isinstance(before.stored, np.memmap)
        store.remove_files([f"/synthetic/0-{n}.txt" for n in range(150)])  # half the rows: compacted
        assert store.compact("v")
        after = store.matrix("v")
        assert after.generation == 1 and isinstance(after.stored, np.memmap)
        assert np.array_equal(before.stored[1500:1510], after.stored[:10])  # the old mapping is still readable
        assert_agrees_with_exact(store, searcher)  # exact while the new generation's index is built
        assert searcher.prepare("v")
        assert [p.name for p in (tmp_path / "c" / ann.FOLDER).glob("*.usearch")] == [f"v.1.1500.v{ann.FORMAT}.usearch"]
        assert_agrees_with_exact(store, searcher)
