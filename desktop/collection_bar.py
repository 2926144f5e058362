"""The collection bar both collection tabs (Documents, Images) put at their top, and what its buttons do.

:class:`CollectionBar` is the widget: collection picker, New…, Add folder…, Folders…, Excludes…, Re-index,
a status line, and a drop target for folders and files. It only emits signals. The tab's chat input takes the
same drops (``ChatInput.accept_path_drops``): both go to :meth:`CollectionActions.index_dropped`.

:class:`CollectionActions` connects a bar to a tab's chat and :class:`~desktop.controllers.CollectionController`:
switching collections, indexing dropped or picked folders, the status refreshed off the UI thread, removing a
folder, excludes, and the commands and cards every collection tab shares (index, status, remove, exclude).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QInputDialog, QLabel, QPushButton, QSizePolicy,
                               QVBoxLayout, QWidget)

from desktop import collection_cards
from desktop.hands import accept_copy, local_paths
from desktop.chat import ChatView
from desktop.controllers import CollectionController, Command
from embedengine.collections.report import CollectionStatus
from embedengine.errors import UserError
from embedengine.results import plural

BUSY = "an index run is going"


__all__ = ["accept_copy", "local_paths", "dropped_folders", "dropped_paths", "CollectionBar", "CollectionActions",
           "CollectionTab"]


def dropped_folders(mime) -> list[str]:
    return [str(p) for p in local_paths(mime) if p.is_dir()]


def dropped_paths(mime) -> list[str]:
    """The existing files and folders of a drag (a single file is indexed on its own)."""
    return [str(p) for p in local_paths(mime) if p.exists()]


class StatusLine(QLabel):
    """A one-line label that shortens its text with "…" where the row is too narrow (full text in the tooltip)."""

    def __init__(self) -> None:
        super().__init__()
        self.full_text = ""
        self.setObjectName("muted")
        self.setMinimumWidth(40)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def set_full_text(self, text: str) -> None:
        self.full_text = text
        self.setToolTip(text)
        self._elide()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        super().setText(self.fontMetrics().elidedText(self.full_text, Qt.TextElideMode.ElideRight, self.width()))


class CollectionBar(QWidget):
    """Collection picker and buttons; drop folders (or files) on it to add them. Tabs add their own widgets with
    :meth:`add_widget` (before the status line)."""

    collection_changed = Signal(str)  # picked in the list, or named with New…
    folders_dropped = Signal(list)  # folders (or single files) dropped on the bar
    folders_picked = Signal(list)  # a folder chosen with Add folder…
    status_requested = Signal()  # Folders…
    excludes_changed = Signal(list)  # Excludes… confirmed: the new glob patterns
    reindex_requested = Signal()

    def __init__(self, folder_caption: str = "Add a folder to the collection", parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.folder_caption = folder_caption
        self.excludes: list[str] = []  # the selected collection's, shown by Excludes…
        self.setAcceptDrops(True)
        self.collection_box = QComboBox()
        self.collection_box.setToolTip("Collection — drop folders on this bar to add them")
        self.collection_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.collection_box.setMinimumContentsLength(8)
        self.collection_box.currentTextChanged.connect(lambda name: name and self.collection_changed.emit(name))
        self.buttons: dict[str, QPushButton] = {}
        self.new_button = self._button("New…", "Start a new collection", self.ask_new_collection)
        self.add_button = self._button("Add folder…", "Add a folder to this collection and index it", self.pick_folder)
        self.folders_button = self._button("Folders…", "The collection's folders, files and skipped files; "
                                           "remove a folder from there", self.status_requested.emit)
        self.excludes_button = self._button("Excludes…", "Glob patterns of files and folders to leave out "
                                            "(kept per collection)", self.ask_excludes)
        self.reindex_button = self._button("Re-index", "Pick up new, changed and deleted files",
                                           self.reindex_requested.emit)
        self.status_label = StatusLine()
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.addWidget(QLabel("Collection:"))
        self.row.addWidget(self.collection_box)
        for button in self.buttons.values():
            self.row.addWidget(button)
        self.row.addWidget(self.status_label, 1)

    def _button(self, text: str, tip: str, slot: Callable) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.clicked.connect(lambda _checked=False: slot())
        self.buttons[text] = button
        return button

    def add_widget(self, widget: QWidget) -> None:
        """A tab's own control, after the buttons."""
        self.row.insertWidget(self.row.indexOf(self.status_label), widget)

    def set_collections(self, names: list[str], selected: str) -> None:
        """Fill the picker (without emitting ``collection_changed``)."""
        self.collection_box.blockSignals(True)
        self.collection_box.clear()
        self.collection_box.addItems(names)
        self.collection_box.setCurrentText(selected)
        self.collection_box.blockSignals(False)

    def show_status(self, status: Optional[CollectionStatus]) -> None:
        """The status line: files, items, skipped (None: the collection has nothing yet)."""
        if status is None:
            self.excludes = []
            self.status_label.set_full_text("No folders yet: drop one here")
            return
        self.excludes = list(status.excludes)
        text = f"{plural(status.files, 'file')} · {status.items:,} {status.item_noun} · {len(status.skipped)} skipped"
        if status.unavailable:
            text += f" · {plural(len(status.unavailable), 'folder')} unavailable"
        self.status_label.set_full_text(text)

    # -- dialogs -------------------------------------------------------------------------------

    def ask_new_collection(self) -> None:
        name, ok = QInputDialog.getText(self, "New collection", "Name of the new collection:")
        if ok and name.strip():
            if self.collection_box.findText(name.strip()) < 0:
                self.collection_box.addItem(name.strip())
            self.collection_box.setCurrentText(name.strip())

    def ask_excludes(self) -> None:
        text, ok = QInputDialog.getText(self, "Leave out", "Glob patterns, comma separated (e.g. *.log, drafts):",
                                        text=", ".join(self.excludes))
        if ok:
            self.excludes_changed.emit([p.strip() for p in text.split(",") if p.strip()])

    def pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.folder_caption)
        if folder:
            self.folders_picked.emit([folder])

    # -- drop target ---------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        accept_copy(event, bool(dropped_paths(event.mimeData())))

    def dragMoveEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        accept_copy(event, bool(dropped_paths(event.mimeData())))

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        paths = dropped_paths(event.mimeData())
        accept_copy(event, bool(paths))
        if paths:
            self.folders_dropped.emit(paths)


