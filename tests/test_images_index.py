"""Image collections with real photos: similar-image search, labels, near-duplicates, bad files, resilience.

Photos: the six reference photos of ``tests/fixtures/resnet50_tfjs_reference.npz`` written as files, plus
four shipped demo photos; variants (crop, flip, resize, JPEG q=20, brightness ±10 %) are made here.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from embedengine import cli, duplicates, images_index
from embedengine.collections import search
from embedengine.errors import UserError
from embedengine.images_index import ImageCollection, label_words
from embedengine.linalg import normalise
from embedengine.runtime import resources_dir
from embedengine.tasks import CancelToken

ROOT = Path(__file__).resolve().parents[1]
DEMO_PHOTOS = ("hubble_deep_field.jpg", "retina.jpg", "horse.png", "brick.png")  # not in the npz
WITH_COPIES = ("chelsea", "rocket", "hubble_deep_field")  # originals that get near-duplicate copies indexed
VARIANTS = ("crop", "flip", "resize", "jpeg20", "brighter", "darker")


def make_variant(image: Image.Image, kind: str) -> Image.Image:
    """A recognisable edit of a photo, as a person would make it."""
    width, height = image.size
    if kind == "crop":
        return image.crop((int(width * 0.08), int(height * 0.08), int(width * 0.92), int(height * 0.92)))
    if kind == "flip":
        return ImageOps.mirror(image)
    if kind == "resize":
        return image.resize((width // 2, height // 2), Image.Resampling.BILINEAR)
    if kind == "jpeg20":
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=20)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    factor = {"brighter": 1.1, "darker": 0.9}[kind]
    return ImageEnhance.Brightness(image).enhance(factor)


def png_with_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width``×``height`` pixels (a decompression bomb's signature)."""
    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    header = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + header) & 0xFFFFFFFF)
    return bytes(data)


def garbled_png() -> bytes:
    """A PNG whose header is fine but whose compressed pixel data is damaged."""
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    start = data.index(b"IDAT") + 4
    data[start + 10:start + 60] = bytes(50)  # zeros inside the zlib stream
    return bytes(data)


