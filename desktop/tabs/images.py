"""Images tab: drop, paste or pick a photo to find similar ones; label filter; near-duplicates; indexing.

The engine (:mod:`embedengine.images_index`) does the work off the UI thread through ``ctx.tasks``; the tab's
state and grammar are :class:`~desktop.controllers.images.ImagesController`'s, the collection bar and its
commands are shared with the Documents tab (:mod:`desktop.collection_bar`). This module lays out the widgets
and renders the result dicts (live or replayed from history) with the shared chat cards.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, QUrl
from PySide6.QtGui import QGuiApplication, QImage, QImageReader, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import QDialog, QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop import map_view
from desktop.chat import cards
from desktop.collection_bar import CollectionTab, accept_copy, dropped_folders, local_paths
from desktop.controllers.images import ImagesController
from desktop.image_results import DuplicateGroupView, DuplicatesView, SearchResultsView, if_alive, short_name
from embedengine import images_index as engine
from embedengine.image import IMAGE_EXTENSIONS
from embedengine.image_filters import ImageFilters

RESULTS_K = 30  # candidates fetched; the similarity threshold decides how many show
INDEX_BATCH = 8  # images per model call while indexing: Cancel takes effect within one batch
WELCOME = (
    "Drop a photo here, paste one (**Ctrl+V**) or **Pick image…** to find similar pictures. "
    "Type a word (**cat**) to find images by label; a word in the box while you drop a photo filters its results. "
    "Filters: **after:2024-01 before:2025 camera:pixel folder:~/Pictures/trips size:1920x1080**. "
    "**dupes** groups near-duplicates · **index** a folder (or drop one) · **status** · **help**"
)
PLACEHOLDER = ("cat  ·  beach after:2024-01 camera:pixel  ·  text ~ a dog on a beach  ·  ocr: invoice 2024  ·  dupes"
               "  ·  index ~/Pictures  ·  help   (drop or paste a photo)")
HELP_TEXT = """**Finding images**
* Drop an image file onto this tab, paste one from the clipboard (Ctrl+V or **Paste**) or use **Pick image…**.
  The query picture need not be in the collection.
* **map** lays every photo of the collection out in 2-D (thumbnails when you zoom in); click one for more like it.
* Type what you are looking for — **horse**, **a dog on a beach**, **something to drink** — to find images by
  what their ImageNet labels mean (the answer names the labels it counted). With a word in the box, a dropped or
  pasted photo only matches images whose labels mention that word.
* **Filters** go anywhere in a search and combine with it: **after:2024-01** (taken from 1 January 2024 on),
  **before:2025** (taken before 2025), **camera:pixel** (EXIF make or model), **folder:~/Pictures/trips**,
  **size:1920x1080** (at least that large, either way round); quote a value with spaces (**camera:"eos r5"**).
  Filters alone (**after:2024-06 camera:canon**) list the photos meeting them, newest first. The date is the
  photo's EXIF date taken, else its file's date.
* **Describe a photo** with an image–text (CLIP) model of your own: add its folder in **Preferences** and pick
  it; typed text (**a dog on a beach**, or **text ~ a dog on a beach**) then ranks the photos by what the text
  describes (the first search embeds the collection with the model). **label ~ horse** still searches the labels.
* **Text inside photos**: **ocr on** makes the collection read the text in its photos, screenshots and scans
  (0.5–4 s per image, **ocr off** stops); **ocr: invoice 2024** (or **text: …**) then finds the images whose text
  holds those words, with the matching lines under each.
* Similar pictures show down to a similarity of 0.45 (pictures of other subjects stay below it); drag the
  slider in the answer, or press **Show more**, to change it: the tab keeps your setting.
* Click a result for a larger preview: open it, show its folder, copy its path, or find **more like this**.

**Collections**
* **Add folder…** (or drop a folder) adds it to the selected collection (never to the demo: your folders go to
  "photos"); **Re-index** only reads new or changed files.
* **dupes** (or **Duplicates**) groups identical files and resized, recompressed or cropped copies (move the
  slider to change the threshold). Keep the largest or the newest of a group and **Move to trash** the others:
  they go to the system trash, never deleted, and **Undo** puts them back.
