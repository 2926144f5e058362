"""The tabs' controllers without Qt: the command grammar, the selection, closing on switch, where folders go."""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from desktop.controllers import Command
from desktop.controllers.documents import (DEMO_COLLECTION as DOCS_DEMO, DocumentsController, agreement,
                                          answer_source, demo_corpus, group_by_file)
from desktop.controllers.images import ImagesController
from embedengine.documents import DocumentCollection
from embedengine.errors import UserError
from embedengine.image_filters import ImageFilters
from embedengine.images_index import (DEFAULT_DUPLICATE_THRESHOLD, DEFAULT_MIN_SIMILARITY, DEMO_COLLECTION,
                                      ImageCollection, demo_folder)


class FakeSettings:
    """QSettings' two methods over a dict."""

    def __init__(self, values: dict | None = None) -> None:
        self.values = dict(values or {})

    def value(self, key, default=None):
        return self.values.get(key, default)

    def setValue(self, key, value):  # noqa: N802 (QSettings naming)
        self.values[key] = value


def open_index_handles(home: Path | None = None) -> Counter:
    """index.sqlite files (under ``home``, default: the test's home) this process holds open, with how many
    descriptors each."""
    home = home or Path(os.environ["EMBEDSTUDIO_HOME"])
    handles = Counter()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(f"{home}/") and target.endswith("/index.sqlite"):
            handles[target] += 1
    return handles


def make(kind, *names: str) -> None:
    for name in names:
        kind(name, create=True).close()


# -- grammar -----------------------------------------------------------------------------------

def test_documents_commands():
    controller = DocumentsController(FakeSettings())
    assert controller.parse("  Demo ") == Command("index", {"folders": [demo_corpus()], "collection": DOCS_DEMO})
    assert controller.parse("status") == Command("status", {"collection": None})
    assert controller.parse("Remove /a from 'x'", {"remove": "/a", "collection": "x"}) == Command(
        "remove", {"folder": "/a", "collection": "x"})
    assert controller.parse("Index a", {"index": ["/a"], "collection": "x"}) == Command(
        "index", {"folders": ["/a"], "collection": "x"})
    assert controller.parse("Re-index", {"index": []}) == Command("index", {"folders": [], "collection": "default"})
    assert controller.parse("More like a.txt #1", {"more_like": 7, "collection": "x"}) == Command(
        "more_like", {"item_id": 7, "collection": "x"})
    assert controller.parse("ocean tides ") == Command("search", {"query": "ocean tides"})
    assert controller.parse("Compare  ocean tides") == Command("compare", {"query": "ocean tides"})
    assert controller.parse("compare") == Command("search", {"query": "compare"})  # nothing to compare: a search
    controller.compare = True
    assert controller.parse("ocean tides") == Command("compare", {"query": "ocean tides"})
    assert controller.parse("status").action == "status"  # commands win over compare mode


def hit(item_id: int, path: str) -> dict:
    return {"item_id": item_id, "path": path}


def test_documents_results_grouped_by_file_in_the_order_of_their_best_passage():
    hits = [hit(1, "/a"), hit(2, "/b"), hit(3, "/a"), hit(4, "/c"), hit(5, "/a"), hit(6, "/d"), hit(7, "/b")]
    groups = group_by_file(hits, max_files=3)
    assert [g.path for g in groups] == ["/a", "/b", "/c"]
    assert [[h["item_id"] for h in g.hits] for g in groups] == [[1, 3, 5], [2, 7], [4]]
    assert [h["item_id"] for h in groups[0].folded] == [3, 5] and groups[2].folded == []
    assert group_by_file([], 10) == []


def test_documents_files_repeating_a_passage_word_for_word_are_named_under_the_first():
    """Three versions of a licence with the same clause used to fill three of the ten places."""
    clause = {"text": "You may copy and distribute  a Modified Version"}
    hits = [{**hit(1, "/GFDL-1.2"), **clause}, {**hit(2, "/GFDL-1.3"), "text": "You may copy and distribute a Modified Version"},
            {**hit(3, "/GPL-3"), "text": "You may charge any price"}, {**hit(4, "/GFDL"), **clause},
            {**hit(5, "/GFDL-1.3"), "text": "another clause"}]
    groups = group_by_file(hits, max_files=2)
    assert [g.path for g in groups] == ["/GFDL-1.2", "/GPL-3"]
    assert groups[0].same_in == ["/GFDL-1.3", "/GFDL"] and groups[1].same_in == []


