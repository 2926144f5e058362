"""The map view driven with real mouse events on its viewport: hover, click, Shift+drag lasso, the wheel rule;
the `map` answers of Explore and Documents (query results highlighted, a click asks for neighbours)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from desktop.map_view import MapView
from embedengine import maps
from embedengine.word2vec import library

WAIT_MS = 60_000
NONE = Qt.KeyboardModifier.NoModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def word_map(trained_word_model):
    library.save_model(trained_word_model, "small")
    return maps.SpaceMap.load(maps.make_map(maps.word_space("small"), "pca").file)


@pytest.fixture
def view(qtbot, word_map):
    widget = MapView(word_map)
    qtbot.addWidget(widget)
    widget.resize(900, 640)
    widget.show()
    qtbot.waitExposed(widget)
    QApplication.processEvents()
    return widget


def viewport_pos(view: MapView, x: float, y: float) -> QPoint:
    """Where a map point is drawn, in the plot viewport's pixels."""
    scene = view.viewbox.mapViewToScene(QPointF(float(x), float(y)))
    return view.plot.mapFromScene(scene)


def mouse(widget, kind, pos: QPoint, button=Qt.MouseButton.NoButton, buttons=Qt.MouseButton.NoButton, modifiers=NONE):
    """A real mouse event on ``widget`` (the plot's viewport), as the window system delivers it."""
    local = QPointF(pos)
    event = QMouseEvent(kind, local, QPointF(widget.mapToGlobal(pos)), button, buttons, modifiers)
    QApplication.sendEvent(widget, event)
    QApplication.processEvents()


def move(widget, pos: QPoint, buttons=Qt.MouseButton.NoButton, modifiers=NONE) -> None:
    QTest.qWait(12)  # pyqtgraph takes at most 100 mouse moves a second (pyqtgraph's mouseRateLimit), as a hand makes
    mouse(widget, QEvent.Type.MouseMove, pos, buttons=buttons, modifiers=modifiers)


def click(widget, pos: QPoint, modifiers=NONE) -> None:
    mouse(widget, QEvent.Type.MouseButtonPress, pos, LEFT, LEFT, modifiers)
    mouse(widget, QEvent.Type.MouseButtonRelease, pos, LEFT, Qt.MouseButton.NoButton, modifiers)


def lonely_row(view: MapView, min_px: float = 24) -> int:
    """A point with no other point within ``min_px`` pixels on screen (so the cursor picks it alone)."""
    pixels = np.array([[p.x(), p.y()] for p in (viewport_pos(view, x, y) for x, y in view.map.coords)], float)
    inside = (pixels[:, 0] > 40) & (pixels[:, 0] < view.plot.width() - 40) & (pixels[:, 1] > 40) \
        & (pixels[:, 1] < view.plot.height() - 40)
    for row in np.flatnonzero(inside):
        distances = np.hypot(*(pixels - pixels[row]).T)
        distances[row] = np.inf
        if distances.min() > min_px:
            return int(row)
    pytest.fail("no isolated point on the map")


def test_hover_shows_the_word_and_click_emits_it(qtbot, view):
    viewport = view.plot.viewport()
    row = lonely_row(view)
    at = viewport_pos(view, *view.map.coords[row])
    move(viewport, at + QPoint(3, 2))
    assert view.hover.isVisible()
    word = view.map.labels[row]
    assert f"<b>{word}</b>" in view.hover.text() and view.map.details[row] in view.hover.text()
    move(viewport, at + QPoint(40, 40))  # away from every point
    assert not view.hover.isVisible() or view.hover_row != row

    with qtbot.waitSignal(view.item_clicked, timeout=2000) as clicked:
        click(viewport, at)
    assert clicked.args[0]["label"] == word and clicked.args[0]["id"] == word


