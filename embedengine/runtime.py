"""Where Embed Studio keeps its files, and how it opens ONNX Runtime sessions.

Paths: ``EMBEDSTUDIO_HOME`` moves everything the app writes (workspaces, history, settings, models
and the cache) into one folder; ``EMBEDSTUDIO_MODELS`` overrides only the models folder (tests point it
at the built models while writing everything else into a temporary home) and ``EMBEDSTUDIO_CACHE`` only
the cache. ``EMBEDSTUDIO_RESOURCES`` replaces the shipped resources (package ``embedstudio_resources``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

from .errors import UserError

APP_NAME = "embedstudio"

# Preferred order of accelerated providers; CPU is always the fallback.
GPU_PROVIDERS = ("CUDAExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider")


BUILD_HINT = "Build the models once with `embedstudio models build` (or `make models`)."
REBUILD_HINT = "run `embedstudio models build` to rebuild it"


class ModelMissingError(UserError, RuntimeError):
    """A built model file is absent (or not recorded as built); the hint says how to build it."""

    def __init__(self, path: Path, message: Optional[str] = None) -> None:
        super().__init__(message or f"{path} is missing.", hint=BUILD_HINT, data={"path": str(path)})
        self.path = path


class ModelDamagedError(UserError):
    """A built model file (or the manifest) was changed or damaged, or does not load; the hint: rebuild it."""

    def __init__(self, message: str, path: Path, hint: str = REBUILD_HINT) -> None:
        super().__init__(message, hint=hint, data={"path": str(path)})
        self.path = path


def data_home() -> Path:
    """The user data directory: ``$EMBEDSTUDIO_HOME``, or the platform's (XDG on Linux)."""
    override = os.environ.get("EMBEDSTUDIO_HOME")
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / APP_NAME


RESOURCES_PACKAGE = "embedstudio_resources"  # the repository's resources/ folder, shipped as package data


def resources_dir() -> Path:
    """The shipped resources (demo corpus, demo images, evaluation sets, icons) as a folder.

    ``$EMBEDSTUDIO_RESOURCES`` if set; otherwise the package ``embedstudio_resources`` found with
    :mod:`importlib.resources` (the installed package data, or ``resources/`` in a source checkout).
    """
    override = os.environ.get("EMBEDSTUDIO_RESOURCES")
    return Path(override).expanduser() if override else _packaged_resources()


@lru_cache(maxsize=None)
def _packaged_resources() -> Path:
    from importlib.resources import files

    try:
        root = files(RESOURCES_PACKAGE)
    except ModuleNotFoundError:  # a checkout whose editable install predates the package: its sibling folder
        return Path(__file__).resolve().parents[1] / "resources"
    if isinstance(root, Path):  # installed (or editable): a real folder, used in place
        return root
    return _extract(root)  # imported from a zip: copied once to a temporary folder for this process


def _extract(root) -> Path:
    """Copy a :class:`~importlib.resources.abc.Traversable` tree to a temporary folder removed at exit."""
    target = Path(tempfile.mkdtemp(prefix="embedstudio-resources-"))
    atexit.register(shutil.rmtree, target, True)

    def copy(node, destination: Path) -> None:
        for child in node.iterdir():
            if child.is_dir():
                if child.name != "__pycache__":
                    (destination / child.name).mkdir()
                    copy(child, destination / child.name)
            else:
                (destination / child.name).write_bytes(child.read_bytes())

    copy(root, target)
    return target


def models_dir() -> Path:
    """Folder holding the built ONNX models, tokenizer, labels and manifest."""
    override = os.environ.get("EMBEDSTUDIO_MODELS")
    return Path(override).expanduser() if override else data_home() / "models"


def cache_dir() -> Path:
    """Folder for what can be fetched or made again: registry packages (kept so a rebuild needs no network)
    and word2vec's temporary corpus streams.

    ``$EMBEDSTUDIO_CACHE``; else ``$EMBEDSTUDIO_HOME/cache``; else the platform's cache folder
    (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows).
    """
    override = os.environ.get("EMBEDSTUDIO_CACHE")
    if override:
        return Path(override).expanduser()
    home = os.environ.get("EMBEDSTUDIO_HOME")
    if home:
        return Path(home).expanduser() / "cache"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / APP_NAME / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / APP_NAME
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / APP_NAME


def model_path(filename: str) -> Path:
    """Path of a built model file, or :class:`ModelMissingError` with the fix."""
    path = models_dir() / filename
    if not path.exists():
        raise ModelMissingError(path)
    return path


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def choose_providers(preference: str = "auto") -> list[str]:
    """Providers for a session: ``auto`` (GPU if present), ``cpu``, or a provider name."""
    available = available_providers()
    if preference == "cpu":
        return ["CPUExecutionProvider"]
    if preference not in ("auto", "gpu"):
        if preference not in available:
            raise ValueError(f"ONNX Runtime provider {preference!r} is not available here: {available}")
        return [preference, "CPUExecutionProvider"]
    gpus = [p for p in GPU_PROVIDERS if p in available]
    return gpus[:1] + ["CPUExecutionProvider"]


def default_threads() -> int:
    """Cores a model may use (intra-op threads, or MiniLM lanes on CPU): ``$EMBEDSTUDIO_THREADS`` or all."""
    env = os.environ.get("EMBEDSTUDIO_THREADS")
    if env:
        return max(1, int(env))
    return max(1, os.cpu_count() or 1)


def provider_preference() -> str:
    return os.environ.get("EMBEDSTUDIO_PROVIDER", "auto")


def make_session(
    path: Path | str,
    providers: Optional[Sequence[str]] = None,
    threads: Optional[int] = None,
):
    """An ``InferenceSession`` with explicit intra-op threads and spin-waiting off.

    Spinning threads keep cores busy between ops; on a shared desktop that costs 2-3x throughput
    whenever anything else runs, so it is always disabled.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    chosen = list(providers) if providers else choose_providers(provider_preference())
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=chosen)
    except Exception as error:  # noqa: BLE001 - ONNX Runtime raises its own types for a file it cannot load
        if not Path(path).is_file():
            raise ModelMissingError(Path(path)) from error
        raise ModelDamagedError(f"{path} cannot be loaded as an ONNX model ({first_line(error)})", Path(path)) from error


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its type name when it has none), at most ``limit`` characters."""
    text = (str(error) or "").strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:limit]


@lru_cache(maxsize=None)
def session_provider_label(providers: tuple[str, ...]) -> str:
    """Short human label for the status bar: 'CUDA', 'CPU', ..."""
    first = providers[0] if providers else "CPUExecutionProvider"
    return first.replace("ExecutionProvider", "").replace("Dml", "DirectML")
