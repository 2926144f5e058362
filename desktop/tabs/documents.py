"""Documents tab: add folders to a collection (button or drag-and-drop), index them, search by meaning.

All work happens in :mod:`embedengine.documents`; the tab's state and grammar are
:class:`~desktop.controllers.documents.DocumentsController`'s, the collection bar and its commands are shared
with the Images tab (:mod:`desktop.collection_bar`). This module lays out the widgets, runs engine calls
through the shared task runner and renders search results (live or replayed from history) as chat cards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QUrl
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QCheckBox, QComboBox, QWidget

from desktop import map_view
from desktop.chat import cards
from desktop.collection_bar import CollectionTab
from desktop.controllers.documents import DocumentsController, answer_source, group_by_file
from desktop.document_results import (CompareView, FileGroupView, PassageAction, PassageCard, PassageViewer,
                                      compare_legend)
from embedengine.collections.report import CollectionStatus
from embedengine import maps
from embedengine.documents import METHODS
from embedengine.documents.context import passage_in_file
from embedengine.documents.methods import DENSE_METHODS, method_build
from embedengine.results import plural

__all__ = ["DocumentsTab", "PassageCard", "file_url"]

WELCOME = ("Drop folders here (or **Add folder…**) to index .txt, .md, .rst, .html and .pdf files, then ask in "
           "your own words; **map** lays every passage out in 2-D. Tick **Compare** (or type **compare** before the question) to see several methods side by "
           "side; **Folders…** (or **status**) "
           "shows the index and its folders, each with Remove; type **demo** to index the shipped public-domain "
           "text (the King James Bible, a few minutes on 2 cores) and ask it, say, *a flood covers the whole earth*.")
FILE_TYPES = {"All types": (), "PDF": (".pdf",), "Markdown / reST": (".md", ".markdown", ".rst"),
              "Text": (".txt", ".text"), "HTML": (".html", ".htm", ".xhtml")}
SEARCH_K = 30  # passages asked for: grouped by file, the best TOP_FILES files are shown
TOP_FILES = 10
COMPARE_K = 8
NO_HANDLER_NOTE = "No program on this system opens {suffix} files, so here is the passage in its text."


def file_url(path: str, page: Optional[int]) -> QUrl:
    """URL that opens the file, at the page for PDFs (viewers that honour #page= jump there)."""
    url = QUrl.fromLocalFile(path)
    if page and path.lower().endswith(".pdf"):
        url.setFragment(f"page={page}")
    return url


class DocumentsTab(CollectionTab):
    """Collections of the user's documents, searched in a conversation."""

    title = "Documents"
    tab_key = "documents"
    controller_class = DocumentsController
    welcome = WELCOME
    placeholder = "Ask your documents…  (compare <question> · status)"

    def __init__(self, ctx, parent: Optional[QWidget] = None) -> None:
        super().__init__(ctx, parent)
        self.passage_viewer: Optional[PassageViewer] = None  # the passage shown in the app, if any
        self.actions.status_changed.connect(self._status_changed)
        self.live_maps = map_view.LiveMaps()  # passage maps shown now: searches highlight their passages there

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
        map_method = map_view.map_command(query)
        if map_method:
            self.answer_map(self.chat.add_pending_answer(), map_method)
            return
        command = self.controller.parse(query, self.chat.last_payload)
        card = self.chat.add_pending_answer()
        if self.actions.run(card, command):
            return
        args, method, call = command.args, self.method_box.currentData() or "minilm", self.controller.call
        if command.action == "more_like":
            card.run_task("search", call, "more_like", args["item_id"], method, SEARCH_K,
                          collection=args["collection"], source=self.source([method], args["collection"]))
        elif command.action == "compare":
            methods = self.available_methods()[:4]
            card.run_task("compare", call, "compare", args["query"], methods, COMPARE_K, **self.search_options(),
                          source=self.source(methods))
        else:
            card.run_task("search", call, "search", args["query"], method, SEARCH_K, **self.search_options(),
                          source=self.source([method]))

    def answer_map(self, card, method: str) -> None:
        """Lay out (or reopen) the map of every passage of the selected collection, by its dense vectors."""
        vectors = self.method_box.currentData()
        vectors = vectors if vectors in DENSE_METHODS else "minilm"
        name = self.controller.selected
        map_view.run_map(card, "documents", name, method, vectors, source=self.source([vectors], name))

    def source(self, methods: list[str], collection: Optional[str] = None) -> str:
        """The answer's "from …" line: collection, method(s) and the model build they rank with."""
        name = collection or self.controller.selected
        status = self.actions.status
        word_model = status.word_model if status is not None and status.name == name else None
        builds = list(dict.fromkeys(b for b in (method_build(m, word_model) for m in methods) if b))
        return answer_source(name, [self.method_label(m) for m in methods], "; ".join(builds))

    # -- a found passage's actions -------------------------------------------------------------

    def passage_actions(self, collection: str) -> list[PassageAction]:
        """The buttons under each passage (``collection`` is the one searched, for More like this)."""
        return [("Open", "Open the file with the system's program (or show the passage here if there is none)",
                 self.open_hit),
                ("Show text", "Show the passage in the file's text, here", self.show_passage),
                ("Copy path", "Copy the file's path", self.copy_path),
                ("More like this", "Passages like this one",
                 lambda hit: self.more_like({**hit, "collection": collection}))]

    def open_hit(self, hit: dict) -> None:
        """Open the file with the system; when no program takes it, show the passage in the app instead."""
        if self.ctx.open_url(file_url(hit["path"], hit.get("page"))) is False:
            self.show_passage(hit, NO_HANDLER_NOTE.format(suffix=Path(hit["path"]).suffix or "such"))

    def show_passage(self, hit: dict, note: str = "") -> None:
        """Read the text around the passage off the UI thread and show it in a :class:`PassageViewer`."""
        self.ctx.tasks.run(passage_in_file, hit["path"], hit.get("page"), hit["start"], hit["end"], hit["text"],
                           tuple(hit["sentence"]), label="show passage", cancellable=False,
                           on_result=lambda context: self._open_viewer(hit, context.to_dict(), note),
                           on_error=lambda error: self.chat.notify(f"Could not show the passage: {error}"))

    def _open_viewer(self, hit: dict, context: dict, note: str) -> None:
        if self.passage_viewer is not None:
            self.passage_viewer.close()
            self.passage_viewer.deleteLater()
        self.passage_viewer = PassageViewer(hit, context, note, self)
        self.passage_viewer.show()

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
        renderers = {"search": self._render_search, "compare": self._render_compare, "map": self._render_map,
                     "map_selection": self._render_selection}
        return renderers[kind](result) if kind in renderers else cards.text(str(result))

    def _render_map(self, result: dict) -> list[QWidget]:
        return self.live_maps.add(map_view.map_answer(result, lambda item: self._more_like_item(item, result["name"]),
                                                      self._selected_on_map))

    def _more_like_item(self, item: dict, collection: str) -> None:
        self.chat.ask(f"More like “{item['label'][:60]}” ({item['detail']})",
                      {"more_like": int(item["id"]), "collection": collection})

    def _selected_on_map(self, view: map_view.MapView, items: list[dict]) -> None:
        """A lasso selection becomes an answer listing its passages (Copy / JSON export it)."""
        card = self.chat.add_pending_answer(f"{len(items):,} passages selected on the map")
        card.finish("map_selection", map_view.selection_result(view, items, ""),
                    source=answer_source(view.map.name, [self.method_label(view.map.vector_method)],
                                         f"{view.map.method} map"))

    def _render_selection(self, result: dict) -> list[QWidget]:
        return map_view.selection_answer(result, lambda item: self._more_like_item(item, result["name"]))

    def _render_search(self, result: dict) -> list[QWidget]:
        hits = result["hits"]
        self.live_maps.highlight(result["collection"], [hit["item_id"] for hit in hits])
        groups = group_by_file(hits, TOP_FILES)
        timing = f"{result['encode_ms'] + result['search_ms']:.0f} ms"
        head = cards.text(f"{result['method_label']}: {plural(len(groups), 'file')} · "
                          f"{plural(sum(len(g.hits) for g in groups), 'passage')} of "
                          f"{result['passages_searched']:,} searched · {timing}")
        if not hits:
            return [head, cards.text("No passage matches. Try other words or another method.")]
        scores = [h["score"] for h in hits]
        dense = METHODS[result["method"]].kind == "dense"
        top = max(scores) or 1.0
        fractions = cards.score_fractions(scores) if dense else [max(0.0, s / top) for s in scores]
        by_item = {hit["item_id"]: fraction for hit, fraction in zip(hits, fractions)}
        actions = self.passage_actions(result["collection"])
        return [head] + [FileGroupView(group, by_item, actions) for group in groups]

    def _render_compare(self, result: dict) -> list[QWidget]:
        methods = len(result["results"])
        return [cards.text(f"Top passages of each method for “{result['query']}”"),
                CompareView(result, self.open_hit), compare_legend(methods)]