def write_bad_files(folder: Path) -> dict[str, str]:
    """Files that cannot be used, each with the reason the index must give."""
    folder.mkdir(parents=True, exist_ok=True)
    good = io.BytesIO()
    Image.new("RGB", (300, 200), (200, 30, 30)).save(good, "JPEG", quality=90)
    expected = {}
    (folder / "empty.jpg").write_bytes(b"")
    expected["empty.jpg"] = "empty file"
    (folder / "notes.jpg").write_text("these are my holiday notes, not a picture\n")
    expected["notes.jpg"] = "not an image"
    (folder / "truncated.jpg").write_bytes(good.getvalue()[: len(good.getvalue()) // 3])
    expected["truncated.jpg"] = "corrupt or truncated"
    (folder / "garbled.png").write_bytes(garbled_png())
    expected["garbled.png"] = "corrupt or truncated"
    (folder / "bomb.png").write_bytes(png_with_size(50_000, 50_000))
    expected["bomb.png"] = "too large (decompression bomb)"
    if make_unreadable(folder / "locked.jpg", good.getvalue()):  # as root: a link out of the folder, not followed
        expected["locked.jpg"] = ("unreadable: Permission denied" if os.geteuid() != 0
                                  else "link to a file outside the collection's folders (not followed)")
    return expected


def make_unreadable(path: Path, content: bytes) -> bool:
    """A file that exists but cannot be read: chmod 000, or (as root) a link to a write-only kernel file."""
    if os.geteuid() != 0:
        path.write_bytes(content)
        path.chmod(0)
        return True
    for candidate in ("/sys/bus/pci/rescan", "/sys/kernel/mm/page_idle/bitmap", "/sys/power/wakeup_count"):
        try:
            open(candidate, "rb").close()
        except PermissionError:
            path.symlink_to(candidate)
            return True
        except OSError:
            continue
    return False


@pytest.fixture(scope="session")
def library(tmp_path_factory, fixtures_dir, models_dir):
    """A folder of real photos, near-duplicate copies and bad files, indexed once into its own home."""
    base = tmp_path_factory.mktemp("image-library")
    photos = base / "photos"
    originals = write_originals(photos / "originals", fixtures_dir)
    copies = {}
    for number, name in enumerate(WITH_COPIES):
        for kind in (VARIANTS[number], VARIANTS[number + 3]):
            path = photos / "copies" / f"{name}-{kind}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            make_variant(Image.open(originals[name]).convert("RGB"), kind).save(path, quality=92)
            copies.setdefault(name, []).append(path)
    bad = write_bad_files(photos / "bad")
    home = base / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBEDSTUDIO_HOME", str(home))
        patch.setenv("EMBEDSTUDIO_MODELS", str(models_dir))
        with ImageCollection("test", create=True) as collection:
            report = collection.index([photos], batch_size=8)
    return {"home": home, "folder": photos, "originals": originals, "copies": copies, "bad": bad, "report": report}


def write_originals(folder: Path, fixtures_dir: Path) -> dict[str, Path]:
    """The npz reference photos as PNG files plus a few shipped demo photos."""
    folder.mkdir(parents=True, exist_ok=True)
    data = np.load(fixtures_dir / "resnet50_tfjs_reference.npz")
    originals = {}
    for name, pixels in zip(data["names"], data["inputs_rgb_u8_nhwc"]):
        path = folder / f"{name}.png"
        Image.fromarray(pixels).save(path)
        originals[str(name)] = path
    for filename in DEMO_PHOTOS:
        shutil.copy(resources_dir() / "images" / filename, folder / filename)
        originals[Path(filename).stem] = folder / filename
    return originals


@pytest.fixture
def collection(library, monkeypatch):
    monkeypatch.setenv("EMBEDSTUDIO_HOME", str(library["home"]))
    with ImageCollection.open("test") as opened:
        yield opened


def resolved(path: Path) -> str:
    return str(path.resolve())


# ---------------------------------------------------------------------------------------------

def test_every_good_photo_is_indexed_and_every_bad_file_is_skipped_with_its_reason(library, collection):
    report = library["report"]
    good = len(library["originals"]) + sum(len(c) for c in library["copies"].values())
    assert report.items_added == good and collection.count() == good
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons == library["bad"]
    assert {Path(s.path).name: s.reason for s in collection.status().skipped} == library["bad"]
    assert report.items_per_s > 0 and not report.cancelled


def test_each_indexed_image_has_labels_size_and_a_cached_thumbnail(library, collection):
    hit = collection.image(library["originals"]["chelsea"])
    assert hit is not None and (hit.width, hit.height) == (224, 224)
    assert hit.labels[0][0] == "Egyptian cat" and len(hit.labels) == 5
    thumbnail = Image.open(hit.thumbnail)
    assert thumbnail.format == "JPEG" and max(thumbnail.size) <= 256
    big = collection.image(library["originals"]["hubble_deep_field"])
    assert (big.width, big.height) == (1000, 872) and max(Image.open(big.thumbnail).size) == 256


@pytest.mark.parametrize("kind", VARIANTS)
def test_a_variant_finds_its_original_first(library, collection, tmp_path, kind):
    for name in ("coffee", "astronaut", "sklearn_china", "retina"):  # originals without indexed copies
        query = tmp_path / f"{name}-{kind}.jpg"
        make_variant(Image.open(library["originals"][name]).convert("RGB"), kind).save(query, quality=95)
        result = collection.search(query, k=3)
        assert result.hits[0].path == resolved(library["originals"][name]), (kind, name, result.hits)
        assert result.hits[0].score > result.hits[1].score + 0.2


def test_a_pil_image_query_need_not_be_a_file(library, collection):
    image = make_variant(Image.open(library["originals"]["coffee"]).convert("RGB"), "crop")
    result = collection.search(image, k=1)
    assert result.hits[0].path == resolved(library["originals"]["coffee"])
    assert result.query_labels[0][0] == "espresso"


def test_an_indexed_query_is_not_its_own_first_result(library, collection):
    query = library["originals"]["chelsea"]
    result = collection.search(query, k=3)
    paths = [hit.path for hit in result.hits]
    assert resolved(query) not in paths
    assert set(paths[:2]) == {resolved(p) for p in library["copies"]["chelsea"]}


def test_int8_first_pass_of_large_collections_gives_the_exact_ranking(library, collection, monkeypatch):
    monkeypatch.setattr(search, "FAST_SEARCH_MIN", 0)  # use it on this small collection
    monkeypatch.setattr(search, "RERANK", 1)  # k=1: only 10 of the 22 images are re-scored exactly
    matrix = collection.store.matrix(images_index.METHOD)
    for row in range(matrix.rows):
        query = normalise(matrix.vectors[row] + 0.05 * np.abs(np.random.default_rng(row).standard_normal(2048)))
        fast = collection.nearest(images_index.METHOD, query, k=1)
        exact = collection.store.search(images_index.METHOD, query, k=1)
        assert fast[0][0] == exact[0][0] and abs(fast[0][1] - exact[0][1]) < 1e-5
        approximate = collection.searcher.int8_copy(matrix).scores(query)
        assert np.corrcoef(approximate, matrix.vectors @ query)[0, 1] > 0.999
    assert len(list(collection.folder.glob("search-int8/*.weights.npy"))) == 1


def test_an_index_run_of_a_large_collection_leaves_the_int8_copy_ready(models_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(search, "FAST_SEARCH_MIN", 2)  # "large" from 2 images
    folder = copy_demo_photos(tmp_path / "pics", 3)
    with ImageCollection("ready", create=True) as collection:
        stages = []
        collection.index([folder], progress=lambda p: stages.append(p.stage))
        assert stages[-1] == "search" and len(list(collection.folder.glob("search-int8/*.weights.npy"))) == 1
    with ImageCollection("ready") as reopened:  # a restart: the copy on disk is used, no vector is converted
        query = reopened.store.matrix(images_index.METHOD).rows_as_float32(np.array([0]))[0]
        assert reopened.nearest(images_index.METHOD, query, k=1)[0][1] == pytest.approx(1.0, abs=1e-3)
        assert reopened.store.matrix(images_index.METHOD)._float32 is None


def test_near_duplicates_group_each_original_with_its_copies(library, collection):
    result = collection.near_duplicates()
    groups = [{hit.path for hit in group.images} for group in result.groups]
    expected = [{resolved(library["originals"][name])} | {resolved(p) for p in library["copies"][name]}
                for name in WITH_COPIES]
    assert sorted(map(sorted, groups)) == sorted(map(sorted, expected))
    for group in result.groups:
        assert group.min_similarity >= result.threshold


def test_a_strict_threshold_splits_groups(library, collection):
    loose = collection.near_duplicates(0.85)
    strict = collection.near_duplicates(0.995)
    assert sum(len(g.images) for g in strict.groups) < sum(len(g.images) for g in loose.groups)
    with pytest.raises(UserError):
        collection.near_duplicates(0.1)


def test_label_search_finds_the_cat_but_not_polecats(library, collection):
    result = collection.search_by_label("cats")
    names = [Path(hit.path).stem for hit in result.hits]
    assert names and all(name.startswith("chelsea") for name in names)
    assert label_words("Cats and dogs") == ["cat", "and", "dog"]


def test_label_filter_combines_with_an_image_query(library, collection):
    query = library["originals"]["rocket"]
    unfiltered = collection.search(query, k=5)
    filtered = collection.search(query, k=5, label_filter="cat")
    assert all(Path(h.path).stem.startswith("chelsea") for h in filtered.hits)
    assert filtered.hits and unfiltered.hits[0].path != filtered.hits[0].path
    assert collection.search(query, k=5, label_filter="submarine").hits == []


def test_reindex_reads_only_new_changed_and_removed_files(models_dir, tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()
    sources = [resources_dir() / "images" / name for name in ("rocket.jpg", "horse.png", "camera.png")]
    for source in sources:
        shutil.copy(source, folder / source.name)
    with ImageCollection("inc", create=True) as collection:
        assert collection.index([folder]).items_added == 3
        horse_labels = collection.image(folder / "horse.png").labels
        again = collection.index()
        assert (again.items_added, again.files_unchanged, again.files_removed) == (0, 3, 0)
        os.utime(folder / "rocket.jpg", (1e9, 1e9))  # touched, same content: no re-encoding
        shutil.copy(resources_dir() / "images" / "brick.png", folder / "horse.png")  # changed content
        (folder / "camera.png").unlink()
        shutil.copy(resources_dir() / "images" / "retina.jpg", folder / "retina.jpg")
        report = collection.index()
        assert (report.items_added, report.files_unchanged, report.files_removed) == (2, 1, 1)
        assert collection.count() == 3
        assert len(list(collection.thumbs_dir.glob("*/*.jpg"))) == 3  # thumbnails of replaced files are gone
    with ImageCollection.open("inc", encoder=object()) as reopened:  # an encoder that cannot encode anything
        assert reopened.index().files_unchanged == 3  # nothing new: the model is not needed (nor loaded)
        horse = reopened.image(folder / "horse.png")  # now holds the brick texture
        assert horse.labels != horse_labels and (horse.width, horse.height) == (512, 512)


def test_excluded_and_hidden_folders_are_not_indexed(models_dir, tmp_path):
    for sub in ("keep", "raw", ".hidden"):
        (tmp_path / "pics" / sub).mkdir(parents=True)
        shutil.copy(resources_dir() / "images" / "horse.png", tmp_path / "pics" / sub / f"{sub}.png")
    with ImageCollection("ex", create=True) as collection:
        collection.set_excludes(["raw"])
        report = collection.index([tmp_path / "pics"])
        assert report.files_seen == 1 and Path(collection.image(tmp_path / "pics" / "keep" / "keep.png").path).name == "keep.png"


def test_cancel_keeps_what_was_done_and_the_next_run_finishes(models_dir, tmp_path):
    folder = copy_demo_photos(tmp_path / "pics", 8)
    token = CancelToken()
    seen = []

    def stop_after_two(progress):
        seen.append(progress)
        if progress.stage == "read" and progress.done >= 2:
            token.cancel()

    with ImageCollection("cancel", create=True) as collection:
        first = collection.index([folder], progress=stop_after_two, cancel=token, batch_size=2)
        assert first.cancelled and 2 <= collection.count() < 8
        assert any(p.eta_s is not None and p.total == 8 for p in seen)
        second = collection.index()
        assert not second.cancelled and second.items_added == 8 - first.items_added
        assert collection.count() == 8


def copy_demo_photos(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True)
    shipped = sorted(p for p in (resources_dir() / "images").iterdir() if p.suffix != ".md")[:n]
    for source in shipped:
        shutil.copy(source, folder / source.name)
    return folder


KILLER = """
import os, signal, sys
from embedengine.images_index import ImageCollection
def die(progress):
    if progress.stage == "read" and progress.done >= 5:
        os.kill(os.getpid(), signal.SIGKILL)
ImageCollection.files_per_commit = 2
with ImageCollection("killed", create=True) as collection:
    collection.index([sys.argv[1]], progress=die, batch_size=2)
"""


def test_kill_9_mid_index_leaves_an_index_that_opens_and_resumes(models_dir, tmp_path, isolated_home):
    folder = copy_demo_photos(tmp_path / "pics", 9)
    run = subprocess.run([sys.executable, "-c", KILLER, str(folder)], cwd=ROOT, env=dict(os.environ),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == -signal.SIGKILL, run.stderr
    with ImageCollection.open("killed") as collection:
        survived = collection.count()
        assert 2 <= survived < 9
        report = collection.index()
        assert report.items_added == 9 - survived and collection.count() == 9
        query = sorted(folder.iterdir())[0]
        assert collection.search(query, k=1, exclude_self=False).hits[0].path == resolved(query)


def test_duplicate_groups_link_chains_and_leave_singletons_out():
    rng = np.random.default_rng(3)
    base = normalise(rng.standard_normal((6, 32)))
    near = normalise(base[[0, 0, 2]] + 0.05 * rng.standard_normal((3, 32)))
    groups = duplicates.duplicate_groups(np.vstack([base, near]), [None] * 9, 0.95)
    assert sorted(sorted(g.rows) for g in groups) == [[0, 6, 7], [2, 8]]
    assert not any(any(g.exact) for g in groups)


def test_identical_files_are_grouped_whatever_the_threshold():
    vectors = normalise(np.random.default_rng(4).standard_normal((4, 16)))
    vectors[3] = vectors[1] * (1 - 1e-6)  # the same picture's vector, off by rounding
    hashes = ["a", "b", "c", "b"]
    groups = duplicates.duplicate_groups(vectors, hashes, 1.0)
    assert [(sorted(g.rows), g.exact, g.best) for g in groups] == [([1, 3], [True, True], [1.0, 1.0])]
    assert duplicates.duplicate_groups(vectors, [None] * 4, 1.0) == []  # by vectors alone: not ≥ 1.0


def test_keep_suggestions_pick_the_most_pixels_and_the_latest_change():
    members = [duplicates.FileFacts(640, 480, 90_000, 100.0), duplicates.FileFacts(1280, 960, 80_000, 50.0),
               duplicates.FileFacts(1280, 960, 200_000, 10.0), duplicates.FileFacts(320, 240, 9_000, 300.0)]
    assert duplicates.keep_suggestions(members) == {"largest": 2, "newest": 3}
    copies = [duplicates.FileFacts(640, 480, 90_000, 20.0), duplicates.FileFacts(640, 480, 90_000, 10.0)]
    assert duplicates.keep_suggestions(copies) == {"largest": 1, "newest": 0}  # equals: the original, the copy


def test_the_default_cut_keeps_other_views_of_a_photo_and_drops_other_subjects(models_dir, tmp_path):
    """Re-measures the reasoning behind DEFAULT_MIN_SIMILARITY on the demo photos (see images_index)."""
    photos = sorted(p for p in (resources_dir() / "images").iterdir() if p.suffix != ".md")
    cut = images_index.DEFAULT_MIN_SIMILARITY
    with ImageCollection("cut", create=True) as collection:
        collection.index([resources_dir() / "images"])
        matrix = collection.store.matrix(images_index.METHOD)
        vectors = matrix.vectors[np.nonzero(matrix.live_mask())[0]]
        unrelated = (vectors @ vectors.T)[np.triu_indices(len(photos), 1)]
        assert np.mean(unrelated < cut) >= 0.95 and np.median(unrelated) < cut / 2
        for photo in photos:
            image = Image.open(photo).convert("RGB")
            width, height = image.size
            views = [ImageOps.mirror(image), image.resize((width // 2, height // 2)),
                     ImageEnhance.Brightness(image).enhance(0.8), image.crop((0, 0, int(width * 0.55), height))]
            for view in views:
                result = collection.search(view, k=len(photos), min_score=cut)
                shown = images_index.shown_hits(result.hits, result.min_score)
                assert shown and shown[0].path == str(photo.resolve()), photo.name
                assert len(shown) <= 2 and len(result.hits) == len(photos), [(h.path, h.score) for h in result.hits]


@pytest.fixture
def trash_home(tmp_path, monkeypatch) -> Path:
    """The freedesktop.org home trash moved into the test's folder (send2trash fixes it when imported)."""
    from send2trash import plat_other

    data_home = tmp_path / "xdg-data"
    monkeypatch.setattr(plat_other, "XDG_DATA_HOME", os.fsencode(data_home))
    monkeypatch.setattr(plat_other, "HOMETRASH_B", os.fsencode(data_home / "Trash"))
    monkeypatch.setattr(plat_other, "HOMETRASH", str(data_home / "Trash"))
    return data_home / "Trash"


def test_duplicates_go_to_the_trash_and_come_back_with_undo(models_dir, tmp_path, trash_home):
    folder = tmp_path / "holiday"
    folder.mkdir()
    original = folder / "rocket.jpg"
    shutil.copy(resources_dir() / "images" / "rocket.jpg", original)
    shutil.copy(original, folder / "rocket copy.jpg")  # byte-identical, made later
    os.utime(original, (1_500_000_000, 1_500_000_000))
    small = folder / "rocket-small.jpg"
    Image.open(original).resize((300, 200)).save(small, quality=80)
    os.utime(small, (2_000_000_000, 2_000_000_000))  # the newest
    shutil.copy(resources_dir() / "images" / "horse.png", folder / "horse.png")
    with ImageCollection("trip", create=True) as collection:
        collection.index([folder])
        (group,) = collection.near_duplicates().groups
        members = {Path(hit.path).name: hit for hit in group.images}
        assert set(members) == {"rocket.jpg", "rocket copy.jpg", "rocket-small.jpg"}
        assert sorted(map(lambda p: Path(p).name, group.exact)) == ["rocket copy.jpg", "rocket.jpg"]
        assert Path(group.keep["newest"]).name == "rocket-small.jpg" and group.keep["largest"] == str(original)
        assert group.keep["largest"] != group.keep["newest"] and members["rocket-small.jpg"].size < original.stat().st_size
        others = [hit.path for hit in group.images if hit.path != group.keep["largest"]]

        report = collection.trash(others)
        assert report.failed == [] and report.undoable and report.files_left == 2
        assert not any(Path(p).exists() for p in others) and Path(group.keep["largest"]).exists()
        in_trash = sorted(p.name for p in (trash_home / "files").iterdir())
        assert len(in_trash) == 2 and all(Path(t.trashed).parent == trash_home / "files" for t in report.trashed)
        assert collection.count() == 2 and collection.near_duplicates().groups == []
        with pytest.raises(UserError, match="not a file of collection"):
            collection.trash([str(resources_dir() / "images" / "chelsea.png")])

        restored = collection.restore([t.to_dict() for t in report.trashed])
        assert sorted(restored.restored) == sorted(others) and restored.failed == []
        assert all(Path(p).exists() for p in others) and list((trash_home / "files").iterdir()) == []
        assert list((trash_home / "info").iterdir()) == [] and collection.count() == 4
        assert len(collection.near_duplicates().groups[0].images) == 3
        again = collection.restore([t.to_dict() for t in report.trashed])
        assert again.restored == [] and "not found in the trash" in again.failed[0][1]


def coffee_variant(library, folder: Path) -> str:
    path = folder / "coffee-flip.jpg"
    make_variant(Image.open(library["originals"]["coffee"]).convert("RGB"), "flip").save(path)
    return str(path)


def test_cli_prints_one_json_document_per_command(library, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("EMBEDSTUDIO_HOME", str(library["home"]))
    coffee = str(library["originals"]["coffee"])
    commands = {
        "search": ["images", "search", coffee_variant(library, tmp_path), "-k", "1", "--collection", "test", "--json"],
        "label": ["images", "search", "--label", "cat", "--collection", "test", "--json"],
        "dupes": ["images", "dupes", "--collection", "test", "--json"],
        "status": ["images", "status", "--json"],
    }
    outputs = {}
    for name, argv in commands.items():
        assert cli.main(argv) == 0
        outputs[name] = json.loads(capsys.readouterr().out)
    assert [hit["path"] for hit in outputs["search"]["hits"]] == [coffee]
    assert outputs["label"]["hits"][0]["labels"][0][0] == "Egyptian cat"
    assert len(outputs["dupes"]["groups"]) == len(WITH_COPIES)
    assert outputs["status"]["collections"][0]["items"] == library["report"].items
    assert cli.main(["images", "search", str(library["folder"] / "bad" / "notes.jpg"), "--collection", "test", "--json"]) == 2
    error = json.loads(capsys.readouterr().out)
    assert error["reason"] == "not an image" and error["hint"]


def test_cli_index_reports_skipped_files(models_dir, tmp_path, capsys):
    write_bad_files(tmp_path / "pics")
    shutil.copy(resources_dir() / "images" / "horse.png", tmp_path / "pics" / "horse.png")
    assert cli.main(["images", "index", str(tmp_path / "pics"), "--collection", "mixed", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["items_added"] == 1 and {s["reason"] for s in report["skipped"]} >= {"empty file", "not an image"}
    assert cli.main(["images", "search", "--collection", "nothing-here", "--label", "cat", "--json"]) == 2
    assert "no images collection" in json.loads(capsys.readouterr().out)["error"]


def test_removing_a_folder_takes_its_images_and_thumbnails_out(models_dir, tmp_path, capsys):
    keep, drop = tmp_path / "keep", tmp_path / "drop"
    for folder, names in ((keep, ("rocket.jpg",)), (drop, ("horse.png", "camera.png"))):
        folder.mkdir()
        for name in names:
            shutil.copy(resources_dir() / "images" / name, folder / name)
    with ImageCollection("rm", create=True) as collection:
        collection.index([keep, drop])
        removed = collection.remove_folder(drop)
        assert (removed.files_removed, removed.files_left, removed.roots_left) == (2, 1, [str(keep.resolve())])
        assert [hit.path for hit in collection.search(drop / "horse.png", k=5).hits] == [str(keep / "rocket.jpg")]
        assert len(list(collection.thumbs_dir.glob("*/*.jpg"))) == 1 and (drop / "horse.png").exists()
        assert collection.index().files_removed == 0  # nothing left over for the next run
    assert cli.main(["images", "remove", str(keep), "--collection", "rm", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["files_removed"] == 1
    assert cli.main(["images", "remove", str(keep), "--collection", "rm", "--json"]) == 2
    assert "not a folder" in json.loads(capsys.readouterr().out)["error"]


# -- text inside the photos (OCR) ---------------------------------------------------------------

def write_text_photos(folder: Path) -> dict[str, Path]:
    """A fake invoice and a station sign rendered with a system font, and one demo photo without text."""
    from test_ocr import render_text

    folder.mkdir(parents=True, exist_ok=True)
    paths = {"invoice": folder / "invoice.png", "sign": folder / "sign.png", "photo": folder / "horse.png"}
    render_text(["INVOICE 2024", "total 42.00"], size=40).save(paths["invoice"])
    render_text(["PLATFORM 9"], size=48).save(paths["sign"])
    shutil.copy(resources_dir() / "images" / "horse.png", paths["photo"])
    return paths


def test_ocr_text_is_stored_and_searchable_when_switched_on(models_dir, tmp_path):
    paths = write_text_photos(tmp_path / "scans")
    with ImageCollection("ocr", create=True) as collection:
        collection.index([tmp_path / "scans"], ocr=True)
        found = collection.search_ocr_text("invoice 2024", k=5)
        sign = collection.search_ocr_text("Platform 9", k=5, filters={"folder": str(tmp_path / "scans")})
        texts = {Path(item.path).name: item.payload.get("ocr_text") for item in collection.store.iter_items()}
    assert found.hits[0].path == resolved(paths["invoice"]) and found.hits[0].score == 1.0
    assert any("2024" in line for line in found.hits[0].ocr_lines)
    assert [hit.path for hit in sign.hits] == [resolved(paths["sign"])] and found.method == "ocr"
    assert texts["horse.png"] is not None and "platform" not in texts["horse.png"].lower()


def test_ocr_off_stores_no_text_and_switching_it_on_fills_it_without_re_embedding(models_dir, tmp_path):
    paths = write_text_photos(tmp_path / "scans")
    with ImageCollection("later", create=True) as collection:
        collection.index([tmp_path / "scans"])
        assert all("ocr_text" not in item.payload for item in collection.store.iter_items())
        with pytest.raises(UserError, match="does not read the text"):
            collection.search_ocr_text("invoice")
        before = {item.path: item.id for item in collection.store.iter_items()}
        vectors_before = {path: collection.store.matrix("resnet50").rows_as_float32(
            np.array([list(collection.store.matrix("resnet50").row_items).index(i)])) for path, i in before.items()}
        report = collection.index(ocr=True)
        assert report.items_added == 0 and report.embedded == {}  # nothing read or embedded again
        matrix = collection.store.matrix("resnet50")
        rows = {int(item): row for row, item in enumerate(matrix.row_items) if item >= 0}
        for item in collection.store.iter_items():
            assert "ocr_text" in item.payload
            np.testing.assert_array_equal(matrix.rows_as_float32(np.array([rows[item.id]])), vectors_before[item.path])
        assert collection.search_ocr_text("platform").hits[0].path == resolved(paths["sign"])


def test_cli_indexes_with_ocr_and_searches_the_text(models_dir, tmp_path, capsys):
    paths = write_text_photos(tmp_path / "scans")
    assert cli.main(["images", "index", str(tmp_path / "scans"), "--ocr", "--collection", "scans"]) == 0
    capsys.readouterr()
    assert cli.main(["images", "search", "--ocr-text", "invoice 2024", "--collection", "scans"]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[1].split()[2] == resolved(paths["invoice"]) and "INVOICE 2024" in printed.upper()
