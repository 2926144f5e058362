"""The Images tab as a person uses it: drop or paste a photo, click results, filter by label, find duplicates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QGuiApplication, QImage

from desktop.chat import cards
from desktop.chat.cards import ImageGrid
from embedengine.images_index import DEMO_COLLECTION, ImageCollection, demo_folder

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
