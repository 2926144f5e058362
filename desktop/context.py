"""AppContext: what every tab shares — settings, workspace, active word model, engine preferences, tasks.

One instance is created by the main window and handed to each tab as ``ctx``. It holds no maths: word
models come from :mod:`embedengine.word2vec.library`, encoders from :mod:`embedengine.text` / ``image``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QSettings, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from desktop.chat.history import HistoryStore
from desktop.workers import TaskHandle, TaskRunner
from embedengine import runtime

ORGANISATION = "EmbedStudio"
APPLICATION = "Embed Studio"

# Preference keys and their defaults (stored under "engine/" and "ui/" in settings.ini).
DEFAULTS: dict[str, Any] = {
    "engine/provider": "auto",  # "auto" (GPU when present) | "cpu"
    "engine/threads": 0,  # 0 = automatic
    "engine/fast_int8": False,  # MiniLM int8 variant for documents and sentences
    "ui/theme": "system",  # "system" | "light" | "dark"
}


# The environment's own thread setting, restored when the preference goes back to automatic.
_ENV_THREADS = os.environ.get("EMBEDSTUDIO_THREADS")


def settings_path() -> Path:
    """The ini file holding all settings; under data_home() so EMBEDSTUDIO_HOME isolates it."""
    return runtime.data_home() / "settings.ini"


DEMO_ENV = "EMBEDSTUDIO_DEMO"  # "0" turns the first-launch demos off (tests)

class AppContext(QObject):
    """Shared state of the app. Signals fire on the UI thread.

    - ``word_model_changed(str)``: the active word model changed (name, "" when none).
    - ``word_model_pending(str)``: a word model is being trained or loaded to become active (its name), or
      no longer is (""). Explore holds questions asked meanwhile and answers them when it is active.
    - ``word_models_changed()``: the saved-model library changed (a model saved, imported, renamed or
      deleted); whoever changes the library emits it, lists of saved models refresh on it.
    - ``settings_changed(str)``: a preference changed (its key, e.g. "engine/fast_int8").
    - ``status_changed(str, int)``: a status-bar message and its timeout in ms (0 = until replaced).
    """

    word_model_changed = Signal(str)
    word_model_pending = Signal(str)
    word_models_changed = Signal()
    settings_changed = Signal(str)
    status_changed = Signal(str, int)

    def __init__(self, parent: Optional[QObject] = None, workspace: str = "default") -> None:
        super().__init__(parent)
        self.settings = QSettings(str(settings_path()), QSettings.Format.IniFormat)
        self.settings.setFallbacksEnabled(False)
        self.workspace = runtime.data_home() / "workspaces" / workspace
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.history = HistoryStore(self.workspace / "history.sqlite")
        self.tasks = TaskRunner(parent=self)
        self.word_model_name: str = ""
        self.word_model: Any = None  # embedengine.word2vec.WordVectors
        self.pending_word_model: str = ""  # being trained (first-launch demo) or loaded to become active
        self.launch_args: list[str] = []  # command-line options given to `embedstudio` (e.g. "--no-demo")
        self.open_url: Callable[[QUrl], Any] = QDesktopServices.openUrl  # files and folders; tests record instead
        self.apply_engine_settings()

    # -- preferences ------------------------------------------------------------------------------
    def pref(self, key: str) -> Any:
        """A preference value with its default and type (see ``DEFAULTS``)."""
        default = DEFAULTS[key]
        value = self.settings.value(key, default)
        if isinstance(default, bool):
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
        if isinstance(default, int):
            try:
                return int(value)
            except (TypeError, ValueError):
                return default
        return str(value)

    def set_pref(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(f"unknown preference {key!r}")
        if self.pref(key) == value:
            return
        self.settings.setValue(key, value)
        self.settings.sync()
        if key.startswith("engine/"):
            self.apply_engine_settings()
        self.settings_changed.emit(key)

    def apply_engine_settings(self) -> None:
        """Export provider/threads preferences to the engine (it reads EMBEDSTUDIO_PROVIDER/_THREADS)."""
        os.environ["EMBEDSTUDIO_PROVIDER"] = self.pref("engine/provider")
        threads = self.pref("engine/threads")
        if threads > 0:
            os.environ["EMBEDSTUDIO_THREADS"] = str(threads)
        elif _ENV_THREADS is not None:
            os.environ["EMBEDSTUDIO_THREADS"] = _ENV_THREADS
        else:
            os.environ.pop("EMBEDSTUDIO_THREADS", None)

    @property
    def text_variant(self) -> str:
        """MiniLM variant to use: "int8" in fast mode, else "fp32"."""
        return "int8" if self.pref("engine/fast_int8") else "fp32"

    @property
    def provider_label(self) -> str:
        """'CPU', 'CUDA', ... for the preferred provider on this machine."""
        try:
            providers = runtime.choose_providers(self.pref("engine/provider"))
        except (ValueError, ImportError):
            providers = ["CPUExecutionProvider"]
        return runtime.session_provider_label(tuple(providers))

    # -- status -----------------------------------------------------------------------------------
    @property
    def demo_wanted(self) -> bool:
        """First-launch demos (demo word model, demo photos): off with ``--no-demo`` or ``EMBEDSTUDIO_DEMO=0``."""
        return os.environ.get(DEMO_ENV, "1") != "0" and "--no-demo" not in self.launch_args

    def status_message(self, text: str, timeout_ms: int = 5000) -> None:
        """Show ``text`` in the main window's status bar."""
        self.status_changed.emit(text, timeout_ms)

    # -- active word model ------------------------------------------------------------------------
    def set_word_model(self, name: str, vectors: Any) -> None:
        """Make ``vectors`` (a WordVectors) the active word model and remember its name."""
        self.word_model_name = name
        self.word_model = vectors
        if name:
            self.settings.setValue("ui/word_model", name)
        if name and name == self.pending_word_model:
            self.pending_word_model = ""  # quietly: word_model_changed says it arrived
        self.word_model_changed.emit(name)

    def set_pending_word_model(self, name: str) -> None:
        """Announce that ``name`` is being trained or loaded to become active ("" when that stopped)."""
        if name != self.pending_word_model:
            self.pending_word_model = name
            self.word_model_pending.emit(name)

    def end_pending_word_model(self, name: str) -> None:
        """``name`` will not become active after all (its training or loading failed or was cancelled)."""
        if name and name == self.pending_word_model:
            self.set_pending_word_model("")

    def load_word_model(
        self,
        name: str,
        on_loaded: Optional[Callable[[Any], None]] = None,
        on_error: Optional[Callable[[BaseException], None]] = None,
    ) -> TaskHandle:
        """Load a saved word model off the UI thread and make it active (pending while it loads)."""

        def loaded(vectors: Any) -> None:
            self.set_word_model(name, vectors)
            self.status_message(f"Word model “{name}” loaded ({len(vectors):,} words)")
            if on_loaded:
                on_loaded(vectors)

        def failed(error: BaseException) -> None:
            self.end_pending_word_model(name)
            self.status_message(f"Could not load word model “{name}”: {error}", 0)
            if on_error:
                on_error(error)

        self.set_pending_word_model(name)
        return self.tasks.run(_load_word_model, name, on_result=loaded, on_error=failed,
                              on_cancel=lambda: self.end_pending_word_model(name), label=f"load {name}")

    def last_word_model(self) -> str:
        """Name of the word model that was active in the previous session ("" if none)."""
        return str(self.settings.value("ui/word_model", "") or "")

    # -- lifetime ---------------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel running tasks, wait for them, flush settings and close the history database."""
        self.tasks.shutdown(timeout_ms)
        self.settings.sync()
        self.history.close()


def describe_word_model(name: str, vocab_size: int, dim: int) -> str:
    """How lists, pickers and answer sources name a word model: ``demo-kjv — 12,345 words · 100d``."""
    return f"{name} — {vocab_size:,} words · {dim}d"


def vector_file_filter() -> str:
    """The file-dialog filter for importing word vectors: the types the engine reads, then all files."""
    from embedengine.word2vec.library import READABLE_SUFFIXES

    patterns = " ".join(f"*{suffix}" for suffix in READABLE_SUFFIXES)
    return f"Word vectors ({patterns});;All files (*)"


def _load_word_model(name: str) -> Any:
    from embedengine.word2vec.library import load_model

    return load_model(name)
