"""The built models' ``manifest.json``: reading it, and checking model files against it before use.

``models build`` (the ``models`` package) writes each model's files into the models folder and
records their sha256 and size in ``manifest.json``; this module is the one reader of that file (the
builder uses it too). The engine opens a model file only through :func:`verified_model_path`: the
file must exist, be recorded in the manifest and hash to what was recorded. A file is hashed once per
process (cached by path, size, modification time and inode), so it is hashed again only once it changes.

A folder without ``manifest.json`` (models copied by hand) counts as not built: nothing says what the
files should be. A damaged manifest, a changed file, or one that does not parse is one
:class:`UserError` naming the file, with the fix: rebuild.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any, Optional

from .collections.files import file_sha256 as sha256_of_file
from .runtime import BUILD_HINT, REBUILD_HINT, ModelDamagedError, ModelMissingError, first_line, models_dir

MANIFEST = "manifest.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ManifestDamagedError(ModelDamagedError):
    """``manifest.json`` exists but cannot be read as the record ``models build`` writes."""


def manifest_path(folder: Optional[Path] = None) -> Path:
    return Path(folder or models_dir()) / MANIFEST


def read_manifest(folder: Optional[Path] = None) -> dict:
    """The manifest of ``folder`` (default: the models folder); ``{"models": {}}`` when there is none.

    :class:`ManifestDamagedError` when it is not valid JSON or not shaped like what ``models build`` writes.
    """
    path = manifest_path(folder)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"models": {}}
    except (OSError, UnicodeDecodeError) as error:
        raise _manifest_damaged(path, getattr(error, "strerror", None) or str(error)) from error
    try:
        data = json.loads(text)
    except ValueError as error:
        raise _manifest_damaged(path, f"not valid JSON: {error}") from error
    problem = _shape_problem(data)
    if problem:
        raise _manifest_damaged(path, problem)
    return data


def _manifest_damaged(path: Path, reason: str) -> ManifestDamagedError:
    return ManifestDamagedError(f"{path} is damaged ({reason}), so the models cannot be checked",
                                path, hint="run `embedstudio models build` to rebuild the models and their manifest")


def _shape_problem(data: Any) -> Optional[str]:
    """Why ``data`` is not a manifest (None when it is one)."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        return "it has no \"models\" table"
    for key, entry in data["models"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("files"), dict):
            return f"model {key!r} has no \"files\" table"
        for name, record in entry["files"].items():
            if not isinstance(record, dict):
                return f"the record of {name} is not a table"
            if not isinstance(record.get("sha256"), str) or not _SHA256.fullmatch(record["sha256"]):
                return f"the record of {name} has no valid sha256"
            if not isinstance(record.get("size"), int) or isinstance(record["size"], bool) or record["size"] < 0:
                return f"the record of {name} has no valid size"
    return None


def recorded_file(manifest: dict, filename: str) -> Optional[dict]:
    """The manifest's record (``sha256``, ``size``, ...) of ``filename``, or None."""
    for entry in manifest.get("models", {}).values():
        record = entry.get("files", {}).get(filename)
        if record is not None:
            return record
    return None


# ---- hashing, once per process per file version -----------------------------------------------
_HASHES: dict[tuple[str, int, int, int], str] = {}
_HASHES_LOCK = threading.Lock()
_HASH_RUNS = [0]  # files hashed so far in this process


def _version(path: Path) -> tuple[str, int, int, int]:
    """(path, size, mtime, inode): a file written anew or replaced by another one is a new version."""
    stat = path.stat()
    return str(path.absolute()), stat.st_size, stat.st_mtime_ns, stat.st_ino


def file_sha256(path: Path) -> str:
    """sha256 of ``path``, computed once per (path, size, mtime, inode) in this process."""
    key = _version(path)
    with _HASHES_LOCK:
        known = _HASHES.get(key)
    if known is not None:
        return known
    value = sha256_of_file(path)
    with _HASHES_LOCK:
        _HASH_RUNS[0] += 1
    if _version(path) == key:  # not changed while it was read
        with _HASHES_LOCK:
            for stale in [k for k in _HASHES if k[0] == key[0]]:
                del _HASHES[stale]
            _HASHES[key] = value
    return value


def hashes_computed() -> int:
    """How many times this process has read a whole file to hash it (the cache makes that once per version)."""
    with _HASHES_LOCK:
        return _HASH_RUNS[0]


def mismatch_message(path: Path) -> str:
    return f"{path} does not match the hash recorded when it was built (it was changed or damaged)"


def file_problem(path: Path, record: Optional[dict]) -> Optional[str]:
    """Why ``path`` is not the file ``record`` describes (missing, unrecorded, changed); None when it is."""
    if not path.is_file():
        return f"{path} is missing"
    if record is None:
        return f"{path} is not recorded in {MANIFEST}"
    try:
        if path.stat().st_size != record["size"] or file_sha256(path) != record["sha256"]:
            return mismatch_message(path)
    except OSError as error:
        return f"{path} cannot be read ({error.strerror or error})"
    return None


def verified_model_path(filename: str) -> Path:
    """Path of the built model file ``filename``, checked against the manifest.

    :class:`ModelMissingError` when the file, or the manifest that records it, is absent (not built);
    :class:`ModelDamagedError` when it differs from what ``models build`` recorded, or cannot be read.
    """
    folder = models_dir()
    path = folder / filename
    if not path.exists():
        raise ModelMissingError(path)
    if not manifest_path(folder).exists():
        raise ModelMissingError(path, f"{path} is not recorded as built: {MANIFEST} is missing from {folder}.")
    record = recorded_file(read_manifest(folder), filename)
    if record is None:
        raise ModelMissingError(path, f"{path} is not recorded as built in {manifest_path(folder)}.")
    problem = file_problem(path, record)
    if problem is not None:
        raise ModelDamagedError(problem, path)
    return path


# ---- reading the checked files -----------------------------------------------------------------
def unreadable(path: Path, what: str, error: BaseException) -> ModelDamagedError:
    """The error for a model file that is present (and maybe even recorded) but does not load."""
    return ModelDamagedError(f"{path} cannot be loaded as {what} ({first_line(error)})", path)


def read_tokenizer(path: Path):
    """A ``tokenizers.Tokenizer`` from ``path``, or :class:`ModelDamagedError` naming the file."""
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(path))
    except Exception as error:  # noqa: BLE001 - the Rust side raises plain Exception for any bad file
        raise unreadable(Path(path), "a tokenizer", error) from error


def read_labels(path: Path) -> list[str]:
    """The class labels in ``path`` (a JSON list of strings), or :class:`ModelDamagedError` naming the file."""
    try:
        labels = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise unreadable(Path(path), "class labels", error) from error
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
        raise unreadable(Path(path), "class labels", ValueError("expected a JSON list of label strings"))
    return labels


__all__ = ["BUILD_HINT", "MANIFEST", "REBUILD_HINT", "ManifestDamagedError", "ModelDamagedError", "ModelMissingError", "file_problem",
           "file_sha256", "manifest_path", "read_labels", "read_manifest", "read_tokenizer", "recorded_file",
           "hashes_computed", "mismatch_message", "unreadable", "verified_model_path"]
