"""Documents tab: add folders to a collection (button or drag-and-drop), index them, search by meaning.

All work happens in :mod:`embedengine.documents`; the tab's state and grammar are
:class:`~desktop.controllers.documents.DocumentsController`'s, the collection bar and its commands are shared
with the Images tab (:mod:`desktop.collection_bar`). This module lays out the widgets, runs engine calls
through the shared task runner and renders search results (live or replayed from history) as chat cards.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QUrl, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFrame, QGridLayout, QHBoxLayout, QLabel, QToolButton,
                               QWidget)

from desktop.chat import cards
from desktop.collection_bar import CollectionTab
from desktop.controllers.documents import DocumentsController
from embedengine.collections.report import CollectionStatus
from embedengine.documents import METHODS
from embedengine.documents.methods import DENSE_METHODS

WELCOME = ("Drop folders here (or **Add folder…**) to index .txt, .md, .rst, .html and .pdf files, then ask in "
           "your own words. Tick **Compare** to see several methods side by side; **Folders…** (or **status**) "
           "shows the index and its folders, each with Remove; type **demo** to index the shipped public-domain "
           "text (the King James Bible, a few minutes on 2 cores) and ask it, say, *a flood covers the whole earth*.")
FILE_TYPES = {"All types": (), "PDF": (".pdf",), "Markdown / reST": (".md", ".markdown", ".rst"),
              "Text": (".txt", ".text"), "HTML": (".html", ".htm", ".xhtml")}
TOP_K = 10
COMPARE_K = 5
HIGHLIGHT_STYLE = "background-color: rgba(255, 200, 0, 0.45); font-weight: 600;"


def snippet_html(snippet: str, highlight: tuple[int, int]) -> str:
    """The snippet as HTML with the best sentence highlighted."""
    start, end = highlight
    return (html.escape(snippet[:start]) + f'<span style="{HIGHLIGHT_STYLE}">' + html.escape(snippet[start:end])
            + "</span>" + html.escape(snippet[end:]))


def file_url(path: str, page: Optional[int]) -> QUrl:
    """URL that opens the file, at the page for PDFs (viewers that honour #page= jump there)."""
    url = QUrl.fromLocalFile(path)
    if page and path.lower().endswith(".pdf"):
        url.setFragment(f"page={page}")
    return url


class PassageCard(QFrame):
    """One ranked passage: file, folder, page, score bar, highlighted snippet and actions."""

    def __init__(self, hit: dict, fraction: float, tab: "DocumentsTab") -> None:
        super().__init__()
        self.hit = hit
        self.setObjectName("passageCard")
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 4, 0, 4)
        page = f" · page {hit['page']}" if hit.get("page") else ""
        title = QLabel(f"<b>{hit['rank']}. {html.escape(hit['file_name'])}</b>{page} "
                       f"<span style='color:gray'>{html.escape(hit['folder'])}</span>")
        title.setToolTip(hit["path"])
        grid.addWidget(title, 0, 0)
        grid.addWidget(cards.ScoreBar(fraction), 0, 1)
        grid.addWidget(QLabel(f"{hit['score']:.3f}"), 0, 2)
        self.snippet = QLabel(snippet_html(hit["snippet"], tuple(hit["highlight"])))
        self.snippet.setWordWrap(True)
        self.snippet.setTextFormat(Qt.TextFormat.RichText)
        self.snippet.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid.addWidget(self.snippet, 1, 0, 1, 3)
        grid.addLayout(self._actions(tab), 2, 0, 1, 3)
        grid.setColumnStretch(0, 1)
        cards.with_text(self, f"{hit['rank']}. {hit['path']}{page} ({hit['score']:.3f})\n    {hit['snippet']}")

    def _actions(self, tab: "DocumentsTab") -> QHBoxLayout:
        row = QHBoxLayout()
        self.buttons: dict[str, QToolButton] = {}
        for name, slot in (("Open", lambda: tab.open_hit(self.hit)), ("Copy path", lambda: tab.copy_path(self.hit)),
                           ("More like this", lambda: tab.more_like(self.hit))):
            button = QToolButton()
            button.setText(name)
            button.setObjectName("cardAction")
            button.clicked.connect(slot)
            row.addWidget(button)
            self.buttons[name] = button
        row.addStretch(1)
        return row