def test_documents_agreement_counts_the_methods_that_found_each_passage():
    results = [{"hits": [hit(1, "/a"), hit(2, "/b")]}, {"hits": [hit(2, "/b"), hit(3, "/c")]},
               {"hits": [hit(2, "/b"), hit(1, "/a")]}]
    assert agreement(results) == {1: 2, 2: 3, 3: 1}
    assert agreement([{"hits": [hit(1, "/a"), hit(1, "/a")]}]) == {1: 1}  # a method counts once


def test_documents_answer_source_names_collection_methods_and_build():
    assert answer_source("notes", ["MiniLM"], "minilm.onnx ced46117, built 2026-12-03") == \
        "collection 'notes' · MiniLM · minilm.onnx ced46117, built 2026-12-03"
    assert answer_source("notes", ["MiniLM", "BM25"]) == "collection 'notes' · MiniLM, BM25"


def test_images_commands(tmp_path):
    controller = ImagesController(FakeSettings())
    for text in ("help", "?", "", "  HELP "):
        assert controller.parse(text) == Command("help")
    assert controller.parse("dupes") == Command("duplicates", {"threshold": DEFAULT_DUPLICATE_THRESHOLD,
                                                               "collection": None})
    assert controller.parse("duplicates 0.9").args["threshold"] == 0.9
    bad = controller.parse("dupes lots")
    assert bad.action == "error" and "'lots' is not a threshold" in bad.args["message"] and bad.args["hint"]
    assert controller.parse("index ~/Pictures") == Command(
        "index", {"folders": [str(Path.home() / "Pictures")], "collection": "photos"})  # not into the demo
    assert controller.parse(f"remove {tmp_path}") == Command("remove", {"folder": str(tmp_path), "collection": None})
    assert controller.parse("status") == Command("status", {"collection": None})
    assert controller.parse("exclude *.gif raw") == Command("exclude", {"patterns": ["*.gif", "raw"],
                                                                        "collection": None})
    assert controller.parse("exclude none").args["patterns"] == []
    assert controller.parse("exclude").action == "error"
    assert controller.parse("sports car") == Command("label_search", {"text": "sports car", "collection": None,
                                                                      "filters": ImageFilters()})
    assert controller.parse("cat.jpg", {"image": "/p/cat.jpg", "label": "", "collection": "trips"}) == Command(
        "image_search", {"image": "/p/cat.jpg", "label": None, "collection": "trips",
                         "min_score": DEFAULT_MIN_SIMILARITY, "filters": ImageFilters()})
    assert controller.parse("x", {"image": "/p/x.png", "label": "cat"}).args["label"] == "cat"
    assert controller.parse("index a", {"index": ["/a"], "collection": DEMO_COLLECTION}).args["collection"] == "photos"
    assert controller.parse("remove", {"remove": "/a", "collection": "trips"}) == Command(
        "remove", {"folder": "/a", "collection": "trips"})


def test_images_filters_anywhere_in_a_typed_search(tmp_path):
    controller = ImagesController(FakeSettings())
    command = controller.parse("beach after:2024-01 camera:pixel")
    assert command == Command("label_search", {"text": "beach", "collection": None,
                                               "filters": ImageFilters("2024-01", camera="pixel")})
    command = controller.parse(f'Before:2025 a dog  camera:"eos r5" size:1920x1080 folder:{tmp_path} on a beach')
    assert command.args["text"] == "a dog on a beach"
    assert command.args["filters"] == ImageFilters(before="2025", camera="eos r5", folder=str(tmp_path.resolve()),
                                                   min_size="1920x1080")
    assert controller.parse("after:2024-06 camera:canon") == Command(
        "filter_search", {"filters": ImageFilters("2024-06", camera="canon"), "collection": None})
    assert controller.parse("label ~ horse after:2020").args == {
        "text": "horse", "collection": None, "filters": ImageFilters("2020")}
    bad = controller.parse("beach after:yesterday")
    assert bad.action == "error" and "'yesterday' is not a date" in bad.args["message"] and "2024-06" in bad.args["hint"]
    assert controller.parse("after:2025 before:2024").action == "error"
    dropped = controller.parse("x.jpg", {"image": "/p/x.jpg", "label": "cat camera:pixel"})
    assert dropped.args["label"] == "cat" and dropped.args["filters"] == ImageFilters(camera="pixel")
    assert controller.parse("x.jpg", {"image": "/p/x.jpg", "label": "after:1999"}).args["label"] is None
    # without an image–text model, text ~ says where to get one; words stay a label search
    missing = controller.parse("text ~ a dog on a beach")
    assert missing.action == "error" and "Preferences" in missing.args["hint"]
    assert controller.index_options() == {}


