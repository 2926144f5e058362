"""Chat history across versions: v0 files migrate, old result formats upgrade, unreadable answers show a note.

tests/fixtures/v0/history.sqlite was written before versions existed (see make_fixtures.py there): the
explore tab's history with a real "neighbours" answer, "help" and an error card.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel

from desktop.chat import ChatView, cards, history
from desktop.chat.history import HistoryStore
from desktop.chat.view import UNREADABLE_ANSWER
from embedengine import runtime
from embedengine.errors import UserError
from embedengine.schema import file_version

V0_HISTORY = Path(__file__).resolve().parents[1] / "fixtures" / "v0" / "history.sqlite"
NEIGHBOURS = {"word": "king", "neighbours": [["queen", 0.81], ["prince", 0.74]]}


def make_view(ctx, qtbot, tab: str = "explore") -> ChatView:
    """A view whose renderer reads neighbour lists the way the Explore tab does (``result["neighbours"]``)."""

    def renderer(kind: str, result):
        if kind == "neighbours":
            return cards.ranked_list([(word, score) for word, score in result["neighbours"]])
        raise ValueError(f"unknown kind {kind}")

    view = ChatView(ctx, tab, renderer=renderer)
    qtbot.addWidget(view)
    view.show()
    return view


def answered(view: ChatView):
    return [card for card in view.cards() if card.query]


def shows_note(card) -> bool:
    return [widget.text() for widget in card.content if isinstance(widget, QLabel)] == [UNREADABLE_ANSWER]


@pytest.fixture
def v0_workspace(isolated_home) -> Path:
    """The v0 history in place as the default workspace's history, before the app opens it."""
    path = runtime.data_home() / "workspaces" / "default" / "history.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(V0_HISTORY, path)
    assert file_version(path) == 0
    return path


@pytest.fixture
def fresh_formats(monkeypatch):
    """An empty result-format registry for the test (registrations vanish afterwards)."""
    monkeypatch.setattr(history, "_result_formats", {})
    monkeypatch.setattr(history, "_upgrades", {})


# -- the file ----------------------------------------------------------------------------------

def test_a_v0_history_migrates_and_its_entries_are_format_1(tmp_path):
    path = tmp_path / "history.sqlite"
    shutil.copy(V0_HISTORY, path)
    store = HistoryStore(path)
    entries = store.entries("explore")
    assert [(e.query, e.kind, e.result_version) for e in entries] == [
        ("king", "neighbours", 1), ("help", "help", 1), ("kingg", "error", 1)]
    assert entries[0].result["word"] == "king" and len(entries[0].result["neighbours"]) == 3
    store.add("explore", "queen", "text", {"text": "hello"})
    assert store.entries("explore")[-1].result_version == history.RESULT_VERSION
    store.close()
    assert file_version(path) == history.SCHEMA_VERSION


def test_a_history_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "history.sqlite"
    shutil.copy(V0_HISTORY, path)
    newer = history.SCHEMA_VERSION + 1
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {newer}")
    db.close()
    with pytest.raises(UserError) as caught:
        HistoryStore(path)
    assert str(path) in str(caught.value)
    assert f"version {newer}" in str(caught.value) and f"version {history.SCHEMA_VERSION}" in str(caught.value)
    assert "update Embed Studio" in caught.value.hint


def test_result_formats_upgrade_step_by_step_and_refuse_newer_ones(fresh_formats):
    history.register_result_format("neighbours", 2, lambda r: {"word": r["query"], "neighbours": r["neighbours"]})
    history.register_result_format("neighbours", 3, lambda r: {**r, "topn": len(r["neighbours"])})
    with pytest.raises(ValueError):
        history.register_result_format("neighbours", 5, lambda r: r)
    assert history.result_version("neighbours") == 3 and history.result_version("help") == 1
    assert history.upgrade_result("neighbours", 1, {"query": "king", "neighbours": [["queen", 0.8]]}) == {
        "word": "king", "neighbours": [["queen", 0.8]], "topn": 1}
    assert history.upgrade_result("neighbours", 3, {"x": 1}) == {"x": 1}
    with pytest.raises(history.UnknownResultFormat):
        history.upgrade_result("neighbours", 4, {})


