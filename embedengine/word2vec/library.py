"""The user's saved word models: native .npz files in ``data_home()/word-models``."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from embedengine.errors import UserError
from embedengine.runtime import data_home, resources_dir

from .formats import load_native, load_word2vec_format, read_native_meta, save_native
from .vectors import WordVectors

_NAME_RE = re.compile(r"^[\w][\w .\-+()]{0,79}$")
_EVAL_FILES = {"analogies": "questions-words.txt", "pairs": "wordsim353.tsv"}
_cache: dict[Path, tuple[float, WordVectors]] = {}
_cache_lock = threading.Lock()


@dataclass
class ModelInfo:
    name: str
    path: Path
    vocab_size: int
    dim: int
    created: str
    settings: dict = field(default_factory=dict)
    evaluation: dict = field(default_factory=dict)


def models_folder() -> Path:
    folder = data_home() / "word-models"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME_RE.match(name):
        raise UserError(f"{name!r} is not a usable model name.",
                        hint="Use up to 80 letters, digits, spaces, dots, dashes or underscores.")
    return name


def model_file(name: str) -> Path:
    return models_folder() / f"{check_name(name)}.npz"


def _info(path: Path) -> ModelInfo:
    meta = read_native_meta(path)
    created = meta.get("settings", {}).get("trained_at") or time.strftime(
        "%Y-%m-%dT%H:%M:%S", time.localtime(path.stat().st_mtime))
    return ModelInfo(path.stem, path, int(meta.get("vocab_size", 0)), int(meta.get("dim", 0)), created,
                     meta.get("settings", {}), meta.get("evaluation", {}))


def list_models() -> list[ModelInfo]:
    """Saved models, newest first; unreadable files are left out."""
    infos = []
    for path in models_folder().glob("*.npz"):
        try:
            infos.append(_info(path))
        except UserError:
            continue
    return sorted(infos, key=lambda info: info.path.stat().st_mtime, reverse=True)


def save_model(vectors: WordVectors, name: str) -> ModelInfo:
    """Save (or overwrite) a model under ``name``."""
    path = model_file(name)
    vectors.name = path.stem
    save_native(vectors, path)
    return _info(path)


def load_model(name: str) -> WordVectors:
    """A saved model, cached while its file is unchanged."""
    path = model_file(name)
    if not path.exists():
        known = ", ".join(info.name for info in list_models()) or "none yet"
        raise UserError(f"No saved word model named {name!r}.", hint=f"Saved models: {known}.")
    mtime = path.stat().st_mtime
    with _cache_lock:
        cached = _cache.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
    vectors = load_native(path)
    with _cache_lock:
        _cache[path] = (mtime, vectors)
    return vectors


def rename_model(old: str, new: str) -> ModelInfo:
    source, target = model_file(old), model_file(new)
    if not source.exists():
        raise UserError(f"No saved word model named {old!r}.")
    if target.exists():
        raise UserError(f"A model named {new!r} already exists.", hint="Choose another name or delete that model.")
    vectors = load_native(source)
    vectors.name = target.stem
    save_native(vectors, target)
    source.unlink()
    return _info(target)


def delete_model(name: str) -> None:
    path = model_file(name)
    if not path.exists():
        raise UserError(f"No saved word model named {name!r}.")
    path.unlink()


# File types read_vectors_file reads: word2vec/GloVe text (.txt, .vec), word2vec binary (.bin), native (.npz).
# Compressed files (.gz) are not read: decompress them first.
READABLE_SUFFIXES = (".txt", ".vec", ".bin", ".npz")


def read_vectors_file(path: str | Path) -> WordVectors:
    """Native .npz, word2vec text/binary or GloVe text, chosen by content (see ``READABLE_SUFFIXES``)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist or is not a file.")
    if path.suffix == ".npz":
        return load_native(path)
    return load_word2vec_format(path, binary=True if path.suffix == ".bin" else None)


def import_vectors(path: str | Path, name: Optional[str] = None) -> ModelInfo:
    """Copy word2vec/GloVe/native vectors into the library."""
    vectors = read_vectors_file(path)
    return save_model(vectors, name or _safe_name(Path(path).stem))


def _safe_name(stem: str) -> str:
    cleaned = re.sub(r"[^\w .\-+()]", "_", stem).strip() or "imported"
    return cleaned[:80]


def write_vectors_file(vectors: WordVectors, out_path: str | Path) -> Path:
    """Write by suffix: .bin (word2vec binary), .txt/.vec (word2vec text), .npz (native)."""
    out_path = Path(out_path)
    suffix = out_path.suffix.lower()
    if suffix == ".npz":
        save_native(vectors, out_path)
    elif suffix in (".bin", ".txt", ".vec"):
        vectors.save_word2vec_format(out_path, binary=suffix == ".bin")
    else:
        raise UserError(f"Unknown output format {suffix or '(none)'}.", hint="Use .txt, .vec, .bin or .npz.")
    return out_path


def export_model(name: str, out_path: str | Path) -> Path:
    return write_vectors_file(load_model(name), out_path)


def open_vectors(spec: str | Path) -> WordVectors:
    """A model given as a file path or as a saved model's name."""
    path = Path(spec).expanduser()
    if path.is_file():
        return read_vectors_file(path)
    if _NAME_RE.match(str(spec)) and model_file(str(spec)).exists():
        return load_model(str(spec))
    known = ", ".join(info.name for info in list_models()) or "none yet"
    raise UserError(f"{spec} is neither a vectors file nor a saved model name.", hint=f"Saved models: {known}.")


def shipped_eval_file(kind: str) -> Path:
    """The evaluation set shipped in resources/eval: ``analogies`` or ``pairs``."""
    if kind not in _EVAL_FILES:
        raise UserError(f"Unknown evaluation set {kind!r}.", hint="Use 'analogies' or 'pairs'.")
    return resources_dir() / "eval" / _EVAL_FILES[kind]