class DocumentsTab(CollectionTab):
    """Collections of the user's documents, searched in a conversation."""

    title = "Documents"
    tab_key = "documents"
    controller_class = DocumentsController
    welcome = WELCOME
    placeholder = "Ask your documents…  (status · compare mode below)"

    def __init__(self, ctx, parent: Optional[QWidget] = None) -> None:
        super().__init__(ctx, parent)
        self.actions.status_changed.connect(self._status_changed)

    def build_input_bar(self) -> None:
        self.word_vectors_box = QCheckBox("+ word vectors")
        self.word_vectors_box.setToolTip("Also index with the active word model's methods (word-vector average and "
                                         "TF-IDF weighted average)")
        self.bar.add_widget(self.word_vectors_box)
        self.method_box = QComboBox()
        self.method_box.setToolTip("Ranking method")
        self.method_box.activated.connect(
            lambda _: self.ctx.settings.setValue("documents/method", self.method_box.currentData()))
        self.compare_box = QCheckBox("Compare")
        self.compare_box.setToolTip("Show the top passages of every indexed method side by side")
        self.compare_box.toggled.connect(lambda on: setattr(self.controller, "compare", on))
        self.folder_box = QComboBox()
        self.folder_box.setToolTip("Only this folder")
        self.type_box = QComboBox()
        self.type_box.addItems(list(FILE_TYPES))
        self.type_box.setToolTip("Only this file type")
        for widget in (self.method_box, self.compare_box, self.folder_box, self.type_box):
            self.chat.input_bar.addWidget(widget)
        for box in (self.method_box, self.folder_box):  # refilled from each status
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self._fill_methods([])
        self._fill_folders([])

    @property
    def index_handle(self):
        """The latest index run started in this tab."""
        return self.actions.index_handle

    # -- the collection's state ----------------------------------------------------------------

    def _status_changed(self, status: Optional[CollectionStatus]) -> None:
        """Method picker and folder filter from the collection's status (refreshed off the UI thread)."""
        self._fill_methods([s["method"] for s in status.vector_sets] if status else [])
        self._fill_folders(status.roots if status else [])

    def _fill_methods(self, indexed: list[str]) -> None:
        current = self.ctx.settings.value("documents/method", "minilm")
        available = [m for m in DENSE_METHODS if m in indexed] + ["bm25"] + (["hybrid"] if "minilm" in indexed else [])
        self.method_box.clear()
        for key in available:
            self.method_box.addItem(METHODS[key].label, key)
        self.method_box.setCurrentIndex(max(0, self.method_box.findData(current)))

    def _fill_folders(self, roots: list[str]) -> None:
        current = self.folder_box.currentData()
        self.folder_box.clear()
        self.folder_box.addItem("All folders", None)
        for root in roots:
            self.folder_box.addItem(Path(root).name or root, root)
        self.folder_box.setCurrentIndex(max(0, self.folder_box.findData(current)))

    def available_methods(self) -> list[str]:
        return [self.method_box.itemData(i) for i in range(self.method_box.count())]

    def method_label(self, key: str) -> str:
        return METHODS[key].label if key in METHODS else key

    def index_options(self) -> dict:
        methods = ["minilm"] + (["minilm-int8"] if self.ctx.text_variant == "int8" else [])
        word_model = None
        if self.word_vectors_box.isChecked() and self.ctx.word_model_name:
            methods += ["w2v-avg", "w2v-tfidf"]
            word_model = self.ctx.word_model_name
        return {"methods": methods, "word_model": word_model}

    # Folders dropped anywhere on the tab are the bar's
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.bar.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.bar.dropEvent(event)

    # -- answering -----------------------------------------------------------------------------

    def search_options(self) -> dict:
        return {"folder": self.folder_box.currentData(), "file_types": FILE_TYPES[self.type_box.currentText()]}

    def answer(self, query: str) -> None:
        command = self.controller.parse(query, self.chat.last_payload)
        card = self.chat.add_pending_answer()
        if self.actions.run(card, command):
            return
        args, method, call = command.args, self.method_box.currentData() or "minilm", self.controller.call
        if command.action == "more_like":
            card.run_task("search", call, "more_like", args["item_id"], method, TOP_K, collection=args["collection"])
        elif command.action == "compare":
            card.run_task("compare", call, "compare", args["query"], self.available_methods()[:4], COMPARE_K,
                          **self.search_options())
        else:
            card.run_task("search", call, "search", args["query"], method, TOP_K, **self.search_options())

    def open_hit(self, hit: dict) -> None:
        self.ctx.open_url(file_url(hit["path"], hit.get("page")))

    def copy_path(self, hit: dict) -> None:
        QGuiApplication.clipboard().setText(hit["path"])
        self.chat.notify(f"Copied {hit['path']}")

    def more_like(self, hit: dict) -> None:
        self.chat.ask(f"More like {hit['file_name']} #{hit['rank']}",
                      {"more_like": hit["item_id"], "collection": hit.get("collection")})

    def shutdown(self) -> None:
        self.actions.shutdown()

    # -- rendering (from JSON, so history replays too) -----------------------------------------

    def render(self, kind: str, result: Any):
        shared = self.actions.render(kind, result)
        if shared is not None:
            return shared
        renderers = {"search": self._render_search, "compare": self._render_compare}
        return renderers[kind](result) if kind in renderers else cards.text(str(result))

    def _render_search(self, result: dict) -> list[QWidget]:
        hits = result["hits"]
        timing = f"{result['encode_ms'] + result['search_ms']:.0f} ms"
        head = cards.text(f"{result['method_label']}: {len(hits)} of {result['passages_searched']:,} passages "
                          f"· {timing}")
        if not hits:
            return [head, cards.text("No passage matches. Try other words or another method.")]
        scores = [h["score"] for h in hits]
        dense = METHODS[result["method"]].kind == "dense"
        top = max(scores) or 1.0
        fractions = cards.score_fractions(scores) if dense else [max(0.0, s / top) for s in scores]
        return [head] + [PassageCard({**hit, "collection": result["collection"]}, fraction, self)
                         for hit, fraction in zip(hits, fractions)]

    def _render_compare(self, result: dict) -> list[QWidget]:
        return [cards.text(f"Top {COMPARE_K} per method for “{result['query']}”"),
                cards.table(result["headers"], result["rows"])]
