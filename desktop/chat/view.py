"""ChatView: a scrolling transcript of user messages and answer cards, above a ChatInput."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

from PySide6.QtCore import QPoint, QTimer, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.chat import cards
from desktop.chat.history import HistoryEntry, UnknownResultFormat, upgrade_result
from desktop.chat.input import ChatInput
from desktop.workers import TaskHandle, describe_error
from embedengine.results import plural, to_jsonable

Content = Union[QWidget, str, Sequence[QWidget], None]
Renderer = Callable[[str, Any], Content]
CARD_MAX_WIDTH = 1320  # the transcript column: wide enough for grids and plots, short enough to read
RESTORE_LIMIT = 30  # answers re-rendered on restart (each may hold plots); older ones stay in the database
UNREADABLE_ANSWER = "This answer was saved by another version of Embed Studio and cannot be shown."
SHORT_MESSAGE = 60  # characters a user message shows on one line without wrapping


class UserMessage(QWidget):
    """The user's query in a right-aligned bubble; a dict payload with "image" shows that image small."""

    def __init__(self, text: str, payload: Any = None) -> None:
        super().__init__()
        self.text = text
        self.payload = payload
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addStretch(1)
        bubble = QFrame()
        bubble.setObjectName("userMessage")
        bubble.setMaximumWidth(int(CARD_MAX_WIDTH * 0.8))
        layout = QHBoxLayout(bubble)
        layout.setContentsMargins(12, 8, 12, 8)
        image = payload.get("image") if isinstance(payload, dict) else None
        if image:
            thumb = QLabel()
            thumb.setPixmap(cards.to_pixmap(image, 72))
            layout.addWidget(thumb)
        layout.addWidget(cards.label(text, wrap=len(text) > SHORT_MESSAGE, selectable=True), 1)
        row.addWidget(bubble, 0 if len(text) <= SHORT_MESSAGE else 4)


