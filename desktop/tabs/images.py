"""Images tab: drop, paste or pick a photo to find similar ones; label filter; near-duplicates; indexing.

The engine (:mod:`embedengine.images_index`) does the work off the UI thread through ``ctx.tasks``;
this module only renders its result dicts (live or replayed from history) with the shared chat cards.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication, QImage, QImageReader, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from desktop.chat import ChatView, cards
from embedengine import images_index as engine
from embedengine.errors import UserError
from embedengine.image import IMAGE_EXTENSIONS

RESULTS_K = 15
INDEX_BATCH = 8  # images per model call while indexing: Cancel takes effect within one batch
WELCOME = (
    "Drop a photo here, paste one (**Ctrl+V**) or **Pick image…** to find similar pictures. "
    "Type a word (**cat**) to find images by label; a word in the box while you drop a photo filters its results. "
    "**dupes** groups near-duplicates · **index** a folder (or drop one) · **status** · **help**"
)
PLACEHOLDER = "cat  ·  dupes 0.9  ·  index ~/Pictures  ·  exclude *.gif  ·  status  ·  help   (drop or paste a photo)"
HELP_TEXT = """**Finding images**
* Drop an image file onto this tab, paste one from the clipboard (Ctrl+V or **Paste**) or use **Pick image…**.
  The query picture need not be in the collection.
* Type a word such as **cat** or **sports car** to list images whose ImageNet labels mention it.
  With a word in the box, a dropped or pasted photo only matches images carrying that label.
* Click a result for a larger preview: open it, show its folder, copy its path, or find **more like this**.

**Collections**
* **Index folder…** (or drop a folder) adds it to the selected collection; re-indexing only reads new or changed files.
* **dupes** (or **Duplicates**) groups resized, recompressed or cropped copies; move the slider to change the threshold.
* **status** (or **Folders**) lists the collections, their folders and the files that were skipped, with the
  reason; **Remove** beside a folder (or **remove /path/to/folder**) takes it out of the collection.
