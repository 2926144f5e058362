"""The Images tab as a person uses it: drop or paste a photo, click results, filter by label, find duplicates."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from PySide6.QtCore import QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QGuiApplication, QImage, QWheelEvent
from PySide6.QtWidgets import QApplication, QLabel, QPushButton, QRadioButton

from desktop.chat import cards
from desktop.chat.cards import ImageGrid
from desktop.image_results import DuplicateGroupView, DuplicatesView, ResponsiveImageGrid, SearchResultsView
from embedengine.images_index import DEFAULT_MIN_SIMILARITY, DEMO_COLLECTION, ImageCollection, demo_folder

DEMO = demo_folder()


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory, models_dir) -> Path:
    """The demo collection indexed once; each test gets a copy in its own home."""
    home = tmp_path_factory.mktemp("images-demo-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBEDSTUDIO_HOME", str(home))
        patch.setenv("EMBEDSTUDIO_MODELS", str(models_dir))
        with ImageCollection(DEMO_COLLECTION, create=True) as collection:
            collection.index([DEMO])
    return home / "image-collections" / DEMO_COLLECTION


@pytest.fixture
def tab(qtbot, ctx, demo_index, isolated_home):
    from desktop.tabs.images import ImagesTab

    shutil.copytree(demo_index, isolated_home / "image-collections" / DEMO_COLLECTION)
    widget = ImagesTab(ctx)
    qtbot.addWidget(widget)
    widget.resize(1100, 800)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.waitUntil(lambda: widget.demo_task is not None and widget.demo_task.state == "finished", timeout=30_000)
    return widget


def variant_file(folder: Path, name: str, edit=ImageOps.mirror) -> Path:
    """An edited copy of a demo photo, saved where the collection does not look."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{Path(name).stem}-edited.jpg"
    edit(Image.open(DEMO / name).convert("RGB")).save(path, quality=90)
    return path




def last_answer(qtbot, tab, kind: str):
    qtbot.waitUntil(lambda: tab.chat.cards() and tab.chat.cards()[-1].kind in (kind, "error"), timeout=30_000)
    card = tab.chat.cards()[-1]
    assert card.kind == kind, card.result_json
    return card


def grid_paths(card) -> list[str]:
    grid = card.findChildren(ImageGrid)[0]
    assert len(grid.tiles) == len(card.result_json["hits"])
    return [hit["path"] for hit in card.result_json["hits"]]


def type_query(qtbot, tab, text: str) -> None:
    qtbot.keyClicks(tab.chat.input, text)
    qtbot.keyClick(tab.chat.input, Qt.Key.Key_Return)


# ---------------------------------------------------------------------------------------------

def test_first_launch_indexes_the_demo_photos(qtbot, ctx, models_dir):
    from desktop.tabs.images import ImagesTab

    widget = ImagesTab(ctx)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: widget.demo_task is not None and widget.demo_task.state == "finished", timeout=60_000)
    assert widget.controller.selected == DEMO_COLLECTION
    note = widget.chat.cards()[-1]
    assert "demo" in note.as_text() and "ready" in note.as_text()
    with ImageCollection.open(DEMO_COLLECTION) as demo:
        assert demo.count() == len([p for p in DEMO.iterdir() if p.suffix != ".md"])


def test_dropping_a_photo_file_shows_its_original_first_in_a_grid(qtbot, tab, tmp_path, drop_files):
    query = variant_file(tmp_path, "chelsea.png")
    drop_files(tab, [query])
    card = last_answer(qtbot, tab, "image_search")
    paths = grid_paths(card)
    assert Path(paths[0]).name == "chelsea.png" and len(paths) == len(list(DEMO.glob("*.*"))) - 1
    assert card.result_json["query"] == str(query) and card.result_json["query_labels"][0][0] == "Egyptian cat"
    assert not tab.query_thumb.pixmap().isNull()