class AnswerCard(QFrame):
    """One answer. Starts "working…"; ``finish``/``fail``/``set_content`` fill it in.

    Actions: re-run the query, copy as text, copy the result as JSON.
    """

    def __init__(self, view: "ChatView", query: str, payload: Any = None) -> None:
        super().__init__()
        self.setObjectName("answerCard")
        self.view = view
        self.conversation = view.tab  # the history it is saved to, even when finished after a switch
        self.query = query
        self.payload = payload
        self.kind = ""
        self.result_json: Any = None
        self.actions: dict[str, QToolButton] = {}
        self.discarded = False  # set by ChatView.clear(); late task results are then dropped
        self.handle: Optional[TaskHandle] = None
        self.progress_card: Optional[cards.ProgressCard] = None
        self.content: list[QWidget] = []
        outer = QVBoxLayout(self)
        outer.setContentsMargins(14, 10, 14, 12)
        outer.setSpacing(8)
        if query:
            outer.addLayout(self._actions_row())
        else:
            self.setObjectName("noteCard")
        self.source_label = cards.label("", "cardSource", wrap=True)
        self.source_label.hide()
        outer.addWidget(self.source_label)
        self.body = QVBoxLayout()
        self.body.setSpacing(8)
        outer.addLayout(self.body)
        self._set_widgets([cards.text("Working…", selectable=False)])

    def _actions_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.title = cards.label(self.query, "cardQuery", wrap=len(self.query) > SHORT_MESSAGE)
        row.addWidget(self.title, 1)
        for name, tip, slot in (
            ("Re-run", "Ask this again", self.rerun),
            ("Copy", "Copy the answer as text", self.copy_text),
            ("JSON", "Copy the result as JSON", self.copy_json),
        ):
            button = QToolButton()
            button.setText(name)
            button.setToolTip(tip)
            button.setObjectName("cardAction")
            button.clicked.connect(slot)
            row.addWidget(button)
            self.actions[name] = button
        return row

    # -- filling in ---------------------------------------------------------------------------------
    def set_content(self, content: Content) -> None:
        """Show widgets (or markdown text) without saving anything to history."""
        if self.discarded:
            return
        self._set_widgets(_as_widgets(content))

    def finish(self, kind: str, result: Any, save: bool = True, source: str = "") -> None:
        """Render ``result`` (any dataclass/dict) through the tab's renderer and save it to history.

        ``source`` names what produced the answer (word model, collection and method, model build); it is
        kept in the saved result under ``"source"`` and shown under the query, on replay too.
        """
        if self.discarded:
            return
        self.kind = kind
        self.result_json = to_jsonable(result)
        if source and isinstance(self.result_json, dict):
            self.result_json["source"] = source
        self.show_source(self.result_json)
        self.set_content(self.view.render(kind, without_source(self.result_json)))
        if save:
            self.view.save(self)
            self.view.reveal(self)

    def fail(self, error: Union[BaseException, str], hint: str = "") -> None:
        """Show an error card (a UserError's hint is shown as the fix) and save it to history."""
        if isinstance(error, BaseException):
            message, hint = describe_error(error)
            kind = type(error).__name__
            data = error.to_dict() if hasattr(error, "to_dict") else {"error": message, "type": kind}
        else:
            message, data = error, {"error": error}
        self.finish("error", {**data, "error": message, "hint": hint})

    def show_source(self, result_json: Any) -> None:
        """Show the saved result's ``"source"`` (if any) as the card's "from …" line."""
        source = result_json.get("source") if isinstance(result_json, dict) else None
        self.source_label.setText(f"from {source}" if isinstance(source, str) and source else "")
        self.source_label.setVisible(bool(self.source_label.text()))

    def run_task(self, kind: str, fn: Callable, *args: Any, source: str = "", save: bool = True,
                 **kwargs: Any) -> TaskHandle:
        """Run ``fn`` off the UI thread with a progress bar + cancel in this card; ``finish(kind, result)`` when done.

        ``source`` and ``save`` are passed on to ``finish``. A cancelled task shows "Cancelled." and is not saved.
        """
        self.progress_card = cards.ProgressCard()
        self._set_widgets([self.progress_card])
        self.handle = self.view.ctx.tasks.run(
            fn,
            *args,
            on_result=lambda result: self.finish(kind, result, save=save, source=source),
            on_error=self.fail,
            on_cancel=lambda: self.set_content(cards.text("Cancelled.")),
            label=self.query or kind,
            **kwargs,
        )
        self.progress_card.attach(self.handle)
        return self.handle

    def _set_widgets(self, widgets: list[QWidget]) -> None:
        for old in self.content:
            if old is not self.progress_card or self.progress_card not in widgets:
                old.setParent(None)
                old.deleteLater()
        if self.progress_card is not None and self.progress_card not in widgets:
            self.progress_card = None
        self.content = widgets
        for widget in widgets:
            self.body.addWidget(widget)

    # -- actions ------------------------------------------------------------------------------------
    def as_text(self) -> str:
        body = "\n".join(cards.widget_text(w) for w in self.content)
        return f"{self.query}\n{body}".strip() if self.query else body

    def copy_text(self) -> None:
        QGuiApplication.clipboard().setText(self.as_text())
        self.view.notify("Copied the answer as text")

    def copy_json(self) -> None:
        payload = {"query": self.query, "kind": self.kind, "result": self.result_json}
        QGuiApplication.clipboard().setText(json.dumps(payload, indent=2, ensure_ascii=False))
        self.view.notify("Copied the result as JSON")

    def rerun(self) -> None:
        if self.query:
            self.view.ask(self.query, self.payload)


def without_source(result: Any) -> Any:
    """A saved result as its renderer knows it: the card's ``"source"`` (shown by the card itself) left out."""
    if isinstance(result, dict) and "source" in result:
        return {key: value for key, value in result.items() if key != "source"}
    return result


def _as_widgets(content: Content) -> list[QWidget]:
    if content is None:
        return []
    if isinstance(content, str):
        return [cards.markdown(content)]
    if isinstance(content, QWidget):
        return [content]
    return list(content)


@dataclass
class ClearedConversation:
    """What Ctrl+K took away, kept until Undo or the next user message."""

    widgets: list[QWidget]  # the transcript's messages and finished cards, hidden
    entries: list[HistoryEntry]  # the tab's saved history, oldest first
    queries: list[str]  # the input's Up/Down history
    last_user: Optional[UserMessage] = None
    added: list[QWidget] = field(default_factory=list)  # what clear() put in their place (the welcome)


@dataclass
class ParkedConversation:
    """A conversation switched away from (:meth:`ChatView.switch_conversation`), kept as it was."""

    widgets: list[QWidget]
    last_user: Optional[UserMessage]
    restored: bool


class UndoBar(QFrame):
    """A one-line notification above the input: a message and an Undo button."""

    def __init__(self, undo: Callable[[], Any]) -> None:
        super().__init__()
        self.setObjectName("undoBar")
        row = QHBoxLayout(self)
        row.setContentsMargins(20, 6, 20, 6)
        self.message = cards.label("", "muted")
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Bring the conversation and its saved history back")
        self.undo_button.clicked.connect(lambda _checked=False: undo())
        row.addWidget(self.message, 1)
        row.addWidget(self.undo_button)
        self.hide()

    def offer(self, message: str) -> None:
        self.message.setText(message)
        self.show()