# -- replay ------------------------------------------------------------------------------------

def test_a_v0_history_replays_in_the_real_explore_tab(v0_workspace, main_window):
    assert file_version(v0_workspace) == history.SCHEMA_VERSION  # migrated when the app opened it
    explore = next(main_window.tabs.widget(i) for i in range(main_window.tabs.count())
                   if main_window.tabs.tabText(i) == "Explore")
    explore.chat.ensure_restored()
    restored = answered(explore.chat)
    assert [(c.query, c.kind) for c in restored] == [("king", "neighbours"), ("help", "help"), ("kingg", "error")]
    assert not any(shows_note(c) for c in restored)
    assert "Nearest neighbours of **king**" in restored[0].as_text() and "1. prince" in restored[0].as_text()
    assert "What you can ask" in restored[1].as_text()
    assert "did you mean 'king'?" in restored[2].as_text()


def test_an_answer_saved_in_a_newer_format_shows_a_note(ctx, qtbot):
    ctx.history.add("explore", "king", "neighbours", NEIGHBOURS)
    ctx.history.add("explore", "queen", "neighbours", {**NEIGHBOURS, "word": "queen"})
    db = sqlite3.connect(ctx.history.path)  # as a newer Embed Studio would have saved the first answer
    with db:
        db.execute("UPDATE entries SET result_version = ? WHERE query = 'king'", (history.RESULT_VERSION + 1,))
    db.close()
    first, second = answered(make_view(ctx, qtbot))
    assert shows_note(first) and first.kind == "neighbours"
    assert not shows_note(second) and "1. queen" in second.as_text()
    first.copy_json()  # the saved JSON stays reachable
    assert json.loads(QGuiApplication.clipboard().text())["result"] == NEIGHBOURS


@pytest.mark.parametrize("kind, result", [
    ("neighbours", {"word": "king"}),  # a field the renderer needs is missing: KeyError
    ("neighbours", {"word": "king", "neighbours": 3}),  # a field of another type: TypeError
    ("table", {"headers": ["word"]}),  # a built-in kind too
])
def test_an_answer_the_renderer_cannot_read_shows_a_note(ctx, qtbot, kind, result):
    ctx.history.add("explore", "king", kind, result)
    ctx.history.add("explore", "queen", "neighbours", NEIGHBOURS)
    broken, fine = answered(make_view(ctx, qtbot))
    assert shows_note(broken) and broken.as_text() == f"king\n{UNREADABLE_ANSWER}"
    assert "1. queen" in fine.as_text()


def test_other_render_errors_still_name_the_error(ctx, qtbot):
    ctx.history.add("explore", "king", "analogy", {"answers": []})  # the renderer raises ValueError
    (card,) = answered(make_view(ctx, qtbot))
    assert not shows_note(card) and "Could not show this 'analogy' answer" in card.as_text()
    assert "unknown kind analogy (ValueError)" in card.as_text()


def test_an_old_format_is_upgraded_before_it_reaches_the_renderer(ctx, qtbot, fresh_formats):
    ctx.history.add("explore", "king", "neighbours", {"word": "king", "similar": [["queen", 0.81]]})
    history.register_result_format("neighbours", 2, lambda r: {"word": r["word"], "neighbours": r.pop("similar")})
    ctx.history.add("explore", "prince", "neighbours", {"word": "prince", "neighbours": [["king", 0.7]]})
    assert [e.result_version for e in ctx.history.entries("explore")] == [1, 2]
    old, new = answered(make_view(ctx, qtbot))
    assert "1. queen" in old.as_text() and "1. king" in new.as_text()
    assert old.result_json == {"word": "king", "neighbours": [["queen", 0.81]]}
