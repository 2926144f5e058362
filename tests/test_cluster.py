"""Indexing on a Ray cluster (embedengine/cluster.py): a local Ray instance with 2 actors indexes real files into
the same collection format, with the same top-10 as a local index, incrementally, and from the command line.

Ray comes with the optional extra ``cluster`` (ray[data], about 500 MB installed); the test extra installs it, so
these tests run in every `make test` (without Ray, the import below fails, naming the extra).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from embedengine.cluster import (RaySettings, decode_row, encode_row, error_row, on_cluster, ray_session,
                                 read_on_cluster, shard_columns)
from embedengine.collections.files import FileStat
from embedengine.documents import DocumentCollection
from embedengine.errors import UserError
from embedengine.images_index import ImageCollection
from embedengine.runtime import ModelMissingError, resources_dir
from embedengine.store import FileEntry

ROOT = Path(__file__).resolve().parents[1]
TWO_WORKERS = RaySettings(batch_size=24, concurrency=2, cpus_per_actor=1, local_cpus=2)
QUERIES = ("the flood covered the earth and the ark floated", "bread and wine at the feast", "the king of Egypt",
           "a shepherd keeps his sheep", "war and swords and the battle", "the stars of heaven at night")


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray instance (2 CPUs: two 1-CPU actors) for the module; the runs below reuse it."""
    with ray_session(TWO_WORKERS) as ray:
        yield ray


def scripture_folder(base: Path, files: int = 300, verses: int = 4) -> Path:
    """``files`` text files of ``verses`` consecutive KJV verses each, taken across the whole book."""
    lines = [line.strip() for line in (resources_dir() / "corpus" / "kjv.txt").read_text(encoding="utf-8").splitlines()
             if len(line.split()) > 6]
    stride = len(lines) // files
    base.mkdir(parents=True)
    for n in range(files):
        (base / f"part{n:03d}.txt").write_text(" ".join(lines[n * stride:n * stride + verses]), encoding="utf-8")
    return base


