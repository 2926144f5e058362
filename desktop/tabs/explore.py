"""Explore tab: ask the active word model questions in a small grammar; every answer is a card.

Parsing and answering live in :mod:`embedengine.explore`; this tab only renders result dicts (live or
replayed from history) with the shared chat cards and plots.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
from PySide6.QtWidgets import QCheckBox, QPushButton, QVBoxLayout, QWidget

from desktop import plots
from desktop.chat import ChatView, cards
from embedengine import explore
from embedengine.errors import UserError

COMPLETION_WORDS = 50_000  # most frequent words offered by the input's completer
WELCOME = (
    "Ask the active word model: **king** (neighbours) · **bread ~ wine** (similarity) · "
    "**king - man + woman** (analogy) · **odd: bread wine meat sword** · **sentences:** (MiniLM) · **help**"
)
PLACEHOLDER = "king  ·  bread ~ wine  ·  king - man + woman  ·  odd: a b c d  ·  help"
LESSON_TEXT = (
    "A **one-hot** vector has one 1 at the word's index in a vocabulary of {vocab:,} words and zeros "
    "elsewhere, so every two different words are equally unrelated: similarity 0. The **dense** "
    "{dim}-dimensional vectors learned by word2vec put related words close together."
)
ROLE_NAMES = {
    "query": "query word",
    "positive": "added (+)",
    "negative": "subtracted (−)",
    "answer": "answer",
    "neighbour": "neighbour",
    "member": "group member",
    "odd": "odd one out",
    "target": "computed point",
}


def analogy_caption(result: dict) -> str:
    method = "3CosMul" if result["method"] == "mul" else "3CosAdd"
    return f"**{result['expression']}** ≈ ({method})"


class ExploreTab(QWidget):
    """One input, a small grammar, all answers rendered as cards."""

    title = "Explore"

    def __init__(self, ctx, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._renderers: dict[str, Callable[[dict], list[QWidget]]] = {
            "neighbours": self._render_neighbours,
            "similarity": self._render_similarity,
            "analogy": self._render_analogy,
            "odd_one_out": self._render_odd,
            "sentences": self._render_sentences,
            "help": self._render_help,
        }
        self.chat = ChatView(ctx, tab="explore", renderer=self.render, placeholder=PLACEHOLDER, welcome=WELCOME)
        self.chat.submitted.connect(self.answer)
        self._build_toggles()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.chat)
        ctx.word_model_changed.connect(self._on_model_changed)
        self._on_model_changed(ctx.word_model_name)

    def _build_toggles(self) -> None:
        self.cosmul = QCheckBox("3CosMul")
        self.cosmul.setToolTip("Answer analogies with 3CosMul (Levy & Goldberg) instead of 3CosAdd")
        self.cosmul.setChecked(self._setting("explore/cosmul", False))
        self.cosmul.toggled.connect(lambda on: self.ctx.settings.setValue("explore/cosmul", on))
        self.sentence_mode = QCheckBox("Sentences")
        self.sentence_mode.setToolTip("Compare whole sentences with MiniLM; separate them with |")
        self.sentence_mode.setChecked(self._setting("explore/sentence_mode", False))
        self.sentence_mode.toggled.connect(lambda on: self.ctx.settings.setValue("explore/sentence_mode", on))
        self.bank_button = QPushButton("“bank” demo")
        self.bank_button.setToolTip("Four sentences using “bank” in two senses, compared by MiniLM")
        self.bank_button.clicked.connect(self.ask_bank_demo)
        for widget in (self.cosmul, self.sentence_mode, self.bank_button):
            self.chat.input_bar.addWidget(widget)

    def _setting(self, key: str, default: bool) -> bool:
        return str(self.ctx.settings.value(key, default)).lower() in ("1", "true")

    # -- asking ---------------------------------------------------------------------------------------
    def ask_bank_demo(self) -> None:
        self.chat.ask("sentences: " + " | ".join(explore.BANK_SENTENCES))

    def answer(self, text: str) -> None:
        """Parse on the UI thread (cheap, errors at once); answer off it."""
        card = self.chat.add_pending_answer()
        if self.sentence_mode.isChecked() and not text.lower().startswith(("sentences:", "help", "odd:")):
            text = "sentences: " + text
        try:
            query = explore.parse_query(text, analogy_method="mul" if self.cosmul.isChecked() else "add")
        except UserError as error:  # shown as an error card with its hint
            card.fail(error)
            return
        if isinstance(query, explore.SentencesQuery):
            card.run_task(query.kind, _answer_sentences, query, self.ctx.text_variant)
        else:
            card.run_task(query.kind, explore.answer, query, self.ctx.word_model)

    def _on_model_changed(self, name: str) -> None:
        vectors = self.ctx.word_model
        if vectors is not None:
            self.chat.set_completions(vectors.words[:COMPLETION_WORDS])

    # -- rendering (works from JSON alone, so history replays look like live answers) -----------------
    def render(self, kind: str, result: Any) -> list[QWidget]:
        return self._renderers[kind](result)

    def _ranked(self, items) -> QWidget:
        return cards.ranked_list([(w, s) for w, s in items], on_click=self.chat.ask)

    def _render_neighbours(self, result: dict) -> list[QWidget]:
        return [
            cards.markdown(f"Nearest neighbours of **{result['word']}** (cosine similarity)"),
            self._ranked(result["neighbours"]),
            *self._word_extras(result),
        ]

    def _render_similarity(self, result: dict) -> list[QWidget]:
        first, second = result["first"], result["second"]
        score = cards.ranked_list([(f"{first} ~ {second}", result["similarity"], result["verdict"])])
        return [
            cards.markdown(f"**{first}** and **{second}** are *{result['verdict']}*: cosine {result['similarity']:.3f}"),
            score,
            *self._word_extras(result),
        ]

    def _render_analogy(self, result: dict) -> list[QWidget]:
        return [cards.markdown(analogy_caption(result)), self._ranked(result["answers"]), *self._word_extras(result)]

    def _render_odd(self, result: dict) -> list[QWidget]:
        return [
            cards.markdown(f"**{result['odd']}** doesn't belong with the others."),
            cards.text("Similarity of each word to the group's mean, least similar first:"),
            self._ranked(result["scores"]),
            *self._word_extras(result),
        ]

    def _render_sentences(self, result: dict) -> list[QWidget]:
        sentences = result["sentences"]
        labels = [f"S{i + 1}" for i in range(len(sentences))]
        i, j, score = result["closest_pair"]
        heatmap = plots.heatmap(np.array(result["matrix"]), labels, title="MiniLM cosine similarity")
        return [
            cards.markdown(f"Most alike: **S{int(i) + 1}** and **S{int(j) + 1}** ({score:.3f})"),
            cards.table(["", "Sentence"], list(zip(labels, sentences)), max_height=200),
            cards.plot_widget(heatmap, height=260),
        ]

    def _render_help(self, result: dict) -> list[QWidget]:
        rows = [list(entry) for entry in result["entries"]]
        return [cards.heading("What you can ask"), cards.table(["Type", "Meaning", "Example"], rows)]

    def _word_extras(self, result: dict) -> list[QWidget]:
        return [self._map_widget(result["map"]), self._lesson_widget(result["one_hot"])]

    def _map_widget(self, word_map: dict) -> QWidget:
        points = word_map["points"]
        coords = np.array([[p["x"], p["y"]] for p in points], dtype=float).reshape(-1, 2)
        labels = [p["word"] for p in points]
        highlight = [p["word"] for p in points if p["role"] not in ("neighbour", "member")]
        tooltips = [f"{p['word']} — {ROLE_NAMES.get(p['role'], p['role'])}" for p in points]
        explained = word_map["explained"]
        caption = f"PCA of the neighbourhood: the two axes keep {100 * (explained[0] + explained[1]):.0f}% of its variance"
        plot = plots.scatter_map(coords, labels, highlight=highlight, tooltips=tooltips, on_click=self.chat.ask)
        return cards.plot_widget(plot, height=300, caption=caption)

    def _lesson_widget(self, lesson: dict) -> QWidget:
        words = lesson["words"]
        one_hot = plots.heatmap(np.array(lesson["one_hot_similarity"]), words, title="one-hot similarity")
        dense = plots.heatmap(np.array(lesson["dense_similarity"]), words, title="dense (word2vec) similarity")
        indices = ", ".join(f"{w} = #{i}" for w, i in zip(words, lesson["indices"]))
        body = cards.stack(
            cards.markdown(LESSON_TEXT.format(vocab=lesson["vocab_size"], dim=lesson["dim"])),
            cards.text(f"One-hot positions: {indices}"),
            cards.plot_widget(one_hot, height=220),
            cards.plot_widget(dense, height=220),
        )
        return cards.expander("Why vectors? One-hot vs dense", body)


def _answer_sentences(query: explore.SentencesQuery, variant: str) -> explore.SentenceSimilarityResult:
    from embedengine.text import get_text_encoder

    return explore.answer(query, encoder=get_text_encoder(variant))
