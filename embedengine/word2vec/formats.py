"""Reading and writing word vectors: native .npz, word2vec text/binary (gensim-compatible), GloVe.

Every save is atomic (temporary file + ``os.replace``); every load checks the file against what it
claims, so a damaged, truncated or mislabelled file raises :class:`UserError` instead of hanging,
crashing or loading garbage: a word2vec header says N words × D values, and the data must hold
exactly that (not fewer, not more, every word text, every value a finite number).
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
from embedengine.safety import open_regular_file

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


MAX_DIM = 100_000  # values per vector a header may claim (real models have at most a few thousand)
MAX_WORD_BYTES = 10_000  # a binary file's word longer than this means the header's dimension is wrong


def _parse_header(line: bytes) -> Optional[tuple[int, int]]:
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def _check_header(path: Path, count: int, dim: int) -> None:
    if count < 1 or dim < 1 or dim > MAX_DIM:
        raise _damaged(path, f"its header says {count} vectors of {dim} values, which is not a usable size")


def _looks_binary(data: bytes, start: int) -> bool:
    sample = data[start:start + 4096]
    return any(byte < 9 or 13 < byte < 32 for byte in sample) or b"\x00" in sample


def load_word2vec_format(path: str | Path, binary: Optional[bool] = None, no_header: bool = False) -> WordVectors:
    """word2vec text or binary (``binary=None`` sniffs), or headerless GloVe text."""
    path = Path(path)
    try:
        with open_regular_file(path) as handle:  # a FIFO would block forever
            data = handle.read()
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
    if header is not None:
        _check_header(path, *header)
    if binary:
        if header is None:
            raise _damaged(path, "a binary word2vec file must start with a 'count dimensions' header")
        words, matrix = _read_binary(data, body_start, *header, path)
    else:
        words, matrix = _read_text(data[body_start:], header, path)
    _check_values(path, matrix, header)
    settings = {"source": str(path), "format": "word2vec-binary" if binary else ("word2vec-text" if header else "glove")}
    return WordVectors(words, matrix, None, settings, path.stem)


_CONTROL_BYTES = bytes(range(32)) + b"\x7f"


def _read_binary(data: bytes, position: int, count: int, dim: int, path: Path):
    """``count`` rows of: word, one space, ``dim`` little-endian float32 (and an optional newline).

    A header whose dimension is wrong shifts every row after the first: the next "word" then starts
    inside the previous vector's bytes, so a word that is not text, a missing space, or data left over
    after the last row all mean the header does not describe the file.
    """
    row_bytes = 4 * dim
    claim = f"its header says {count} vectors of {dim} values"
    if count * (row_bytes + 2) > len(data) - position:  # each row: >=1-byte word, space, floats
        raise _damaged(path, f"{claim} but the file is too short for that")
    words, rows = [], []
    for number in range(count):
        while position < len(data) and data[position] in b"\n\r":
            position += 1
        space = data.find(b" ", position, position + MAX_WORD_BYTES)
        if position >= len(data) or (space >= 0 and space + 1 + row_bytes > len(data)):
            raise _damaged(path, f"{claim} but the data ends at vector {number + 1} (truncated?)")
        if space < 0:
            raise _damaged(path, f"{claim} but vector {number + 1} has no word before its values "
                                 "(truncated, or the header's dimension does not match the data)")
        words.append(_binary_word(data[position:space], number, claim, path))
        rows.append(data[space + 1:space + 1 + row_bytes])
        position = space + 1 + row_bytes
    rest = data[position:]
    if rest.strip(b" \t\r\n"):
        raise _damaged(path, f"{claim} but {len(rest):,} more bytes follow the last one "
                             "(the header's count or dimension does not match the data)")
    matrix = np.frombuffer(b"".join(rows), dtype="<f4").reshape(count, dim).astype(np.float32)
    return words, matrix


def _binary_word(raw: bytes, number: int, claim: str, path: Path) -> str:
    """The word of row ``number``; a word that is empty, holds control bytes or is not UTF-8 means misaligned data."""
    problem = None
    if not raw:
        problem = "is empty"
    elif any(byte in _CONTROL_BYTES for byte in raw):
        problem = "holds control bytes"
    else:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            if error.reason == "unexpected end of data":  # a multi-byte character cut by word2vec.c's length limit
                return raw.decode("utf-8", errors="ignore")
            problem = "is not UTF-8 text"
    raise _damaged(path, f"{claim} but word {number + 1} {problem} (the header's dimension does not match the data)")


def _check_values(path: Path, matrix: np.ndarray, header: Optional[tuple[int, int]]) -> None:
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        claim = f"its header says {header[0]} vectors of {header[1]} values; " if header else ""
        raise _damaged(path, f"{claim}vector {row + 1} holds a value that is not a finite number")


def _read_text(body: bytes, header: Optional[tuple[int, int]], path: Path):
    lines = [line for line in body.decode("utf-8", errors="replace").splitlines() if line.strip()]
    if not lines:
        raise _damaged(path, "no vectors follow the header" if header else "the file holds no vectors")
    if header is not None and len(lines) < header[0]:
        raise _damaged(path, f"header promises {header[0]} vectors but only {len(lines)} lines follow (truncated?)")
    if header is not None and len(lines) > header[0]:
        raise _damaged(path, f"header promises {header[0]} vectors but {len(lines)} lines follow "
                             "(the header's count does not match the data)")
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