def test_images_typed_text_goes_to_the_active_clip_model(tmp_path, monkeypatch, models_dir):
    from clip_fixtures import build_tiny_clip, models_folder_with_built_models
    from models.clip_tools import add_clip, remove_clip

    monkeypatch.setenv("EMBEDSTUDIO_MODELS", str(models_folder_with_built_models(models_dir, tmp_path / "models")))
    add_clip(build_tiny_clip(tmp_path / "tiny-clip"), "tiny")
    settings = FakeSettings()
    controller = ImagesController(settings)
    assert controller.clip_model is None and controller.parse("a red car").action == "label_search"
    controller.set_clip_model("tiny")
    assert settings.values["images/clip_model"] == "tiny" and controller.index_options() == {"clip": "tiny"}
    for text in ("a red car", "text ~ a red car", "TEXT~a red car"):
        assert controller.parse(text) == Command("text_search", {"text": "a red car", "model": "tiny",
                                                                 "filters": ImageFilters(), "collection": None})
    assert controller.parse("red after:2024").args["filters"] == ImageFilters("2024")
    assert controller.parse("label ~ sports car").action == "label_search"  # label meanings stay available
    assert controller.source("trips", "text_search", "tiny") == "collection 'trips' · clip:tiny"
    remove_clip("tiny")
    assert controller.clip_model is None and controller.parse("a red car").action == "label_search"


def test_images_similarity_threshold_is_a_kept_preference_that_image_searches_use():
    settings = FakeSettings()
    controller = ImagesController(settings)
    assert controller.min_similarity == DEFAULT_MIN_SIMILARITY
    controller.set_min_similarity(0.3049)
    assert settings.values["images/min_similarity"] == 0.3
    assert ImagesController(settings).parse("x", {"image": "/p/x.png"}).args["min_score"] == 0.3
    controller.set_min_similarity(7)
    assert controller.min_similarity == 1.0
    settings.values["images/min_similarity"] = "garbage"  # a hand-edited ini file
    assert controller.min_similarity == DEFAULT_MIN_SIMILARITY


def test_images_answers_name_the_collection_and_what_compared_the_images():
    controller = ImagesController(FakeSettings())
    assert controller.source() == "collection 'demo' · ResNet50"
    assert controller.source("trips", "duplicates") == "collection 'trips' · ResNet50 + sha256"
    assert controller.source(None, "label_search") == "collection 'demo' · ResNet50 ImageNet labels"
    assert controller.source(None, "filter_search") == "collection 'demo' · EXIF date, camera and size"



def test_images_text_inside_photos_commands_and_source():
    controller = ImagesController(FakeSettings())
    for typed in ("ocr: invoice 2024", "OCR:invoice 2024", "text: invoice 2024"):
        assert controller.parse(typed) == Command("ocr_search", {"text": "invoice 2024", "filters": ImageFilters(),
                                                                 "collection": None})
    assert controller.parse("ocr: receipt after:2024-01").args["filters"] == ImageFilters.parse(after="2024-01")
    assert controller.parse("text ~ a receipt").action != "ocr_search"  # still the CLIP text search
    assert controller.parse("ocr:").action == "error"
    assert controller.parse("ocr on") == Command("ocr_switch", {"enabled": True, "collection": None})
    assert controller.parse("ocr OFF").args["enabled"] is False
    assert controller.source("scans", "ocr_search") == "collection 'scans' · OCR (PP-OCRv4)"


