"""Explore tab used as a person would: type a query, press Enter, read the card; click to follow up."""

from __future__ import annotations

import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt

from desktop.chat import cards
from desktop.context import AppContext
from desktop.tabs.explore import ExploreTab
from embedengine import explore

MODEL_NAME = "test-model"


@pytest.fixture
def tab(qtbot, ctx, trained_word_model):
    ctx.set_word_model(MODEL_NAME, trained_word_model)
    widget = ExploreTab(ctx)
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    return widget


@pytest.fixture(scope="module")
def words(trained_word_model):
    """Frequent words of the test model (4+ letters), so the tests don't depend on one corpus."""
    return [w for w in trained_word_model.words[:80] if len(w) > 3][:6]


def ask(qtbot, tab, text: str):
    """Type ``text`` into the input, press Enter and wait for the answer card to finish."""
    before = len(tab.chat.cards())
    qtbot.keyClicks(tab.chat.input, text)
    tab.chat.input.completer_.popup().hide()  # a person would dismiss the completion popup too
    qtbot.keyClick(tab.chat.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(tab.chat.cards()) > before and bool(tab.chat.cards()[-1].kind), timeout=30_000)
    return tab.chat.cards()[-1]


def ranked_labels(card) -> list[str]:
    lists = [w for w in card.content if isinstance(w, cards.RankedList)]
    assert lists, f"no ranked list in {card.kind} card"
    return [label.text() for label in lists[0].labels]


def test_word_shows_its_neighbours_and_a_click_follows_up(qtbot, tab, words, trained_word_model):
    card = ask(qtbot, tab, words[0])
    assert card.kind == "neighbours" and card.query == words[0]
    expected = [w for w, _ in trained_word_model.most_similar(words[0], topn=10)]
    assert ranked_labels(card) == expected
    assert "Nearest neighbours of" in card.as_text()
    map_plot = next(p for p in card.findChildren(pg.PlotWidget) if "\t" in getattr(p, "copy_text", ""))
    assert {line.split("\t")[0] for line in map_plot.copy_text.splitlines()} == {words[0], *expected}

    first = [w for w in card.content if isinstance(w, cards.RankedList)][0].labels[0]
    qtbot.mouseClick(first, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.chat.cards()[-1].kind == "neighbours" and tab.chat.cards()[-1].query == expected[0],
                    timeout=30_000)
    follow_up = tab.chat.cards()[-1]
    assert follow_up.result_json["word"] == expected[0]


def test_similarity_card_shows_the_cosine(qtbot, tab, words, trained_word_model):
    a, b = words[1], words[2]
    card = ask(qtbot, tab, f"{a} ~ {b}")
    score = trained_word_model.similarity(a, b)
    assert card.kind == "similarity"
    assert f"{score:.3f}" in card.as_text() and explore.similarity_verdict(score) in card.as_text()


def test_analogy_card_lists_answers_and_cosmul_toggle_switches_method(qtbot, tab, words, trained_word_model):
    a, b, c = words[:3]
    card = ask(qtbot, tab, f"{b} - {a} + {c}")
    expected = [w for w, _ in trained_word_model.most_similar(positive=[b, c], negative=[a], topn=10)]
    assert card.kind == "analogy" and ranked_labels(card) == expected and "3CosAdd" in card.as_text()

    tab.cosmul.setChecked(True)
    card = ask(qtbot, tab, f"{a} : {b} :: {c} : ?")
    expected = [w for w, _ in trained_word_model.most_similar(positive=[b, c], negative=[a], topn=10, method="mul")]
    assert card.result_json["method"] == "mul" and ranked_labels(card) == expected and "3CosMul" in card.as_text()


def test_odd_one_out_names_the_intruder(qtbot, tab, words, trained_word_model):
    group = words[:4]
    card = ask(qtbot, tab, "odd: " + " ".join(group))
    odd = trained_word_model.doesnt_match(group)
    assert card.kind == "odd_one_out" and card.result_json["odd"] == odd
    assert f"**{odd}** doesn't belong" in card.as_text()
    assert ranked_labels(card)[0] == odd


def test_unknown_word_gets_a_friendly_error_with_suggestion(qtbot, tab, words):
    misspelt = words[0] + words[0][-1]
    card = ask(qtbot, tab, misspelt)
    assert card.kind == "error"
    assert f"'{misspelt}' is not in the vocabulary" in card.as_text() and f"'{words[0]}'" in card.as_text()


def test_nonsense_gets_the_grammar_hint(qtbot, tab):
    card = ask(qtbot, tab, "a b c")
    assert card.kind == "error" and "odd: a b c" in card.as_text()


def test_help_and_bank_demo(qtbot, tab, models_dir):
    card = ask(qtbot, tab, "help")
    assert card.kind == "help" and "king - man + woman" in card.as_text()

    before = len(tab.chat.cards())
    qtbot.mouseClick(tab.bank_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(tab.chat.cards()) > before and bool(tab.chat.cards()[-1].kind), timeout=60_000)
    card = tab.chat.cards()[-1]
    assert card.kind == "sentences" and len(card.result_json["matrix"]) == 4
    assert explore.BANK_SENTENCES[0] in card.as_text()

    tab.sentence_mode.setChecked(True)
    card = ask(qtbot, tab, "A cat sat on the mat. | A kitten rested on the rug. | Stocks fell sharply today.")
    assert card.kind == "sentences" and card.result_json["closest_pair"][:2] == [0, 1]


def test_completer_offers_vocabulary(tab, trained_word_model):
    model = tab.chat.input.completer_.model()
    offered = [model.index(i, 0).data() for i in range(min(5, model.rowCount()))]
    assert offered == trained_word_model.words[:5]


def test_restart_restores_history_and_toggles(qtbot, tab, words, trained_word_model):
    ask(qtbot, tab, words[0])
    ask(qtbot, tab, f"{words[1]} ~ {words[2]}")
    tab.cosmul.setChecked(True)
    tab.ctx.shutdown()

    restarted = AppContext()
    restarted.set_word_model(MODEL_NAME, trained_word_model)
    again = ExploreTab(restarted)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: len([c for c in again.chat.cards() if c.kind]) >= 2)
    kinds = [c.kind for c in again.chat.cards() if c.kind]
    assert kinds[-2:] == ["neighbours", "similarity"]
    assert ranked_labels(again.chat.cards()[-2])[0] == trained_word_model.most_similar(words[0], topn=1)[0][0]
    assert again.cosmul.isChecked()
    assert again.chat.input.history[-2:] == [words[0], f"{words[1]} ~ {words[2]}"]
    restarted.shutdown()
