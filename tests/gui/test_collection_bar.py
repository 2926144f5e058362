"""The collection bar and what both collection tabs share: switching closes the previous collection, the
status is computed off the UI thread, a folder dropped on the bar is indexed (as a copy), the Folders… card
marks unavailable folders, and answers saved by older versions replay."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import warnings
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QPushButton

from documents_fixtures import write_notes
from test_controllers import open_index_handles
from desktop.chat.view import UNREADABLE_ANSWER
from embedengine.collections.base import Collection
from embedengine.documents import DocumentCollection
from embedengine.images_index import ImageCollection, demo_folder

WAIT_MS = 60_000
KINDS = {"documents": DocumentCollection, "images": ImageCollection}


@pytest.fixture
def make_tab(shown, ctx, models_dir, monkeypatch):
    """``make_tab("documents" | "images")``: the real tab, shown (no first-launch demo)."""
    monkeypatch.setenv("EMBEDSTUDIO_DEMO", "0")

    def make(name: str):
        if name == "documents":
            from desktop.tabs.documents import DocumentsTab as Tab
        else:
            from desktop.tabs.images import ImagesTab as Tab
        return shown(Tab(ctx), 1100, 800)

    return make


def idle(qtbot, tab) -> None:
    qtbot.waitUntil(lambda: not tab.ctx.tasks.active(), timeout=WAIT_MS)


def last_card(qtbot, tab, kind: str):
    qtbot.waitUntil(lambda: tab.chat.cards() and tab.chat.cards()[-1].kind in (kind, "error"), timeout=WAIT_MS)
    card = tab.chat.cards()[-1]
    assert card.kind == kind, card.result_json
    return card


def drag_and_drop(widget, paths) -> tuple[QDragEnterEvent, QDropEvent]:
    """A file manager's drag over ``widget``'s centre and the drop, which Qt routes to the widget (or the
    nearest parent) that accepts drops. Shift is held, so the proposed action is a move."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = widget.rect().center()
    actions, shift = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction, Qt.KeyboardModifier.ShiftModifier
    with warnings.catch_warnings():  # PySide flags Qt 6's only QPoint constructor as deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(centre, actions, mime, Qt.MouseButton.LeftButton, shift)
    assert enter.proposedAction() == Qt.DropAction.MoveAction
    QApplication.sendEvent(widget, enter)
    drop = QDropEvent(QPointF(centre), actions, mime, Qt.MouseButton.LeftButton, shift)
    if enter.isAccepted():
        QApplication.sendEvent(widget, drop)
    return enter, drop


# -- (a) a switch closes the previous collection ---------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_five_switches_leave_one_open_handle_per_collection(qtbot, make_tab, kind):
    for name in ("a", "b", "c"):
        KINDS[kind](name, create=True).close()
    tab = make_tab(kind)
    for name in ("b", "c", "a", "b", "c"):
        tab.bar.collection_box.setCurrentText(name)
        assert tab.controller.selected == name
    idle(qtbot, tab)
    handles = open_index_handles()
    assert handles and max(handles.values()) == 1, handles
    assert [Path(path).parent.name for path in handles] == ["c"], handles  # only the selected one is open
    assert tab.bar.status_label.text().startswith("0 files")


# -- (b) the status runs on a worker thread ----------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_status_is_computed_off_the_ui_thread(qtbot, make_tab, monkeypatch, kind):
    KINDS[kind]("trips", create=True).close()
    threads = []
    real_status = Collection.status

    def recording_status(self):
        threads.append(threading.current_thread())
        return real_status(self)

    monkeypatch.setattr(Collection, "status", recording_status)
    tab = make_tab(kind)
    idle(qtbot, tab)
    assert tab.bar.status_label.text().startswith("0 files")  # the refresh on opening
    qtbot.mouseClick(tab.bar.folders_button, Qt.MouseButton.LeftButton)
    card = last_card(qtbot, tab, "status")
    assert card.handle is not None and card.handle.state == "finished"
    assert "Collection 'trips': 0 files" in card.as_text()
    idle(qtbot, tab)
    assert len(threads) >= 2 and threading.main_thread() not in threads