* **status** (or **Folders…**) shows the collection's folders and the files that were skipped, with the
  reason; **Remove** beside a folder (or **remove /path/to/folder**) takes it out of the collection.
* **exclude *.gif raw** (or **Excludes…**) leaves matching files and folders out of the selected collection
  (**exclude none** clears)."""


def describe_filters(filters: dict) -> str:
    """``after 2024-01 · camera ~ pixel`` from a result's filters (as typed)."""
    return ImageFilters(**{key: str(value) for key, value in filters.items()}).describe()


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def taken_text(hit: dict) -> str:
    """``\ntaken 2024-03-15 12:30 · Google Pixel 8`` (the file's date says so); "" for older results."""
    if not hit.get("taken"):
        return ""
    when = hit["taken"][:16].replace("T", " ") + ("" if hit.get("taken_from") == "exif" else " (file date)")
    return f"\ntaken {when}" + (f" · {hit['camera']}" if hit.get("camera") else "")


def ocr_caption(hit: dict) -> str:
    """A result tile's caption in an OCR search: the file's name and its lines that hold a query word."""
    lines = [line if len(line) <= 40 else line[:39] + "…" for line in hit.get("ocr_lines", [])[:3]]
    return "\n".join([short_name(hit["path"])] + [f"“{line}”" for line in lines])


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
        layout.addWidget(cards.text(f"{hit['path']}\n{hit['width']}×{hit['height']} px · similarity {hit['score']:.3f}"
                                    + taken_text(hit)))
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


