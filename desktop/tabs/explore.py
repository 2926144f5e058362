"""Explore tab: ask the active word model questions in a small grammar; every answer is a card.

Parsing and answering live in :mod:`embedengine.explore`; this tab only renders result dicts (live or
replayed from history) with the shared chat cards and plots.

Word models: the picker above the conversation lists the saved models and makes the chosen one active
(``ctx.load_word_model``). Every word answer names the model that gave it (the card's "from …" line) and
keeps its name in the saved result (``"word_model"``) and the card's payload, so clicking a word in an
older card and Re-run ask that model again, also after a restart; when it is no longer saved the card
says so. Questions asked while a model is still being trained (the first-launch demo) or loaded wait
with a note and are answered when it is active; a model becoming active is announced with a note.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop import map_view, plots
from desktop.chat import ChatView, cards
from desktop.chat.view import AnswerCard
from desktop.context import describe_word_model
from embedengine import demo, explore, maps
from embedengine.errors import UserError
from embedengine.results import to_jsonable
from embedengine.word2vec import library

COMPLETION_WORDS = 50_000  # most frequent words offered by the input's completer
WELCOME = (
    "Ask the active word model: **king** (neighbours) · **bread ~ wine** (similarity) · "
    "**king - man + woman** (analogy) · **odd: bread wine meat sword** · **sentences:** (MiniLM) · "
    "**map** (every word in 2-D) · **help**"
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


MODEL_KEY = "word_model"  # names the answering model in a word answer's result and in its card's payload


def analogy_caption(result: dict) -> str:
    method = "3CosMul" if result["method"] == "mul" else "3CosAdd"
    return f"**{result['expression']}** ≈ ({method})"


class WordModelPicker(QComboBox):
    """The saved word models with the active one selected; choosing one loads it and makes it active."""

    def __init__(self, ctx, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.infos: dict[str, Any] = {}  # name -> library.ModelInfo of the saved models
        self.setObjectName("wordModelPicker")
        self.setToolTip("The word model Explore answers with (the Train tab trains, imports and manages them)")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.setPlaceholderText("No word model yet: train or import one in the Train tab")
        self.activated.connect(self._chosen)  # the user's choice only, not programmatic changes
        ctx.word_models_changed.connect(self.refresh)
        ctx.word_model_changed.connect(self.refresh)
        ctx.word_model_pending.connect(self.refresh)  # a chosen model that failed to load is unselected
        self.refresh()

    def refresh(self) -> None:
        """List the saved models (and an unsaved active one) and select the active model."""
        self.infos = {info.name: info for info in library.list_models()}
        active = self.ctx.word_model_name
        self.clear()
        for name, info in self.infos.items():
            self.addItem(describe_word_model(name, info.vocab_size, info.dim), name)
        if active and active not in self.infos:
            self.addItem(f"{active} (not saved)", active)
        self.setCurrentIndex(self.findData(active) if active else -1)

    def names(self) -> list[str]:
        return [self.itemData(i) for i in range(self.count())]

    def _chosen(self, index: int) -> None:
        name = self.itemData(index)
        if name and name != self.ctx.word_model_name:
            self.ctx.load_word_model(name)


class ExploreTab(QWidget):
    """One input, a small grammar, all answers rendered as cards; the word model picker above them."""

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
            "map": self._render_map,
            "map_selection": self._render_selection,
        }
        self.live_maps = map_view.LiveMaps()  # word maps shown now: answers highlight their words there
        self.waiting: list[tuple[str, Any, explore.Query]] = []  # (text, payload, query) held for a model
        self.waiting_for = ""  # the pending model they wait for
        self._shown_model = ctx.word_model_name  # the active model the conversation last heard about
        self._deferred_note = ""  # an announcement made while the tab was hidden
        self.chat = ChatView(ctx, tab="explore", renderer=self.render, placeholder=PLACEHOLDER, welcome=WELCOME)
        self.chat.submitted.connect(self.answer)
        self.picker = WordModelPicker(ctx)
        self._build_toggles()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(self._picker_row())
        layout.addWidget(self.chat)
        ctx.word_model_changed.connect(self._on_model_changed)
        ctx.word_model_pending.connect(self._on_model_pending)
        self._set_completions()

    def _picker_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setContentsMargins(20, 8, 20, 0)
        label = QLabel("&Word model:")
        label.setBuddy(self.picker)
        row.addWidget(label)
        row.addWidget(self.picker)
        row.addStretch(1)
        return row
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
        """Parse on the UI thread (cheap, errors at once); answer off it with the model the question asks for.

        A follow-up or Re-run carries ``{"word_model": name}`` in its payload: the model that answered the
        card it came from. Other questions use the active model, or wait for one being trained or loaded.
        """
        payload = self.chat.last_payload
        map_method = map_view.map_command(text)
        if map_method:
            self._answer_map(self.chat.add_pending_answer(), map_method, payload)
            return
        if self.sentence_mode.isChecked() and not text.lower().startswith(("sentences:", "help", "odd:")):
            text = "sentences: " + text
        try:
            query = explore.parse_query(text, analogy_method="mul" if self.cosmul.isChecked() else "add")
        except UserError as error:  # shown as an error card with its hint
            self.chat.add_pending_answer().fail(error)
            return
        requested = payload.get(MODEL_KEY, "") if isinstance(payload, dict) else ""
        if _needs_word_model(query) and not requested and self.ctx.word_model is None and self.ctx.pending_word_model:
            self._wait(text, payload, query)
            return
        card = self.chat.add_pending_answer()
        if isinstance(query, explore.SentencesQuery):
            variant = self.ctx.text_variant
            card.run_task(query.kind, _answer_sentences, query, variant, source=f"MiniLM sentence encoder ({variant})")
        elif isinstance(query, explore.HelpQuery):
            card.run_task(query.kind, explore.answer, query)
        else:
            self._answer_words(card, query, requested)

    def _answer_words(self, card: AnswerCard, query: explore.Query, requested: str) -> None:
        """Answer with the requested model (loaded off the UI thread when it is not the active one)."""
        active = self.ctx.word_model_name
        if requested and requested != active and not _is_saved(requested):
            card.fail(UserError(
                f"The word model “{requested}” that gave the earlier answer is no longer saved, so this "
                "follow-up cannot ask it.",
                hint=f"Type the question to ask the active model “{active}”." if active
                else "Choose a word model above (or train one in the Train tab).",
            ))
            return
        name = requested or active
        vectors = self.ctx.word_model if name == active else None
        if name:
            card.payload = {**(card.payload if isinstance(card.payload, dict) else {}), MODEL_KEY: name}
        card.run_task(query.kind, _answer_words, query, vectors, name, source=self._source(name, vectors))

    def _answer_map(self, card: AnswerCard, method: str, payload: Any) -> None:
        """Lay out (or reopen) the map of every word of the model asked for (default: the active one)."""
        requested = payload.get(MODEL_KEY, "") if isinstance(payload, dict) else ""
        name = requested or self.ctx.word_model_name
        if not name:
            card.fail(UserError("There is no word model to map yet.",
                                hint="Choose a word model above (or train one in the Train tab)."))
            return
        vectors = self.ctx.word_model if name == self.ctx.word_model_name else None
        card.payload = {**(card.payload if isinstance(card.payload, dict) else {}), MODEL_KEY: name}
        map_view.run_map(card, "words", name, method, None, vectors, source=self._source(name, vectors))

    def _source(self, name: str, vectors: Any) -> str:
        """The "from …" line of a word answer: the model's name, vocabulary size and dimensions."""
        if not name:
            return ""
        info = self.picker.infos.get(name)
        if vectors is not None:
            label = describe_word_model(name, len(vectors), vectors.dim)
        else:
            label = describe_word_model(name, info.vocab_size, info.dim) if info else name
        return f"word model {label}" + ("" if name == self.ctx.word_model_name else " (not the active model)")

    # -- waiting for a model and announcing it --------------------------------------------------------
    def _wait(self, text: str, payload: Any, query: explore.Query) -> None:
        """Hold a question until the model being trained or loaded is active."""
        self.waiting_for = self.ctx.pending_word_model
        self.waiting.append((text, payload, query))
        if self.waiting_for == demo.DEMO_MODEL_NAME:
            note = ("The demo word model is still training (see the Train tab; usually well under a minute). "
                    "Your question will be answered as soon as it is ready.")
        else:
            note = (f"Word model **{self.waiting_for}** is still loading; your question will be answered when it "
                    "is ready.")
        self.chat.add_note(note)

    def _on_model_changed(self, name: str) -> None:
        self._set_completions()
        if name == self._shown_model or self.ctx.word_model is None:
            self._shown_model = name
            return
        self._shown_model = name
        label = describe_word_model(name, len(self.ctx.word_model), self.ctx.word_model.dim)
        if not self.waiting:
            self._announce(f"Now using word model **{label}**.")
            return
        ready = "The demo model is ready" if name == demo.DEMO_MODEL_NAME else "The word model is ready"
        self.chat.add_note(f"{ready}: **{label}**. Answering your question.")
        waiting, self.waiting = self.waiting, []
        for text, payload, query in waiting:
            self._answer_words(self.chat.add_pending_answer(text, payload), query, "")

    def _on_model_pending(self, name: str) -> None:
        """A model stopped being pending without becoming active: the questions waiting for it fail."""
        if name or not self.waiting or self.ctx.word_model is not None:
            return
        waiting, self.waiting = self.waiting, []
        for text, payload, _query in waiting:
            self.chat.add_pending_answer(text, payload).fail(UserError(
                f"Word model “{self.waiting_for}” did not become ready (its training or loading stopped).",
                hint="Train a model or choose a saved one above, then ask again.",
            ))

    def _announce(self, note: str) -> None:
        """A note in the conversation now, or when the tab is next shown."""
        if self.isVisible():
            self.chat.add_note(note)
        else:
            self._deferred_note = note

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        if self._deferred_note:
            self.chat.ensure_restored()
            note, self._deferred_note = self._deferred_note, ""
            self.chat.add_note(note)

    def _set_completions(self) -> None:
        vectors = self.ctx.word_model
        if vectors is not None:
            self.chat.set_completions(vectors.words[:COMPLETION_WORDS])

    # -- rendering (works from JSON alone, so history replays look like live answers) -----------------
    def render(self, kind: str, result: Any) -> list[QWidget]:
        return self._renderers[kind](result)

    def _follow_up(self, result: dict) -> Callable[[str], None]:
        """Ask about a clicked word with the model that gave ``result``."""
        name = result.get(MODEL_KEY, "")
        return lambda word: self.chat.ask(word, {MODEL_KEY: name} if name else None)

    def _ranked(self, items, result: dict) -> QWidget:
        return cards.ranked_list([(w, s) for w, s in items], on_click=self._follow_up(result))

    def _render_map(self, result: dict) -> list[QWidget]:
        name = result["name"]
        ask = lambda item: self.chat.ask(str(item["label"]), {MODEL_KEY: name})  # noqa: E731
        return self.live_maps.add(map_view.map_answer(result, ask, self._selected_on_map))

    def _selected_on_map(self, view: map_view.MapView, items: list[dict]) -> None:
        """A lasso selection becomes an answer listing its words."""
        result = map_view.selection_result(view, items, "")
        card = self.chat.add_pending_answer(f"{len(items):,} words selected on the map", {MODEL_KEY: view.map.name})
        card.finish("map_selection", result, source=f"word model {view.map.name} · {view.map.method} map")

    def _render_selection(self, result: dict) -> list[QWidget]:
        name = result["name"]
        return map_view.selection_answer(result, lambda item: self.chat.ask(str(item["label"]), {MODEL_KEY: name}))

    def _highlight_on_maps(self, result: dict, words: list[str]) -> None:
        self.live_maps.highlight(result.get(MODEL_KEY, "") or self.ctx.word_model_name or "", words)

    def _render_neighbours(self, result: dict) -> list[QWidget]:
        self._highlight_on_maps(result, [result["word"]] + [w for w, _ in result["neighbours"]])
        return [
            cards.markdown(f"Nearest neighbours of **{result['word']}** (cosine similarity)"),
            self._ranked(result["neighbours"], result),
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
        self._highlight_on_maps(result, [w for w, _ in result["answers"]])
        answers = self._ranked(result["answers"], result)
        return [cards.markdown(analogy_caption(result)), answers, *self._word_extras(result)]

    def _render_odd(self, result: dict) -> list[QWidget]:
        return [
            cards.markdown(f"**{result['odd']}** doesn't belong with the others."),
            cards.text("Similarity of each word to the group's mean, least similar first:"),
            self._ranked(result["scores"], result),
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
        return [self._map_widget(result["map"], self._follow_up(result)), self._lesson_widget(result["one_hot"])]

    def _map_widget(self, word_map: dict, on_click: Callable[[str], None]) -> QWidget:
        points = word_map["points"]
        coords = np.array([[p["x"], p["y"]] for p in points], dtype=float).reshape(-1, 2)
        labels = [p["word"] for p in points]
        highlight = [p["word"] for p in points if p["role"] not in ("neighbour", "member")]
        tooltips = [f"{p['word']} — {ROLE_NAMES.get(p['role'], p['role'])}" for p in points]
        explained = word_map["explained"]
        caption = f"PCA of the neighbourhood: the two axes keep {100 * (explained[0] + explained[1]):.0f}% of its variance"
        plot = plots.scatter_map(coords, labels, highlight=highlight, tooltips=tooltips, on_click=on_click)
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


def _needs_word_model(query: explore.Query) -> bool:
    return not isinstance(query, (explore.SentencesQuery, explore.HelpQuery))


def _is_saved(name: str) -> bool:
    try:
        return library.model_file(name).exists()
    except UserError:  # not a usable model name
        return False


def _answer_words(query: explore.Query, vectors: Any, name: str) -> dict:
    """Answer with ``vectors``, or with the saved model ``name`` when they are None; the result names the model."""
    if vectors is None and name:
        vectors = library.load_model(name)
    result = to_jsonable(explore.answer(query, vectors))
    result[MODEL_KEY] = name
    return result


def _answer_sentences(query: explore.SentencesQuery, variant: str) -> explore.SentenceSimilarityResult:
    from embedengine.text import get_text_encoder

    return explore.answer(query, encoder=get_text_encoder(variant))
