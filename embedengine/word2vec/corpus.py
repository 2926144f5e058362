"""Streaming corpus reading: file discovery, tokenisation, counting and the on-disk id stream.

One pass over the text assigns every distinct word a provisional id (first-seen order) and, when
asked, appends those ids to a binary file (``-1`` marks the end of a sentence, i.e. of a line).
After the vocabulary is chosen, :func:`remap_ids` turns the provisional stream into vocabulary ids
with plain NumPy, so a corpus larger than memory is read from text once and trained from disk.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Optional, Sequence

import numpy as np

from embedengine.errors import UserError
from embedengine.safety import NotRegularFile, open_regular_file
from embedengine.tasks import CancelToken, Progress, ProgressCallback, RateMeter, Throttle, checkpoint, emit

SENTENCE_END = -1
_LETTERS = r"[^\W\d_]+(?:'[^\W\d_]+)*"
_LETTERS_DIGITS = r"[^\W_]+(?:'[^\W_]+)*"
_TOKEN_RE = {False: re.compile(_LETTERS), True: re.compile(_LETTERS_DIGITS)}
_SNIFF_BYTES = 8192
_LINES_PER_BLOCK = 2000
MAX_PIECE_CHARS = 1 << 20  # a longer line (text8 is one 100 MB line) is read in pieces of this size, cut at a space
_BLOCK_CHARS = 4 * MAX_PIECE_CHARS  # a block of lines is handed on at this size too: memory stays bounded


def tokenize(text: str, keep_digits: bool = False) -> list[str]:
    """Lower-cased words: runs of letters (and digits if asked), apostrophes inside words kept."""
    return _TOKEN_RE[keep_digits].findall(text.lower())


@dataclass
class CorpusFiles:
    """Readable text files found under the given paths, and the ones skipped with a reason."""

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.files)


def _skip_reason(path: Path) -> Optional[str]:
    """Why a file cannot be a text corpus (None when it looks like text); a FIFO or device is never opened."""
    try:
        with open_regular_file(path) as handle:
            head = handle.read(_SNIFF_BYTES)
    except NotRegularFile as error:
        return error.reason
    except OSError as error:
        return f"unreadable: {error.strerror or error}"
    if not head:
        return "empty file"
    if b"\x00" in head:
        return "binary file (not text)"
    return None


def find_corpus_files(paths: Iterable[str | os.PathLike]) -> CorpusFiles:
    """Expand folders (recursively, sorted) and sort out files that are not text."""
    found = CorpusFiles()
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.exists():
            candidates = [path]
        else:
            found.skipped.append((str(path), "not found"))
            continue
        for candidate in candidates:
            reason = _skip_reason(candidate)
            if reason:
                found.skipped.append((str(candidate), reason))
            else:
                found.files.append(candidate)
    if not found.files:
        detail = "; ".join(f"{p}: {r}" for p, r in found.skipped[:5]) or "no paths given"
        raise UserError("No readable text files in the corpus.", hint=f"Choose plain-text files or folders ({detail}).",
                        data={"skipped": found.skipped})
    return found


@dataclass
class CorpusCounts:
    """Result of one pass: word counts in first-seen order and reading diagnostics."""

    words: list[str]
    counts: np.ndarray
    tokens: int
    sentences: int
    replaced_chars: dict[str, int]


class _IdWriter:
    """Buffers provisional ids and appends them to a binary int32 file; counts sentences (lines with words)."""

    def __init__(self, handle: Optional[BinaryIO]) -> None:
        self.handle = handle
        self.buffer: list[int] = []
        self.sentences = 0
        self._in_sentence = False

    def extend(self, ids: list[int]) -> None:
        if ids:
            self._in_sentence = True
            if self.handle is not None:
                self.buffer.extend(ids)

    def end_line(self) -> None:
        """A line ended: a sentence ends if it had words."""
        if self._in_sentence:
            self.sentences += 1
            self._in_sentence = False
            if self.handle is not None:
                self.buffer.append(SENTENCE_END)

    def flush(self) -> None:
        if self.handle is not None and self.buffer:
            self.handle.write(np.asarray(self.buffer, dtype=np.int32).tobytes())
            self.buffer.clear()


class _Counter:
    """Provisional ids and counts for a stream of token lists."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.counts: list[int] = []
        self.tokens = 0

    def ids_for(self, tokens: list[str]) -> list[int]:
        index, counts = self.index, self.counts
        ids = []
        for word in tokens:
            word_id = index.get(word)
            if word_id is None:
                word_id = index[word] = len(counts)
                counts.append(0)
            counts[word_id] += 1
            ids.append(word_id)
        self.tokens += len(ids)
        return ids