* **exclude *.gif raw** leaves matching files and folders out of the selected collection (**exclude none** clears)."""


def local_paths(mime) -> list[Path]:
    """Local file and folder paths carried by a drag or the clipboard."""
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()] if mime.hasUrls() else []


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def short_name(path: str) -> str:
    return Path(path).name or path


def label_text(labels: list, n: int = 3) -> str:
    return ", ".join(f"{name} {probability:.0%}" for name, probability in labels[:n])


def pixmap_for(path: str, size: int) -> QPixmap:
    """An upright pixmap of an image file fitting ``size``, decoded at reduced size where the format allows.

    Formats Qt cannot read go through Pillow.
    """
    reader = QImageReader(path)
    reader.setAutoTransform(True)  # EXIF orientation
    if reader.size().isValid() and max(reader.size().width(), reader.size().height()) > size:
        reader.setScaledSize(reader.size().scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if not image.isNull():
        return QPixmap.fromImage(image)
    if path:
        try:
            from embedengine.image import load_image, make_thumbnail

            return cards.to_pixmap(make_thumbnail(load_image(path), size))
        except Exception:  # an unreadable preview must not break the card
            pass
    return QPixmap()


class ImagePreview(QDialog):
    """A larger view of one result: path, labels and actions. ``opener(QUrl)`` opens URLs (injectable)."""

    def __init__(self, hit: dict, opener: Callable[[QUrl], Any], more_like_this: Callable[[str], None],
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.hit = hit
        self.opener = opener
        self.more_like_this = more_like_this
        self.setWindowTitle(short_name(hit["path"]))
        layout = QVBoxLayout(self)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setPixmap(pixmap_for(hit["path"], 640))
        layout.addWidget(self.picture)
        layout.addWidget(cards.text(f"{hit['path']}\n{hit['width']}×{hit['height']} px · similarity {hit['score']:.3f}"))
        self.labels_list = cards.ranked_list([(name, p) for name, p in hit.get("labels", [])])
        layout.addWidget(self.labels_list)
        layout.addLayout(self._buttons())

    def _buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for name, slot in (("Open", self.open_file), ("Show in folder", self.show_folder),
                           ("Copy path", self.copy_path), ("More like this", self.find_more)):
            button = QPushButton(name)
            button.clicked.connect(slot)
            row.addWidget(button)
            self.buttons[name] = button
        return row

    def open_file(self) -> None:
        self.opener(QUrl.fromLocalFile(self.hit["path"]))

    def show_folder(self) -> None:
        self.opener(QUrl.fromLocalFile(str(Path(self.hit["path"]).parent)))

    def copy_path(self) -> None:
        QGuiApplication.clipboard().setText(self.hit["path"])

    def find_more(self) -> None:
        self.accept()
        self.more_like_this(self.hit["path"])


class DuplicatesView(QWidget):
    """Near-duplicate groups with a threshold slider; moving it asks ``recompute(threshold, view)``."""

    def __init__(self, result: dict, recompute: Callable[[float, "DuplicatesView"], None],
                 on_click: Callable[[dict], None]) -> None:
        super().__init__()
        self.recompute = recompute
        self.on_click = on_click
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(int(engine.MIN_DUPLICATE_THRESHOLD * 100), 100)
        self.slider.setValue(round(result["threshold"] * 100))
        self.slider_label = QLabel()
        row.addWidget(QLabel("Similarity threshold"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.slider_label)
        layout.addLayout(row)
        self.groups_box = QVBoxLayout()
        layout.addLayout(self.groups_box)
        self._debounce = QTimer(self, singleShot=True, interval=250)
        self._debounce.timeout.connect(lambda: self.recompute(self.threshold, self))
        self.slider.valueChanged.connect(self._slider_moved)
        self.show_result(result)

    @property
    def threshold(self) -> float:
        return self.slider.value() / 100

    def _slider_moved(self) -> None:
        self.slider_label.setText(f"{self.threshold:.2f}")
        self._debounce.start()

    def show_result(self, result: dict) -> None:
        """Replace the groups with those of ``result`` (a DuplicatesResult dict)."""
        self.result = result
        self.slider_label.setText(f"{result['threshold']:.2f}")
        while self.groups_box.count():
            widget = self.groups_box.takeAt(0).widget()
            if widget is not None:
                widget.setParent(None)
                widget.deleteLater()
        summary = (f"{len(result['groups'])} group(s) of near-duplicates among {result['images']} images "
                   f"in '{result['collection']}' at similarity ≥ {result['threshold']:.2f}")
        self.groups_box.addWidget(cards.text(summary))
        for group in result["groups"]:
            self.groups_box.addWidget(self._group_widget(group))
        cards.with_text(self, summary + "\n" + "\n".join(
            " | ".join(h["path"] for h in g["images"]) for g in result["groups"]))

    def _group_widget(self, group: dict) -> QWidget:
        hits = group["images"]
        grid = cards.image_grid(_grid_items(hits), on_click=lambda i: self.on_click(hits[i]), columns=6, thumb=110)
        low, high = f"{group['min_similarity']:.3f}", f"{group['max_similarity']:.3f}"
        title = f"{len(hits)} images · similarity {low if low == high else f'{low}–{high}'}"
        return cards.stack(grid, title=title)


def _grid_items(hits: list[dict]) -> list[tuple]:
    return [(hit["thumbnail"] or hit["path"], short_name(hit["path"]), hit["score"]) for hit in hits]


class _InputFilter(QObject):
    """On the input line: Ctrl+V with an image on the clipboard, and dropped files, become queries, not text."""

    DRAG_EVENTS = {QEvent.Type.DragEnter: "dragEnterEvent", QEvent.Type.DragMove: "dragMoveEvent",
                   QEvent.Type.Drop: "dropEvent"}

    def __init__(self, tab: "ImagesTab") -> None:
        super().__init__(tab)
        self.tab = tab

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt naming)
        if event.type() == QEvent.Type.KeyPress and event.matches(QKeySequence.StandardKey.Paste):
            return self.tab.paste_image()
        handler = self.DRAG_EVENTS.get(event.type())
        if handler and (local_paths(event.mimeData()) or event.mimeData().hasImage()):
            getattr(self.tab, handler)(event)
            return True
        return False


class ImagesTab(QWidget):
    """Find similar photos by dropping, pasting or picking one; filter by label; group near-duplicates."""

    title = "Images"

    def __init__(self, ctx, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.opener: Callable[[QUrl], Any] = QDesktopServices.openUrl  # tests replace it
        self.preview: Optional[ImagePreview] = None
        self._collections: dict[str, engine.ImageCollection] = {}
        self._collections_lock = threading.Lock()
        self._handles: list = []
        self._demo_started = False
        self.demo_task = None  # the background indexing of the demo photos, once started
        self.index_task = None  # the latest index run the user started
        self.chat = ChatView(ctx, tab="images", renderer=self.render, placeholder=PLACEHOLDER, welcome=WELCOME)
        self.chat.submitted.connect(self.answer)
        self._build_bar()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.chat)
        self.setAcceptDrops(True)
        self.chat.input.installEventFilter(_InputFilter(self))
        QShortcut(QKeySequence.StandardKey.Paste, self, self.paste_image,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)

    # -- layout -----------------------------------------------------------------------------------

    def _build_bar(self) -> None:
        self.collection_box = QComboBox()
        self.collection_box.setToolTip("The image collection to search")
        self.collection_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.collection_box.setMinimumContentsLength(8)
        self.collection_box.currentTextChanged.connect(
            lambda name: name and self.ctx.settings.setValue("images/collection", name))
        self.refresh_collections()
        bar = self.chat.input_bar
        bar.addWidget(self.collection_box)
        self.buttons: dict[str, QPushButton] = {}
        for name, tip, slot in (
            ("Pick image…", "Choose a picture to search with", self.pick_image),
            ("Paste", "Search with the image on the clipboard (Ctrl+V)", self.paste_button),
            ("Index folder…", "Add a folder of photos to the selected collection", self.pick_folder),
            ("Duplicates", "Group near-duplicate images", lambda: self.chat.ask("dupes")),
            ("Folders", "The collections' folders and skipped files; remove a folder from here",
             lambda: self.chat.ask("status")),
        ):
            button = QPushButton(name)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            bar.addWidget(button)
            self.buttons[name] = button

    def refresh_collections(self, select: Optional[str] = None) -> None:
        """Fill the collection picker (keeps or sets the selection)."""
        names = engine.collection_names()
        wanted = select or self.collection_box.currentText() or str(
            self.ctx.settings.value("images/collection", "") or "")
        if wanted and wanted not in names:
            names.append(wanted)
        self.collection_box.blockSignals(True)
        self.collection_box.clear()
        self.collection_box.addItems(names or [engine.DEMO_COLLECTION])
        self.collection_box.setCurrentText(wanted or (names[0] if names else engine.DEMO_COLLECTION))
        self.collection_box.blockSignals(False)
        self.ctx.settings.setValue("images/collection", self.collection_name)

    @property
    def collection_name(self) -> str:
        return self.collection_box.currentText() or engine.DEMO_COLLECTION

    def collection(self, name: str, create: bool = False) -> engine.ImageCollection:
        """An open collection, kept so its vector matrix stays cached between searches."""
        with self._collections_lock:
            if name not in self._collections:
                self._collections[name] = engine.ImageCollection(name, create=create)
            return self._collections[name]

    # -- first launch -------------------------------------------------------------------------------

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        if not self._demo_started and self.ctx.demo_wanted:
            self._demo_started = True
            QTimer.singleShot(0, self.ensure_demo)

    def ensure_demo(self) -> None:
        """Index the shipped photos into "demo" in the background; a card shows it on a first launch.

        Later launches only finish an interrupted run; once the user removed the demo folder it stays out.
        """
        first_time = engine.DEMO_COLLECTION not in engine.collection_names()
        if not first_time and str(engine.demo_folder().resolve()) not in self.collection(engine.DEMO_COLLECTION).roots():
            return
        note = self.chat.add_note("") if first_time else None
        self.demo_task = self._track(self.ctx.tasks.run(
            self._index_demo, label="index demo images",
            on_result=lambda report: self._demo_ready(report, note),
            on_error=lambda error: note.fail(error) if note else self.ctx.status_message(str(error))))
        if note is not None:
            progress = cards.ProgressCard()
            progress.attach(self.demo_task)
            note.set_content([cards.text("Indexing the demo photos so you can try the tab right away…"), progress])

    def _index_demo(self, progress=None, cancel=None) -> engine.IndexReport:
        return self.collection(engine.DEMO_COLLECTION, create=True).index(
            [engine.demo_folder()], progress=progress, cancel=cancel)

    def _demo_ready(self, report: engine.IndexReport, note) -> None:
        self.refresh_collections()
        if note is not None:
            note.set_content(cards.markdown(
                f"The **demo** collection is ready: {report.images} photos. Drop a photo or type **cat**."))

    # -- queries ------------------------------------------------------------------------------------

    def take_label_filter(self) -> str:
        """The word typed in the input (used as a label filter for the next image query), then cleared."""
        text = self.chat.input.text().strip()
        self.chat.input.clear()
        return text

    def query_image(self, path: str | Path, label: str = "") -> None:
        """Ask for images similar to the picture at ``path`` (optionally only those labelled ``label``)."""
        path = str(Path(path).expanduser().resolve())
        text = short_name(path) + (f" · label: {label}" if label else "")
        self.chat.ask(text, {"image": path, "label": label, "collection": self.collection_name})

    def pick_image(self) -> None:
        filters = "Images (" + " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS)) + ")"
        path, _ = QFileDialog.getOpenFileName(self, "Find images similar to…", "", filters)
        if path:
            self.query_image(path, self.take_label_filter())

    def paste_image(self) -> bool:
        """Search with the clipboard's image (or image file); False when it holds neither."""
        mime = QGuiApplication.clipboard().mimeData()
        files = [p for p in local_paths(mime) if is_image_file(p)]
        if files:
            self.query_image(files[0], self.take_label_filter())
            return True
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            return False
        self.query_image(self.save_pasted(image), self.take_label_filter())
        return True

    def paste_button(self) -> None:
        if not self.paste_image():
            self.ctx.status_message("The clipboard holds no image: copy a picture (or an image file) first")

    def save_pasted(self, image: QImage) -> Path:
        """Keep a pasted picture as a PNG in the workspace, so the conversation can show it later."""
        folder = Path(self.ctx.workspace) / "pasted-images"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / time.strftime("pasted-%Y%m%d-%H%M%S.png")
        counter = 1
        while path.exists():
            path = path.with_name(f"{path.stem.split('~')[0]}~{counter}.png")
            counter += 1
        image.save(str(path), "PNG")
        return path

    def pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Index a folder of photos")
        if folder:
            self.index_folders([folder])

    def index_folders(self, folders: list) -> None:
        """Add folders to the selected collection (user folders never go into "demo") and index them."""
        name = self.collection_name
        if name == engine.DEMO_COLLECTION:
            name = engine.DEFAULT_COLLECTION
        folders = [str(Path(f).expanduser().resolve()) for f in folders]
        names = ", ".join(Path(f).name or f for f in folders)
        self.chat.ask(f"index {names} into '{name}'", {"index": folders, "collection": name})

    # -- drag and drop ------------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        mime = event.mimeData()
        if mime.hasImage() or any(p.is_dir() or is_image_file(p) for p in local_paths(mime)):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        mime = event.mimeData()
        paths = local_paths(mime)
        folders = [p for p in paths if p.is_dir()]
        images = [p for p in paths if is_image_file(p)]
        if images:
            self.query_image(images[0], self.take_label_filter())
        elif mime.hasImage():
            self.query_image(self.save_pasted(QImage(mime.imageData())), self.take_label_filter())
        if folders:
            self.index_folders(folders)
        event.acceptProposedAction()

    # -- answering ----------------------------------------------------------------------------------

    def answer(self, text: str) -> None:
        payload = self.chat.last_payload if isinstance(self.chat.last_payload, dict) else {}
        card = self.chat.add_pending_answer()
        name = payload.get("collection") or self.collection_name
        if payload.get("image"):
            self._track(card.run_task("image_search", self._search, name, payload["image"], payload.get("label") or None))
        elif payload.get("index"):
            self._run_index(card, name, payload["index"])
        elif payload.get("remove"):
            self._run_remove(card, name, payload["remove"])
        else:
            self._answer_text(card, text.strip(), name)

    def _track(self, handle):
        """Remember a running task so :meth:`shutdown` can cancel it."""
        self._handles = [h for h in self._handles if h.is_running] + [handle]
        return handle

    def _run_index(self, card, name: str, folders: list) -> None:
        handle = self.index_task = self._track(card.run_task("index", self._index, name, folders))
        handle.finished.connect(lambda _result: self.refresh_collections(select=name))

    def remove_folder(self, name: str, folder: str) -> None:
        """Take ``folder`` out of collection ``name`` (its images, vectors and thumbnails go; the files stay)."""
        self.chat.ask(f"remove {folder} from '{name}'", {"remove": folder, "collection": name})

    def _run_remove(self, card, name: str, folder: str) -> None:
        if any(task is not None and task.is_running for task in (self.index_task, self.demo_task)):
            card.fail(UserError("an index run is going", hint="remove the folder once it has finished or been cancelled"))
            return
        handle = self._track(card.run_task("removed", self._remove, name, folder))
        handle.finished.connect(lambda _result: self.refresh_collections(select=name))

    def _answer_text(self, card, text: str, name: str) -> None:
        command, _, rest = text.partition(" ")
        command = command.lower()
        if command in ("help", "?", ""):
            card.finish("markdown", {"text": HELP_TEXT})
        elif command in ("dupes", "duplicates"):
            try:
                threshold = float(rest) if rest.strip() else engine.DEFAULT_DUPLICATE_THRESHOLD
            except ValueError:
                card.fail(UserError(f"'{rest.strip()}' is not a threshold", hint="for example: dupes 0.9"))
                return
            self._track(card.run_task("duplicates", self._duplicates, name, threshold))
        elif command == "index" and rest.strip():
            target = engine.DEFAULT_COLLECTION if name == engine.DEMO_COLLECTION else name
            self._run_index(card, target, [str(Path(rest.strip()).expanduser())])
        elif command == "remove" and rest.strip():
            self._run_remove(card, name, str(Path(rest.strip()).expanduser()))
        elif command == "status":
            card.finish("status", {"collections": [self.collection(n).status() for n in engine.collection_names()]})
        elif command == "exclude":
            self._set_excludes(card, name, rest.split())
        else:
            self._track(card.run_task("image_search", self._label_search, name, text))

    def _set_excludes(self, card, name: str, patterns: list[str]) -> None:
        """``exclude *.gif raw`` replaces the collection's excludes (``exclude none`` clears them)."""
        collection = self.collection(name, create=True)
        collection.set_excludes([] if patterns == ["none"] else patterns)
        card.finish("status", {"collections": [collection.status()]})
        self.chat.notify("Excludes saved: re-index the collection to apply them")

    # Engine calls (run on a worker thread)

    def _search(self, name: str, image: str, label: Optional[str]) -> engine.ImageSearchResult:
        return self.collection(name).search(image, k=RESULTS_K, label_filter=label)

    def _label_search(self, name: str, text: str) -> engine.ImageSearchResult:
        return self.collection(name).search_by_label(text, k=RESULTS_K)

    def _duplicates(self, name: str, threshold: float) -> engine.DuplicatesResult:
        return self.collection(name).near_duplicates(threshold)

    def _remove(self, name: str, folder: str) -> engine.FolderRemoved:
        return self.collection(name).remove_folder(folder)

    def _index(self, name: str, folders: list, progress=None, cancel=None) -> engine.IndexReport:
        return self.collection(name, create=True).index(folders, progress=progress, cancel=cancel,
                                                        batch_size=INDEX_BATCH)

    def recompute_duplicates(self, threshold: float, view: DuplicatesView) -> None:
        """Slider moved: regroup at the new threshold and update the same card."""
        name = view.result["collection"]
        self.duplicates_task = self._track(self.ctx.tasks.run(
            self._duplicates, name, threshold, label="near-duplicates",
            on_result=lambda result: _if_alive(view.show_result, _jsonable(result))))

    # -- rendering (from JSON, so history replays) --------------------------------------------------

    def render(self, kind: str, result: Any):
        renderers = {"image_search": self._render_search, "duplicates": self._render_duplicates,
                     "index": self._render_index, "status": self._render_status,
                     "removed": cards.folder_removed}
        return renderers[kind](result)

    def _render_search(self, result: dict) -> list[QWidget]:
        widgets = [self._search_header(result)]
        hits = result["hits"]
        if hits:
            widgets.append(cards.image_grid(_grid_items(hits), on_click=lambda i: self.show_preview(hits[i]),
                                            columns=6, thumb=130))
        else:
            widgets.append(cards.text("No matching images. Index a folder, or try another label."))
        return widgets

    def _search_header(self, result: dict) -> QWidget:
        lines = []
        if result["query"]:
            lines.append(f"Most similar to {short_name(result['query'])}: looks like {label_text(result['query_labels'])}")
        if result["label_filter"]:
            lines.append(f"Label filter: “{result['label_filter']}”")
        lines.append(f"{len(result['hits'])} of {result['images']} images in '{result['collection']}' · "
                     f"encode {result['encode_ms']:.0f} ms · search {result['search_ms']:.1f} ms")
        text = cards.text("\n".join(lines))
        if not result["query"]:
            return text
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        self.query_thumb = QLabel()
        self.query_thumb.setPixmap(pixmap_for(result["query"], 120))
        layout.addWidget(self.query_thumb)
        layout.addWidget(text, 1)
        return cards.with_text(row, cards.widget_text(text))

    def _render_duplicates(self, result: dict) -> QWidget:
        return DuplicatesView(result, self.recompute_duplicates, self.show_preview)

    def _render_index(self, report: dict) -> list[QWidget]:
        state = "Cancelled" if report["cancelled"] else "Indexed"
        summary = (f"**{state}** '{report['collection']}': {report['indexed']} new or changed, "
                   f"{report['unchanged']} unchanged, {report['removed']} removed, {len(report['skipped'])} skipped "
                   f"— {report['images']} images, {report['images_per_s']:.1f} images/s.")
        widgets = [cards.markdown(summary)]
        widgets += [cards.text(f"⚠ {w}") for w in report.get("warnings", [])]
        if report["skipped"]:
            rows = [[short_name(s["path"]), s["reason"], s["path"]] for s in report["skipped"]]
            widgets.append(cards.expander(f"Skipped files ({len(rows)})", cards.table(["file", "reason", "path"], rows),
                                          expanded=True))
        return widgets

    def _render_status(self, result: dict) -> list[QWidget]:
        statuses = result["collections"]
        rows = [[s["name"], s["images"], len(s["skipped"]), "; ".join(s["roots"]), " ".join(s["excludes"])]
                for s in statuses]
        widgets = [cards.table(["collection", "images", "skipped", "folders", "excludes"], rows)]
        for status in statuses:
            widgets.append(cards.heading(f"Folders of '{status['name']}'"))
            widgets.append(cards.folder_list(status["roots"], lambda folder, n=status["name"]: self.remove_folder(n, folder)))
            if status["skipped"]:
                skipped = cards.table(["file", "reason"], [[s["path"], s["reason"]] for s in status["skipped"]])
                widgets.append(cards.expander(f"Skipped in '{status['name']}' ({len(status['skipped'])})", skipped))
        return widgets

    def show_preview(self, hit: dict) -> ImagePreview:
        """Open the larger preview of a result (non-modal, so tests and users can keep working)."""
        self.preview = ImagePreview(hit, self.opener, self.query_image, self)
        self.preview.show()
        return self.preview

    def shutdown(self) -> None:
        """Window closing: cancel this tab's running tasks (the stores close with the process)."""
        for handle in self._handles:
            if handle.is_running:
                handle.cancel()


def _if_alive(method: Callable, *args: Any) -> None:
    """Call a widget's method unless Qt already deleted the widget (its card was cleared)."""
    try:
        method(*args)
    except RuntimeError:
        pass


def _jsonable(result: Any) -> Any:
    from embedengine.results import to_jsonable

    return to_jsonable(result)