class ImagesTab(CollectionTab):
    """Find similar photos by dropping, pasting or picking one; filter by label; group near-duplicates."""

    title = "Images"
    tab_key = "images"
    controller_class = ImagesController
    folder_caption = "Add a folder of photos to the collection"
    welcome = WELCOME
    placeholder = PLACEHOLDER

    def __init__(self, ctx, parent: Optional[QWidget] = None) -> None:
        self.preview: Optional[ImagePreview] = None
        self._demo_started = False
        self.demo_task = None  # the background indexing of the demo photos, once started
        self.live_maps = map_view.LiveMaps()  # photo maps shown now: searches highlight their photos there
        super().__init__(ctx, parent)
        self.chat.input.installEventFilter(_InputFilter(self))
        QShortcut(QKeySequence.StandardKey.Paste, self, self.paste_image,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)

    def index_options(self) -> dict:
        return {"batch_size": INDEX_BATCH, **self.controller.index_options()}

    def build_input_bar(self) -> None:
        self.buttons: dict[str, QPushButton] = {}
        for name, tip, slot in (
            ("Pick image…", "Choose a picture to search with", self.pick_image),
            ("Paste", "Search with the image on the clipboard (Ctrl+V)", self.paste_button),
            ("Duplicates", "Group near-duplicate images", lambda: self.chat.ask("dupes")),
        ):
            button = QPushButton(name)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            self.chat.input_bar.addWidget(button)
            self.buttons[name] = button

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
        state = self.controller.demo_to_index()
        if state is None:
            return
        note = self.chat.add_note("") if state == "new" else None
        self.demo_task = self.ctx.tasks.run(
            self.controller.index, [str(engine.demo_folder())], collection=engine.DEMO_COLLECTION,
            label="index demo images", on_result=lambda report: self._demo_ready(report, note),
            on_error=lambda error: note.fail(error) if note else self.ctx.status_message(str(error)))
        self.actions.watch_index(self.demo_task)
        if note is not None:
            progress = cards.ProgressCard()
            progress.attach(self.demo_task)
            note.set_content([cards.text("Indexing the demo photos so you can try the tab right away…"), progress])

    def _demo_ready(self, report: engine.IndexReport, note) -> None:
        if note is not None:
            note.set_content(cards.markdown(
                f"The **demo** collection is ready: {report.items} photos. Drop a photo or type **cat**."))

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
        self.chat.ask(text, {"image": path, "label": label, "collection": self.controller.selected})

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

    def remove_folder(self, folder: str, collection: Optional[str] = None) -> None:
        """Take ``folder`` out of a collection (default: the selected one); its images go, the files stay."""
        self.actions.remove_folder(collection or self.controller.selected, folder)

    # -- drag and drop: pictures are queries, folders go to the collection bar -----------------------

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        mime = event.mimeData()
        pictures = mime.hasImage() or any(is_image_file(p) for p in local_paths(mime))
        accept_copy(event, pictures or bool(dropped_folders(mime)))

    def dragMoveEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        accept_copy(event)

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        mime = event.mimeData()
        images = [p for p in local_paths(mime) if is_image_file(p)]
        if images:
            self.query_image(images[0], self.take_label_filter())
        elif mime.hasImage():
            self.query_image(self.save_pasted(QImage(mime.imageData())), self.take_label_filter())
        folders = dropped_folders(mime)
        if folders:
            self.actions.index_folders(folders)
        accept_copy(event)

    # -- answering ----------------------------------------------------------------------------------

    def answer(self, text: str) -> None:
        map_method = map_view.map_command(text)
        if map_method:
            name = self.controller.selected
            map_view.run_map(self.chat.add_pending_answer(), "images", name, map_method, "resnet50",
                             source=f"collection '{name}' · ResNet50")
            return
        command = self.controller.parse(text, self.chat.last_payload)
        card = self.chat.add_pending_answer()
        if self.actions.run(card, command):
            return
        args, call = command.args, self.controller.call
        if command.action == "help":
            card.finish("markdown", {"text": HELP_TEXT})
            return
        source = self.controller.source(args.get("collection"), command.action, args.get("model"))
        if command.action == "image_search":
            card.run_task("image_search", call, "search", args["image"], k=RESULTS_K, label_filter=args["label"],
                          min_score=args["min_score"], filters=args["filters"], collection=args["collection"],
                          source=source)
        elif command.action == "duplicates":
            card.run_task("duplicates", call, "near_duplicates", args["threshold"], collection=args["collection"],
                          source=source)
        elif command.action == "text_search":
            card.run_task("image_search", self.controller.search_text, args["text"], args["model"], args["filters"],
                          RESULTS_K, collection=args["collection"], source=source)
        elif command.action == "ocr_search":
            card.run_task("image_search", self.controller.search_ocr_text, args["text"], args["filters"], RESULTS_K,
                          collection=args["collection"], source=source)
        elif command.action == "ocr_switch":
            card.run_task("markdown", self._switch_ocr, args["enabled"], args["collection"], source=source)
        elif command.action == "filter_search":
            card.run_task("image_search", call, "filter_images", args["filters"], k=RESULTS_K,
                          collection=args["collection"], source=source)
        else:
            card.run_task("image_search", call, "search_by_label", args["text"], k=RESULTS_K,
                          filters=args["filters"], collection=args["collection"], source=source)

    def _switch_ocr(self, enabled: bool, collection: Optional[str]) -> dict:
        return {"text": self.controller.switch_ocr(enabled, collection)}

    def recompute_duplicates(self, threshold: float, view: DuplicatesView) -> None:
        """Slider moved: regroup at the new threshold and update the same card."""
        self.duplicates_task = self.ctx.tasks.run(
            self.controller.call, "near_duplicates", threshold, collection=view.result["collection"],
            label="near-duplicates", on_result=lambda result: if_alive(view.show_result, _jsonable(result)))

    def trash_files(self, view: DuplicateGroupView, paths: list[str]) -> None:
        """Move a group's other files to the system trash; the collection forgets them."""
        collection = self._collection_of(view)
        self.ctx.tasks.run(
            self.controller.call, "trash", paths, collection=collection, label="move to trash",
            on_result=lambda report: self._files_changed(view.trashed, report),
            on_error=lambda error: if_alive(view.failed, f"Could not move them to the trash: {error}"))

    def restore_files(self, view: DuplicateGroupView, trashed: list[dict]) -> None:
        """Undo: put the files back from the trash and index them again."""
        self.ctx.tasks.run(
            self.controller.call, "restore", trashed, collection=self._collection_of(view),
            label="restore from trash", on_result=lambda report: self._files_changed(view.restored, report),
            on_error=lambda error: if_alive(view.failed, f"Could not restore them: {error}"))

    def _files_changed(self, show: Callable[[dict], None], report: Any) -> None:
        """Files left or came back: the group says so, the collection bar's counts follow."""
        if_alive(show, _jsonable(report))
        self.actions.refresh()

    @staticmethod
    def _collection_of(view: QWidget) -> Optional[str]:
        parent = view.parentWidget()
        while parent is not None and not isinstance(parent, DuplicatesView):
            parent = parent.parentWidget()
        return parent.result["collection"] if parent is not None else None

    # -- rendering (from JSON, so history replays) --------------------------------------------------

    def render(self, kind: str, result: Any):
        shared = self.actions.render(kind, result)
        if shared is not None:
            return shared
        renderers = {"image_search": self._render_search, "duplicates": self._render_duplicates,
                     "map": self._render_map, "map_selection": self._render_selection}
        return renderers[kind](result)

    def _render_map(self, result: dict) -> list[QWidget]:
        return self.live_maps.add(map_view.map_answer(result, lambda item: self._more_like_item(item, result["name"]),
                                                      self._selected_on_map))

    def _more_like_item(self, item: dict, collection: str) -> None:
        """A photo clicked on the map: the photos like it."""
        hits = self.controller.call("hits", [(int(item["id"]), 1.0)], collection=collection)
        if hits:
            self.query_image(hits[0].path)

    def _selected_on_map(self, view: map_view.MapView, items: list[dict]) -> None:
        """A lasso selection becomes an answer listing its photos (Copy / JSON export it)."""
        card = self.chat.add_pending_answer(f"{len(items):,} photos selected on the map")
        card.finish("map_selection", map_view.selection_result(view, items, ""),
                    source=f"collection '{view.map.name}' · ResNet50 · {view.map.method} map")

    def _render_selection(self, result: dict) -> list[QWidget]:
        return map_view.selection_answer(result, lambda item: self._more_like_item(item, result["name"]))

    def _render_search(self, result: dict) -> list[QWidget]:
        self.live_maps.highlight(result["collection"], [hit["item_id"] for hit in result["hits"]
                                                        if "item_id" in hit])
        view = SearchResultsView(result, self.show_preview, self.controller.set_min_similarity)
        if result.get("method") == engine.OCR_METHOD:
            view.grid.set_texts([ocr_caption(hit) for hit in result["hits"]])
        return [self._search_header(result), view]

    def _search_header(self, result: dict) -> QWidget:
        lines = []
        if result["query"]:
            looks = f": looks like {label_text(result['query_labels'])}" if result["query_labels"] else ""
            lines.append(f"Most similar to {short_name(result['query'])}{looks}")
        if result.get("method") == engine.OCR_METHOD:
            lines.append(f"Text inside the photos holding “{result['text']}” (share of its words found)")
        elif result.get("text"):
            lines.append(f"Described as “{result['text']}” ({result.get('method')}: ranked by how well it fits)")
        related = result.get("related_labels") or []
        if result["label_filter"] and related:
            lines.append(f"Looking for “{result['label_filter']}”: labels that mean it — "
                         f"{', '.join(name for name, _ in related[:6])}")
        elif result["label_filter"]:
            lines.append(f"Label filter: “{result['label_filter']}”")
        if result.get("filters"):
            lines.append(f"Filters: {describe_filters(result['filters'])}")
        lines.append(f"Searched {result['images']} images in '{result['collection']}' · "
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
        return DuplicatesView(result, self.recompute_duplicates, self.show_preview, self.trash_files, self.restore_files)

    def show_preview(self, hit: dict) -> ImagePreview:
        """Open the larger preview of a result (non-modal, so tests and users can keep working)."""
        self.preview = ImagePreview(hit, self.ctx.open_url, self.query_image, self)
        self.preview.show()
        return self.preview

    def shutdown(self) -> None:
        """Window closing: close the collection (the window cancels the running tasks)."""
        self.actions.shutdown()


def _jsonable(result: Any) -> Any:
    from embedengine.results import to_jsonable

    return to_jsonable(result)