def test_shift_drag_lassoes_the_points_inside(qtbot, view):
    viewport = view.plot.viewport()
    (x0, x1), (y0, y1) = view.viewbox.viewRange()
    box = [(x0 + 0.3 * (x1 - x0), y0 + 0.3 * (y1 - y0)), (x0 + 0.7 * (x1 - x0), y0 + 0.7 * (y1 - y0))]
    corners = [viewport_pos(view, box[0][0], box[0][1]), viewport_pos(view, box[1][0], box[0][1]),
               viewport_pos(view, box[1][0], box[1][1]), viewport_pos(view, box[0][0], box[1][1])]
    before = view.viewbox.viewRange()
    with qtbot.waitSignal(view.selection_made, timeout=2000) as selected:
        mouse(viewport, QEvent.Type.MouseButtonPress, corners[0], LEFT, LEFT, SHIFT)
        for corner in corners[1:] + corners[:1]:
            start = corners[corners.index(corner) - 1]
            for step in range(1, 6):  # the drag passes through the lasso's outline
                move(viewport, start + (corner - start) * (step / 5), LEFT, SHIFT)
        mouse(viewport, QEvent.Type.MouseButtonRelease, corners[0], LEFT, Qt.MouseButton.NoButton, SHIFT)
    chosen = {item["label"] for item in selected.args[0]}
    coords = view.map.coords
    inside = (coords[:, 0] > box[0][0]) & (coords[:, 0] < box[1][0]) & (coords[:, 1] > box[0][1]) \
        & (coords[:, 1] < box[1][1])
    expected = {view.map.labels[i] for i in np.flatnonzero(inside)}
    assert expected and len(chosen ^ expected) <= max(2, len(expected) // 50)  # pixel rounding at the outline
    assert np.allclose(view.viewbox.viewRange(), before)  # a lasso does not pan

    move(viewport, corners[0])  # a plain drag still pans
    mouse(viewport, QEvent.Type.MouseButtonPress, corners[0], LEFT, LEFT)
    for step in range(1, 6):
        move(viewport, corners[0] + QPoint(12 * step, 0), LEFT)
    mouse(viewport, QEvent.Type.MouseButtonRelease, corners[0] + QPoint(60, 0), LEFT, Qt.MouseButton.NoButton)
    assert not np.allclose(view.viewbox.viewRange()[0], before[0])


def test_wheel_zooms_only_after_a_click_or_with_ctrl(qtbot, view):
    viewport = view.plot.viewport()
    centre = viewport.rect().center()

    def wheel(modifiers=NONE) -> None:
        event = QWheelEvent(QPointF(centre), QPointF(viewport.mapToGlobal(centre)), QPoint(0, 0), QPoint(0, 120),
                            Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(viewport, event)
        QApplication.processEvents()

    view.colour_box.setFocus()
    before = view.viewbox.viewRange()
    wheel()
    assert np.allclose(view.viewbox.viewRange(), before)  # not focused: the wheel scrolls the conversation
    wheel(Qt.KeyboardModifier.ControlModifier)
    zoomed = view.viewbox.viewRange()
    assert zoomed[0][1] - zoomed[0][0] < before[0][1] - before[0][0]


def test_colour_by_and_highlight(qtbot, view, word_map):
    assert view.colour_box.currentText() == "cluster"
    codes, names = word_map.groups["cluster"]
    assert all(name in view.legend.text() for name in names[:3])
    row = lonely_row(view)
    assert view.pixel_colour(row) == codes[row]  # each point drawn in its group's colour
    view.colour_box.setCurrentText("frequency")
    assert view.pixel_colour(row) == word_map.groups["frequency"][0][row]
    assert word_map.groups["frequency"][1][0] in view.legend.text()
    words = list(word_map.labels[:5])
    assert view.highlight(words + ["not-a-word"]) == 5
    assert [t.textItem.toPlainText() for t in view.highlight_texts] == words


@pytest.fixture
def explore(qtbot, ctx, trained_word_model):
    from desktop.tabs.explore import ExploreTab

    library.save_model(trained_word_model, "small")
    ctx.set_word_model("small", trained_word_model)
    tab = ExploreTab(ctx)
    qtbot.addWidget(tab)
    tab.resize(1000, 800)
    tab.show()
    return tab


def ask(qtbot, tab, text: str):
    before = len(tab.chat.cards())
    qtbot.keyClicks(tab.chat.input, text)
    if hasattr(tab.chat.input, "completer_"):
        tab.chat.input.completer_.popup().hide()  # a person would dismiss the completion popup too
    qtbot.keyClick(tab.chat.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(tab.chat.cards()) > before and bool(tab.chat.cards()[-1].kind), timeout=WAIT_MS)
    return tab.chat.cards()[-1]


def test_explore_map_answer_highlights_neighbours_and_a_click_asks_for_them(qtbot, explore, trained_word_model):
    card = ask(qtbot, explore, "map pca")
    assert card.kind == "map", card.as_text()
    assert card.source_label.text().startswith("from word model small")
    view = next(w for w in card.content if isinstance(w, MapView))
    assert len(view.map) == len(trained_word_model)
    word = trained_word_model.words[30]
    ask(qtbot, explore, word)
    assert explore.chat.cards()[-1].kind == "neighbours"
    assert len(view.highlighted) == 11 and view.map.labels[view.highlighted[0]] == word
    view.item_clicked.emit(view.item(5))
    qtbot.waitUntil(lambda: explore.chat.cards()[-1].query == trained_word_model.words[5]
                    and explore.chat.cards()[-1].kind == "neighbours", timeout=WAIT_MS)
    view.selection_made.emit([view.item(i) for i in range(4)])
    selection = explore.chat.cards()[-1]
    assert selection.kind == "map_selection" and selection.result_json["count"] == 4
    assert all(w in selection.as_text() for w in trained_word_model.words[:4])


def test_documents_map_answer(qtbot, ctx, tmp_path, models_dir):
    from documents_fixtures import write_notes
    from desktop.tabs.documents import DocumentsTab
    from embedengine.documents import DocumentCollection

    write_notes(tmp_path / "notes")
    with DocumentCollection("default") as collection:
        collection.index([tmp_path / "notes"])
    tab = DocumentsTab(ctx)
    qtbot.addWidget(tab)
    tab.resize(1000, 800)
    tab.show()
    card = ask(qtbot, tab, "map pca")
    assert card.kind == "map", card.as_text()
    assert "collection 'default'" in card.source_label.text()
    view = next(w for w in card.content if isinstance(w, MapView))
    assert view.map.kind == "documents" and len(view.map) >= 4
    assert "folder" in view.map.groups and "file type" in view.map.groups
    ask(qtbot, tab, "what causes the ocean tides")
    assert len(view.highlighted) > 0
    view.item_clicked.emit(view.item(int(view.highlighted[0])))
    qtbot.waitUntil(lambda: tab.chat.cards()[-1].kind == "search" and "More like" in tab.chat.cards()[-1].query,
                    timeout=WAIT_MS)


def test_images_map_shows_pca_at_once_then_the_layout_and_a_click_finds_similar_photos(qtbot, ctx, models_dir):
    """`map` in Images: the PCA map answers at once; with t-SNE installed it is replaced in the same card,
    and only that final map is saved; clicking a photo asks for the photos like it."""
    from desktop.tabs.images import ImagesTab
    from embedengine.images_index import DEMO_COLLECTION, ImageCollection, demo_folder

    with ImageCollection(DEMO_COLLECTION, create=True) as collection:
        collection.index([demo_folder()])
    tab = ImagesTab(ctx)
    qtbot.addWidget(tab)
    tab.resize(1100, 800)
    tab.show()
    qtbot.waitUntil(lambda: tab.demo_task is not None and tab.demo_task.state == "finished", timeout=WAIT_MS)
    qtbot.keyClicks(tab.chat.input, "map")
    qtbot.keyClick(tab.chat.input, Qt.Key.Key_Return)
    card = tab.chat.cards()[-1]
    qtbot.waitUntil(lambda: card.kind == "map", timeout=WAIT_MS)
    final = maps.resolve_method("auto")
    qtbot.waitUntil(lambda: card.result_json["method"] == final and not ctx.tasks.active(), timeout=WAIT_MS)
    conversation = tab.conversation_key(DEMO_COLLECTION)
    assert [(e.kind, e.result["method"]) for e in ctx.history.entries(conversation)] == [("map", final)]
    view = next(w for w in card.content if isinstance(w, MapView))
    assert view.map.kind == "images" and len(view.map) == 11 and all(view.map.thumbs)
    assert card.source_label.text() == f"from collection '{DEMO_COLLECTION}' · ResNet50"
    coffee = view.map.labels.index("coffee.webp")
    view.item_clicked.emit(view.item(coffee))
    qtbot.waitUntil(lambda: tab.chat.cards()[-1].kind == "image_search", timeout=WAIT_MS)
    answer = tab.chat.cards()[-1]
    assert answer.result_json["query"].endswith("coffee.webp")
    assert view.highlighted is not None and len(view.highlighted) >= 1  # its hits lit on the map
