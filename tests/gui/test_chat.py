"""The conversation component and the workers, used as a tab would use them (real widgets, real threads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication, QPixmap, QColor
from PySide6.QtWidgets import QLabel

from desktop import plots
from desktop.chat import ChatView, cards
from embedengine.errors import UserError
from embedengine.tasks import Progress, checkpoint

NEIGHBOURS = {"query": "king", "neighbours": [["queen", 0.81], ["prince", 0.74], ["throne", 0.52]]}


def render(view_holder: dict):
    """A tab-style renderer: neighbour lists become clickable ranked lists."""

    def renderer(kind: str, result):
        if kind == "neighbours":
            items = [(word, score) for word, score in result["neighbours"]]
            return cards.ranked_list(items, on_click=view_holder["view"].ask)
        raise ValueError(f"unknown kind {kind}")

    return renderer


def make_view(ctx, qtbot, tab: str = "explore") -> ChatView:
    holder: dict = {}
    view = ChatView(ctx, tab, renderer=render(holder))
    holder["view"] = view
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    return view


def submit(qtbot, view: ChatView, text: str) -> None:
    view.input.setFocus()
    qtbot.keyClicks(view.input, text)
    qtbot.keyClick(view.input, Qt.Key.Key_Return)


def answer_neighbours(view: ChatView, query: str) -> None:
    view.add_pending_answer().finish("neighbours", {**NEIGHBOURS, "query": query})


def test_enter_submits_to_the_handler_and_shows_the_message(ctx, qtbot):
    view = make_view(ctx, qtbot)
    with qtbot.waitSignal(view.submitted, timeout=2000) as blocker:
        submit(qtbot, view, "  king  ")
    assert blocker.args == ["king"]
    assert view.input.text() == ""
    assert view.widgets()[-1].text == "king"


def test_empty_input_submits_nothing(ctx, qtbot):
    view = make_view(ctx, qtbot)
    received = []
    view.submitted.connect(received.append)
    submit(qtbot, view, "   ")
    assert received == []


def test_up_and_down_walk_the_input_history(ctx, qtbot):
    view = make_view(ctx, qtbot)
    for query in ("king", "queen", "bread ~ wine"):
        submit(qtbot, view, query)
    qtbot.keyClicks(view.input, "dra")
    qtbot.keyClick(view.input, Qt.Key.Key_Up)
    assert view.input.text() == "bread ~ wine"
    qtbot.keyClick(view.input, Qt.Key.Key_Up)
    qtbot.keyClick(view.input, Qt.Key.Key_Up)
    qtbot.keyClick(view.input, Qt.Key.Key_Up)
    assert view.input.text() == "king"
    qtbot.keyClick(view.input, Qt.Key.Key_Down)
    assert view.input.text() == "queen"
    qtbot.keyClick(view.input, Qt.Key.Key_Down)
    qtbot.keyClick(view.input, Qt.Key.Key_Down)
    assert view.input.text() == "dra"  # the draft comes back


def test_completion_completes_the_word_under_the_cursor(ctx, qtbot):
    view = make_view(ctx, qtbot)
    view.set_completions(["king", "kingdom", "queen", "woman"])
    view.input.setFocus()
    qtbot.keyClicks(view.input, "king - man + wo")
    completer = view.input.completer_
    assert completer.completionPrefix() == "wo"
    assert completer.completionCount() == 1
    qtbot.waitUntil(completer.popup().isVisible, timeout=2000)
    popup = completer.popup()
    popup.setCurrentIndex(completer.completionModel().index(0, 0))
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert view.input.text() == "king - man + woman"


def test_ranked_list_click_asks_a_follow_up(ctx, qtbot):
    view = make_view(ctx, qtbot)
    submit(qtbot, view, "king")
    answer_neighbours(view, "king")
    card = view.cards()[-1]
    ranked = card.content[0]
    assert [b.text() for b in ranked.labels] == ["queen", "prince", "throne"]
    with qtbot.waitSignal(view.submitted, timeout=2000) as blocker:
        qtbot.mouseClick(ranked.labels[1], Qt.MouseButton.LeftButton)
    assert blocker.args == ["prince"]
    assert view.widgets()[-1].text == "prince"


def test_rerun_emits_the_original_query_again(ctx, qtbot):
    view = make_view(ctx, qtbot)
    submit(qtbot, view, "king")
    answer_neighbours(view, "king")
    with qtbot.waitSignal(view.submitted, timeout=2000) as blocker:
        qtbot.mouseClick(view.cards()[-1].actions["Re-run"], Qt.MouseButton.LeftButton)
    assert blocker.args == ["king"]


def test_history_is_saved_and_restored_in_a_new_view(ctx, qtbot):
    view = make_view(ctx, qtbot)
    submit(qtbot, view, "king")
    answer_neighbours(view, "king")
    submit(qtbot, view, "kingg")
    view.add_pending_answer().fail(UserError("'kingg' is not in the vocabulary", hint="did you mean 'king'?"))
    live_text = view.cards()[-2].as_text()

    restored = make_view(ctx, qtbot)
    answered = [c for c in restored.cards() if c.query]
    assert [c.query for c in answered] == ["king", "kingg"]
    assert [c.kind for c in answered] == ["neighbours", "error"]
    assert answered[0].as_text() == live_text
    assert "did you mean 'king'?" in answered[1].as_text()
    qtbot.keyClick(restored.input, Qt.Key.Key_Up)
    assert restored.input.text() == "kingg"


def test_other_tabs_keep_their_own_history(ctx, qtbot):
    view = make_view(ctx, qtbot, tab="explore")
    submit(qtbot, view, "king")
    answer_neighbours(view, "king")
    other = make_view(ctx, qtbot, tab="documents")
    assert not [c for c in other.cards() if c.query]


def test_clear_removes_the_conversation_and_its_history(ctx, qtbot):
    view = make_view(ctx, qtbot)
    submit(qtbot, view, "king")
    answer_neighbours(view, "king")
    view.clear()
    assert view.cards() == []
    assert ctx.history.entries("explore") == []
    assert make_view(ctx, qtbot).cards() == []


def test_copy_as_json_puts_the_result_on_the_clipboard(ctx, qtbot):
    view = make_view(ctx, qtbot)
    submit(qtbot, view, "king")
    view.add_pending_answer().finish("neighbours", {"query": "king", "neighbours": [("queen", np.float32(0.81))]})
    qtbot.mouseClick(view.cards()[-1].actions["JSON"], Qt.MouseButton.LeftButton)
    copied = json.loads(QGuiApplication.clipboard().text())
    assert copied["query"] == "king" and copied["kind"] == "neighbours"
    assert copied["result"]["neighbours"][0][0] == "queen"
    assert copied["result"]["neighbours"][0][1] == pytest.approx(0.81, abs=1e-6)
    qtbot.mouseClick(view.cards()[-1].actions["Copy"], Qt.MouseButton.LeftButton)
    assert "1. queen" in QGuiApplication.clipboard().text()


def test_error_card_shows_message_and_hint(ctx, qtbot):
    view = make_view(ctx, qtbot)
    submit(qtbot, view, "kingg")
    view.add_pending_answer().fail(UserError("'kingg' is not in the vocabulary — did you mean 'king'?", hint="Pick a word from the list."))
    error_card = view.cards()[-1].content[0]
    texts = [label.text() for label in error_card.findChildren(QLabel)]
    assert texts == ["'kingg' is not in the vocabulary — did you mean 'king'?", "Pick a word from the list."]


def test_unexpected_errors_are_named_without_crashing(ctx, qtbot):
    view = make_view(ctx, qtbot)
    submit(qtbot, view, "boom")
    card = view.add_pending_answer()
    card.run_task("neighbours", _explode)
    qtbot.waitUntil(lambda: card.kind == "error", timeout=5000)
    assert "Something went wrong" in card.as_text() and "ZeroDivisionError" in card.as_text()


def _explode():
    return 1 / 0


def test_a_broken_renderer_shows_an_error_card(ctx, qtbot):
    view = make_view(ctx, qtbot)
    view.add_answer("unknown-kind", {"x": 1}, query="what")
    assert "Could not show this 'unknown-kind' answer" in view.cards()[-1].as_text()


def slow_count(n: int, delay: float = 0.002, progress=None, cancel=None) -> dict:
    """A real background job: counts to n, reporting every step and honouring pause/cancel."""
    for i in range(n):
        checkpoint(cancel)
        time.sleep(delay)
        if progress:
            progress(Progress("count", i + 1, n, unit="steps"))
    return {"count": n, "thread": threading.current_thread().name}


def test_worker_delivers_result_and_progress_on_the_ui_thread(ctx, qtbot):
    seen: dict = {"progress": [], "threads": set()}

    def on_progress(p):
        seen["progress"].append(p.done)
        seen["threads"].add(threading.current_thread() is threading.main_thread())

    def on_result(r):
        seen["result"] = r
        seen["threads"].add(threading.current_thread() is threading.main_thread())

    handle = ctx.tasks.run(slow_count, 300, on_result=on_result, on_progress=on_progress)
    with qtbot.waitSignal(handle.done, timeout=10000):
        pass
    assert handle.state == "finished"
    assert seen["result"]["count"] == 300 and seen["result"]["thread"] != threading.main_thread().name
    assert seen["threads"] == {True}
    assert seen["progress"][-1] == 300  # the last report always arrives
    assert len(seen["progress"]) < 300 / 2  # coalesced (~20 Hz), not one signal per step


def test_worker_cancel_and_pause(ctx, qtbot):
    cancelled = []
    handle = ctx.tasks.run(slow_count, 100_000, 0.001, on_cancel=lambda: cancelled.append(True))
    qtbot.waitUntil(lambda: handle.last_progress is not None, timeout=5000)
    handle.pause()
    qtbot.wait(150)
    paused_at = handle.last_progress.done
    qtbot.wait(200)
    assert handle.last_progress.done - paused_at <= 1
    handle.resume()
    qtbot.waitUntil(lambda: handle.last_progress.done > paused_at + 5, timeout=5000)
    handle.cancel()
    qtbot.waitUntil(lambda: handle.state == "cancelled", timeout=5000)
    assert cancelled == [True] and ctx.tasks.active() == []


def test_worker_user_error_goes_to_on_error(ctx, qtbot):
    errors = []

    def refuse(word: str):
        raise UserError(f"'{word}' is not in the vocabulary", hint="did you mean 'king'?")

    handle = ctx.tasks.run(refuse, "kingg", on_error=errors.append)
    qtbot.waitUntil(lambda: handle.state == "failed", timeout=5000)
    assert isinstance(errors[0], UserError) and errors[0].hint == "did you mean 'king'?"


def test_card_progress_and_cancel_button(ctx, qtbot):
    view = make_view(ctx, qtbot)
    submit(qtbot, view, "count")
    card = view.add_pending_answer()
    handle = card.run_task("neighbours", slow_count, 100_000, 0.001)
    qtbot.waitUntil(lambda: "count" in card.progress_card.label.text() and "%" in card.progress_card.label.text(), timeout=5000)
    assert card.progress_card.bar.maximum() == 1000
    qtbot.mouseClick(card.progress_card.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: handle.state == "cancelled", timeout=5000)
    assert card.as_text().endswith("Cancelled.")
    assert ctx.history.entries("explore") == []  # a cancelled answer is not saved


def test_card_builders_render_and_copy_as_text(qtbot):
    grid_clicks = []
    pixmap = QPixmap(40, 30)
    pixmap.fill(QColor("tomato"))
    grid = cards.image_grid([(pixmap, "tomato.png", 0.93), (pixmap, "other.png", 0.4)], on_click=grid_clicks.append)
    table = cards.table(["word", "score"], [["queen", 0.81], ["prince", 0.74]])
    bars = plots.bar_chart(["capital", "family"], [0.7, 0.4], title="Accuracy")
    scatter = plots.scatter_map(np.array([[0, 0], [1, 1], [2, 0.5]]), ["king", "queen", "man"], highlight=["king"])
    heat = plots.heatmap(np.array([[1.0, 0.2], [0.2, 1.0]]), ["bank of the river", "bank loan"])
    line = plots.LinePlot(title="loss")
    for step, loss in enumerate((3.0, 2.5, 2.1)):
        line.append(step, loss)
    box = cards.stack(grid, table, cards.plot_widget(bars, 200), scatter, heat, cards.plot_widget(line, 180), title="All")
    qtbot.addWidget(box)
    box.show()
    qtbot.mouseClick(grid.tiles[1], Qt.MouseButton.LeftButton)
    assert grid_clicks == [1]
    text = box.copy_text
    for expected in ("All", "tomato.png\n0.930", "queen\t0.81", "capital\t0.7", "king\t0.000\t0.000", "bank loan\t0.200\t1.000", "(2, 2.1)"):
        assert expected in text


def test_score_bars_scale_cosines_as_is_and_other_scores_to_the_max():
    assert cards.score_fractions([0.8, -0.2]) == [0.8, 0.0]
    assert cards.score_fractions([12.0, 6.0]) == [1.0, 0.5]


def test_clearing_while_an_answer_runs_drops_its_late_result(ctx, qtbot):
    view = make_view(ctx, qtbot)
    submit(qtbot, view, "count")
    card = view.add_pending_answer()
    handle = card.run_task("neighbours", slow_count, 50, 0.01)
    view.clear()
    qtbot.waitUntil(lambda: not handle.is_running, timeout=5000)
    assert view.cards() == [] and ctx.history.entries("explore") == []


MANY_PLOTS = """
from PySide6.QtWidgets import QApplication
app = QApplication([])
from desktop import plots
kept = [plots.bar_chart(["a", "b"], [0.5, 0.25]) for _ in range(60)]
print("made", len(kept))
"""


def test_many_plots_leave_the_interpreter_intact(tmp_path):
    """PySide6 6.12.0 over-released None in QGraphicsItem.itemChange overrides (pyqtgraph): ~40 plots aborted Python."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", MANY_PLOTS], capture_output=True, text=True, env=env, timeout=120,
                          cwd=str(Path(__file__).resolve().parents[2]))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "made 60" in done.stdout