# -- (c) a folder dropped on the bar is indexed --------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_a_folder_dropped_on_the_bar_is_copied_into_the_collection(qtbot, make_tab, tmp_path, kind):
    folder = tmp_path / "dropped"
    if kind == "documents":
        write_notes(folder)
    else:
        folder.mkdir()
        shutil.copy(demo_folder() / "rocket.jpg", folder / "rocket.jpg")
    tab = make_tab(kind)
    enter, drop = drag_and_drop(tab.bar.collection_box, [folder])  # over the picker: the bar takes it
    assert enter.isAccepted() and enter.dropAction() == Qt.DropAction.CopyAction
    assert drop.isAccepted() and drop.dropAction() == Qt.DropAction.CopyAction  # never a move
    handle = tab.actions.index_handle
    assert handle is not None
    qtbot.waitUntil(lambda: handle.state == "finished", timeout=WAIT_MS)
    report = last_card(qtbot, tab, "index").result_json
    assert report["roots"] == [str(folder.resolve())] and report["items_added"] > 0
    assert report["collection"] == ("default" if kind == "documents" else "photos")  # never the image demo
    assert tab.controller.selected == report["collection"] and (folder / "rocket.jpg").exists() == (kind == "images")


def test_a_file_dropped_on_the_bar_is_indexed_on_its_own(qtbot, make_tab, tmp_path):
    """A single file used to be refused silently; it is now a root of its own (the folder is not taken)."""
    tab = make_tab("documents")
    (tmp_path / "note.txt").write_text("hello there, a note about tea and biscuits")
    (tmp_path / "other.txt").write_text("not dropped")
    enter, _ = drag_and_drop(tab.bar.collection_box, [tmp_path / "note.txt"])
    assert enter.isAccepted() and enter.dropAction() == Qt.DropAction.CopyAction
    qtbot.waitUntil(lambda: tab.actions.index_handle is not None and tab.actions.index_handle.state == "finished",
                    timeout=WAIT_MS)
    idle(qtbot, tab)
    status = tab.controller.status()
    assert status.roots == [str((tmp_path / "note.txt").resolve())] and status.files == 1


# -- the Folders… card --------------------------------------------------------------------------------

def test_folders_card_marks_an_unavailable_folder_and_keeps_its_remove_button(qtbot, make_tab, tmp_path):
    notes = tmp_path / "notes"
    write_notes(notes)
    tab = make_tab("documents")
    drag_and_drop(tab.bar, [notes])
    qtbot.waitUntil(lambda: tab.actions.index_handle.state == "finished", timeout=WAIT_MS)
    idle(qtbot, tab)
    assert "unavailable" not in tab.bar.status_label.full_text
    notes.rename(tmp_path / "unplugged")  # as if its drive were unplugged
    qtbot.mouseClick(tab.bar.folders_button, Qt.MouseButton.LeftButton)
    card = last_card(qtbot, tab, "status")
    assert f"{notes.resolve()}  (unavailable — its passages are kept)" in card.as_text()
    assert "4 files" in card.as_text()  # its passages stay in the index
    buttons = card.findChildren(QPushButton, "removeFolder")
    assert [b.property("folder") for b in buttons] == [str(notes.resolve())]
    assert "1 folder unavailable" in tab.bar.status_label.full_text  # the bar shows the new status too


# -- answers saved before the collections were one concept --------------------------------------------

OLD_ANSWERS = {
    "documents": [
        ("Index notes into 'default'", "index", {
            "collection": "default", "files_seen": 5, "files_new": 4, "files_changed": 0, "files_unchanged": 0,
            "files_deleted": 1, "skipped": [{"path": "/n/broken.pdf", "reason": "no text layer"}],
            "passages_added": 37, "embedded": {"minilm": 37}, "caught_up": 0, "seconds": 2.5,
            "passages_per_s": 14.8, "cancelled": False}),
        ("status", "status", {
            "name": "default", "folder": "/home/x/collections/default", "roots": ["/n"], "excludes": ["*.log"],
            "files": 4, "passages": 37, "skipped": [], "methods": ["minilm"], "word_model": None,
            "vector_sets": [{"method": "minilm", "live_rows": 37, "dim": 384}], "pending": {"minilm": 0}}),
    ],
    "images": [
        ("index holiday into 'photos'", "index", {
            "collection": "photos", "roots": ["/h"], "found": 4, "indexed": 3, "unchanged": 0, "removed": 0,
            "skipped": [{"path": "/h/broken.jpg", "reason": "empty file"}], "images": 3, "seconds": 1.0,
            "images_per_s": 3.0, "cancelled": False, "warnings": ["the demo folder is read-only"]}),
        ("status", "status", {"collections": [
            {"name": "demo", "folder": "/x/demo", "roots": ["/d"], "excludes": [], "images": 12, "skipped": [],
             "last_indexed": 1700000000.0, "thumbnails_bytes": 1000},
            {"name": "photos", "folder": "/x/photos", "roots": ["/h"], "excludes": ["*.gif"], "images": 3,
             "skipped": [{"path": "/h/broken.jpg", "reason": "empty file"}], "last_indexed": None,
             "thumbnails_bytes": 10}]}),
    ],
}
EXPECTED = {
    "documents": ["Indexed. 'default': 4 new, 0 changed, 0 unchanged, 1 removed and 1 skipped files; 37 passages read; "
                  "embedded 37 with MiniLM", "broken.pdf",
                  "Collection 'default': 4 files, 37 passages, 0 skipped.", "Vectors: MiniLM 37", "Leaves out: *.log"],
    "images": ["Indexed. 'photos': 3 new, 0 changed, 0 unchanged, 0 removed and 1 skipped files; 3 images read",
               "3 images in the collection.", "⚠ the demo folder is read-only",
               "Collection 'demo': 12 files, 12 images", "Collection 'photos': 3 files, 3 images, 1 skipped.",
               "broken.jpg"],
}