# -- selection ---------------------------------------------------------------------------------

def test_selection_is_persisted_and_names_include_it():
    settings = FakeSettings()
    assert DocumentsController(settings).selected == "default"  # nothing on disk yet
    assert ImagesController(settings).selected == DEMO_COLLECTION
    make(DocumentCollection, "b", "a")
    controller = DocumentsController(settings)
    assert controller.selected == "a" and controller.names() == ["a", "b"]
    assert controller.select("new one") and not controller.select("new one")
    assert settings.values["documents/collection"] == "new one"
    assert controller.names() == ["a", "b", "new one"]  # selected but not created yet
    assert DocumentsController(settings).selected == "a"  # a saved name that does not exist is not kept
    controller.select("b")
    assert DocumentsController(settings).selected == "b"
    with pytest.raises(UserError):
        controller.select("../escape")
    assert controller.selected == "b"


def test_switching_closes_the_previous_collection():
    make(DocumentCollection, "a", "b", "c")
    controller = DocumentsController(FakeSettings())
    opened = []
    for name in ["b", "c", "a", "b", "c"]:
        controller.select(name)
        opened.append(controller.current())
        assert controller.current() is opened[-1]  # kept open while selected
    handles = open_index_handles()
    assert sum(handles.values()) == 1 and all(n == 1 for n in handles.values()), handles
    for collection in opened[:-1]:
        with pytest.raises(sqlite3.ProgrammingError):
            collection.count()
    controller.close()
    assert not open_index_handles()


def test_a_switch_during_an_engine_call_closes_the_collection_after_the_call():
    make(DocumentCollection, "a", "b")
    controller = DocumentsController(FakeSettings({"documents/collection": "a"}))
    with controller.using() as collection:
        controller.select("b")
        assert collection.name == "a" and collection.count() == 0  # still usable by the running call
        with controller.using("a") as again:  # one connection per collection, shared by the calls
            assert again is collection
        assert collection.count() == 0  # the outer call still uses it
        controller.select("a")
        assert controller.current() is collection  # selected again while in use: the same connection
        controller.select("b")
    with pytest.raises(sqlite3.ProgrammingError):
        collection.count()
    assert controller.status().name == "b"
    with controller.using("a") as other:  # another collection for one call: closed after it
        assert other.name == "a"
    assert list(open_index_handles().values()) == [1]
    controller.close()
    assert not open_index_handles()


def test_user_folders_never_go_into_the_image_demo():
    images = ImagesController(FakeSettings())
    assert images.selected == DEMO_COLLECTION and images.folder_target() == "photos"
    assert images.folder_target("trips") == "trips"
    images.select("trips")
    assert images.folder_target() == "trips"
    make(DocumentCollection, "notes")
    documents = DocumentsController(FakeSettings({"documents/collection": "notes"}))
    assert documents.folder_target() == "notes"
    assert documents.folder_target("demo") == "demo"  # documents protect no collection


def test_opening_creates_documents_but_not_images_and_searches_need_folders():
    images = ImagesController(FakeSettings())
    with pytest.raises(UserError, match="no images collection named 'demo'"):
        images.current()
    assert ImageCollection.names() == []
    assert images.set_excludes(["*.gif", " "]) == ["*.gif"]  # a setting of the collection creates it
    assert images.status().excludes == ["*.gif"] and ImageCollection.names() == [DEMO_COLLECTION]
    with pytest.raises(UserError, match="has no folders yet") as caught:
        images.call("search_by_label", "cat")
    assert "Add folder" in caught.value.hint

    documents = DocumentsController(FakeSettings())
    assert documents.status().name == "default" and DocumentCollection.names() == ["default"]
    with pytest.raises(UserError, match="'default' has no folders yet"):
        documents.call("search", "anything")


def test_the_demo_is_indexed_until_its_folder_is_removed():
    controller = ImagesController(FakeSettings())
    assert controller.demo_to_index() == "new"
    with ImageCollection(DEMO_COLLECTION, create=True) as demo:
        demo.add_folders([demo_folder()])
    assert controller.demo_to_index() == "resume"
    removed = controller.remove_folder(str(demo_folder()))
    assert removed.roots_left == [] and controller.demo_to_index() is None
