"""The app does not fight the user's hands: wheel, Enter, drops, theme switch, Ctrl+K (desktop/hands.py and friends).

Events go to the child widget under the cursor, as a real mouse or keyboard delivers them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QScrollArea

from desktop import plots, style
from desktop.chat import ChatView, cards
from desktop.chat.input import ChatInput

WAIT_MS = 60_000
UP = 120  # one notch of the wheel, away from the user


def wheel(widget, delta: int = UP, modifiers=Qt.KeyboardModifier.NoModifier) -> QWheelEvent:
    """One wheel notch at the centre of ``widget``, delivered to it."""
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre)), QPoint(0, 0), QPoint(0, delta),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    return event


def enclosing_scroll_area(widget) -> QScrollArea:
    while not isinstance(widget, QScrollArea):
        widget = widget.parentWidget()
    return widget


def view_range(plot) -> np.ndarray:
    return np.array(plot.getPlotItem().getViewBox().viewRange())


# -- 1. the wheel never changes a setting it merely passes over ----------------------------------------

@pytest.fixture
def train_panel(main_window, qtbot):
    """The real Train tab at a height where its settings panel scrolls; the focus in its chat input."""
    main_window.resize(1024, 560)
    main_window.tabs.setCurrentIndex(0)
    tab = main_window.tabs.widget(0)
    panel = enclosing_scroll_area(tab.param_boxes["min_count"])
    qtbot.waitUntil(lambda: panel.verticalScrollBar().maximum() > 0)
    tab.chat.input.setFocus()
    qtbot.waitUntil(tab.chat.input.hasFocus)
    return tab, panel


def test_wheel_over_unfocused_spin_and_combo_boxes_scrolls_the_train_panel(train_panel):
    tab, panel = train_panel
    bar = panel.verticalScrollBar()
    min_count, rate = tab.param_boxes["min_count"], tab.param_boxes["alpha"]
    settings = lambda: (min_count.value(), rate.value(), tab.architecture.currentIndex())  # noqa: E731
    before = settings()
    for control in (min_count, min_count.findChild(QLineEdit), rate, rate.findChild(QLineEdit), tab.architecture):
        bar.setValue(bar.maximum())
        wheel(control, UP)
        assert settings() == before, f"the wheel changed a setting over {type(control).__name__}"
        assert bar.value() < bar.maximum(), f"the panel did not scroll over {type(control).__name__}"


def test_a_focused_spin_box_still_takes_the_wheel(train_panel, qtbot):
    tab, panel = train_panel
    box = tab.param_boxes["min_count"]
    box.setFocus()
    qtbot.waitUntil(box.hasFocus)
    before = box.value()
    wheel(box, UP)  # (a synthetic event is not passed on from the inner line edit as a real one is)
    assert box.value() == before + box.singleStep()


def test_the_wheel_does_not_give_a_setting_focus(train_panel):
    tab, _panel = train_panel
    for control in (tab.param_boxes["min_count"], tab.architecture):
        assert control.focusPolicy() == Qt.FocusPolicy.StrongFocus


# -- 2. the wheel over a plot scrolls the conversation unless the plot was clicked or Ctrl is held ---------

PLOTS = {
    "scatter_map": lambda: plots.scatter_map(np.array([[0, 0], [1, 1], [2, 0.5]]), ["king", "queen", "man"],
                                             highlight=["king"]),
    "line": lambda: _line_plot(),
    "bar_chart": lambda: plots.bar_chart(["capital", "family"], [70.0, 40.0], y_label="%", y_range=(0, 100)),
    "heatmap": lambda: plots.heatmap(np.array([[1.0, 0.2], [0.2, 1.0]]), ["bank", "river"]),
}


def _line_plot():
    plot = plots.LinePlot(title="loss")
    plot.set_data([0, 1, 2], [3.0, 2.5, 2.1])
    return plot


def chat_with_plot(qtbot, ctx, plot) -> ChatView:
    """A conversation taller than its window with ``plot`` in a card in the middle, scrolled to show it."""
    chat = ChatView(ctx, "hands-test")
    qtbot.addWidget(chat)
    chat.resize(900, 600)
    chat.show()
    qtbot.waitExposed(chat)
    for number in range(8):
        chat.add_note(f"note {number}")
    chat.add_note(cards.plot_widget(plot, height=260))
    for number in range(8, 16):
        chat.add_note(f"note {number}")
    qtbot.wait(250)  # the "follow the newest message" window after adding
    bar = chat.scroll.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    chat.scroll.ensureWidgetVisible(plot)
    assert 0 < bar.value() < bar.maximum()
    return chat


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_wheel_over_a_plot_scrolls_the_transcript(qtbot, ctx, name):
    plot = PLOTS[name]()
    chat = chat_with_plot(qtbot, ctx, plot)
    bar = chat.scroll.verticalScrollBar()
    before, view = bar.value(), view_range(plot)
    wheel(plot.viewport(), UP)
    assert bar.value() < before, "the transcript did not scroll"
    assert np.allclose(view_range(plot), view), "the plot zoomed"


@pytest.mark.parametrize("name", ["scatter_map", "line"])
def test_ctrl_wheel_or_a_click_first_zooms_the_plot(qtbot, ctx, name):
    plot = PLOTS[name]()
    chat = chat_with_plot(qtbot, ctx, plot)
    bar = chat.scroll.verticalScrollBar()
    before, view = bar.value(), view_range(plot)
    wheel(plot.viewport(), UP, Qt.KeyboardModifier.ControlModifier)
    assert bar.value() == before
    zoomed = view_range(plot)
    assert (zoomed[:, 1] - zoomed[:, 0] < view[:, 1] - view[:, 0]).all(), "Ctrl+wheel did not zoom in"

    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=plot.viewport().rect().center())
    qtbot.waitUntil(plot.hasFocus)
    wheel(plot.viewport(), UP)
    assert bar.value() == before
    assert not np.allclose(view_range(plot), zoomed), "a clicked plot did not zoom"


# -- 3. Enter sends what was typed, even with the completion list open -------------------------------------

WORDS = ["bread", "breadth", "cat", "catalog", "cats", "king", "kingdom", "man", "wine", "wines", "woman", "women"]


@pytest.fixture
def typed_chat(qtbot, ctx):
    chat = ChatView(ctx, "hands-enter")
    qtbot.addWidget(chat)
    chat.resize(700, 400)
    chat.show()
    qtbot.waitExposed(chat)
    chat.set_completions(WORDS)
    chat.input.setFocus()
    qtbot.waitUntil(chat.input.hasFocus)
    sent: list[str] = []
    chat.submitted.connect(sent.append)
    return chat, sent


def type_with_popup(qtbot, chat, text: str):
    qtbot.keyClicks(chat.input, text)
    popup = chat.input.completer_.popup()
    qtbot.waitUntil(popup.isVisible)
    return popup


def press_return(chat) -> None:
    """Return as the window system delivers it: to the window, which hands it to the open popup."""
    QTest.keyClick(chat.window().windowHandle(), Qt.Key.Key_Return)


@pytest.mark.parametrize("text", ["cat", "king - man + woman", "bread ~ wine"])
def test_first_return_with_the_completion_list_open_sends(qtbot, typed_chat, text):
    chat, sent = typed_chat
    popup = type_with_popup(qtbot, chat, text)
    press_return(chat)
    assert sent == [text]
    assert chat.input.text() == "" and not popup.isVisible()


def test_return_after_arrowing_into_the_list_inserts_the_completion(qtbot, typed_chat):
    chat, sent = typed_chat
    type_with_popup(qtbot, chat, "king - man + wo")
    QTest.keyClick(chat.window().windowHandle(), Qt.Key.Key_Down)
    press_return(chat)
    assert sent == []
    assert chat.input.text() == "king - man + woman"
    press_return(chat)
    assert sent == ["king - man + woman"]


# -- 4. files and folders dropped on the input box ---------------------------------------------------------

def drag_and_drop(widget, paths) -> tuple[QDragEnterEvent, QDropEvent]:
    """Drag ``paths`` over ``widget`` and drop them as X11 file managers do: URLs plus the same as plain text,
    copy or move offered."""
    mime = QMimeData()
    urls = [QUrl.fromLocalFile(str(p)) for p in paths]
    mime.setUrls(urls)
    mime.setText("\n".join(url.toString() for url in urls))
    centre = widget.rect().center()
    actions = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction
    with warnings.catch_warnings():  # PySide flags Qt 6's only QPoint constructor as deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(centre, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    drop = QDropEvent(QPointF(centre), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return enter, drop


def test_an_input_box_refuses_dropped_files_unless_it_takes_them(qtbot, tmp_path):
    box = ChatInput()
    qtbot.addWidget(box)
    dropped: list[list[str]] = []
    box.paths_dropped.connect(dropped.append)
    enter, _drop = drag_and_drop(box, [tmp_path])
    assert not enter.isAccepted() and box.text() == "" and dropped == []

    box.accept_path_drops(True)
    enter, drop = drag_and_drop(box, [tmp_path, tmp_path / "a.txt"])
    assert enter.isAccepted() and drop.isAccepted()
    assert drop.dropAction() == Qt.DropAction.CopyAction
    assert dropped == [[str(tmp_path), str(tmp_path / "a.txt")]] and box.text() == ""


@pytest.fixture
def documents(shown, ctx, models_dir):
    from desktop.tabs.documents import DocumentsTab

    return shown(DocumentsTab(ctx), 1024, 700)


def finished_index_card(qtbot, tab):
    qtbot.waitUntil(lambda: tab.actions.index_handle is not None, timeout=WAIT_MS)
    handle = tab.actions.index_handle
    qtbot.waitUntil(lambda: handle.state == "finished", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not tab.ctx.tasks.active(), timeout=WAIT_MS)
    card = tab.chat.cards()[-1]
    assert card.kind == "index"
    return card


def test_a_folder_dropped_on_the_documents_input_is_indexed(qtbot, documents, tmp_path):
    from documents_fixtures import write_notes

    write_notes(tmp_path / "notes")
    enter, drop = drag_and_drop(documents.chat.input, [tmp_path / "notes"])
    assert enter.isAccepted() and drop.dropAction() == Qt.DropAction.CopyAction
    assert documents.chat.input.text() == ""
    card = finished_index_card(qtbot, documents)
    assert card.result_json["files_new"] >= 3 and str(tmp_path / "notes") in card.result_json["roots"]


def test_a_single_file_dropped_on_documents_is_indexed_with_a_note(qtbot, documents, tmp_path):
    note = tmp_path / "tides.txt"
    note.write_text("The tides of the ocean are caused by the gravity of the moon.", encoding="utf-8")
    enter, drop = drag_and_drop(documents.chat.input, [note])
    assert enter.isAccepted() and drop.dropAction() == Qt.DropAction.CopyAction
    card = finished_index_card(qtbot, documents)
    assert card.result_json["files_new"] == 1 and card.result_json["roots"] == [str(note)]
    assert any("tides.txt on its own" in c.as_text() for c in documents.chat.cards())

    first_run = documents.actions.index_handle
    enter, drop = drag_and_drop(documents.bar, [note])  # the bar takes a file too
    assert enter.isAccepted() and drop.dropAction() == Qt.DropAction.CopyAction
    qtbot.waitUntil(lambda: documents.actions.index_handle is not first_run, timeout=WAIT_MS)
    assert finished_index_card(qtbot, documents).result_json["files_unchanged"] == 1


# -- 5. a theme switch recolours the plots already shown ---------------------------------------------------

def test_switching_theme_recolours_existing_plots(main_window, qtbot):
    chart = plots.bar_chart(["capital", "family"], [70.0, 40.0], title="Accuracy", y_label="%")
    chart_values = [item for item in chart.getPlotItem().items if type(item).__name__ == "TextItem"]
    scatter = plots.scatter_map(np.array([[0, 0], [1, 1]]), ["king", "queen"], highlight=["king"], title="Map")
    king = next(item for item in scatter.getPlotItem().items
                if type(item).__name__ == "TextItem" and item.toPlainText() == "king")
    line = plots.LinePlot(title="Loss", x_label="words", y_label="loss")
    for plot in (chart, scatter, line):
        qtbot.addWidget(plot)
    try:
        for theme in ("dark", "light"):
            main_window.ctx.set_pref("ui/theme", theme)  # as Preferences does
            expected = style.DARK if theme == "dark" else style.LIGHT
            for plot in (chart, scatter, line):
                assert plot.getPlotItem().titleLabel.opts["color"] == expected.text
            assert line.getPlotItem().getAxis("left").labelStyle["color"] == expected.muted
            assert all(text.color.name() == expected.text for text in chart_values)
            assert king.color.name() == expected.text  # the highlighted word
    finally:
        main_window.ctx.set_pref("ui/theme", "light")


# -- 6. the evaluation chart: horizontal bars, every label readable ----------------------------------------

def test_bar_chart_is_horizontal_with_labels_left_and_values_at_the_bar_ends(qtbot):
    names = ["capital-common-countries", "capital-world", "currency", "family", "gram1-adjective-to-adverb"]
    values = [12.5, 100.0, 0.0, 66.7, 40.0]
    chart = plots.bar_chart(names, values, title="Analogy accuracy per section", y_label="%", y_range=(0, 100))
    qtbot.addWidget(chart)
    card = cards.plot_widget(chart, height=240)
    card.resize(600, 240)  # a chart column at 1024 px
    card.show()
    qtbot.waitExposed(card)
    item = chart.getPlotItem()
    assert item.getAxis("left").isVisible()
    assert [label for _, label in item.getAxis("left")._tickLevels[0]] == names
    texts = {t.toPlainText(): t for t in item.items if type(t).__name__ == "TextItem"}
    assert set(texts) == {"12.5 %", "100.0 %", "0.00 %", "66.7 %", "40.0 %"}
    view = item.getViewBox()
    chart.grab()  # drawn: the labels are placed
    for text in texts.values():  # each value sits at its bar's end and inside the plot, 100 % included
        assert view.sceneBoundingRect().contains(text.sceneBoundingRect()), f"{text.toPlainText()} is cut off"
    assert texts["100.0 %"].pos().x() == 100.0 and texts["12.5 %"].pos().y() == 0.0


# -- 7. Ctrl+K can be undone -------------------------------------------------------------------------------

def test_ctrl_k_clears_and_undo_brings_the_conversation_back(main_window, qtbot):
    chat = ChatView(main_window.ctx, "hands-clear")
    chat.chat = chat  # a tab exposes its ChatView as `chat`
    main_window.tabs.setCurrentIndex(main_window.tabs.addTab(chat, "Chat"))
    chat.add_user_message("hi")
    chat.add_answer("text", {"text": "hello"}, query="hi")
    chat.add_answer("table", {"headers": ["w", "s"], "rows": [["queen", 0.8]]}, query="king")
    chat.input.remember("hi")
    history = main_window.ctx.history
    saved = [(e.query, e.kind, e.result) for e in history.entries("hands-clear")]

    QTest.keyClick(main_window.windowHandle(), Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert chat.cards() == [] and history.entries("hands-clear") == []
    assert chat.undo_bar.isVisible()

    qtbot.mouseClick(chat.undo_bar.undo_button, Qt.MouseButton.LeftButton)
    assert [card.query for card in chat.cards()] == ["hi", "king"]
    assert all(card.isVisible() for card in chat.cards())
    assert [(e.query, e.kind, e.result) for e in history.entries("hands-clear")] == saved
    assert chat.input.history == ["hi"] and not chat.undo_bar.isVisible()


def test_a_new_question_after_ctrl_k_ends_the_undo(main_window, qtbot):
    chat = ChatView(main_window.ctx, "hands-clear-2")
    chat.add_answer("text", {"text": "hello"}, query="hi")
    qtbot.addWidget(chat)
    chat.clear()
    chat.ask("something new")
    assert not chat.undo_bar.isVisibleTo(chat) and chat.undo_clear() is False
    assert [e.query for e in main_window.ctx.history.entries("hands-clear-2")] == []


def test_line_plot_ticks_read_as_compact_numbers(qtbot):
    """The loss curve's words-processed axis said 1e+06, 2e+06…"""
    from desktop import plots

    plot = plots.LinePlot(title="loss", x_label="words processed")
    qtbot.addWidget(plot)
    plot.set_data([0, 1_000_000, 2_500_000, 4_000_000], [4.0, 2.8, 2.5, 2.4])
    axis = plot.getPlotItem().getAxis("bottom")
    labels = axis.tickStrings([0, 1_000_000, 2_500_000], 1.0, 1_000_000)
    assert labels == ["0", "1M", "2.5M"]
    assert plots.compact_number(950) == "950" and plots.compact_number(200_000) == "200k"
