"""Reading and writing word vectors: native .npz, word2vec text/binary (gensim-compatible), GloVe.

Every save is atomic (temporary file + ``os.replace``); every load checks sizes against the file
first, so a damaged or truncated file raises :class:`UserError` instead of hanging or crashing.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

import numpy as np

from embedengine.errors import UserError

from .vectors import WordVectors

NATIVE_VERSION = 1


@contextmanager
def atomic_write(path: str | Path) -> Iterator[BinaryIO]:
    """A binary handle on a temp file beside ``path`` that replaces it only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _damaged(path: Path, reason: str) -> UserError:
    return UserError(f"Cannot read word vectors from {path.name}: {reason}.",
                     hint="The file may be truncated or not a word-vector file; re-export or re-download it.",
                     data={"path": str(path)})


# ---- native ------------------------------------------------------------------------------------
def native_meta(vectors: WordVectors) -> dict:
    return {"format": "embedstudio-word-vectors", "version": NATIVE_VERSION, "name": vectors.name,
            "vocab_size": len(vectors), "dim": vectors.dim, "settings": vectors.settings,
            "evaluation": vectors.evaluation}


def save_native(vectors: WordVectors, path: str | Path) -> None:
    """vectors float32, words, counts and a JSON ``meta`` entry in one uncompressed .npz."""
    meta = json.dumps(native_meta(vectors), ensure_ascii=False, default=str)
    with atomic_write(path) as handle:
        np.savez(handle, vectors=vectors.vectors, words=np.array(vectors.words, dtype=str),
                 counts=vectors.counts, meta=np.array(meta))


def read_native_meta(path: str | Path) -> dict:
    """Only the JSON metadata of a native file (cheap: the matrix is not read)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            return json.loads(str(archive["meta"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
        raise _damaged(path, str(error) or type(error).__name__) from error


def load_native(path: str | Path) -> WordVectors:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist.")
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            words, vectors, counts = archive["words"].tolist(), archive["vectors"], archive["counts"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
        raise _damaged(path, str(error) or type(error).__name__) from error
    return WordVectors(words, vectors, counts, meta.get("settings"), meta.get("name") or path.stem,
                       meta.get("evaluation"))


# ---- word2vec text / binary --------------------------------------------------------------------
def save_word2vec_format(vectors: WordVectors, path: str | Path, binary: bool = False) -> None:
    """``V d`` header then one word per line (text) or word, space, float32 bytes (binary), as gensim."""
    with atomic_write(path) as handle:
        handle.write(f"{len(vectors)} {vectors.dim}\n".encode())
        if binary:
            for word, row in zip(vectors.words, vectors.vectors):
                handle.write(word.encode("utf-8") + b" " + row.astype("<f4").tobytes())
        else:
            buffer = io.StringIO()
            np.savetxt(buffer, vectors.vectors, fmt="%.8g", delimiter=" ")
            for word, line in zip(vectors.words, buffer.getvalue().splitlines()):
                handle.write(f"{word} {line}\n".encode("utf-8"))


def _parse_header(line: bytes) -> Optional[tuple[int, int]]:
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def _looks_binary(data: bytes, start: int) -> bool:
    sample = data[start:start + 4096]
    return any(byte < 9 or 13 < byte < 32 for byte in sample) or b"\x00" in sample


def load_word2vec_format(path: str | Path, binary: Optional[bool] = None, no_header: bool = False) -> WordVectors:
    """word2vec text or binary (``binary=None`` sniffs), or headerless GloVe text."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UserError(f"Cannot open {path}: {error.strerror or error}.") from error
    if not data.strip():
        raise _damaged(path, "the file is empty")
    first_end = data.find(b"\n")
    first_end = len(data) if first_end < 0 else first_end
    header = None if no_header else _parse_header(data[:first_end])
    body_start = first_end + 1 if header else 0
    if binary is None:
        binary = header is not None and _looks_binary(data, body_start)
    if binary:
        if header is None:
            raise _damaged(path, "a binary word2vec file must start with a 'count dimensions' header")
        words, matrix = _read_binary(data, body_start, *header, path)
    else:
        words, matrix = _read_text(data[body_start:], header, path)
    settings = {"source": str(path), "format": "word2vec-binary" if binary else ("word2vec-text" if header else "glove")}
    return WordVectors(words, matrix, None, settings, path.stem)


def _read_binary(data: bytes, position: int, count: int, dim: int, path: Path):
    row_bytes = 4 * dim
    if dim <= 0 or count * (row_bytes + 2) > len(data) - position:  # each row: >=1-byte word, space, floats
        raise _damaged(path, f"header promises {count} vectors of {dim} values but the file is too short")
    words, rows = [], []
    for number in range(count):
        while position < len(data) and data[position] in b"\n\r":
            position += 1
        space = data.find(b" ", position, position + 10_000)
        if space < 0 or space + 1 + row_bytes > len(data):
            raise _damaged(path, f"truncated at vector {number + 1} of {count}")
        words.append(data[position:space].decode("utf-8", errors="replace"))
        rows.append(data[space + 1:space + 1 + row_bytes])
        position = space + 1 + row_bytes
    matrix = np.frombuffer(b"".join(rows), dtype="<f4").reshape(count, dim).astype(np.float32)
    return words, matrix


def _read_text(body: bytes, header: Optional[tuple[int, int]], path: Path):
    lines = [line for line in body.decode("utf-8", errors="replace").splitlines() if line.strip()]
    if header is not None and len(lines) < header[0]:
        raise _damaged(path, f"header promises {header[0]} vectors but only {len(lines)} lines follow (truncated?)")
    if header is not None:
        lines = lines[:header[0]]
    words, values = [], []
    for line in lines:
        word, _, rest = line.rstrip().partition(" ")
        words.append(word)
        values.append(rest)
    dim = header[1] if header else len(values[0].split())
    if dim == 0:
        raise _damaged(path, "the first line has no numbers after the word")
    return words, _parse_rows(values, dim, path)


def _parse_rows(values: list[str], dim: int, path: Path) -> np.ndarray:
    widths = np.array([len(v.split()) for v in values])
    bad = np.flatnonzero(widths != dim)
    if bad.size:
        line = int(bad[0])
        raise _damaged(path, f"vector {line + 1} has {widths[line]} values, expected {dim}")
    try:
        flat = np.array(" ".join(values).split(), dtype=np.float32)  # noqa: one C-level parse
    except ValueError as error:
        raise _damaged(path, f"a value is not a number ({error})") from error
    return flat.reshape(len(values), dim)
