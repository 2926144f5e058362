"""GUI fixtures: an AppContext and the real main window, both inside the test's isolated home."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def restore_engine_env(monkeypatch):
    """AppContext exports engine preferences to the environment; undo that after each test."""
    for name in ("EMBEDSTUDIO_PROVIDER", "EMBEDSTUDIO_THREADS"):
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True, scope="session")
def app_like_embedstudio(qapp):
    """The QApplication set up as ``embedstudio`` sets it up (garbage collected on the GUI thread)."""
    from desktop import gc_guard
    from desktop.app import create_app

    guard = gc_guard.install(create_app())  # the guard create_app installed
    yield
    guard.uninstall()  # the engine tests after the GUI ones run with automatic collection


@pytest.fixture
def ctx(qapp, isolated_home):
    """An AppContext whose settings, workspace and history live in the test's temp home."""
    from desktop.context import AppContext

    context = AppContext()
    yield context
    context.shutdown()


@pytest.fixture
def main_window(qtbot, qapp, isolated_home, monkeypatch):
    """The real main window, shown offscreen, closed (tasks cancelled) at the end of the test.

    The first-launch demo training is switched off (EMBEDSTUDIO_DEMO=0); tests of it start it themselves.
    """
    monkeypatch.setenv("EMBEDSTUDIO_DEMO", "0")
    from desktop import style
    from desktop.app import MainWindow, create_app

    create_app()
    window = MainWindow()
    style.apply_theme(qapp, window.ctx.pref("ui/theme"))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    if window.isVisible():
        window.close()


@pytest.fixture
def shown(qtbot):
    """``shown(widget, width=1000, height=800)``: the widget on screen at that size (closed after the test)."""
    def show(widget, width: int = 1000, height: int = 800):
        qtbot.addWidget(widget)
        widget.resize(width, height)
        widget.show()
        qtbot.waitExposed(widget)
        return widget

    return show


def send_drop(widget, paths) -> None:
    """Drag local ``paths`` over ``widget`` and drop them, with the real Qt events a file manager sends."""
    import warnings

    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = widget.rect().center()
    with warnings.catch_warnings():  # PySide flags Qt 6's only QPoint constructor as deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), f"{type(widget).__name__} refused the drag of {paths}"
    drop = QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)


@pytest.fixture
def drop_files():
    """``drop_files(widget, paths)``: a real drag-enter + drop of local files onto ``widget``."""
    return send_drop