class ChatView(QWidget):
    """Transcript + input for one tab. See desktop/DEVELOPING.md for the full guide.

    ``renderer(kind, result_json) -> QWidget | [QWidget] | markdown str`` turns a saved result into card
    content; built-in kinds "error", "text", "markdown" and "table" ({headers, rows}) need no renderer.
    Signals: ``submitted(text)`` (Enter, a follow-up click or re-run; ``last_payload`` holds its payload),
    ``cleared()``.
    """

    submitted = Signal(str)
    cleared = Signal()
    restored = Signal()  # Undo brought a cleared conversation back

    def __init__(
        self,
        ctx,
        tab: str,
        renderer: Optional[Renderer] = None,
        placeholder: str = "Ask…",
        welcome: str = "",
        parent: Optional[QWidget] = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.ctx = ctx
        self.tab = tab
        self.renderer = renderer
        self.welcome = welcome
        self.last_payload: Any = None
        self._last_user: Optional[UserMessage] = None
        self._restored = False
        self._cleared: Optional[ClearedConversation] = None
        self._parked: dict[str, ParkedConversation] = {}  # conversations switched away from, as they were
        self._build(placeholder)
        self.input.set_history(ctx.history.queries(tab) if ctx is not None else [])
        self.input.submitted.connect(lambda text: self.ask(text))

    def _build(self, placeholder: str) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.scroll = QScrollArea()
        self.scroll.setObjectName("transcript")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.transcript = QWidget()
        self.transcript.setObjectName("transcriptBody")
        row = QHBoxLayout(self.transcript)  # a centred column at most CARD_MAX_WIDTH wide
        row.setContentsMargins(20, 16, 20, 16)
        column = QWidget()
        column.setObjectName("transcriptBody")
        column.setMaximumWidth(CARD_MAX_WIDTH)
        row.addStretch(0)
        row.addWidget(column, 1)
        row.addStretch(0)
        self.messages = QVBoxLayout(column)
        self.messages.setContentsMargins(0, 0, 0, 0)
        self.messages.setSpacing(12)
        self.messages.addStretch(1)
        self.scroll.setWidget(self.transcript)
        self._follow = False
        self._at_bottom = True
        self._reveal: Optional[AnswerCard] = None
        scrollbar = self.scroll.verticalScrollBar()
        scrollbar.rangeChanged.connect(self._scroll_to_end)
        scrollbar.valueChanged.connect(lambda value: setattr(self, "_at_bottom", value >= scrollbar.maximum() - 4))
        layout.addWidget(self.scroll, 1)
        self.undo_bar = UndoBar(self.undo_clear)
        layout.addWidget(self.undo_bar)
        bar = QFrame()
        bar.setObjectName("inputBar")
        centre = QHBoxLayout(bar)
        centre.setContentsMargins(20, 10, 20, 12)
        inner = QWidget()
        inner.setMaximumWidth(CARD_MAX_WIDTH)
        centre.addWidget(inner)
        bar_layout = QHBoxLayout(inner)
        bar_layout.setContentsMargins(0, 0, 0, 0)
        self.input = ChatInput(placeholder=placeholder)
        bar_layout.addWidget(self.input, 1)
        self.input_bar = bar_layout
        layout.addWidget(bar)

    # -- adding messages ----------------------------------------------------------------------------
    def ask(self, text: str, payload: Any = None) -> None:
        """Post ``text`` as the user's message and emit ``submitted`` (as if typed and Enter pressed)."""
        self.add_user_message(text, payload)
        self.last_payload = payload
        self.submitted.emit(text)

    def add_user_message(self, text: str, payload: Any = None) -> UserMessage:
        self.ensure_restored()
        self.forget_cleared()  # a new question: the cleared conversation is gone for good
        message = UserMessage(text, payload)
        self._add(message)
        self._last_user = message
        return message

    def add_pending_answer(self, query: Optional[str] = None, payload: Any = None) -> AnswerCard:
        """A "working…" card answering ``query`` (default: the last user message)."""
        self.ensure_restored()
        if query is None and self._last_user is not None:
            query, payload = self._last_user.text, self._last_user.payload
        card = AnswerCard(self, query or "", payload)
        self._add(card)
        return card

    def add_answer(self, kind: str, result: Any, query: str = "", save: bool = True) -> AnswerCard:
        """An answer that needs no background work, rendered at once."""
        card = self.add_pending_answer(query or None)
        card.finish(kind, result, save=save)
        return card

    def add_note(self, content: Content) -> AnswerCard:
        """An informational card (e.g. a training log line) that is not saved to history."""
        card = self.add_pending_answer("")
        card.set_content(content)
        return card

    def _add(self, widget: QWidget) -> None:
        self._follow = True
        self._reveal = None
        self.messages.insertWidget(self.messages.count() - 1, widget)

    def _scroll_to_end(self, _min: int, maximum: int) -> None:
        """Keep the newest message in view when one was just added or the reader was already at the end."""
        if self._reveal is not None:
            self._show_top_of(self._reveal)
        elif self._follow or self._at_bottom:
            self.scroll.verticalScrollBar().setValue(maximum)
            self._at_bottom = True
            QTimer.singleShot(150, lambda: setattr(self, "_follow", False))

    def reveal(self, card: AnswerCard) -> None:
        """After an answer fills in: show it from its top when it is taller than the view, else scroll to the end."""
        self._reveal = card
        QTimer.singleShot(0, lambda: self._show_top_of(card))
        QTimer.singleShot(400, lambda: setattr(self, "_reveal", None) if self._reveal is card else None)

    def _show_top_of(self, card: AnswerCard) -> None:
        if card.discarded or card.parent() is None or card.isHidden():
            return
        bar = self.scroll.verticalScrollBar()
        if card.height() <= self.scroll.viewport().height():
            bar.setValue(bar.maximum())
            return
        bar.setValue(min(bar.maximum(), card.mapTo(self.transcript, QPoint(0, 0)).y() - 12))

    def widgets(self) -> list[QWidget]:
        """Messages and cards in order (for tests and tabs)."""
        return [self.messages.itemAt(i).widget() for i in range(self.messages.count() - 1)]

    def cards(self) -> list[AnswerCard]:
        return [w for w in self.widgets() if isinstance(w, AnswerCard)]

    # -- rendering and history ----------------------------------------------------------------------
    def render(self, kind: str, result_json: Any) -> Content:
        """Card content for a result: built-in kinds first, then the tab's renderer."""
        builtin = _render_builtin(kind, result_json)
        if builtin is not None:
            return builtin
        if self.renderer is None:
            return cards.text(json.dumps(result_json, indent=2, ensure_ascii=False))
        try:
            return self.renderer(kind, result_json)
        except Exception as error:  # an old saved result the renderer no longer understands
            message, hint = describe_error(error)
            return cards.error(f"Could not show this {kind!r} answer: {message}", hint)

    def save(self, card: AnswerCard) -> None:
        """Save an answered card; the history stamps it with its kind's result format (see history.py)."""
        if self.ctx is not None and card.query:
            self.ctx.history.add(card.conversation, card.query, card.kind, card.result_json, card.payload)

    def ensure_restored(self) -> None:
        """Replay the saved conversation once (on first show or first message)."""
        if self._restored:
            return
        self._restored = True
        if self.welcome:
            self.add_note(self.welcome)
        if self.ctx is None:
            return
        saved = self.ctx.history.count(self.tab)
        if saved > RESTORE_LIMIT:
            self.add_note(f"{saved - RESTORE_LIMIT:,} earlier answers are not shown; Up in the input recalls their queries.")
        for entry in self.ctx.history.entries(self.tab, RESTORE_LIMIT):
            self.add_user_message(entry.query, entry.payload)
            self.replay(self.add_pending_answer(entry.query, entry.payload), entry)

    def replay(self, card: AnswerCard, entry: HistoryEntry) -> None:
        """Fill ``card`` with a saved answer: its result upgraded to today's format, then rendered.

        An answer this version cannot read, saved in a newer format or lacking what the renderer needs
        (KeyError/TypeError), shows a short note instead; "Copy as JSON" still gives its saved result.
        """
        card.kind, card.result_json = entry.kind, entry.result
        try:
            result = upgrade_result(entry.kind, entry.result_version, entry.result)
            content = _render_builtin(entry.kind, without_source(result))
            if content is None:
                renderer = self.renderer or self.render  # no renderer: render() shows the JSON
                content = renderer(entry.kind, without_source(result))
            card.result_json = result
            card.show_source(result)
        except (UnknownResultFormat, KeyError, TypeError):
            content = cards.label(UNREADABLE_ANSWER, "muted", wrap=True)
        except Exception as error:  # as render() shows a live answer it cannot draw
            message, hint = describe_error(error)
            content = cards.error(f"Could not show this {entry.kind!r} answer: {message}", hint)
        card.set_content(content)

    def switch_conversation(self, tab: str, carry_last: bool = False) -> None:
        """Show the conversation saved under ``tab`` (one per collection, say). The one shown so far is
        parked as it is, answers still working included, and comes back that way when switched to again.

        ``carry_last`` takes the last question and its answers along (a question that itself switched).
        """
        if tab == self.tab:
            return
        self.forget_cleared()
        widgets = self.widgets()
        carried = widgets[widgets.index(self._last_user):] if carry_last and self._last_user in widgets else []
        widgets = widgets[:len(widgets) - len(carried)]
        for widget in widgets + carried:
            self.messages.removeWidget(widget)
            widget.hide()
        self._parked[self.tab] = ParkedConversation(widgets, self._last_user, self._restored)
        self.tab = tab
        parked = self._parked.pop(tab, ParkedConversation([], None, False))
        for position, widget in enumerate(parked.widgets):
            self.messages.insertWidget(position, widget)
            widget.show()
        self._last_user, self._restored = parked.last_user, parked.restored
        self.input.set_history(self.ctx.history.queries(tab) if self.ctx is not None else [])
        if self.isVisible():
            self.ensure_restored()
        for widget in carried:
            if isinstance(widget, AnswerCard):
                widget.conversation = tab
            self._add(widget)
            widget.show()
        if carried:
            self._last_user = carried[0]

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.ensure_restored()
        super().showEvent(event)

    def clear(self) -> None:
        """Remove the conversation and its saved history (Ctrl+K). The bar above the input offers Undo
        (:meth:`undo_clear`) until the next question; answers still working are cancelled for good."""
        self.forget_cleared()
        kept: list[QWidget] = []
        for widget in self.widgets():
            self.messages.removeWidget(widget)
            if isinstance(widget, AnswerCard) and widget.handle is not None and widget.handle.is_running:
                widget.discarded = True
                widget.handle.cancel()
                widget.setParent(None)
                widget.deleteLater()
            else:
                widget.hide()
                kept.append(widget)
        entries = self.ctx.history.entries(self.tab, self.ctx.history.count(self.tab)) \
            if self.ctx is not None else []
        cleared = ClearedConversation(kept, entries, list(self.input.history), self._last_user)
        self._last_user = None
        if self.ctx is not None:
            self.ctx.history.clear(self.tab)
        self.input.set_history([])
        if self.welcome:
            cleared.added.append(self.add_note(self.welcome))
        self._cleared = cleared
        self.undo_bar.offer(f"Conversation cleared ({plural(len(entries), 'saved answer')}).")
        self.cleared.emit()

    def undo_clear(self) -> bool:
        """Bring back what :meth:`clear` removed: cards, saved history, input history. False if nothing to undo."""
        cleared, self._cleared = self._cleared, None
        self.undo_bar.hide()
        if cleared is None:
            return False
        for widget in cleared.added:
            self.messages.removeWidget(widget)
            widget.deleteLater()
        for position, widget in enumerate(cleared.widgets):
            self.messages.insertWidget(position, widget)
            widget.show()
        self._restore_history(cleared.entries)
        self.input.set_history(cleared.queries + self.input.history)
        self._last_user = self._last_user or cleared.last_user
        self.restored.emit()
        return True

    def _restore_history(self, entries: list[HistoryEntry]) -> None:
        """Save ``entries`` again, in today's result format (one saved by a newer version cannot be)."""
        if self.ctx is None:
            return
        for entry in entries:
            try:
                result = upgrade_result(entry.kind, entry.result_version, entry.result)
            except UnknownResultFormat:
                continue
            self.ctx.history.add(self.tab, entry.query, entry.kind, result, entry.payload)

    def forget_cleared(self) -> None:
        """Drop what the last Ctrl+K kept for Undo."""
        cleared, self._cleared = self._cleared, None
        self.undo_bar.hide()
        for widget in cleared.widgets if cleared else ():
            widget.setParent(None)
            widget.deleteLater()

    # -- input helpers ------------------------------------------------------------------------------
    def set_completions(self, words: Sequence[str]) -> None:
        self.input.set_completions(words)

    def focus_input(self) -> None:
        self.input.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.input.selectAll()

    def notify(self, text: str) -> None:
        if self.ctx is not None:
            self.ctx.status_message(text, 3000)


def _render_builtin(kind: str, result: Any) -> Content:
    if kind == "error":
        return cards.error(str(result.get("error", "")), str(result.get("hint", "") or ""))
    if kind == "text":
        return cards.text(str(result.get("text", "")) if isinstance(result, dict) else str(result))
    if kind == "markdown":
        return cards.markdown(str(result.get("text", "")) if isinstance(result, dict) else str(result))
    if kind == "table":
        return cards.table(result["headers"], result["rows"])
    return None
