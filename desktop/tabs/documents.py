"""Documents tab: add folders to a collection (button or drag-and-drop), index them, search by meaning.

All work happens in :mod:`embedengine.documents`; this tab runs it through the shared task runner and
renders the result objects (live or replayed from history) as chat cards.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import QUrl, Qt
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFrame, QGridLayout, QHBoxLayout, QInputDialog,
                               QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget)

from desktop.chat import ChatView, cards
from embedengine.documents import DEFAULT_COLLECTION, METHODS, DocumentCollection, list_document_collections
from embedengine.documents.methods import DENSE_METHODS
from embedengine.errors import UserError
from embedengine.runtime import resources_dir

WELCOME = ("Drop folders here (or **Add folder…**) to index .txt, .md, .rst, .html and .pdf files, then ask in "
           "your own words. Tick **Compare** to see several methods side by side; **Folders…** (or **status**) "
           "shows the index and its folders, each with Remove; type **demo** to index the shipped public-domain "
           "text (the King James Bible, a few minutes on 2 cores) and ask it, say, *a flood covers the whole earth*.")
DEMO_COLLECTION = "demo"
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


class DocumentsTab(QWidget):
    """Collections of the user's documents, searched in a conversation."""

    title = "Documents"

    def __init__(self, ctx, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.opener: Callable[[QUrl], Any] = QDesktopServices.openUrl  # injectable (tests)
        self.collection: Optional[DocumentCollection] = None
        self.index_handle = None
        self.setAcceptDrops(True)
        layout = QVBoxLayout(self)
        layout.addLayout(self._top_bar())
        self.chat = ChatView(ctx, tab="documents", renderer=self.render, welcome=WELCOME,
                             placeholder="Ask your documents…  (status · compare mode below)")
        self.chat.submitted.connect(self.answer)
        self._input_bar()
        layout.addWidget(self.chat, 1)
        self._load_collections()

    # -- widgets -------------------------------------------------------------------------------

    def _top_bar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        self.collection_box = QComboBox()
        self.collection_box.setToolTip("Collection")
        self.collection_box.currentTextChanged.connect(self.switch_collection)
        new_button = QPushButton("New…")
        new_button.clicked.connect(self.ask_new_collection)
        self.add_button = QPushButton("Add folder…")
        self.add_button.clicked.connect(self.choose_folder)
        self.folders_button = QPushButton("Folders…")
        self.folders_button.setToolTip("The collection's folders, files and vectors; remove a folder from here")
        self.folders_button.clicked.connect(lambda: self.chat.ask("status"))
        self.excludes_button = QPushButton("Excludes…")
        self.excludes_button.setToolTip("Glob patterns of files and folders to leave out (kept per collection)")
        self.excludes_button.clicked.connect(self.ask_excludes)
        self.reindex_button = QPushButton("Re-index")
        self.reindex_button.setToolTip("Pick up new, changed and deleted files")
        self.reindex_button.clicked.connect(lambda: self.start_index([]))
        self.word_vectors_box = QCheckBox("+ word-vector methods")
        self.word_vectors_box.setToolTip("Also index with the active word model (average and TF-IDF average)")
        self.status_label = QLabel()
        self.status_label.setObjectName("muted")
        for widget in (QLabel("Collection:"), self.collection_box, new_button, self.add_button, self.folders_button,
                       self.excludes_button, self.reindex_button, self.word_vectors_box):
            bar.addWidget(widget)
        bar.addWidget(self.status_label, 1)
        return bar

    def _input_bar(self) -> None:
        self.method_box = QComboBox()
        self.method_box.setToolTip("Ranking method")
        self.method_box.activated.connect(
            lambda _: self.ctx.settings.setValue("documents/method", self.method_box.currentData()))
        self.compare_box = QCheckBox("Compare")
        self.compare_box.setToolTip("Show the top passages of every indexed method side by side")
        self.folder_box = QComboBox()
        self.folder_box.setToolTip("Only this folder")
        self.type_box = QComboBox()
        self.type_box.addItems(list(FILE_TYPES))
        self.type_box.setToolTip("Only this file type")
        for widget in (self.method_box, self.compare_box, self.folder_box, self.type_box):
            self.chat.input_bar.addWidget(widget)

    # -- collections ---------------------------------------------------------------------------

    def _load_collections(self) -> None:
        names = list_document_collections() or [DEFAULT_COLLECTION]
        saved = self.ctx.settings.value("documents/collection", names[0])
        self.collection_box.blockSignals(True)
        self.collection_box.clear()
        self.collection_box.addItems(names)
        self.collection_box.blockSignals(False)
        self.collection_box.setCurrentText(saved if saved in names else names[0])
        self.switch_collection(self.collection_box.currentText())

    def switch_collection(self, name: str) -> None:
        if not name:
            return
        if self.collection is not None and self.collection.name == name:
            return
        try:
            self.collection = DocumentCollection(name)
        except Exception as error:  # noqa: BLE001 - shown to the user as an error card
            self.chat.add_pending_answer(f"open {name}").fail(error)
            return
        self.ctx.settings.setValue("documents/collection", name)
        self.refresh_status()

    def ask_new_collection(self) -> None:
        name, ok = QInputDialog.getText(self, "New collection", "Name of the new collection:")
        if ok and name.strip():
            self.add_collection(name.strip())

    def add_collection(self, name: str) -> None:
        if self.collection_box.findText(name) < 0:
            self.collection_box.addItem(name)
        self.collection_box.setCurrentText(name)

    def ask_excludes(self) -> None:
        current = ", ".join(self.collection.store.excludes())
        text, ok = QInputDialog.getText(self, "Leave out", "Glob patterns, comma separated (e.g. *.log, drafts):",
                                        text=current)
        if ok:
            self.set_excludes(text)

    def set_excludes(self, text: str) -> None:
        """Save the patterns; the next (re-)index drops files they now exclude."""
        self.collection.set_excludes(p.strip() for p in text.split(","))
        self.chat.notify("Excludes saved; press Re-index to apply them")

    def refresh_status(self) -> None:
        """Status line, method picker and folder filter from the collection's current state."""
        status = self.collection.status()
        self.status_label.setText(f"{status.files} files · {status.passages} passages · "
                                  f"{len(status.skipped)} skipped")
        self._fill_methods([s["method"] for s in status.vector_sets])
        current = self.folder_box.currentData()
        self.folder_box.clear()
        self.folder_box.addItem("All folders", None)
        for root in status.roots:
            self.folder_box.addItem(Path(root).name or root, root)
        index = self.folder_box.findData(current)
        self.folder_box.setCurrentIndex(max(0, index))

    def _fill_methods(self, indexed: list[str]) -> None:
        current = self.ctx.settings.value("documents/method", "minilm")
        available = [m for m in DENSE_METHODS if m in indexed] + ["bm25"] + (["hybrid"] if "minilm" in indexed else [])
        self.method_box.clear()
        for key in available:
            self.method_box.addItem(METHODS[key].label, key)
        self.method_box.setCurrentIndex(max(0, self.method_box.findData(current)))

    def available_methods(self) -> list[str]:
        return [self.method_box.itemData(i) for i in range(self.method_box.count())]

    # -- indexing ------------------------------------------------------------------------------

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the collection")
        if folder:
            self.start_index([folder])

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if self._dropped_folders(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        folders = self._dropped_folders(event.mimeData())
        if folders:
            event.acceptProposedAction()
            self.start_index(folders)

    @staticmethod
    def _dropped_folders(mime) -> list[str]:
        if not mime.hasUrls():
            return []
        paths = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
        return [p for p in paths if Path(p).is_dir()]

    def index_options(self) -> dict:
        methods = ["minilm"] + (["minilm-int8"] if self.ctx.text_variant == "int8" else [])
        word_model = None
        if self.word_vectors_box.isChecked() and self.ctx.word_model_name:
            methods += ["w2v-avg", "w2v-tfidf"]
            word_model = self.ctx.word_model_name
        return {"methods": methods, "word_model": word_model}

    def start_index(self, folders: list[str]):
        """Index (after adding ``folders``) in the background; the card shows progress, ETA and Cancel."""
        if self.indexing():
            self.chat.add_note("An index run is already going; wait for it or cancel it.")
            return None
        names = ", ".join(Path(f).name for f in folders) or "all folders"
        card = self.chat.add_pending_answer(f"Index {names} into '{self.collection.name}'")
        self.index_handle = card.run_task("index", self.collection.index, folders, **self.index_options())
        self.index_handle.done.connect(self.refresh_status)
        return self.index_handle

    def indexing(self) -> bool:
        """Whether an index run is going (or paused) in this tab."""
        return self.index_handle is not None and self.index_handle.state in ("running", "paused")

    def remove_folder(self, folder: str) -> None:
        """Take ``folder`` out of the collection (its passages and vectors go; the files stay)."""
        if self.indexing():
            self.chat.add_note("An index run is going; remove the folder once it has finished or been cancelled.")
            return
        self.chat.ask(f"Remove {folder} from '{self.collection.name}'", {"remove": folder})

    def index_demo(self):
        """Index the shipped demo corpus (``resources/corpus``) into the "demo" collection."""
        self.add_collection(DEMO_COLLECTION)
        return self.start_index([str(resources_dir() / "corpus")])

    # -- searching -----------------------------------------------------------------------------

    def search_options(self) -> dict:
        return {"folder": self.folder_box.currentData(), "file_types": FILE_TYPES[self.type_box.currentText()]}

    def answer(self, query: str) -> None:
        if query.strip().lower() == "demo":
            self.index_demo()
            return
        payload = self.chat.last_payload or {}
        card = self.chat.add_pending_answer()
        method = self.method_box.currentData() or "minilm"
        if query.strip().lower() == "status":
            card.run_task("status", self.collection.status)
        elif isinstance(payload, dict) and "remove" in payload:
            card.run_task("removed", self.collection.remove_folder, payload["remove"]).done.connect(self.refresh_status)
        elif not self.collection.store.roots():
            card.fail(UserError(f"collection '{self.collection.name}' has no folders yet",
                                hint="drop a folder on this tab or press Add folder…"))
        elif isinstance(payload, dict) and "more_like" in payload:
            card.run_task("search", self.collection.more_like, payload["more_like"], method, TOP_K)
        elif self.compare_box.isChecked():
            methods = self.available_methods()[:4]
            card.run_task("compare", self.collection.compare, query, methods, COMPARE_K, **self.search_options())
        else:
            card.run_task("search", self.collection.search, query, method, TOP_K, **self.search_options())

    def open_hit(self, hit: dict) -> None:
        self.opener(file_url(hit["path"], hit.get("page")))

    def copy_path(self, hit: dict) -> None:
        QGuiApplication.clipboard().setText(hit["path"])
        self.chat.notify(f"Copied {hit['path']}")

    def more_like(self, hit: dict) -> None:
        self.chat.ask(f"More like {hit['file_name']} #{hit['rank']}", {"more_like": hit["item_id"]})

    # -- rendering (from JSON, so history replays too) -----------------------------------------

    def render(self, kind: str, result: Any):
        renderers = {"search": self._render_search, "compare": self._render_compare,
                     "index": self._render_index, "status": self._render_status,
                     "removed": cards.folder_removed}
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
        return [head] + [PassageCard(hit, fraction, self) for hit, fraction in zip(hits, fractions)]

    def _render_compare(self, result: dict) -> list[QWidget]:
        return [cards.text(f"Top {COMPARE_K} per method for “{result['query']}”"),
                cards.table(result["headers"], result["rows"])]

    def _render_index(self, report: dict) -> list[QWidget]:
        state = "Cancelled — run Re-index to resume." if report["cancelled"] else "Indexed."
        embedded = ", ".join(f"{n:,} with {METHODS[m].label}" for m, n in report["embedded"].items()) or "nothing new"
        summary = (f"{state} {report['files_new']} new, {report['files_changed']} changed, "
                   f"{report['files_unchanged']} unchanged, {report['files_deleted']} removed files; "
                   f"{report['passages_added']:,} passages read; embedded {embedded} "
                   f"in {report['seconds']:.1f} s.")
        if report.get("caught_up"):  # older history entries lack the field
            summary += (f" {report['caught_up']:,} of those passages were read earlier and had no vectors yet "
                        "(an interrupted run or a newly chosen method).")
        widgets = [cards.text(summary)]
        if report["skipped"]:
            widgets.append(self._skipped_table(report["skipped"]))
        return widgets

    def _render_status(self, status: dict) -> list[QWidget]:
        sets = ", ".join(f"{METHODS[s['method']].label} {s['live_rows']:,}" for s in status["vector_sets"]
                         if s["method"] in METHODS) or "none yet"
        pending = sum(status["pending"].values())
        lines = [f"Collection '{status['name']}': {status['files']} files, {status['passages']:,} passages.",
                 f"Vectors: {sets}"]
        if pending:
            lines.append(f"{pending:,} passages still to embed: press Re-index.")
        widgets = [cards.text("\n".join(lines)), cards.heading("Folders"),
                   cards.folder_list(status["roots"], self.remove_folder)]
        if status["skipped"]:
            widgets.append(self._skipped_table(status["skipped"]))
        return widgets

    @staticmethod
    def _skipped_table(skipped: list[dict]) -> QWidget:
        rows = [[Path(s["path"]).name, s["reason"], str(Path(s["path"]).parent)] for s in skipped]
        return cards.expander(f"{len(skipped)} skipped files", cards.table(["file", "reason", "folder"], rows),
                              expanded=True)
