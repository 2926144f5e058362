"""Every Explore answer names its word model; follow-ups and Re-run ask that model; the picker; waiting for one.

Events go to the child widgets a person would touch: the picker's popup list, a word in a card, the card's
Re-run button, the input line, Train's Save model… dialog.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit

from desktop.chat import cards
from desktop.context import DEMO_ENV, AppContext
from desktop.tabs.explore import ExploreTab
from desktop.tabs.train import TrainTab
from embedengine import demo
from embedengine.word2vec import TrainConfig, WordVectors, library

DEMO_LINES = 4000  # an excerpt of the shipped corpus: the demo trains on it in seconds


@pytest.fixture(scope="module")
def word(trained_word_model) -> str:
    return next(w for w in trained_word_model.words[:80] if len(w) > 3)


@pytest.fixture(scope="module")
def neighbour(trained_word_model, word) -> str:
    return trained_word_model.most_similar(word, topn=1)[0][0]


@pytest.fixture
def two_models(trained_word_model, neighbour):
    """Saved "model-a" (the test model) and "model-b" (the same vectors without ``neighbour``)."""
    kept = [i for i, w in enumerate(trained_word_model.words) if w != neighbour]
    smaller = WordVectors([trained_word_model.words[i] for i in kept], trained_word_model.vectors[kept])
    library.save_model(trained_word_model, "model-a")
    library.save_model(smaller, "model-b")
    return trained_word_model, smaller


def make_explore(qtbot, ctx) -> ExploreTab:
    tab = ExploreTab(ctx)
    qtbot.addWidget(tab)
    tab.resize(1000, 700)
    tab.show()
    qtbot.waitExposed(tab)
    return tab


def choose_model(qtbot, tab: ExploreTab, name: str) -> None:
    """Open the picker and click ``name`` in its popup list; wait until it is active."""
    picker = tab.picker
    qtbot.mouseClick(picker, Qt.MouseButton.LeftButton)
    view = picker.view()
    qtbot.waitUntil(view.isVisible, timeout=5_000)
    qtbot.wait(QApplication.doubleClickInterval() + 50)  # the popup ignores a release this soon after opening
    rect = view.visualRect(picker.model().index(picker.findData(name), 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: tab.ctx.word_model_name == name, timeout=10_000)


def answered(tab: ExploreTab, before: int):
    return len(tab.chat.cards()) > before and bool(tab.chat.cards()[-1].kind)


def ask(qtbot, tab: ExploreTab, text: str):
    before = len(tab.chat.cards())
    qtbot.keyClicks(tab.chat.input, text)
    tab.chat.input.completer_.popup().hide()
    qtbot.keyClick(tab.chat.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: answered(tab, before), timeout=30_000)
    return tab.chat.cards()[-1]


def click_word(qtbot, tab: ExploreTab, card, word: str):
    """Click ``word`` in the card's ranked list (a follow-up question) and return the new answer card."""
    ranked = next(w for w in card.content if isinstance(w, cards.RankedList))
    label = next(label for label in ranked.labels if label.text() == word)
    before = len(tab.chat.cards())
    qtbot.mouseClick(label, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: answered(tab, before), timeout=30_000)
    return tab.chat.cards()[-1]


def source_line(card) -> str:
    """The card's "from …" line, as shown."""
    return card.source_label.text() if not card.source_label.isHidden() else ""


def plain(card) -> str:
    """The card's text without markdown emphasis."""
    return card.as_text().replace("**", "")


def test_picker_lists_saved_models_and_answers_name_their_model(qtbot, ctx, two_models, word, neighbour):
    model_a, model_b = two_models
    tab = make_explore(qtbot, ctx)
    assert sorted(tab.picker.names()) == ["model-a", "model-b"] and tab.picker.currentIndex() == -1

    choose_model(qtbot, tab, "model-a")
    assert tab.picker.currentData() == "model-a"
    assert f"Now using word model model-a — {len(model_a):,} words" in plain(tab.chat.cards()[-1])
    card = ask(qtbot, tab, word)
    assert card.kind == "neighbours"
    assert source_line(card) == f"from word model model-a — {len(model_a):,} words · {model_a.dim}d"
    assert card.result_json["word_model"] == "model-a" and card.payload["word_model"] == "model-a"

    choose_model(qtbot, tab, "model-b")  # model-b does not know the neighbour
    assert tab.picker.currentData() == "model-b"
    follow_up = click_word(qtbot, tab, card, neighbour)  # used to fail: "'…' is not in the vocabulary"
    assert follow_up.kind == "neighbours" and follow_up.result_json["word"] == neighbour
    expected = [w for w, _ in model_a.most_similar(neighbour, topn=10)]
    assert [w for w, _ in follow_up.result_json["neighbours"]] == expected
    assert source_line(follow_up).startswith("from word model model-a")
    assert "not the active model" in source_line(follow_up)
    assert tab.ctx.word_model_name == "model-b"  # a follow-up does not change the active model

    typed = ask(qtbot, tab, word)  # a new question asks the active model
    assert source_line(typed).startswith(f"from word model model-b — {len(model_b):,} words")