class CollectionActions(QObject):
    """What a collection tab's bar and shared commands do, for one chat and controller.

    ``index_options()`` gives the tab's options for an index run; ``method_label(key)`` names a method in cards.
    ``status_changed(status)`` (a CollectionStatus, or None when the selected collection has nothing yet)
    follows every refresh, which runs on a worker thread.
    """

    status_changed = Signal(object)
    switched = Signal(str, bool)  # the selected collection changed: (its name, during a question)

    def __init__(self, ctx, chat, controller: CollectionController, bar: CollectionBar,
                 index_options: Callable[[], dict] = dict, method_label: Callable[[str], str] = str) -> None:
        super().__init__(bar)
        self.ctx = ctx
        self.chat = chat
        self.controller = controller
        self.bar = bar
        self.index_options = index_options
        self.method_label = method_label
        self.index_handle = None  # the latest index run the user started
        self.index_handles: list = []  # every index run of this tab (a first-launch demo too)
        self.status: Optional[CollectionStatus] = None  # the selected collection's, as last refreshed
        bar.collection_changed.connect(self.switch)
        bar.folders_dropped.connect(self.index_dropped)
        bar.folders_picked.connect(self.index_folders)
        bar.status_requested.connect(lambda: self.chat.ask("status"))
        bar.excludes_changed.connect(self.set_excludes)
        bar.reindex_requested.connect(lambda: self.index_folders([]))
        self.sync_bar()
        self.refresh()

    # -- the selected collection ---------------------------------------------------------------

    def sync_bar(self) -> None:
        self.bar.set_collections(self.controller.names(), self.controller.selected)

    def switch(self, name: str, during_question: bool = False) -> None:
        """Select ``name`` (closing the previous collection), refresh the status, emit ``switched``."""
        try:
            changed = self.controller.select(name)
        except UserError as error:
            self.chat.add_pending_answer(f"Open collection '{name}'").fail(error)
            changed = False
        self.sync_bar()
        if changed:
            self.switched.emit(self.controller.selected, during_question)
            self.refresh()

    def refresh(self):
        """Refresh the status line (and ``status_changed``) on a worker thread; returns the task."""
        return self.ctx.tasks.run(self.controller.status, label="collection status", cancellable=False,
                                  on_result=self._show_status, on_error=lambda _error: self._show_status(None))

    def _show_status(self, status: Optional[CollectionStatus]) -> None:
        if status is not None and status.name != self.controller.selected:
            return  # an earlier selection's answer, arriving after a switch
        self.status = status
        self.sync_bar()
        self.bar.show_status(status)
        self.status_changed.emit(status)

    # -- user actions --------------------------------------------------------------------------

    def indexing(self) -> bool:
        """Whether an index run of this tab is going (or paused)."""
        return any(handle.state in ("running", "paused") for handle in self.index_handles)

    def watch_index(self, handle) -> None:
        """Count an index run started elsewhere in the tab (the first-launch demo) as this tab's."""
        self.index_handles = [h for h in self.index_handles if h.state in ("running", "paused")] + [handle]
        handle.done.connect(self.refresh)

    def index_folders(self, folders: list, collection: Optional[str] = None) -> None:
        """Ask (in the chat) to index ``folders`` — none: every folder — into the collection user folders go to."""
        if self.indexing():
            self.chat.add_note("An index run is already going; wait for it or cancel it.")
            return
        target = self.controller.index_target(collection, folders)
        folders = [str(Path(f).expanduser().resolve()) for f in folders]
        what = ", ".join(Path(f).name or f for f in folders)
        text = f"Index {what} into '{target}'" if folders else f"Re-index '{target}'"
        self.chat.ask(text, {"index": folders, "collection": target})

    def index_dropped(self, paths: list) -> None:
        """Files and folders dropped on the bar or the input: add each to the collection and index it.

        The engine takes a single file as a root of its own (``Collection.add_folders``), so a dropped file
        is indexed alone; a note says so and how to take its whole folder instead."""
        files = [Path(p).name for p in paths if Path(p).is_file()]
        if files:
            self.chat.add_note(f"Adding {', '.join(files)} on {'its' if len(files) == 1 else 'their'} own; "
                               "drop the folder instead to index every file in it.")
        self.index_folders(list(paths))

    def remove_folder(self, collection: str, folder: str) -> None:
        """Ask (in the chat) to take ``folder`` out of ``collection`` (its items go; the files stay)."""
        if self.indexing():
            self.chat.add_note("An index run is going; remove the folder once it has finished or been cancelled.")
            return
        self.chat.ask(f"Remove {folder} from '{collection}'", {"remove": folder, "collection": collection})

    def set_excludes(self, patterns: list, collection: Optional[str] = None) -> list[str]:
        """Save the exclude patterns; the next (re-)index drops the files they now exclude."""
        saved = self.controller.set_excludes(patterns, collection)
        self.bar.excludes = saved
        self.chat.notify("Excludes saved: press Re-index to apply them")
        return saved

    # -- commands and cards every collection tab shares ------------------------------------------

    def run(self, card, command: Command) -> bool:
        """Answer ``command`` in ``card`` when it is a shared one (index, status, remove, exclude, error)."""
        action, args = command.action, command.args
        if action == "error":
            card.fail(UserError(args["message"], hint=args.get("hint", "")))
        elif action == "index":
            self._index(card, args["folders"], args["collection"])
        elif action == "status":
            self._status_card(card, args.get("collection"))
        elif action == "remove":
            if self.indexing():
                card.fail(UserError(BUSY, hint="remove the folder once it has finished or been cancelled"))
            else:
                card.run_task("removed", self.controller.remove_folder, args["folder"],
                              collection=args.get("collection"),
                              source=self.source(args.get("collection"))).done.connect(self.refresh)
        elif action == "exclude":
            self.set_excludes(args["patterns"], args.get("collection"))
            self._status_card(card, args.get("collection"))
        else:
            return False
        return True

    def source(self, collection: Optional[str]) -> str:
        """The "from …" line of the index, status and removal answers: the collection they are about."""
        return f"{self.controller.kind.kind} collection '{collection or self.controller.selected}'"

    def _status_card(self, card, collection: Optional[str]) -> None:
        """The status in ``card``; the bar shows it too when it is the selected collection's."""
        card.run_task("status", self.controller.status, collection=collection,
                      source=self.source(collection)).finished.connect(self._show_status)

    def _index(self, card, folders: list, target: str) -> None:
        if self.indexing():
            card.fail(UserError(BUSY, hint="wait for it or cancel it"))
            return
        self.switch(target, during_question=True)
        self.index_handle = card.run_task("index", self.controller.index, folders, collection=target,
                                          source=self.source(target), **self.index_options())
        self.watch_index(self.index_handle)

    def render(self, kind: str, result: Any):
        """Card content for the shared kinds (index, status, removed); None for the tab's own."""
        return collection_cards.render(kind, result, self.remove_folder, self.method_label)

    def shutdown(self) -> None:
        """The tab is closing: close the collection (once the calls using it have ended)."""
        self.controller.close()