def _read_blocks(path: Path) -> Iterator[tuple[list[tuple[str, bool]], int]]:
    """Blocks of (text, whether it ends a line) decoded as UTF-8 with replacement, with the bytes read so
    far (regular files only); a block holds at most ``_LINES_PER_BLOCK`` pieces and about ``_BLOCK_CHARS``."""
    with io.TextIOWrapper(open_regular_file(path), encoding="utf-8", errors="replace", newline=None) as handle:
        block: list[tuple[str, bool]] = []
        chars = 0
        for piece in _line_pieces(handle):
            block.append(piece)
            chars += len(piece[0])
            if len(block) >= _LINES_PER_BLOCK or chars >= _BLOCK_CHARS:
                yield block, handle.buffer.tell()
                block, chars = [], 0
        if block:
            yield block, path.stat().st_size


def _line_pieces(handle) -> Iterator[tuple[str, bool]]:
    """(text, whether it ends a line): a line longer than ``MAX_PIECE_CHARS`` comes in pieces, each cut
    after its last space (the rest starts the next piece), so one huge line never sits in memory."""
    carry = ""
    while piece := handle.readline(MAX_PIECE_CHARS):
        piece, carry = carry + piece, ""
        if piece.endswith("\n"):
            yield piece, True
            continue
        cut = max(piece.rfind(" "), piece.rfind("\t")) + 1 or len(piece)
        piece, carry = piece[:cut], piece[cut:]
        yield piece, False
    yield carry, True  # ends a last line without a newline


def count_corpus(files: Sequence[Path], keep_digits: bool = False, ids_out: Optional[BinaryIO] = None,
                 progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> CorpusCounts:
    """Tokenise every file once, counting words; optionally write the provisional id stream."""
    counter, writer = _Counter(), _IdWriter(ids_out)
    total_bytes = sum(path.stat().st_size for path in files) or 1
    meter, throttle = RateMeter(total_bytes), Throttle(0.25)
    replaced: dict[str, int] = {}
    pattern = _TOKEN_RE[keep_digits]
    done_before = 0
    for path in files:
        for pieces, position in _read_blocks(path):
            checkpoint(cancel)
            for text, ends_line in pieces:
                if "\ufffd" in text:
                    replaced[str(path)] = replaced.get(str(path), 0) + text.count("\ufffd")
                writer.extend(counter.ids_for(pattern.findall(text.lower())))
                if ends_line:
                    writer.end_line()
            writer.flush()
            done = done_before + position
            if throttle.ready():
                emit(progress, Progress("scan", done, total_bytes, "bytes", meter.rate(done), meter.eta(done),
                                        message=f"reading {path.name}", extra={"tokens": counter.tokens}))
        done_before += path.stat().st_size
    return CorpusCounts(list(counter.index), np.asarray(counter.counts, dtype=np.int64), counter.tokens,
                        writer.sentences, replaced)


def remap_ids(source: Path, target: Path, mapping: np.ndarray, chunk: int = 1 << 22) -> int:
    """Rewrite a provisional id stream with ``mapping`` (dropping words mapped to -2); returns tokens kept."""
    data = np.memmap(source, dtype=np.int32, mode="r") if source.stat().st_size else np.zeros(0, np.int32)
    lookup = np.append(mapping.astype(np.int32), np.int32(SENTENCE_END))  # index -1 -> sentence end
    kept = 0
    with target.open("wb") as out:
        for start in range(0, len(data), chunk):
            ids = lookup[data[start:start + chunk]]
            ids = ids[ids != -2]
            kept += int(np.count_nonzero(ids >= 0))
            out.write(ids.tobytes())
    del data
    return kept
