"""Filters on what photos' files say (date taken, camera, size, folder), alone and with similarity and labels.

The photos are shipped demo pictures cropped to a size and saved as JPEG (one PNG) with EXIF written by
Pillow: DateTimeOriginal, Make and Model; two carry no usable date, so their file's modification time counts.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from embedengine import cli
from embedengine.errors import UserError
from embedengine.image import ImageLoadError, load_image
from embedengine.image_filters import (EXIF_IFD, DATE_TIME_ORIGINAL, MAKE, MODEL, ImageFilters, exif_date,
                                       local_iso, photo_facts)
from embedengine.images_index import FACTS_META, METHOD, ImageCollection, demo_folder
from embedengine.store import FileEntry

COLLECTION = "filters"


def local_time(*parts: int) -> float:
    return time.mktime((*parts, 0, 0, -1))


# name: (folder, demo picture, size, DateTimeOriginal or None, make, model, file mtime)
PHOTOS = {
    "a": ("2023", "chelsea.png", (640, 480), "2023:06:01 09:00:00", "Google", "Pixel 7", None),
    "b": ("2024/spring", "chelsea.png", (1920, 1080), "2024:03:15 12:30:00", "Google", "Pixel 8 Pro", None),
    "c": ("2024/spring", "horse.png", (1080, 1920), "2024:04:20 18:00:00", "Canon", "Canon EOS R5", None),
    "d": ("2024/summer", "rocket.jpg", (800, 600), "2024:07:04 08:15:00", "Canon", "Canon EOS R5", None),
    "e": ("scans", "coffee.webp", (1200, 900), None, "", "", local_time(2022, 1, 15, 10, 0, 0)),
    "f": ("2024/summer", "flower.jpg", (640, 480), "0000:00:00 00:00:00", "NIKON CORPORATION", "NIKON D750",
          local_time(2021, 5, 5, 17, 30, 0)),
    "g": ("2024", "astronaut.jpg", (500, 500), "2024:12:31 23:59:59", "Apple", "iPhone 15", None),
}
SUFFIX = {"g": ".png"}


def exif_block(date, make, model) -> Image.Exif:
    exif = Image.Exif()
    if make:
        exif[MAKE], exif[MODEL] = make, model
    if date:
        exif.get_ifd(EXIF_IFD)[DATE_TIME_ORIGINAL] = date
    return exif


def write_photos(root: Path) -> dict[str, Path]:
    paths = {}
    for name, (folder, picture, size, date, make, model, mtime) in PHOTOS.items():
        path = root / folder / f"{name}{SUFFIX.get(name, '.jpg')}"
        path.parent.mkdir(parents=True, exist_ok=True)
        image = ImageOps.fit(Image.open(demo_folder() / picture).convert("RGB"), size)
        image = ImageOps.mirror(image) if name == "b" else image
        image.save(path, exif=exif_block(date, make, model), **({} if path.suffix == ".png" else {"quality": 90}))
        if mtime:
            os.utime(path, (mtime, mtime))
        paths[name] = path.resolve()
    return paths


@pytest.fixture(scope="module")
def photos(tmp_path_factory, models_dir) -> dict:
    """The photos indexed once into their own home (tests point EMBEDSTUDIO_HOME there)."""
    home = tmp_path_factory.mktemp("filters-home")
    paths = write_photos(tmp_path_factory.mktemp("photos"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBEDSTUDIO_HOME", str(home))
        patch.setenv("EMBEDSTUDIO_MODELS", str(models_dir))
        with ImageCollection(COLLECTION, create=True) as collection:
            collection.index([paths["a"].parents[1]])
    return {"home": home, "paths": paths, "root": paths["a"].parents[1]}


@pytest.fixture
def collection(photos, monkeypatch):
    monkeypatch.setenv("EMBEDSTUDIO_HOME", str(photos["home"]))
    with ImageCollection.open(COLLECTION) as opened:
        yield opened


def names(hits, photos) -> list[str]:
    by_path = {str(path): name for name, path in photos["paths"].items()}
    return [by_path[hit["path"] if isinstance(hit, dict) else hit.path] for hit in hits]


# ---------------------------------------------------------------------------------------------

def test_the_index_keeps_date_taken_camera_and_size_from_the_header(collection, photos):
    every = collection.filter_images({"after": "1900"}, k=20).hits
    hits = dict(zip(names(every, photos), every))
    assert sorted(hits) == sorted(PHOTOS)
    for name, (_, _, size, date, make, model, mtime) in PHOTOS.items():
        hit = hits[name]
        if mtime:  # no DateTimeOriginal, or zeros from a camera whose clock was not set
            assert (hit.taken, hit.taken_from) == (local_iso(mtime), "file"), name
        else:
            assert (hit.taken, hit.taken_from) == (date.replace(":", "-", 2).replace(" ", "T"), "exif"), name
        assert (hit.width, hit.height) == size
    assert hits["a"].camera == "Google Pixel 7" and hits["e"].camera == ""
    assert hits["c"].camera == "Canon EOS R5" and hits["f"].camera == "NIKON D750"  # the make said once


FILTER_CASES = [
    ({"after": "2024"}, "bcdg"),
    ({"before": "2024"}, "aef"),
    ({"after": "2024-04", "before": "2024-07"}, "c"),  # the 4th of July is not before July
    ({"after": "2024-07-04"}, "dg"),  # on or after the start of that day
    ({"after": "2024-12-31T23:59"}, "g"),
    ({"before": "2022-01-15T10:00:01"}, "ef"),  # file dates count as taken
    ({"camera": "pixel"}, "ab"),
    ({"camera": "Canon EOS"}, "cd"),
    ({"camera": "nikon"}, "f"),
    ({"camera": "iphone"}, "g"),
    ({"folder": "2024"}, "bcdfg"),
    ({"folder": "2024/spring"}, "bc"),
    ({"min_size": "1920x1080"}, "bc"),  # a portrait 1080×1920 is as large
    ({"min_size": "1000"}, "bce"),  # the long side
    ({"min_size": "800x600"}, "bcde"),
    ({"camera": "canon", "after": "2024-05"}, "d"),
    ({"folder": "2024", "min_size": "1000x1000"}, "bc"),
    ({"camera": "google", "before": "2024", "folder": "2023"}, "a"),
    ({"camera": "leica"}, ""),
]


@pytest.mark.parametrize("filters, expected", FILTER_CASES, ids=[str(case[0]) for case in FILTER_CASES])
def test_each_filter_and_combination_gives_exactly_the_expected_photos(collection, photos, filters, expected):
    filters = {key: str(photos["root"] / value) if key == "folder" else value for key, value in filters.items()}
    result = collection.filter_images(filters, k=20)
    assert sorted(names(result.hits, photos)) == sorted(expected)
    takens = [hit.taken for hit in result.hits]
    assert takens == sorted(takens, reverse=True)  # most recent first
    assert result.filters == ImageFilters.parse(**filters).to_dict()


def test_filters_combine_with_similarity_and_labels(collection, photos):
    paths = photos["paths"]
    similar = collection.search(paths["a"], k=10, filters={"after": "2024"})
    assert names(similar.hits, photos)[0] == "b"  # the same cat, flipped, taken in 2024
    assert sorted(names(similar.hits, photos)) == sorted("bcdg") and similar.filters == {"after": "2024"}
    assert names(collection.search(paths["a"], k=10, filters={"camera": "pixel"}).hits, photos) == ["b"]
    assert collection.search(paths["a"], k=10, filters={"camera": "leica"}).hits == []

    cats = collection.search_by_label("cat")
    assert set(names(cats.hits, photos)) >= {"a", "b"}
    assert names(collection.search_by_label("cat", filters={"after": "2024"}).hits, photos) == ["b"]
    assert names(collection.search_by_label("cat", filters={"camera": "canon"}).hits, photos) == []
    # a label filter and a date filter on a similarity search: both must hold
    both = collection.search(paths["c"], k=10, label_filter="cat", filters={"before": "2024"})
    assert names(both.hits, photos) == ["a"]


def run_json(capsys, *argv) -> tuple[int, dict]:
    code = cli.main(["images", *map(str, argv), "--collection", COLLECTION, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_cli_filters(photos, monkeypatch, capsys):
    monkeypatch.setenv("EMBEDSTUDIO_HOME", str(photos["home"]))
    paths, root = photos["paths"], photos["root"]
    cases = [
        (["search", "--after", "2024-04", "--before", "2024-07"], "c"),
        (["search", "--camera", "canon", "--after", "2024-05"], "d"),
        (["search", "--folder", root / "2024", "--min-size", "1000x1000"], "bc"),
        (["search", "--min-size", "1920x1080"], "bc"),
        (["search", "--label", "cat", "--after", "2024"], "b"),
        (["search", paths["a"], "--camera", "pixel"], "b"),
        (["search", paths["a"], "--before", "2024", "-k", "10"], "ef"),
    ]
    for argv, expected in cases:
        code, result = run_json(capsys, *argv)
        assert code == 0, result
        assert sorted(names(result["hits"], photos)) == sorted(expected), argv
        assert result["filters"], argv
    code, result = run_json(capsys, "search", "--after", "2024")
    assert code == 0 and all(hit["taken"] >= "2024" and hit["taken_from"] == "exif" for hit in result["hits"])

    code, error = run_json(capsys, "search", "--after", "last tuesday")
    assert code == 2 and "is not a date" in error["error"] and "2024-06" in error["hint"]
    code, error = run_json(capsys, "search", "--min-size", "big")
    assert code == 2 and "is not a size" in error["error"]
    code, error = run_json(capsys, "search", "--after", "2024", "--before", "2023")
    assert code == 2 and "before" in error["hint"]
    assert cli.main(["images", "search", "--camera", "pixel", "--collection", COLLECTION]) == 0
    text = capsys.readouterr().out
    assert "filters: camera ~ pixel" in text and "Google Pixel 7" in text and "2023-06-01 09:00" in text


def test_images_indexed_before_facts_get_them_without_decoding_again(collection, photos):
    """An index made before this version: payloads without facts. The next run reads only the headers, keeps
    every vector and thumbnail, and the filters then work."""
    store = collection.store
    items = list(store.iter_items())
    records = store.file_records()
    before = {item.path: store.vectors_for_items(METHOD, [item.id])[0] for item in items}
    old = [FileEntry(item.path, records[item.path].size, records[item.path].mtime, records[item.path].sha256,
                     payloads=[{k: v for k, v in item.payload.items() if k in ("width", "height", "labels", "thumb")}])
           for item in items]
    store.write_batch(old, {METHOD: np.stack([before[item.path] for item in items])})
    store.set_meta(FACTS_META, 0)
    assert collection.filter_images({"camera": "pixel"}).hits == []

    report = collection.index()
    assert report.items_added == 0 and report.embedded == {}  # nothing decoded or embedded
    assert sorted(names(collection.filter_images({"camera": "pixel"}).hits, photos)) == ["a", "b"]
    assert sorted(names(collection.filter_images({"after": "2024"}).hits, photos)) == sorted("bcdg")
    for item in store.iter_items():
        assert np.allclose(store.vectors_for_items(METHOD, [item.id])[0], before[item.path])
        assert item.payload["labels"] and (collection.thumbs_dir / item.payload["thumb"]).is_file()
    assert collection.complete_facts() == 0  # done once


def test_facts_come_from_the_header_alone(tmp_path):
    """A photo whose pixel data is cut off cannot be decoded, yet its date and camera are read."""
    buffer = io.BytesIO()
    Image.new("RGB", (1600, 1200), (90, 140, 200)).save(
        buffer, "JPEG", quality=95, exif=exif_block("2019:08:30 07:45:00", "FUJIFILM", "X-T3"))
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 3])
    with pytest.raises(ImageLoadError):
        load_image(path)
    facts = photo_facts(path, 0.0)
    assert (facts["taken"], facts["taken_from"], facts["make"], facts["model"]) == \
        ("2019-08-30T07:45:00", "exif", "FUJIFILM", "X-T3")
    missing = photo_facts(tmp_path / "nowhere.jpg", local_time(2020, 2, 2, 2, 2, 2))
    assert missing["taken"] == "2020-02-02T02:02:02" and missing["taken_from"] == "file"


def test_exif_dates_and_typed_filters():
    assert exif_date("2024:06:30 18:05:09") == "2024-06-30T18:05:09"
    assert exif_date(b"2024:06:30 18:05:09\x00") == "2024-06-30T18:05:09"
    assert exif_date("    :  :     :  :  ") == exif_date("2024:13:01 00:00:00") == exif_date(None) == ""
    assert ImageFilters.parse(camera="  pixel   8 ").camera == "pixel 8"
    assert ImageFilters.parse().active() is False and ImageFilters.coerce(None) == ImageFilters()
    assert ImageFilters.parse(after="2024-1", min_size="640×480").describe() == "after 2024-1 · at least 640×480"
    for bad in ({"after": "2024-13"}, {"before": "yesterday"}, {"min_size": "0"}, {"min_size": "wide"}):
        with pytest.raises(UserError):
            ImageFilters.parse(**bad)