class CollectionTab(QWidget):
    """The frame of a collection tab: its controller, the :class:`CollectionBar` above a ``ChatView``, and the
    :class:`CollectionActions` joining them. A tab sets the class attributes and implements ``answer`` and
    ``render``; :meth:`build_input_bar` adds its own widgets under the conversation."""

    title = ""
    tab_key = ""  # the chat history's and the settings' name for the tab
    controller_class: type[CollectionController]
    folder_caption = "Add a folder to the collection"
    welcome = ""
    placeholder = "Ask…"

    def __init__(self, ctx, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.controller = self.controller_class(ctx.settings)
        self.bar = CollectionBar(self.folder_caption)
        self.chat = ChatView(ctx, tab=self.conversation_key(self.controller.selected), renderer=self.render,
                             welcome=self.welcome, placeholder=self.placeholder)
        if ctx.history.count(self.tab_key) and not ctx.history.count(self.chat.tab):
            ctx.history.move(self.tab_key, self.chat.tab)  # one conversation per tab, before 0.2
        self.chat.submitted.connect(self.answer)
        self.build_input_bar()
        layout = QVBoxLayout(self)
        layout.addWidget(self.bar)
        layout.addWidget(self.chat, 1)
        self.actions = CollectionActions(ctx, self.chat, self.controller, self.bar, self.index_options,
                                         self.method_label)
        self.actions.switched.connect(
            lambda name, during: self.chat.switch_conversation(self.conversation_key(name), carry_last=during))
        self.chat.input.accept_path_drops(True)  # folders and files dropped on the input box are indexed
        self.chat.input.paths_dropped.connect(self.drop_paths)
        self.setAcceptDrops(True)

    def conversation_key(self, collection: str) -> str:
        """The history name of ``collection``'s conversation: each collection has its own."""
        return f"{self.tab_key}/{collection}"

    def drop_paths(self, paths: list) -> None:
        """Files and folders dropped on the tab's input box: as if dropped on the bar."""
        self.actions.index_dropped(paths)

    def build_input_bar(self) -> None:
        """Hook: add the tab's widgets to ``self.chat.input_bar`` (and ``self.bar.add_widget``)."""

    def index_options(self) -> dict:
        """Options of the tab's index runs (documents: methods and word model)."""
        return {}

    def method_label(self, key: str) -> str:
        """How cards name a vector method."""
        return key

    def answer(self, text: str) -> None:
        raise NotImplementedError

    def render(self, kind: str, result: Any):
        raise NotImplementedError