def test_restart_renders_only_the_latest_answers_but_recalls_every_query(ctx, qtbot):
    from desktop.chat.view import RESTORE_LIMIT

    for i in range(RESTORE_LIMIT + 5):
        ctx.history.add("explore", f"query {i}", "text", {"text": f"answer {i}"})
    view = make_view(ctx, qtbot)
    answered = [c for c in view.cards() if c.query]
    assert len(answered) == RESTORE_LIMIT
    assert answered[-1].as_text() == f"query {RESTORE_LIMIT + 4}\nanswer {RESTORE_LIMIT + 4}"
    assert "5 earlier answers are not shown" in view.cards()[0].as_text()
    for _ in range(RESTORE_LIMIT + 5):
        qtbot.keyClick(view.input, Qt.Key.Key_Up)
    assert view.input.text() == "query 0"


def test_a_tall_answer_is_shown_from_its_top(ctx, qtbot):
    view = make_view(ctx, qtbot)
    view.resize(700, 400)
    for i in range(3):
        view.add_answer("text", {"text": f"short answer {i}"}, query=f"q{i}")
    submit(qtbot, view, "tall")
    card = view.add_pending_answer()
    card.finish("text", {"text": "\n".join(f"line {i}" for i in range(80))})
    bar = view.scroll.verticalScrollBar()

    def card_top() -> int:
        return card.mapTo(view.transcript, QPoint(0, 0)).y()

    qtbot.waitUntil(lambda: card.height() > 400 and abs(bar.value() - (card_top() - 12)) <= 2, timeout=2000)
    assert bar.value() < bar.maximum()
