"""Hands: the app-wide rules that keep the mouse wheel and drops from fighting the user.

* **Wheel**: a spin box, combo box or slider takes the wheel only while it has keyboard focus, and a plot
  (any pyqtgraph view) zooms only while it has focus (it was clicked) or Ctrl is held. Otherwise the wheel
  goes on to the widgets around it, as if the control were not there: the settings panel or the chat
  transcript scrolls. :class:`WheelGuard` does this for the whole app; ``create_app()`` installs it.
* **Drops**: :func:`local_paths` reads the files and folders of a drag; :func:`accept_copy` accepts a drag
  or drop as a copy (the files stay where they are) or refuses it. ``ChatInput.accept_path_drops`` and the
  collection bar use them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QSlider, QWidget

WHEEL_NEEDS_FOCUS = (QAbstractSpinBox, QComboBox, QSlider)  # settings the wheel must never change by accident
WHEEL_NEEDS_FOCUS_OR_CTRL = (pg.GraphicsView,)  # plots: the wheel zooms


def wheel_owner(widget: QWidget) -> Optional[QWidget]:
    """The guarded control ``widget`` is part of (a spin box's inner line edit, a plot's viewport), if any."""
    while widget is not None:
        if isinstance(widget, WHEEL_NEEDS_FOCUS + WHEEL_NEEDS_FOCUS_OR_CTRL):
            return widget
        if widget.isWindow():  # a combo box's open list is a window of its own: it scrolls as usual
            return None
        widget = widget.parentWidget()
    return None


def has_focus(widget: QWidget) -> bool:
    focused = QApplication.focusWidget()
    return widget.hasFocus() or (focused is not None and widget.isAncestorOf(focused))


def wheel_allowed(owner: QWidget, event: QWheelEvent) -> bool:
    """Whether ``owner`` may use the wheel: it has focus, or it is a plot and Ctrl is held."""
    if has_focus(owner):
        return True
    ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
    return ctrl and isinstance(owner, WHEEL_NEEDS_FOCUS_OR_CTRL)


def pass_wheel_on(owner: QWidget, event: QWheelEvent) -> None:
    """Give the wheel to ``owner``'s ancestors, nearest first, until one takes it (as Qt propagates it)."""
    widget = owner.parentWidget()
    while widget is not None:
        moved = QWheelEvent(widget.mapFromGlobal(event.globalPosition()), event.globalPosition(),
                            event.pixelDelta(), event.angleDelta(), event.buttons(), event.modifiers(),
                            event.phase(), event.inverted(), event.source())
        moved.ignore()
        QApplication.sendEvent(widget, moved)
        if moved.isAccepted() or widget.isWindow():
            return
        widget = widget.parentWidget()


def no_wheel_focus(widget: QWidget) -> None:
    """Qt focuses some controls on a mere wheel turn (``WheelFocus``); make them take focus by click/Tab only."""
    if isinstance(widget, WHEEL_NEEDS_FOCUS + WHEEL_NEEDS_FOCUS_OR_CTRL) \
            and widget.focusPolicy() == Qt.FocusPolicy.WheelFocus:
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)


class WheelGuard(QObject):
    """The app-wide wheel rule (see the module docstring), as an event filter on the QApplication."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt naming)
        kind = event.type()
        if kind == QEvent.Type.Polish and isinstance(watched, QWidget):
            no_wheel_focus(watched)
        elif kind == QEvent.Type.Wheel and isinstance(watched, QWidget):
            owner = wheel_owner(watched)
            if owner is not None and not wheel_allowed(owner, event):
                pass_wheel_on(owner, event)
                event.accept()  # handled: Qt must not also propagate it
                return True
        return False


def install_wheel_guard(app: QApplication) -> WheelGuard:
    """The app's guard, made once (and applied to the widgets that already exist)."""
    existing = app.findChild(WheelGuard)
    if existing is not None:
        return existing
    guard = WheelGuard(app)
    app.installEventFilter(guard)
    for widget in QApplication.allWidgets():
        no_wheel_focus(widget)
    return guard


# -- drops -------------------------------------------------------------------------------------------

def local_paths(mime) -> list[Path]:
    """Local file and folder paths carried by a drag or the clipboard."""
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()] if mime.hasUrls() else []


def accept_copy(event, accept: bool = True) -> None:
    """Accept a drag or drop as a copy (the files stay where they are), or refuse it."""
    if accept:
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
    else:
        event.ignore()