def photo_folder(base: Path) -> Path:
    """The demo photos, each also mirrored and at half size (33 images)."""
    base.mkdir(parents=True)
    for source in sorted((resources_dir() / "images").iterdir()):
        if source.suffix.lower() not in ImageCollection.extensions:
            continue
        shutil.copy(source, base / source.name)
        with Image.open(source) as image:
            image = image.convert("RGB")
            ImageOps.mirror(image).save(base / f"{source.stem}-mirrored.png")
            image.resize((image.width // 2, image.height // 2)).save(base / f"{source.stem}-half.png")
    return base


def ranked_passages(collection: DocumentCollection, query: str) -> tuple[list, np.ndarray]:
    hits = collection.search(query, k=10).hits
    return [(h.path, h.page, h.start, h.end) for h in hits], np.array([h.score for h in hits])


def test_a_ray_index_of_documents_has_the_same_top_10_as_a_local_index(ray_cluster, models_dir, tmp_path):
    folder = scripture_folder(tmp_path / "scripture")
    with DocumentCollection("local") as local:
        local_report = local.index([folder])
    with on_cluster(DocumentCollection, TWO_WORKERS)("ray") as remote:
        ray_report = remote.index([folder])
    assert ray_report.files_new == local_report.files_new == 300
    assert ray_report.items == local_report.items > 0 and not ray_report.skipped
    assert ray_report.embedded == local_report.embedded == {"minilm": local_report.items}
    with DocumentCollection.open("ray") as remote, DocumentCollection.open("local") as local:  # as the app opens it
        assert remote.store.vector_sets()[0].settings == local.store.vector_sets()[0].settings
        for query in QUERIES:
            ray_hits, ray_scores = ranked_passages(remote, query)
            local_hits, local_scores = ranked_passages(local, query)
            assert ray_hits == local_hits, query
            np.testing.assert_allclose(ray_scores, local_scores, atol=1e-3)


def test_a_ray_index_of_images_has_the_same_neighbours_labels_and_thumbnails(ray_cluster, models_dir, tmp_path):
    folder = photo_folder(tmp_path / "photos")
    with ImageCollection("local") as local:
        local.index([folder])
    with on_cluster(ImageCollection, TWO_WORKERS)("ray") as remote:
        report = remote.index([folder])
    assert report.files_new == report.items == 33 and report.embedded == {"resnet50": 33}
    with ImageCollection.open("ray") as remote, ImageCollection.open("local") as local:
        for query in sorted(folder.glob("*-half.png"))[:6]:
            ray_hits, local_hits = remote.search(query, k=10).hits, local.search(query, k=10).hits
            assert [h.path for h in ray_hits] == [h.path for h in local_hits], query.name
            np.testing.assert_allclose([h.score for h in ray_hits], [h.score for h in local_hits], atol=1e-3)
            assert [h.labels for h in ray_hits] == [h.labels for h in local_hits]
            for hit in ray_hits:  # the thumbnails the workers made are in the collection, where the app looks
                assert Path(hit.thumbnail).read_bytes()[:2] == b"\xff\xd8", hit.path
                assert Path(hit.thumbnail).relative_to(remote.thumbs_dir)


def test_the_actors_return_shards_with_payloads_vectors_and_thumbnails(ray_cluster, models_dir, tmp_path):
    notes = scripture_folder(tmp_path / "notes", files=5)
    photos = [resources_dir() / "images" / name for name in ("horse.png", "rocket.jpg")]

    def shards(kind, paths, methods):
        stats = [FileStat(str(p), p.stat().st_size, p.stat().st_mtime) for p in paths]
        return {entry.path: (entry, vectors, files)
                for entry, vectors, files, _ in map(decode_row, read_on_cluster(kind, stats, {}, methods, TWO_WORKERS))}

    passages = shards(DocumentCollection, sorted(notes.iterdir()), ["minilm"])
    with DocumentCollection("local") as local:
        encoder = local.encoder("minilm")
        for entry, vectors, _ in passages.values():  # read and embedded by the actors, as a local run does
            texts = [payload["text"] for payload in entry.payloads]
            np.testing.assert_allclose(vectors["minilm"], encoder.encode(texts), atol=1e-5)
    images = shards(ImageCollection, photos, [])
    assert sorted(images) == sorted(str(p) for p in photos)
    thumbnails = {name: data for _, _, files in images.values() for name, data in files.items()}
    for entry, vectors, _ in images.values():
        assert vectors["resnet50"].shape == (1, 2048) and entry.payloads[0]["labels"]
        assert thumbnails[f"thumbs/{entry.payloads[0]['thumb']}"][:2] == b"\xff\xd8"  # shipped with the shard


def test_a_ray_rerun_reads_only_new_and_changed_files(ray_cluster, models_dir, tmp_path):
    folder = scripture_folder(tmp_path / "scripture", files=40)
    cluster_kind = on_cluster(DocumentCollection, TWO_WORKERS)
    with cluster_kind("notes") as collection:
        first = collection.index([folder])
        again = collection.index()
    assert first.files_new == 40 and first.embedded == {"minilm": first.items}
    assert (again.files_unchanged, again.files_new, again.items_added, again.embedded) == (40, 0, 0, {})

    (folder / "part000.txt").write_text("The lighthouse keeper polished the great lens every evening.")
    (folder / "part001.txt").unlink()
    (folder / "extra.txt").write_text("Glaciers carve deep valleys as they creep down the mountain.")
    with cluster_kind("notes") as collection:
        changed = collection.index()
        hits = collection.search("a glacier moving down a mountain", k=3).hits
        lens = collection.search("the keeper of the lighthouse", k=1).hits
        paths = set(collection.store.file_paths())
    assert (changed.files_new, changed.files_changed, changed.files_removed, changed.files_unchanged) == (1, 1, 1, 38)
    assert changed.items_added == changed.embedded["minilm"] == 2  # only the two files read, on the cluster
    assert hits[0].file_name == "extra.txt" and lens[0].file_name == "part000.txt"
    assert str(folder / "part001.txt") not in paths and len(paths) == 40


def test_the_command_line_ray_index_prints_one_json_report_like_a_local_one(ray_cluster, models_dir, tmp_path):
    folder = scripture_folder(tmp_path / "scripture", files=30)
    address = ray_cluster.get_runtime_context().gcs_address  # the module's local instance, as a cluster

    def index(*options: str) -> dict:
        run = subprocess.run([sys.executable, "-m", "embedengine.cli", "docs", "index", str(folder), *options, "--json"],
                             cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-2000:]
        return json.loads(run.stdout)  # the whole of stdout is one JSON document: no Ray output mixed in

    local = index("--collection", "local")
    remote = index("--collection", "ray", "--ray", address, "--ray-batch-size", "8", "--ray-concurrency", "2")
    assert remote.keys() == local.keys()
    same = ("kind", "item_noun", "roots", "files_seen", "files_new", "files_removed", "items_added", "embedded", "items",
            "skipped", "cancelled")
    assert {k: remote[k] for k in same} == {k: local[k] for k in same}
    assert remote["collection"] == "ray" and remote["files_new"] == 30 and remote["items_per_s"] > 0


def test_a_shard_row_keeps_odd_file_names_and_a_workers_error_reaches_the_user(tmp_path):
    import pyarrow as pa

    odd = os.fsdecode(b"/data/caf\xe9 \xff.txt")  # not UTF-8: kept as the store keeps it
    entry = FileEntry(odd, 12, 3.5, "ab" * 32, payloads=[{"text": "x", "page": None}, {"text": "y", "page": None}])
    vectors = {"minilm": np.arange(6, dtype=np.float32).reshape(2, 3)}
    rows = pa.table(shard_columns([encode_row(entry, vectors, {"thumbs/ab/c.jpg": b"\xff\xd8"}, {"minilm": {"a": 1}}),
                                   error_row(ModelMissingError(Path("/nodes/models/minilm.onnx")))])).to_pylist()
    back, back_vectors, files, settings = decode_row(rows[0])
    assert back == entry and files == {"thumbs/ab/c.jpg": b"\xff\xd8"} and settings == {"minilm": {"a": 1}}
    np.testing.assert_array_equal(back_vectors["minilm"], vectors["minilm"])
    with pytest.raises(UserError, match="on a Ray worker: /nodes/models/minilm.onnx is missing") as raised:
        decode_row(rows[1])
    assert "models build" in raised.value.hint
