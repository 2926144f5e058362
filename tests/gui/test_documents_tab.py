"""The Documents tab driven like a person: drop a folder, watch it index, search, compare, open a hit."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QTableWidget

from documents_fixtures import write_notes
from desktop.tabs.documents import DocumentsTab, PassageCard

WAIT_MS = 60_000


@pytest.fixture
def tab(qtbot, ctx, models_dir):
    widget = DocumentsTab(ctx)
    qtbot.addWidget(widget)
    widget.resize(1000, 800)
    widget.show()
    return widget


def ask(qtbot, tab: DocumentsTab, text: str):
    before = len(tab.chat.cards())
    qtbot.keyClicks(tab.chat.input, text)
    qtbot.keyClick(tab.chat.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(tab.chat.cards()) > before and bool(tab.chat.cards()[-1].kind), timeout=WAIT_MS)
    return tab.chat.cards()[-1]


def passage_cards(card) -> list[PassageCard]:
    return [w for w in card.content if isinstance(w, PassageCard)]


def index_dropped(qtbot, tab, folder, drop_files):
    progress = []
    drop_files(tab, [folder])
    handle = tab.index_handle
    assert handle is not None
    handle.progressed.connect(progress.append)
    qtbot.waitUntil(lambda: handle.state == "finished", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not tab.ctx.tasks.active(), timeout=WAIT_MS)  # the status refresh that follows
    return progress


def test_drop_index_search_open_and_more_like(qtbot, tab, tmp_path, drop_files):
    notes = write_notes(tmp_path / "notes")
    (tmp_path / "notes" / "broken.pdf").write_bytes(b"%PDF-1.4 nothing else")
    progress = index_dropped(qtbot, tab, tmp_path / "notes", drop_files)
    embedding = [p for p in progress if p.stage == "embed"]
    assert embedding and embedding[-1].fraction == 1.0 and progress[-1].fraction == 1.0
    index_card = tab.chat.cards()[-1]
    assert index_card.kind == "index" and "broken.pdf" in index_card.as_text()
    qtbot.waitUntil(lambda: tab.bar.status_label.text().startswith("4 files"), timeout=WAIT_MS)

    card = ask(qtbot, tab, "what causes the ocean tides")
    assert card.kind == "search"
    first = passage_cards(card)[0]
    assert (first.hit["file_name"], first.hit["page"]) == ("nature.pdf", 2)
    assert "<span style=" in first.snippet.text()  # best sentence highlighted

    opened = []
    tab.ctx.open_url = opened.append
    qtbot.mouseClick(first.buttons["Open"], Qt.MouseButton.LeftButton)
    assert opened[0].toLocalFile() == str(notes["nature.pdf"]) and opened[0].fragment() == "page=2"

    qtbot.mouseClick(first.buttons["Copy path"], Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == str(notes["nature.pdf"])

    qtbot.mouseClick(first.buttons["More like this"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.chat.cards()[-1].kind == "search", timeout=WAIT_MS)
    similar = passage_cards(tab.chat.cards()[-1])
    assert similar and all(c.hit["item_id"] != first.hit["item_id"] for c in similar)


def test_compare_mode_and_type_filter(qtbot, tab, tmp_path, drop_files):
    write_notes(tmp_path / "notes")
    index_dropped(qtbot, tab, tmp_path / "notes", drop_files)
    assert tab.available_methods() == ["minilm", "bm25", "hybrid"]
    tab.compare_box.setChecked(True)
    card = ask(qtbot, tab, "sicilian defence")
    assert card.kind == "compare"
    table = next(w for w in card.content if isinstance(w, QTableWidget))
    assert table.columnCount() == 4 and table.item(0, 1).text().startswith("chess.html")

    tab.compare_box.setChecked(False)
    tab.type_box.setCurrentText("PDF")
    card = ask(qtbot, tab, "volcano eruption")
    assert {c.hit["file_type"] for c in passage_cards(card)} == {".pdf"}, card.as_text()


def test_status_and_bad_method_errors_are_cards(qtbot, tab, tmp_path, drop_files):
    card = ask(qtbot, tab, "anything")
    assert card.kind == "error"  # nothing indexed yet: the card says so instead of crashing
    write_notes(tmp_path / "notes")
    index_dropped(qtbot, tab, tmp_path / "notes", drop_files)
    card = ask(qtbot, tab, "status")
    assert card.kind == "status" and "4 files" in card.as_text()


def test_cancel_indexing_from_the_card_then_excludes_and_reindex(qtbot, tab, tmp_path, drop_files):
    folder = tmp_path / "many"
    write_notes(folder)
    for number in range(60):
        (folder / f"log{number:02d}.log.txt").write_text(f"Log line {number}: the pump {number} was checked.")
    drop_files(tab, [folder])
    card = tab.chat.cards()[-1]
    qtbot.mouseClick(card.progress_card.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.index_handle.state in ("finished", "cancelled"), timeout=WAIT_MS)
    assert card.kind == "index" and "Cancelled" in card.as_text()

    tab.actions.set_excludes(["*.log.txt"])
    qtbot.mouseClick(tab.bar.reindex_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.index_handle.state == "finished", timeout=WAIT_MS)
    assert tab.chat.cards()[-1].kind == "index"
    qtbot.waitUntil(lambda: tab.bar.status_label.text().startswith("4 files"), timeout=WAIT_MS)


def test_typing_demo_indexes_the_shipped_corpus_into_the_demo_collection(qtbot, tab):
    qtbot.keyClicks(tab.chat.input, "demo")
    qtbot.keyClick(tab.chat.input, Qt.Key.Key_Return)
    assert tab.controller.selected == "demo" and tab.bar.collection_box.currentText() == "demo"
    handle = tab.index_handle
    qtbot.waitUntil(lambda: handle.last_progress is not None and handle.last_progress.done > 0, timeout=WAIT_MS)
    assert any(Path(root).name == "corpus" for root in tab.controller.current().roots())
    handle.cancel()
    qtbot.waitUntil(lambda: handle.state in ("cancelled", "finished"), timeout=WAIT_MS)


def test_folders_button_lists_folders_and_remove_takes_one_out(qtbot, tab, tmp_path, drop_files):
    from PySide6.QtWidgets import QPushButton

    write_notes(tmp_path / "notes")
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "lava.txt").write_text("Lava flows slowly downhill from the erupting volcano and burns the forest.")
    index_dropped(qtbot, tab, tmp_path / "notes", drop_files)
    index_dropped(qtbot, tab, extra, drop_files)
    qtbot.waitUntil(lambda: tab.bar.status_label.text().startswith("5 files"), timeout=WAIT_MS)

    qtbot.mouseClick(tab.bar.folders_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.chat.cards()[-1].kind == "status", timeout=WAIT_MS)
    buttons = tab.chat.cards()[-1].findChildren(QPushButton, "removeFolder")
    assert len(buttons) == 2
    extra_button = next(b for b in buttons if b.property("folder") == str(extra.resolve()))
    qtbot.mouseClick(extra_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.chat.cards()[-1].kind == "removed", timeout=WAIT_MS)
    assert "1 file removed" in tab.chat.cards()[-1].as_text() and (extra / "lava.txt").exists()
    qtbot.waitUntil(lambda: tab.bar.status_label.text().startswith("4 files"), timeout=WAIT_MS)
    card = ask(qtbot, tab, "lava flows downhill")
    assert "lava.txt" not in {c.hit["file_name"] for c in passage_cards(card)}
