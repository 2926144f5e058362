"""ChatInput: the one-line query box — Enter submits, Up/Down walk history, words autocomplete, files drop.

Enter sends what was typed even while the completion list is open; only after the user picked an entry
with the arrow keys does Enter insert that completion. Dropped files and folders are never pasted as
``file:///…`` text: a tab that wants them calls ``accept_path_drops(True)`` and gets ``paths_dropped``.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeyEvent
from PySide6.QtWidgets import QCompleter, QLineEdit, QWidget

from desktop.hands import accept_copy, local_paths

_LAST_WORD = re.compile(r"[\w'-]+$", re.UNICODE)


class ChatInput(QLineEdit):
    """Emits ``submitted(text)`` on Enter (non-empty, stripped) and clears itself; ``paths_dropped(paths)``
    for files and folders dropped on it once ``accept_path_drops(True)`` (refused otherwise).

    The completer completes the word under the cursor (the last word typed), not the whole line, so
    "king - man + wo" completes to "king - man + woman".
    """

    submitted = Signal(str)
    paths_dropped = Signal(list)  # local paths (str) of the files and folders dropped on the box

    def __init__(self, parent: Optional[QWidget] = None, placeholder: str = "Ask…") -> None:
        super().__init__(parent)
        self.setPlaceholderText(placeholder)
        self.setObjectName("chatInput")
        self.setClearButtonEnabled(True)
        self.history: list[str] = []
        self._history_pos = 0
        self._draft = ""
        self._path_drops = False
        self._model = QStringListModel(self)
        self.completer_ = QCompleter(self._model, self)
        self.completer_.setWidget(self)
        self.completer_.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer_.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer_.setMaxVisibleItems(10)
        self.completer_.activated[str].connect(self.insert_completion)
        self.textEdited.connect(self._update_completion)
        self.returnPressed.connect(self._submit)

    # -- history ------------------------------------------------------------------------------------
    def set_history(self, queries: Iterable[str]) -> None:
        self.history = [q for q in queries if q]
        self._history_pos = len(self.history)

    def remember(self, query: str) -> None:
        if query and (not self.history or self.history[-1] != query):
            self.history.append(query)
        self._history_pos = len(self.history)

    def _walk_history(self, step: int) -> None:
        if not self.history:
            return
        if self._history_pos == len(self.history):
            self._draft = self.text()
        self._history_pos = max(0, min(len(self.history), self._history_pos + step))
        self.setText(self._draft if self._history_pos == len(self.history) else self.history[self._history_pos])

    # -- completion ---------------------------------------------------------------------------------
    def set_completions(self, words: Iterable[str]) -> None:
        """Words offered by the completer (e.g. the active model's vocabulary, most frequent first)."""
        self._model.setStringList(list(words))

    def current_word(self) -> str:
        match = _LAST_WORD.search(self.text()[: self.cursorPosition()])
        return match.group(0) if match else ""

    def _update_completion(self, _text: str = "") -> None:
        word = self.current_word()
        if len(word) < 2 or not self._model.rowCount():
            self.completer_.popup().hide()
            return
        self.completer_.setCompletionPrefix(word)
        if self.completer_.completionCount() == 0:
            self.completer_.popup().hide()
            return
        self.completer_.complete()

    def insert_completion(self, completion: str) -> None:
        """Replace the word under the cursor with ``completion``."""
        cursor = self.cursorPosition()
        word = self.current_word()
        before = self.text()[: cursor - len(word)]
        after = self.text()[cursor:]
        self.setText(before + completion + after)
        self.setCursorPosition(len(before) + len(completion))

    def completion_picked(self) -> bool:
        """Whether the completion list is open with an entry the user moved to (arrow keys, mouse)."""
        popup = self.completer_.popup()
        return popup.isVisible() and popup.currentIndex().isValid()

    # -- keys ---------------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt naming)
        popup_open = self.completer_.popup().isVisible()
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if popup_open and enter and not self.completion_picked():
            self.completer_.popup().hide()  # Enter sends what was typed
            event.accept()
            self._submit()
            return
        if popup_open and (enter or event.key() == Qt.Key.Key_Tab):
            event.ignore()  # the completer inserts the picked entry
            return
        if not popup_open and event.key() == Qt.Key.Key_Up:
            self._walk_history(-1)
            return
        if not popup_open and event.key() == Qt.Key.Key_Down:
            self._walk_history(+1)
            return
        super().keyPressEvent(event)

    def _submit(self) -> None:
        query = self.text().strip()
        if not query:
            return
        self.remember(query)
        self.clear()
        self.submitted.emit(query)

    # -- drops --------------------------------------------------------------------------------------
    def accept_path_drops(self, enabled: bool) -> None:
        """Take dropped files and folders (``paths_dropped``) instead of refusing them."""
        self._path_drops = enabled

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt naming)
        if local_paths(event.mimeData()):
            accept_copy(event, self._path_drops)
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 (Qt naming)
        if local_paths(event.mimeData()):
            accept_copy(event, self._path_drops)
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt naming)
        paths = local_paths(event.mimeData())
        if not paths:
            super().dropEvent(event)
            return
        accept_copy(event, self._path_drops)
        if self._path_drops:
            self.paths_dropped.emit([str(path) for path in paths])