@pytest.mark.parametrize("kind", KINDS)
def test_old_index_and_status_answers_replay(qtbot, ctx, make_tab, kind):
    for query, answer_kind, result in OLD_ANSWERS[kind]:
        ctx.history.add(kind, query, answer_kind, result)
    db = sqlite3.connect(ctx.history.path)  # saved as format 1, before this version
    with db:
        db.execute("UPDATE entries SET result_version = 1")
    db.close()
    tab = make_tab(kind)
    replayed = [card for card in tab.chat.cards() if card.query]
    assert [card.kind for card in replayed] == ["index", "status"]
    text = "\n".join(card.as_text() for card in replayed)
    assert UNREADABLE_ANSWER not in text and "Could not show" not in text
    for expected in EXPECTED[kind]:
        assert expected in text
    folders = [b.property("folder") for b in replayed[1].findChildren(QPushButton, "removeFolder")]
    assert folders == (["/n"] if kind == "documents" else ["/d", "/h"])


# -- one conversation per collection ---------------------------------------------------------------------

def ask_typed(qtbot, tab, text: str) -> None:
    """Type ``text`` into the tab's input box and press Enter, as a user does."""
    qtbot.keyClicks(tab.chat.input, text)
    qtbot.keyClick(tab.chat.input, Qt.Key.Key_Return)


def shown_queries(tab) -> list[str]:
    return [card.query for card in tab.chat.cards() if card.query and card.isVisible()]


@pytest.mark.parametrize("kind", KINDS)
def test_each_collection_has_its_own_conversation(qtbot, make_tab, ctx, kind):
    for name in ("trips", "work"):
        KINDS[kind](name, create=True).close()
    tab = make_tab(kind)
    tab.bar.collection_box.setCurrentText("trips")
    ask_typed(qtbot, tab, "status")
    last_card(qtbot, tab, "status")
    tab.bar.collection_box.setCurrentText("work")
    assert shown_queries(tab) == [], "the other collection's answers are not shown here"
    ask_typed(qtbot, tab, "status")
    last_card(qtbot, tab, "status")
    assert shown_queries(tab) == ["status"]
    assert tab.chat.input.history == ["status"]
    tab.bar.collection_box.setCurrentText("trips")
    assert shown_queries(tab) == ["status"] and "trips" in tab.chat.cards()[-1].as_text()
    idle(qtbot, tab)
    assert ctx.history.count(tab.conversation_key("trips")) == ctx.history.count(tab.conversation_key("work")) == 1


def test_an_old_single_conversation_becomes_the_selected_collections(qtbot, make_tab, ctx):
    ctx.history.add("documents", "status", "text", "saved by 0.1, one conversation per tab")
    tab = make_tab("documents")
    assert ctx.history.count("documents") == 0
    assert [entry.query for entry in ctx.history.entries(tab.conversation_key(tab.controller.selected))] == ["status"]
    assert "saved by 0.1" in tab.chat.cards()[-1].as_text()


@pytest.mark.parametrize("kind", KINDS)
def test_index_and_status_answers_name_their_collection(qtbot, make_tab, kind):
    KINDS[kind]("trips", create=True).close()
    tab = make_tab(kind)
    tab.bar.collection_box.setCurrentText("trips")
    ask_typed(qtbot, tab, "status")
    card = last_card(qtbot, tab, "status")
    assert card.source_label.isVisible() and card.source_label.text() == f"from {kind} collection 'trips'"