def test_pasting_an_image_from_the_clipboard_searches_with_it(qtbot, tab):
    QGuiApplication.clipboard().setImage(QImage(str(DEMO / "rocket.jpg")).flipped(Qt.Orientation.Horizontal))
    tab.chat.input.setFocus()
    qtbot.keyClick(tab.chat.input, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    card = last_answer(qtbot, tab, "image_search")
    assert Path(grid_paths(card)[0]).name == "rocket.jpg"
    pasted = Path(card.result_json["query"])
    assert pasted.parent == Path(tab.ctx.workspace) / "pasted-images" and pasted.exists()
    assert tab.chat.input.text() == ""


def test_clicking_a_result_opens_a_preview_with_working_actions(qtbot, tab, tmp_path, drop_files):
    opened: list[QUrl] = []
    tab.ctx.open_url = opened.append
    drop_files(tab, [variant_file(tmp_path, "coffee.webp")])
    card = last_answer(qtbot, tab, "image_search")
    grid = card.findChildren(ImageGrid)[0]
    qtbot.mouseClick(grid.tiles[0], Qt.MouseButton.LeftButton)
    preview = tab.preview
    assert preview.isVisible() and not preview.picture.pixmap().isNull()
    coffee = str(DEMO / "coffee.webp")
    assert preview.hit["path"] == coffee and preview.windowTitle() == "coffee.webp"
    assert "espresso" in cards.widget_text(preview.labels_list)
    qtbot.mouseClick(preview.buttons["Open"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(preview.buttons["Show in folder"], Qt.MouseButton.LeftButton)
    assert [u.toLocalFile() for u in opened] == [coffee, str(DEMO)]
    qtbot.mouseClick(preview.buttons["Copy path"], Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == coffee
    cards_before = len(tab.chat.cards())
    qtbot.mouseClick(preview.buttons["More like this"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(tab.chat.cards()) > cards_before)
    more = last_answer(qtbot, tab, "image_search")
    assert more.result_json["query"] == coffee and coffee not in grid_paths(more)


def test_typing_a_label_lists_matching_images_and_filters_a_dropped_photo(qtbot, tab, tmp_path, drop_files):
    type_query(qtbot, tab, "cat")
    card = last_answer(qtbot, tab, "image_search")
    assert [Path(p).name for p in grid_paths(card)] == ["chelsea.png"]
    qtbot.keyClicks(tab.chat.input, "cat")
    drop_files(tab.chat.input, [variant_file(tmp_path, "rocket.jpg")])  # onto the input line: a query, not text
    filtered = last_answer(qtbot, tab, "image_search")
    assert filtered.result_json["label_filter"] == "cat"
    assert [Path(p).name for p in grid_paths(filtered)] == ["chelsea.png"]


def test_typing_what_you_look_for_finds_photos_by_the_meaning_of_their_labels(qtbot, tab):
    type_query(qtbot, tab, "a cup of coffee")  # the photo's label is "espresso": no word in common
    card = last_answer(qtbot, tab, "image_search")
    assert Path(grid_paths(card)[0]).name == "coffee.webp"
    assert "labels that mean it — coffee mug" in card.as_text()


def test_dropped_folder_is_indexed_with_skipped_files_then_near_duplicates_are_grouped(qtbot, tab, tmp_path, drop_files):
    folder = tmp_path / "holiday"
    original = folder / "rocket.jpg"
    folder.mkdir()
    shutil.copy(DEMO / "rocket.jpg", original)
    variant_file(folder, "rocket.jpg")
    Image.open(original).resize((320, 213)).save(folder / "rocket-small.png")
    (folder / "broken.jpg").write_bytes(b"")
    drop_files(tab, [folder])
    indexed = last_answer(qtbot, tab, "index")
    assert indexed.result_json["items_added"] == 3 and indexed.result_json["collection"] == "photos"
    assert [s["reason"] for s in indexed.result_json["skipped"]] == ["empty file"]
    assert "broken.jpg" in indexed.as_text()
    assert tab.controller.selected == "photos"
    type_query(qtbot, tab, "status")
    status = last_answer(qtbot, tab, "status")
    assert "broken.jpg" in status.as_text() and "empty file" in status.as_text()
    type_query(qtbot, tab, "exclude *-small.png")
    assert last_answer(qtbot, tab, "status").result_json["excludes"] == ["*-small.png"]
    qtbot.mouseClick(tab.buttons["Duplicates"], Qt.MouseButton.LeftButton)
    dupes = last_answer(qtbot, tab, "duplicates")
    view = dupes.content[0]
    groups = dupes.result_json["groups"]
    assert len(groups) == 1 and len(groups[0]["images"]) == 3
    assert len(view.findChildren(ImageGrid)) == 1
    view.slider.setValue(100)
    qtbot.waitUntil(lambda: view.result["threshold"] == 1.0, timeout=15_000)
    assert view.result["groups"] == [] and len(view.findChildren(ImageGrid)) == 0


def test_indexing_shows_progress_with_eta_and_can_be_cancelled(qtbot, tab, tmp_path, drop_files):
    folder = tmp_path / "many"
    folder.mkdir()
    for photo in sorted(DEMO.iterdir()):
        if photo.suffix != ".md":
            shutil.copy(photo, folder / photo.name)
    drop_files(tab, [folder])
    qtbot.waitUntil(lambda: tab.chat.cards()[-1].progress_card is not None)
    progress = tab.chat.cards()[-1].progress_card
    qtbot.waitUntil(lambda: "ETA" in progress.label.text(), timeout=30_000)
    qtbot.mouseClick(progress.cancel_button, Qt.MouseButton.LeftButton)
    report = last_answer(qtbot, tab, "index").result_json
    assert report["cancelled"] and 0 < report["items_added"] < len(list(folder.iterdir()))
    assert "Cancelled" in tab.chat.cards()[-1].as_text()


def remove_buttons(card) -> dict[str, object]:
    """The status card's Remove buttons by folder."""
    from PySide6.QtWidgets import QPushButton

    return {button.property("folder"): button for button in card.findChildren(QPushButton, "removeFolder")}


def test_removing_a_folder_from_the_status_card_takes_its_images_out(qtbot, tab, tmp_path, drop_files):
    folder = tmp_path / "trip"
    folder.mkdir()
    shutil.copy(DEMO / "rocket.jpg", folder / "rocket.jpg")
    drop_files(tab, [folder])
    assert last_answer(qtbot, tab, "index").result_json["items_added"] == 1
    qtbot.mouseClick(tab.bar.folders_button, Qt.MouseButton.LeftButton)
    buttons = remove_buttons(last_answer(qtbot, tab, "status"))  # the selected collection's folders
    assert set(buttons) == {str(folder.resolve())}
    qtbot.mouseClick(buttons[str(folder.resolve())], Qt.MouseButton.LeftButton)
    removed = last_answer(qtbot, tab, "removed").result_json
    assert (removed["collection"], removed["files_removed"], removed["files_left"]) == ("photos", 1, 0)
    assert (folder / "rocket.jpg").exists()
    type_query(qtbot, tab, "status")
    photos = last_answer(qtbot, tab, "status").result_json
    assert (photos["name"], photos["roots"], photos["items"]) == ("photos", [], 0)


def test_a_removed_demo_folder_stays_out_on_the_next_launch(qtbot, tab, ctx):
    from desktop.tabs.images import ImagesTab

    tab.remove_folder(str(DEMO.resolve()), DEMO_COLLECTION)
    assert last_answer(qtbot, tab, "removed").result_json["files_left"] == 0
    relaunched = ImagesTab(ctx)
    qtbot.addWidget(relaunched)
    relaunched.show()
    qtbot.waitExposed(relaunched)
    qtbot.wait(200)
    assert relaunched.demo_task is None
    with ImageCollection.open(DEMO_COLLECTION) as demo:
        assert demo.count() == 0


# -- results cut at a similarity threshold -----------------------------------------------------

def visible_tiles(grid) -> list:
    return [tile for tile in grid.tiles if tile.isVisibleTo(grid)]


def wheel_over(widget, delta: int = -120) -> None:
    """A mouse-wheel notch over the middle of ``widget``, delivered to it as the window system would."""
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, delta),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_similar_images_are_cut_at_a_threshold_the_card_shows_and_the_user_moves(qtbot, tab, tmp_path, drop_files):
    drop_files(tab, [variant_file(tmp_path, "chelsea.png")])
    card = last_answer(qtbot, tab, "image_search")
    view = card.findChildren(SearchResultsView)[0]
    assert card.result_json["min_score"] == DEFAULT_MIN_SIMILARITY
    assert [Path(t.toolTip().splitlines()[0]).name for t in visible_tiles(view.grid)] == ["chelsea.png"]
    assert len(card.result_json["hits"]) == 11  # the other photos are candidates, below the cut
    assert f"{DEFAULT_MIN_SIMILARITY:.2f} · 1 of 11 shown" in view.threshold_label.text()
    assert card.source_label.isVisible() and card.source_label.text() == "from collection 'demo' · ResNet50"

    wheel_over(view.slider)  # scrolling the conversation over the slider does not move it
    assert view.slider.value() == round(DEFAULT_MIN_SIMILARITY * 100)
    qtbot.mouseClick(view.more_button, Qt.MouseButton.LeftButton)
    assert len(visible_tiles(view.grid)) == 7 and view.threshold < DEFAULT_MIN_SIMILARITY
    assert all(hit["score"] >= view.threshold for hit in view.shown_hits())
    assert tab.ctx.settings.value("images/min_similarity") == view.threshold  # the tab keeps the setting
    view.slider.setFocus()
    qtbot.keyClick(view.slider, Qt.Key.Key_Home)
    assert len(visible_tiles(view.grid)) == 11 and not view.more_button.isEnabled()

    drop_files(tab, [variant_file(tmp_path, "rocket.jpg")])  # the next search starts at the kept setting
    second = last_answer(qtbot, tab, "image_search")
    assert second.result_json["min_score"] == 0.0
    assert len(visible_tiles(second.findChildren(SearchResultsView)[0].grid)) == 11


def test_a_photo_like_nothing_in_the_collection_says_so_and_offers_more(qtbot, tab, tmp_path, drop_files):
    noise = tmp_path / "noise.png"
    from PIL import Image as PILImage
    import numpy as np

    PILImage.fromarray(np.random.default_rng(1).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(noise)
    tab.controller.set_min_similarity(0.9)
    drop_files(tab, [noise])
    view = last_answer(qtbot, tab, "image_search").findChildren(SearchResultsView)[0]
    assert visible_tiles(view.grid) == [] and view.empty.isVisibleTo(view)
    assert "No image is at least 0.90 similar; the closest is" in view.empty.text()
    qtbot.mouseClick(view.more_button, Qt.MouseButton.LeftButton)
    assert len(visible_tiles(view.grid)) == 6 and not view.empty.isVisibleTo(view)


def test_the_result_grid_columns_follow_the_window_width(qtbot, main_window, demo_index, isolated_home, tmp_path,
                                                          drop_files):
    shutil.copytree(demo_index, isolated_home / "image-collections" / DEMO_COLLECTION)
    main_window.resize(1024, 700)
    main_window.tabs.setCurrentIndex(3)
    tab = main_window.tabs.currentWidget()
    tab.controller.set_min_similarity(0.0)
    drop_files(tab.chat.input, [variant_file(tmp_path, "coffee.webp")])
    card = last_answer(qtbot, tab, "image_search")
    grid = card.findChildren(ResponsiveImageGrid)[0]
    viewport = tab.chat.scroll.viewport()

    def right_edge(widget) -> int:
        return widget.mapTo(viewport, QPoint(widget.width(), 0)).x()

    qtbot.waitUntil(lambda: all(right_edge(t) <= viewport.width() for t in visible_tiles(grid)))
    narrow = grid.columns
    assert right_edge(card.actions["JSON"]) <= viewport.width() and tab.chat.scroll.horizontalScrollBar().maximum() == 0
    assert len({t.y() for t in visible_tiles(grid)}) == -(-11 // narrow)  # rows of `narrow` tiles
    main_window.resize(1600, 1000)
    qtbot.waitUntil(lambda: grid.columns > narrow)
    assert all(right_edge(t) <= viewport.width() for t in visible_tiles(grid))
    main_window.resize(1024, 700)
    qtbot.waitUntil(lambda: grid.columns == narrow)


# -- duplicates: keep one, move the others to the trash, undo -----------------------------------

@pytest.fixture
def trash_home(tmp_path, monkeypatch) -> Path:
    """The freedesktop.org home trash moved into the test's folder (send2trash fixes it when imported; the
    tests' EMBEDSTUDIO_HOME does not move HOME, so it would be the real ~/.local/share/Trash)."""
    from send2trash import plat_other

    data_home = tmp_path / "xdg-data"
    monkeypatch.setattr(plat_other, "XDG_DATA_HOME", os.fsencode(data_home))
    monkeypatch.setattr(plat_other, "HOMETRASH_B", os.fsencode(data_home / "Trash"))
    monkeypatch.setattr(plat_other, "HOMETRASH", str(data_home / "Trash"))
    return data_home / "Trash"


def test_duplicates_suggest_which_to_keep_move_the_others_to_the_trash_and_undo(qtbot, tab, tmp_path, trash_home,
                                                                                drop_files):
    folder = tmp_path / "holiday"
    folder.mkdir()
    original = folder / "rocket.jpg"
    shutil.copy(DEMO / "rocket.jpg", original)
    shutil.copy(original, folder / "rocket copy.jpg")
    small = folder / "rocket-small.jpg"
    Image.open(original).resize((320, 213)).save(small, quality=80)
    os.utime(small, (2_000_000_000, 2_000_000_000))
    shutil.copy(DEMO / "horse.png", folder / "horse.png")
    drop_files(tab, [folder])
    assert last_answer(qtbot, tab, "index").result_json["items_added"] == 4
    qtbot.mouseClick(tab.buttons["Duplicates"], Qt.MouseButton.LeftButton)
    card = last_answer(qtbot, tab, "duplicates")
    assert card.source_label.text() == "from collection 'photos' · ResNet50 + sha256"
    (group,) = card.findChildren(DuplicateGroupView)
    captions = {Path(hit["path"]).name: tile.text() for hit, tile in zip(group.hits, group.grid.tiles)}
    assert "2 identical files" in cards.widget_text(group)
    assert "320×213" in captions["rocket-small.jpg"] and "2033-05-18" in captions["rocket-small.jpg"]
    assert group.rule_buttons["largest"].isChecked() and Path(group.kept).name != "rocket-small.jpg"
    assert sum("✓ keep" in caption for caption in captions.values()) == 1
    qtbot.waitUntil(lambda: group.rule_buttons["newest"].isVisible() and group.trash_button.isVisible())
    qtbot.mouseClick(group.rule_buttons["newest"], Qt.MouseButton.LeftButton)
    assert Path(group.kept).name == "rocket-small.jpg"
    assert "✓ keep" in group.grid.tiles[[Path(h["path"]).name for h in group.hits].index("rocket-small.jpg")].text()
    qtbot.mouseClick(group.rule_buttons["largest"], Qt.MouseButton.LeftButton)
    kept, others = group.kept, group.others()
    assert group.trash_button.text() == "Move 2 others to trash"

    qtbot.mouseClick(group.trash_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: group.undo_button.isVisible(), timeout=15_000)
    assert Path(kept).exists() and not any(Path(p).exists() for p in others)
    assert len(list((trash_home / "files").iterdir())) == 2
    assert "no longer lists them" in group.status.text() and not group.trash_button.isEnabled()
    qtbot.waitUntil(lambda: tab.bar.status_label.full_text.startswith("2 files"))
    type_query(qtbot, tab, "status")
    assert last_answer(qtbot, tab, "status").result_json["items"] == 2

    qtbot.mouseClick(group.undo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Restored 2 file(s)" in group.status.text(), timeout=30_000)
    assert all(Path(p).exists() for p in others) and list((trash_home / "files").iterdir()) == []
    assert not group.undo_button.isVisible() and group.trash_button.isEnabled()
    type_query(qtbot, tab, "dupes")
    assert len(last_answer(qtbot, tab, "duplicates").result_json["groups"][0]["images"]) == 3


def test_every_images_answer_names_its_source(qtbot, tab, tmp_path, drop_files):
    type_query(qtbot, tab, "cat")
    label = last_answer(qtbot, tab, "image_search")
    assert label.source_label.text() == "from collection 'demo' · ResNet50 ImageNet labels"
    assert label.result_json["source"] == "collection 'demo' · ResNet50"  + " ImageNet labels"
    type_query(qtbot, tab, "dupes 0.5")
    assert last_answer(qtbot, tab, "duplicates").result_json["source"] == "collection 'demo' · ResNet50 + sha256"



def test_typed_filters_narrow_a_search_and_the_card_shows_them(qtbot, tab):
    large = sorted(str(p) for p in DEMO.iterdir() if p.suffix != ".md" and max(Image.open(p).size) >= 1000)
    type_query(qtbot, tab, "size:1000 after:1990")  # filters alone: the photos meeting them
    listed = last_answer(qtbot, tab, "image_search")
    assert sorted(grid_paths(listed)) == large and len(large) == 2
    assert "Filters: after 1990 · at least 1000" in listed.as_text()
    assert listed.source_label.text() == "from collection 'demo' · EXIF date, camera and size"
    qtbot.mouseClick(listed.findChildren(ImageGrid)[0].tiles[0], Qt.MouseButton.LeftButton)
    shown = "\n".join(label.text() for label in tab.preview.findChildren(QLabel))
    assert "taken " in shown and "(file date)" in shown  # the demo photos carry no EXIF date

    type_query(qtbot, tab, "cat size:400")  # the cat photo is 451×300
    assert [Path(p).name for p in grid_paths(last_answer(qtbot, tab, "image_search"))] == ["chelsea.png"]
    type_query(qtbot, tab, "cat size:500")
    narrowed = last_answer(qtbot, tab, "image_search")
    assert narrowed.result_json["hits"] == [] and narrowed.result_json["filters"] == {"min_size": "500"}
    assert "No image meets the filters" in narrowed.as_text() and "Filters: at least 500" in narrowed.as_text()

    type_query(qtbot, tab, "cat after:yesterday")
    error = last_answer(qtbot, tab, "error")
    assert "'yesterday' is not a date" in error.as_text()


def test_an_added_clip_model_takes_typed_text(qtbot, tab, ctx, tmp_path, monkeypatch, models_dir):
    """Preferences adds the tiny model (checked off the UI thread) and picks it; typed text then ranks the demo
    photos by the model (it scores 'red' by a photo's redness), the first search embedding them with it."""
    from clip_fixtures import build_tiny_clip, expected_colour_scores, models_folder_with_built_models
    from desktop.preferences import PreferencesDialog
    from PySide6.QtWidgets import QDialogButtonBox

    monkeypatch.setenv("EMBEDSTUDIO_MODELS", str(models_folder_with_built_models(models_dir, tmp_path / "models")))
    dialog = PreferencesDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    clip = dialog.clip_models
    clip.add_folder(str(tmp_path))  # not a model folder: refused with the reason
    qtbot.waitUntil(lambda: clip.task.state == "failed" and clip.add_button.isEnabled())
    assert "Not added" in clip.status.text() and "config.json is missing" in clip.status.text()
    clip.add_folder(str(build_tiny_clip(tmp_path / "tiny")))
    qtbot.waitUntil(lambda: clip.task.state == "finished" and clip.add_button.isEnabled())
    assert "Added tiny" in clip.status.text() and clip.picker.currentData() == "tiny"
    qtbot.mouseClick(dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)
    assert ctx.settings.value("images/clip_model") == "tiny"

    type_query(qtbot, tab, "red")  # the first text search embeds the collection with the model, then ranks
    card = last_answer(qtbot, tab, "image_search")
    photos = [p for p in DEMO.iterdir() if p.suffix != ".md"]
    with ImageCollection.open(DEMO_COLLECTION) as demo:
        assert demo.clip_models == ["tiny"] and demo.status().pending == {"clip:tiny": 0}
    assert card.result_json["method"] == "clip:tiny"
    assert card.source_label.text() == "from collection 'demo' · clip:tiny"
    redness = {str(p): expected_colour_scores(Image.open(p), 0) for p in photos}
    assert grid_paths(card)[:2] == sorted(redness, key=lambda p: -redness[p])[:2]  # the astronaut, then the cat
    assert len(grid_paths(card)) == len(photos) and "Described as “red”" in card.as_text()

    type_query(qtbot, tab, "text ~ red size:1000")
    large = last_answer(qtbot, tab, "image_search")
    assert [Path(p).name for p in grid_paths(large)] == ["retina.jpg", "hubble_deep_field.jpg"]
    type_query(qtbot, tab, "label ~ cat")  # label meanings stay available
    labels = last_answer(qtbot, tab, "image_search")
    assert [Path(p).name for p in grid_paths(labels)] == ["chelsea.png"]
    assert "ImageNet labels" in labels.source_label.text()


def test_reindex_with_the_demo_selected_reindexes_the_demo(qtbot, tab):
    """Re-index used to run on "photos" (where new folders go) while the demo was selected."""
    assert tab.controller.selected == DEMO_COLLECTION
    qtbot.mouseClick(tab.bar.reindex_button, Qt.MouseButton.LeftButton)
    card = last_answer(qtbot, tab, "index")
    assert card.query == f"Re-index '{DEMO_COLLECTION}'"
    assert card.result_json["collection"] == DEMO_COLLECTION and card.result_json["files_unchanged"] >= 10
    assert "photos" not in ImageCollection.names()


def test_text_inside_photos_is_switched_on_then_found_by_typing_ocr(qtbot, tab, tmp_path):
    """A collection indexed without OCR: `ocr:` says how to switch it on, `ocr on` does, and the next `ocr:` search
    first reads the text of the indexed images (keeping their vectors), then shows the sign with its line."""
    from test_images_index import write_text_photos

    paths = write_text_photos(tmp_path / "scans")
    with ImageCollection("scans", create=True) as scans:
        scans.index([tmp_path / "scans"])
    tab.actions.sync_bar()
    box = tab.actions.bar.collection_box
    box.setCurrentIndex(box.findText("scans"))
    assert tab.controller.selected == "scans"

    type_query(qtbot, tab, "ocr: platform 9")
    assert "ocr on" in last_answer(qtbot, tab, "error").as_text()
    type_query(qtbot, tab, "ocr on")
    switched = last_answer(qtbot, tab, "markdown")
    assert "now reads the text" in switched.as_text() and "the 3 already indexed" in switched.as_text()
    type_query(qtbot, tab, "ocr: platform 9")
    card = last_answer(qtbot, tab, "image_search")
    assert grid_paths(card)[0] == str(paths["sign"].resolve())
    assert card.source_label.text() == "from collection 'scans' · OCR (PP-OCRv4)"
    caption = card.findChildren(ImageGrid)[0].tiles[0].text()
    assert "sign.png" in caption and "PLATFORM 9" in caption.upper()
    with ImageCollection.open("scans") as scans:
        assert scans.ocr_pending() == 0 and scans.index().items_added == 0
