"""Importing word vectors: File → Open vectors and the Train tab's Import… offer the same file types, and an
import from the menu shows up in the Train tab's saved-models list."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

import desktop.app
import desktop.tabs.train
from desktop.context import vector_file_filter
from desktop.tabs.train import TrainTab
from embedengine.word2vec import WordVectors
from embedengine.word2vec.library import READABLE_SUFFIXES, read_vectors_file, write_vectors_file

TINY = "3 2\nking 0.9 0.1\nqueen 0.8 0.2\napple -0.5 0.9\n"


class FakeDialog:
    """Stands in for QFileDialog: records the filter each open dialog offered and answers ``answer``."""

    answer = ""
    filters: list[str] = []

    @classmethod
    def getOpenFileName(cls, parent, caption="", folder="", filter=""):  # noqa: N802, A002 (Qt's names)
        cls.filters.append(filter)
        return cls.answer, filter


@pytest.fixture
def dialog(monkeypatch):
    FakeDialog.answer, FakeDialog.filters = "", []
    monkeypatch.setattr(desktop.app, "QFileDialog", FakeDialog)
    monkeypatch.setattr(desktop.tabs.train, "QFileDialog", FakeDialog)
    return FakeDialog


def open_vectors_action(window):
    file_menu = window.menuBar().actions()[0].menu()
    return next(a for a in file_menu.actions() if a.text().replace("&", "").startswith("Open vectors"))


def train_tab(window) -> TrainTab:
    return next(w for w in map(window.tabs.widget, range(window.tabs.count())) if isinstance(w, TrainTab))


def test_menu_import_shows_in_the_train_tabs_saved_models(main_window, qtbot, tmp_path, dialog):
    path = tmp_path / "tiny.txt"
    path.write_text(TINY, encoding="utf-8")
    models = train_tab(main_window).models
    assert models.names() == []

    dialog.answer = str(path)
    open_vectors_action(main_window).trigger()  # the menu's own path; only the file dialog is stood in for
    qtbot.waitUntil(lambda: main_window.ctx.word_model_name == "tiny", timeout=10_000)
    assert models.names() == ["tiny"]
    assert models.list.item(0).text() == "tiny — 3 words · 2d"


def test_both_import_dialogs_offer_the_same_file_types(main_window, qtbot, dialog):
    open_vectors_action(main_window).trigger()
    import_button = next(b for b in train_tab(main_window).models.buttons if b.text() == "Import…")
    qtbot.mouseClick(import_button, Qt.MouseButton.LeftButton)
    assert dialog.filters == [vector_file_filter(), vector_file_filter()]
    for suffix in READABLE_SUFFIXES:
        assert f"*{suffix}" in vector_file_filter()


@pytest.mark.parametrize("suffix", READABLE_SUFFIXES)
def test_every_offered_file_type_is_read(tmp_path, suffix):
    vectors = WordVectors(["king", "queen"], np.array([[0.9, 0.1], [0.8, 0.2]], dtype=np.float32))
    path = write_vectors_file(vectors, tmp_path / f"pair{suffix}")
    again = read_vectors_file(path)
    assert again.words == ["king", "queen"] and np.allclose(again.vectors, vectors.vectors)
