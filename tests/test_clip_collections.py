"""An image collection indexed with an added CLIP model: text → image and image → image search, re-embedding
when the model changes, filters, and the command line. The tiny model of tests/clip_fixtures.py scores the
text ``red`` by a photo's mean normalised red, so the expected ranking is computed here from the pixels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clip_fixtures import COLOURS, build_tiny_clip, expected_colour_scores, models_folder_with_built_models
from embedengine import cli
from embedengine.errors import UserError
from embedengine.images_index import METHOD, ImageCollection, demo_folder
from models.clip_tools import add_clip, remove_clip

MODEL = "tiny"
METHOD_CLIP = f"clip:{MODEL}"
# A picture whose normalised mean colour lies on the red axis: the text "red" scores it 1.
PURE_RED = (255, 117, 104)


def demo_photos() -> list[Path]:
    return sorted(p.resolve() for p in demo_folder().iterdir() if p.suffix != ".md")


def expected(colour: str, photos: list[Path]) -> dict[str, float]:
    return {str(p): expected_colour_scores(Image.open(p), COLOURS.index(colour)) for p in photos}


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture
def with_clip(tiny_clip, tmp_path, monkeypatch, models_dir) -> Path:
    """A models folder of this test: the built models plus the tiny CLIP model, added as "tiny"."""
    folder = models_folder_with_built_models(models_dir, tmp_path / "models")
    monkeypatch.setenv("EMBEDSTUDIO_MODELS", str(folder))
    add_clip(tiny_clip, MODEL)
    return folder


def assert_ranked_by_colour(hits, colour: str, photos: list[Path]) -> None:
    """Hits best first, each scored as its pixels say (draft decoding and float16 storage differ a little),
    the best hit one of the most ``colour`` photos."""
    truth = expected(colour, photos)
    scores = [hit["score"] if isinstance(hit, dict) else hit.score for hit in hits]
    paths = [hit["path"] if isinstance(hit, dict) else hit.path for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert max(abs(score - truth[path]) for score, path in zip(scores, paths)) < 0.02
    assert truth[paths[0]] > max(truth[p] for p in paths) - 0.02
    expected_order = sorted(paths, key=lambda p: -truth[p])
    assert np.corrcoef([truth[p] for p in paths], scores)[0, 1] > 0.99, (paths, expected_order)


def test_index_with_a_clip_model_then_search_by_text(with_clip):
    photos = demo_photos()
    with ImageCollection("mine", create=True) as collection:
        report = collection.index([demo_folder()], clip=MODEL)
        assert report.embedded == {METHOD: len(photos), METHOD_CLIP: len(photos)}
        status = collection.status()
        assert status.methods == [METHOD, METHOD_CLIP] and status.pending == {METHOD_CLIP: 0}
        assert collection.clip_ready(MODEL)
        for colour in COLOURS:
            result = collection.search_text(colour, k=len(photos))
            assert result.method == METHOD_CLIP and result.text == colour and len(result.hits) == len(photos)
            assert result.min_score == 0.0  # no ResNet50 cut: every image is ranked
            assert_ranked_by_colour(result.hits, colour, photos)
        # the model name is kept: a plain re-index embeds new photos with it too
        assert collection.clip_models == [MODEL]
        assert collection.index().embedded == {}


def test_image_to_image_with_the_clip_model_and_filters(with_clip, tmp_path):
    photos = demo_photos()
    query = tmp_path / "red.png"
    Image.new("RGB", (60, 40), PURE_RED).save(query)
    with ImageCollection("mine", create=True) as collection:
        collection.index([demo_folder()], clip=MODEL)
        by_clip = collection.search(query, k=len(photos), method=METHOD_CLIP)
        assert by_clip.method == METHOD_CLIP and by_clip.query_labels == []
        assert_ranked_by_colour(by_clip.hits, "red", photos)  # the query is pure red: the same ranking

        large = collection.search_text("red", k=20, filters={"min_size": "1000"})
        big = sorted(str(p) for p in photos if max(Image.open(p).size) >= 1000)
        assert sorted(hit.path for hit in large.hits) == big and large.filters == {"min_size": "1000"}
        assert_ranked_by_colour(large.hits, "red", photos)


def test_a_model_replaced_under_the_same_name_is_embedded_again(with_clip, tiny_clip, tmp_path):
    with ImageCollection("mine", create=True) as collection:
        collection.index([demo_folder()], clip=MODEL)
        other = shutil.copytree(tiny_clip, tmp_path / "other")
        config = json.loads((other / "visual" / "preprocess_cfg.json").read_text())
        (other / "visual" / "preprocess_cfg.json").write_text(json.dumps({**config, "interpolation": "bilinear"}))
        add_clip(other, MODEL, replace=True)
        assert not collection.clip_ready(MODEL)
        with pytest.raises(UserError, match="changed since collection 'mine' was indexed") as raised:
            collection.search_text("red")
        assert "index" in raised.value.hint
        report = collection.index()
        assert report.embedded == {METHOD_CLIP: collection.count()}  # all of them, with the new model
        assert_ranked_by_colour(collection.search_text("red", k=20).hits, "red", demo_photos())
        assert collection.clip_ready(MODEL)


def test_without_the_model_searches_say_how_to_get_it(with_clip):
    with ImageCollection("plain", create=True) as collection:
        collection.index([demo_folder()])
        assert not collection.clip_ready(MODEL)
        with pytest.raises(UserError, match="not indexed with an image–text") as raised:
            collection.search_text("red")
        assert "--clip" in raised.value.hint and "add-clip" in raised.value.hint
        with pytest.raises(UserError, match="no clip:tiny vectors"):
            collection.search(demo_photos()[0], method=METHOD_CLIP)
        with pytest.raises(UserError, match="no CLIP model named 'other'"):
            collection.index(clip="other")
        assert collection.clip_models == []

    with ImageCollection("mine", create=True) as collection:
        collection.index([demo_folder()], clip=MODEL)
        remove_clip(MODEL)
        assert collection.index().embedded == {}  # a removed model waits; the run still works
        with pytest.raises(UserError, match="no CLIP model named 'tiny' has been added"):
            collection.search_text("red")


def run_json(capsys, *argv) -> tuple[int, dict]:
    code = cli.main(["images", *map(str, argv), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_cli_index_clip_and_text_search(with_clip, capsys, tmp_path):
    photos = demo_photos()
    code, report = run_json(capsys, "index", demo_folder(), "--clip", MODEL, "--collection", "cli")
    assert code == 0 and report["embedded"] == {METHOD: len(photos), METHOD_CLIP: len(photos)}
    code, result = run_json(capsys, "search", "--text", "a RED   photo", "-k", "5", "--collection", "cli")
    assert code == 0 and result["method"] == METHOD_CLIP and result["text"] == "a RED photo"
    truth = expected("red", photos)
    reddest = sorted(truth, key=lambda p: -truth[p])[:2]  # the astronaut's suit and the cat, far ahead of the rest
    assert [hit["path"] for hit in result["hits"][:2]] == reddest and len(result["hits"]) == 5

    query = tmp_path / "red.png"
    Image.new("RGB", (60, 40), PURE_RED).save(query)
    code, by_image = run_json(capsys, "search", query, "--method", METHOD_CLIP, "-k", "20", "--collection", "cli")
    assert code == 0 and by_image["method"] == METHOD_CLIP
    assert_ranked_by_colour(by_image["hits"], "red", photos)
    code, named = run_json(capsys, "search", "--text", "red", "--clip", MODEL, "--camera", "none",
                           "--collection", "cli")
    assert code == 0 and named["hits"] == [] and named["filters"] == {"camera": "none"}

    code, error = run_json(capsys, "search", query, "--text", "red", "--collection", "cli")
    assert code == 2 and "give one of a query IMAGE, --text or --ocr-text" in error["error"]
    code, error = run_json(capsys, "search", "--text", "red", "--clip", "nope", "--collection", "cli")
    assert code == 2 and "no clip:nope vectors" in error["error"]
    assert cli.main(["images", "search", "--text", "red", "-k", "3", "--collection", "cli"]) == 0
    assert "text 'red' by clip:tiny" in capsys.readouterr().out
