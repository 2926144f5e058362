"""The Documents tab driven like a person: drop a folder, watch it index, search, compare, open a hit."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QScrollBar

from documents_fixtures import write_notes
from desktop.document_results import CompareView, FileGroupView
from desktop.tabs.documents import DocumentsTab, PassageCard

WAIT_MS = 60_000


@pytest.fixture
def tab(shown, ctx, models_dir):
    return shown(DocumentsTab(ctx))


def ask(qtbot, tab: DocumentsTab, text: str):
    before = len(tab.chat.cards())
    qtbot.keyClicks(tab.chat.input, text)
    qtbot.keyClick(tab.chat.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(tab.chat.cards()) > before and bool(tab.chat.cards()[-1].kind), timeout=WAIT_MS)
    for _ in range(3):  # the card's layout requests (heights for the wrapped texts), as the event loop runs them
        QApplication.processEvents()
    return tab.chat.cards()[-1]


def passage_cards(card) -> list[PassageCard]:
    """The passages of a search answer, best first (folded ones included)."""
    return sorted(card.findChildren(PassageCard), key=lambda c: c.hit["rank"])


def compare_view(card) -> CompareView:
    return next(w for w in card.content if isinstance(w, CompareView))


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
    view = compare_view(card)
    assert [h.text() for h in view.headers] == ["MiniLM", "BM25", "Hybrid (MiniLM + BM25)"]
    assert card.source_label.text().startswith("from collection 'default' · MiniLM, BM25, Hybrid (MiniLM + BM25) · "
                                               "minilm.onnx ")
    line = view.fontMetrics().height()
    for column, result in zip(view.columns, card.result_json["results"]):
        assert column and column[0].hit["file_name"] == "chess.html"
        for row, hit in zip(column, result["hits"]):
            assert float(row.score.text()) == pytest.approx(hit["score"], rel=1e-2)  # the score is shown
            assert 0 < row.height() < 3 * line, "a row is one line of text"
    # chess.html is every method's best passage: marked as found by all three
    assert {column[0].mark.text() for column in view.columns} == {"in 3/3"}
    assert "[in 3/3]" in card.as_text()

    tab.compare_box.setChecked(False)
    tab.type_box.setCurrentText("PDF")
    card = ask(qtbot, tab, "volcano eruption")
    assert {c.hit["file_type"] for c in passage_cards(card)} == {".pdf"}, card.as_text()


def documents_tab(window) -> DocumentsTab:
    return next(window.tabs.widget(i) for i in range(window.tabs.count())
                if isinstance(window.tabs.widget(i), DocumentsTab))


@pytest.mark.parametrize("size", [(1024, 700), (1280, 800)])
def test_compare_fits_the_window_without_horizontal_scrolling(qtbot, main_window, models_dir, tmp_path, drop_files,
                                                               size):
    main_window.resize(*size)
    qtbot.waitUntil(lambda: main_window.width() == size[0])
    tab = documents_tab(main_window)
    main_window.tabs.setCurrentWidget(tab)
    write_notes(tmp_path / "notes")
    index_dropped(qtbot, tab, tmp_path / "notes", drop_files)
    tab.compare_box.setChecked(True)
    card = ask(qtbot, tab, "how to bake bread")
    view = compare_view(card)
    qtbot.waitUntil(lambda: view.isVisible() and view.width() > 0)
    QApplication.processEvents()

    viewport = tab.chat.scroll.viewport()
    assert view.mapTo(viewport, view.rect().topRight()).x() <= viewport.width()
    assert view.minimumSizeHint().width() <= view.width()
    bars = [bar for bar in main_window.findChildren(QScrollBar) if bar.orientation() == Qt.Orientation.Horizontal]
    assert not [bar for bar in bars if bar.isVisible() and bar.maximum() > 0], "nothing scrolls sideways"
    line = view.fontMetrics().height()
    for header in view.headers:  # wrapped if need be, never cut
        assert header.height() >= header.heightForWidth(header.width())
    for column in view.columns:
        for row in column:
            assert row.geometry().right() <= view.width() and row.height() < 3 * line
            assert row.score.isVisible() and row.score.width() >= row.score.sizeHint().width()


def long_notes(folder: Path) -> Path:
    """A long file about tides (several passages) beside the short notes."""
    write_notes(folder)
    sentences = [f"Tide table {n}: the ocean tide at harbour {n} rises as the moon pulls on the sea, "
                 f"and high water comes about fifty minutes later each day." for n in range(70)]
    path = folder / "tides.txt"
    path.write_text("\n\n".join(" ".join(sentences[i:i + 5]) for i in range(0, 70, 5)), encoding="utf-8")
    return path


def test_results_are_grouped_by_file_with_repeats_folded(qtbot, tab, tmp_path, drop_files):
    tides = long_notes(tmp_path / "notes")
    index_dropped(qtbot, tab, tmp_path / "notes", drop_files)
    card = ask(qtbot, tab, "ocean tides and the moon")
    assert card.source_label.text().startswith("from collection 'default' · MiniLM · minilm.onnx ")
    assert card.result_json["source"] == card.source_label.text()[len("from "):]
    groups = [w for w in card.content if isinstance(w, FileGroupView)]
    files = [g.cards[0].hit["path"] for g in groups]
    assert len(files) == len(set(files)), "each file once"
    assert len(card.result_json["hits"]) > len(groups), "several passages of a file were found"
    tide_group = next(g for g in groups if g.cards[0].hit["path"] == str(tides))
    folded = tide_group.cards[1:]
    assert tide_group.more is not None and tide_group.more.title == f"+{len(folded)} more from this file"
    assert folded and not any(c.isVisible() for c in folded)
    qtbot.mouseClick(tide_group.more.button, Qt.MouseButton.LeftButton)
    assert all(c.isVisible() for c in folded) and {c.hit["path"] for c in folded} == {str(tides)}


def test_copies_of_a_passage_in_other_files_are_named_not_repeated(qtbot, tab, tmp_path, drop_files):
    clause = "Permission is granted to copy, distribute and modify this document, with no invariant sections."
    folder = tmp_path / "licences"
    folder.mkdir()
    for name in ("licence-1.2.txt", "licence-1.3.txt", "licence.txt"):
        (folder / name).write_text(clause + "\n")
    (folder / "recipe.txt").write_text("Knead the dough for ten minutes, then let it rise in a warm place.\n")
    index_dropped(qtbot, tab, folder, drop_files)
    card = ask(qtbot, tab, "may I modify and distribute copies?")
    groups = [w for w in card.content if isinstance(w, FileGroupView)]
    copies = next(g for g in groups if g.same_in is not None)
    named = {copies.cards[0].hit["path"], *[str(folder / n) for n in copies.same_in.text().split(" in ")[1].split(", ")]}
    assert named == {str(folder / n) for n in ("licence-1.2.txt", "licence-1.3.txt", "licence.txt")}
    assert sum(g.cards[0].hit["file_name"].startswith("licence") for g in groups) == 1
    assert copies.same_in.isVisible()


def test_open_without_a_system_handler_shows_the_passage_in_its_text(qtbot, tab, tmp_path, drop_files):
    tides = long_notes(tmp_path / "notes")
    index_dropped(qtbot, tab, tmp_path / "notes", drop_files)
    opened = []
    tab.ctx.open_url = lambda url: opened.append(url) or False  # as QDesktopServices.openUrl without a handler
    card = ask(qtbot, tab, "high water at harbour 52")
    first = passage_cards(card)[0]
    assert first.hit["path"] == str(tides)
    qtbot.mouseClick(first.buttons["Open"], Qt.MouseButton.LeftButton)
    assert opened[0].toLocalFile() == str(tides)
    qtbot.waitUntil(lambda: tab.passage_viewer is not None and tab.passage_viewer.isVisible(), timeout=WAIT_MS)
    viewer = tab.passage_viewer
    shown = viewer.browser.toPlainText()
    passage = " ".join(first.hit["text"].split())
    assert passage in " ".join(shown.split()) and len(shown) > len(first.hit["text"]), "the passage in its text"
    assert viewer.highlighted_text().split() == first.hit["text"][slice(*first.hit["sentence"])].split()
    assert "harbour 52" in viewer.highlighted_text()
    assert "No program on this system opens .txt files" in cards_text(viewer)
    bar = viewer.browser.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.value() > 0)  # scrolled down to the passage

    tides.unlink()  # gone since it was indexed: the indexed passage, and why
    qtbot.mouseClick(first.buttons["Show text"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.passage_viewer is not viewer and tab.passage_viewer.isVisible(), timeout=WAIT_MS)
    assert tab.passage_viewer.browser.toPlainText().split() == first.hit["text"].split()
    assert "could not be read again" in cards_text(tab.passage_viewer)


def cards_text(widget) -> str:
    return "\n".join(label.text() for label in widget.findChildren(QLabel))


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
