"""The main window: four tabs, menus, status bar, shortcuts; ``run(args)`` starts the app."""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path
from typing import Any, Optional, Sequence

from PySide6.QtCore import QByteArray
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop import gc_guard, hands, plots, style
from desktop.chat import cards
from desktop.context import APPLICATION, ORGANISATION, AppContext, vector_file_filter
from desktop.workers import TaskHandle
from embedengine.runtime import resources_dir

# (module in desktop.tabs, class, title, what the tab will do — shown while the module is absent)
TABS = (
    ("train", "TrainTab", "Train", "Train word vectors on your own text files."),
    ("explore", "ExploreTab", "Explore", "Ask a word model for neighbours, analogies and similarities."),
    ("documents", "DocumentsTab", "Documents", "Search your documents by meaning."),
    ("images", "ImagesTab", "Images", "Drop a photo to find similar images."),
)


def icon(name: str) -> QIcon:
    """A shipped icon (``resources/icons``, installed as package data) by name."""
    return QIcon(str(resources_dir() / "icons" / f"{name}.svg"))


class PlaceholderTab(QWidget):
    """Stands in for a tab whose module is absent or failed to load."""

    def __init__(self, title: str, message: str, details: str = "", parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.title = title
        layout = QVBoxLayout(self)
        layout.setContentsMargins(40, 40, 40, 40)
        heading = QLabel(title)
        heading.setObjectName("placeholderTitle")
        layout.addWidget(heading)
        layout.addWidget(cards.error(message, details) if details else cards.text(message))
        layout.addStretch(1)


def load_tab(module: str, class_name: str, title: str, blurb: str, ctx: AppContext) -> QWidget:
    """Import ``desktop.tabs.<module>`` lazily and build its tab; a placeholder if absent or broken."""
    try:
        tab_module = importlib.import_module(f"desktop.tabs.{module}")
        return getattr(tab_module, class_name)(ctx)
    except ModuleNotFoundError as error:
        if error.name in (f"desktop.tabs.{module}", "desktop.tabs"):
            return PlaceholderTab(title, f"{blurb}\n\nThis part of Embed Studio is not installed in this build.")
        return _broken_tab(title, error)
    except Exception as error:  # a broken tab must not take the whole app down
        return _broken_tab(title, error)


def _broken_tab(title: str, error: BaseException) -> PlaceholderTab:
    traceback.print_exc()
    return PlaceholderTab(title, f"The {title} tab could not start: {error}", "".join(traceback.format_exception_only(error)).strip())


class MainWindow(QMainWindow):
    """Embed Studio's window. ``ctx`` is shared with every tab; ``tabs`` is the QTabWidget."""

    def __init__(self, ctx: Optional[AppContext] = None) -> None:
        super().__init__()
        self.ctx = ctx or AppContext(self)
        self.setWindowTitle(APPLICATION)
        self.setWindowIcon(icon("app"))
        self.setMinimumSize(760, 520)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for module, class_name, title, blurb in TABS:
            self.tabs.addTab(load_tab(module, class_name, title, blurb, self.ctx), icon(module), title)
        self.setCentralWidget(self.tabs)
        self._build_menus()
        self._build_status_bar()
        self._connect_context()
        self.restore_state()
        self._reload_word_model()

    # -- menus and shortcuts ------------------------------------------------------------------------
    def _action(self, menu, text: str, slot, shortcut: Any = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&Open vectors…", self.open_vectors, QKeySequence.StandardKey.Open)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        edit_menu = bar.addMenu("&Edit")
        self._action(edit_menu, "&Preferences…", self.show_preferences, QKeySequence.StandardKey.Preferences)
        view_menu = bar.addMenu("&View")
        self.tab_actions = [
            self._action(view_menu, title, lambda _=False, i=i: self.tabs.setCurrentIndex(i), f"Ctrl+{i + 1}")
            for i, (_, _, title, _) in enumerate(TABS)
        ]
        view_menu.addSeparator()
        self._action(view_menu, "&Focus the input", self.focus_input, "Ctrl+L")
        self._action(view_menu, "&Clear the conversation", self.clear_conversation, "Ctrl+K")
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About Embed Studio", self.show_about)

    def current_chat(self):
        """The current tab's ChatView, if it has one."""
        return getattr(self.tabs.currentWidget(), "chat", None)

    def focus_input(self) -> None:
        chat = self.current_chat()
        if chat is not None:
            chat.focus_input()

    def clear_conversation(self) -> None:
        chat = self.current_chat()
        if chat is not None:
            chat.clear()  # offers Undo above the input
            self.ctx.status_message("Conversation cleared: Undo (above the input) brings it back")

    # -- status bar ---------------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.task_label = QLabel()
        self.task_bar = QProgressBar()
        self.task_bar.setFixedWidth(140)
        self.task_bar.setTextVisible(False)
        self.model_label = QLabel()
        self.provider_label = QLabel()
        for widget in (self.task_label, self.task_bar, self.model_label, self.provider_label):
            status.addPermanentWidget(widget)
        self._show_task(None)
        self._update_model_label(self.ctx.word_model_name)
        self._update_provider_label()

    def _show_task(self, handle: Optional[TaskHandle], progress=None) -> None:
        active = self.ctx.tasks.active()
        if handle is None or not handle.is_running:
            handle = active[-1] if active else None
            progress = handle.last_progress if handle else None
        self.task_label.setVisible(handle is not None)
        self.task_bar.setVisible(handle is not None)
        if handle is None:
            return
        fraction = progress.fraction if progress is not None else None
        self.task_bar.setRange(0, 0 if fraction is None else 1000)
        self.task_bar.setValue(int((fraction or 0) * 1000))
        self.task_label.setText(cards.describe_progress(progress) if progress else f"{handle.label}…")

    def _update_model_label(self, name: str) -> None:
        self.model_label.setText(f"Word model: {name}" if name else "No word model loaded")

    def _update_provider_label(self) -> None:
        fast = " · int8" if self.ctx.pref("engine/fast_int8") else ""
        self.provider_label.setText(f"ONNX: {self.ctx.provider_label}{fast}")

    def _connect_context(self) -> None:
        ctx = self.ctx
        ctx.status_changed.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        ctx.word_model_changed.connect(self._update_model_label)
        ctx.settings_changed.connect(self._on_setting_changed)
        ctx.tasks.task_started.connect(self._show_task)
        ctx.tasks.task_progress.connect(self._show_task)
        ctx.tasks.task_done.connect(lambda _handle: self._show_task(None))

    def _on_setting_changed(self, key: str) -> None:
        if key == "ui/theme":
            app = QApplication.instance()
            if app is not None:
                style.apply_theme(app, self.ctx.pref("ui/theme"))
                plots.retheme()
        self._update_provider_label()

    # -- dialogs and actions ------------------------------------------------------------------------
    def show_preferences(self) -> None:
        from desktop.preferences import PreferencesDialog

        PreferencesDialog(self.ctx, self).exec()

    def show_about(self) -> None:
        from desktop.about import AboutDialog

        AboutDialog(self).exec()

    def open_vectors(self) -> Optional[TaskHandle]:
        """File → Open vectors: choose a file, then :meth:`open_vectors_file`."""
        path, _ = QFileDialog.getOpenFileName(self, "Open word vectors", str(Path.home()), vector_file_filter())
        return self.open_vectors_file(path) if path else None

    def open_vectors_file(self, path: str) -> TaskHandle:
        """Import a word2vec/GloVe/.npz file into the model library and make it the active model."""
        self.ctx.status_message(f"Opening {Path(path).name}…", 0)
        return self.ctx.tasks.run(
            _import_and_load,
            path,
            on_result=self._vectors_opened,
            on_error=lambda error: self.ctx.status_message(f"Could not open {Path(path).name}: {error}", 0),
            label=f"open {Path(path).name}",
        )

    def _vectors_opened(self, named: tuple[str, Any]) -> None:
        name, vectors = named
        self.ctx.word_models_changed.emit()  # the library has a new model: saved-model lists refresh
        self.ctx.set_word_model(name, vectors)
        self.ctx.status_message(f"Word model “{name}” opened ({len(vectors):,} words)")

    def _reload_word_model(self) -> None:
        name = self.ctx.last_word_model()
        if name and self.ctx.word_model is None:
            self.ctx.load_word_model(name)

    # -- persistence --------------------------------------------------------------------------------
    def restore_state(self) -> None:
        settings = self.ctx.settings
        geometry = settings.value("ui/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        try:
            last_tab = int(settings.value("ui/last_tab", 1))
        except (TypeError, ValueError):
            last_tab = 1
        self.tabs.setCurrentIndex(min(max(0, last_tab), self.tabs.count() - 1))

    def save_state(self) -> None:
        settings = self.ctx.settings
        settings.setValue("ui/geometry", self.saveGeometry())
        settings.setValue("ui/last_tab", self.tabs.currentIndex())
        settings.sync()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.save_state()
        for index in range(self.tabs.count()):
            close_tab = getattr(self.tabs.widget(index), "shutdown", None)
            if callable(close_tab):
                close_tab()
        self.ctx.shutdown()
        super().closeEvent(event)


def _import_and_load(path: str) -> tuple[str, Any]:
    from embedengine.word2vec.library import import_vectors, load_model

    info = import_vectors(path)
    return info.name, load_model(info.name)


def create_app(argv: Sequence[str] = ()) -> QApplication:
    """The QApplication (reused if one exists), named, with GC on the UI thread and the wheel guard (desktop.hands)."""
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setWindowIcon(icon("app"))
    gc_guard.install(app)
    hands.install_wheel_guard(app)
    return app


def create_main_window(args: Sequence[str] = (), theme: str = "") -> MainWindow:
    """App, context, theme and window exactly as ``embedstudio`` opens them (not yet shown)."""
    app = create_app(args)
    ctx = AppContext()
    ctx.launch_args = list(args)  # e.g. "--no-demo" (read by the Train tab)
    style.apply_theme(app, theme or ctx.pref("ui/theme"))  # before the tabs build their plots
    style.follow_system(app, lambda: ctx.pref("ui/theme"))
    return MainWindow(ctx)


def run(args: Sequence[str] = ()) -> int:
    """Open the main window and run the event loop until it closes."""
    window = create_main_window(args)
    window.show()
    return QApplication.instance().exec()