def test_rerun_and_follow_ups_after_a_restart_use_the_saved_model(qtbot, ctx, two_models, word, neighbour):
    model_a, model_b = two_models
    ctx.set_word_model("model-a", model_a)
    tab = make_explore(qtbot, ctx)
    ask(qtbot, tab, word)
    ctx.shutdown()

    restarted = AppContext()
    restarted.set_word_model("model-b", model_b)
    again = make_explore(qtbot, restarted)
    qtbot.waitUntil(lambda: any(c.kind == "neighbours" for c in again.chat.cards()), timeout=10_000)
    replayed = next(c for c in again.chat.cards() if c.kind == "neighbours")
    assert source_line(replayed).startswith("from word model model-a")

    before = len(again.chat.cards())
    qtbot.mouseClick(replayed.actions["Re-run"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: answered(again, before), timeout=30_000)
    rerun = again.chat.cards()[-1]
    assert rerun.query == word and rerun.result_json["word_model"] == "model-a"

    follow_up = click_word(qtbot, again, replayed, neighbour)
    assert follow_up.kind == "neighbours" and follow_up.result_json["word_model"] == "model-a"
    restarted.shutdown()


def test_follow_up_says_when_its_model_is_gone(qtbot, ctx, two_models, word, neighbour):
    model_a, model_b = two_models
    ctx.set_word_model("model-a", model_a)
    tab = make_explore(qtbot, ctx)
    card = ask(qtbot, tab, word)
    library.delete_model("model-a")
    ctx.word_models_changed.emit()
    ctx.set_word_model("model-b", model_b)
    assert tab.picker.names() == ["model-b"]

    follow_up = click_word(qtbot, tab, card, neighbour)
    text = follow_up.as_text()
    assert follow_up.kind == "error" and "model-a" in text and "no longer saved" in text
    assert "not in the vocabulary" not in text and "model-b" in text


def test_saving_in_train_announces_the_model_in_explore(qtbot, ctx, tmp_path):
    corpus = tmp_path / "excerpt.txt"
    corpus.write_text("\n".join(demo.corpus_files()[0].read_text(encoding="utf-8").splitlines()[:DEMO_LINES]))
    train_tab = TrainTab(ctx, start_demo=False)
    qtbot.addWidget(train_tab)
    train_tab.show()
    explore_tab = make_explore(qtbot, ctx)
    train_tab.add_paths([str(corpus)])
    train_tab.param_boxes["epochs"].setValue(1)
    train_tab.param_boxes["dim"].setValue(20)
    qtbot.mouseClick(train_tab.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: train_tab.pending_result is not None and train_tab.save_button.isEnabled(), timeout=60_000)

    qtbot.mouseClick(train_tab.save_button, Qt.MouseButton.LeftButton)
    line = train_tab.save_dialog.findChild(QLineEdit)
    assert line.text() == "excerpt-sgns-20d"  # the suggested name
    qtbot.keyClick(line, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: ctx.word_model_name == "excerpt-sgns-20d", timeout=10_000)
    vocab = len(ctx.word_model)
    assert plain(explore_tab.chat.cards()[-1]) == f"Now using word model excerpt-sgns-20d — {vocab:,} words · 20d."
    assert explore_tab.picker.currentData() == "excerpt-sgns-20d"
    active_item = train_tab.models.list.item(train_tab.models.names().index("excerpt-sgns-20d"))
    assert active_item.font().bold() and active_item.toolTip().startswith("Active")
    train_tab.shutdown()


@pytest.fixture
def small_demo(tmp_path, monkeypatch):
    """The real first-launch demo training, on an excerpt of the shipped corpus so it takes seconds."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    lines = demo.corpus_files()[0].read_text(encoding="utf-8").splitlines()[:DEMO_LINES]
    (folder / "kjv.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(demo, "corpus_dir", lambda: folder)
    monkeypatch.setattr(demo, "demo_config", lambda: TrainConfig(dim=20, epochs=3, seed=1))
    monkeypatch.delenv(DEMO_ENV, raising=False)


def start_demo(qtbot, ctx) -> TrainTab:
    train_tab = TrainTab(ctx)
    qtbot.addWidget(train_tab)
    qtbot.waitUntil(lambda: train_tab.train_handle is not None, timeout=5_000)
    assert ctx.pending_word_model == demo.DEMO_MODEL_NAME
    return train_tab


def type_query(qtbot, tab: ExploreTab, text: str) -> None:
    qtbot.keyClicks(tab.chat.input, text)
    qtbot.keyClick(tab.chat.input, Qt.Key.Key_Return)


def test_question_typed_while_the_demo_trains_waits_and_is_answered(qtbot, ctx, small_demo):
    explore_tab = make_explore(qtbot, ctx)
    train_tab = start_demo(qtbot, ctx)
    type_query(qtbot, explore_tab, "god")
    waiting = explore_tab.chat.cards()[-1]
    assert waiting.kind == "" and "still training" in waiting.as_text()  # a note, not "No word model is loaded yet"

    qtbot.waitUntil(lambda: explore_tab.chat.cards()[-1].kind == "neighbours", timeout=120_000)
    answer = explore_tab.chat.cards()[-1]
    ready = explore_tab.chat.cards()[-2]
    assert plain(ready).startswith(f"The demo model is ready: {demo.DEMO_MODEL_NAME} — ")
    assert answer.query == "god" and answer.result_json["word"] == "god"
    assert source_line(answer).startswith(f"from word model {demo.DEMO_MODEL_NAME} — {len(ctx.word_model):,} words")
    assert not [c for c in explore_tab.chat.cards() if c.kind == "error"]
    assert explore_tab.picker.currentData() == demo.DEMO_MODEL_NAME
    train_tab.shutdown()


def test_question_waiting_for_a_cancelled_demo_says_so(qtbot, ctx, small_demo):
    explore_tab = make_explore(qtbot, ctx)
    train_tab = start_demo(qtbot, ctx)
    type_query(qtbot, explore_tab, "god")
    assert "still training" in explore_tab.chat.cards()[-1].as_text()
    qtbot.mouseClick(train_tab.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: explore_tab.chat.cards()[-1].kind == "error", timeout=30_000)
    failed = explore_tab.chat.cards()[-1]
    assert failed.query == "god" and "did not become ready" in failed.as_text()
    assert ctx.pending_word_model == "" and ctx.word_model is None
    train_tab.shutdown()
