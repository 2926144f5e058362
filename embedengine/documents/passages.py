"""Split document text into passages of about 200 words along sentence boundaries, with overlap.

Every passage keeps its character span in the page text it came from and its PDF page, so a hit
can be shown in context and the best sentence highlighted (:func:`sentence_spans`).

Passages are bounded whatever the text: a run without spaces counts as a word per
``MAX_WORD_CHARS`` characters (and may be cut between them), a passage's text has at most
``MAX_PASSAGE_CHARS`` characters, and a file gives at most ``MAX_PASSAGES`` passages.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator, NamedTuple, Optional

from .extract import ExtractError, Page

TARGET_WORDS = 200
OVERLAP_WORDS = 30
MAX_SENTENCE_WORDS = 120  # longer "sentences" (lists, tables) are cut at word boundaries
MAX_WORD_CHARS = 50  # a longer run without spaces (a URL, base64, 5 MB of '&') counts as several words
MAX_PASSAGE_CHARS = 3000  # characters of one passage's text (200 words are ~1,300); tokenisers and results stay small
MAX_PASSAGES = 20_000  # passages one file may give (~3 million words); more: the file is skipped

# A sentence ends at . ! ? (optionally followed by quotes/brackets) before whitespace, or at a blank line.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n\s*\n")
_WORD = re.compile(r"\S{1,%d}" % MAX_WORD_CHARS)


@dataclass
class Passage:
    ordinal: int
    text: str  # whitespace-normalised passage text
    start: int  # character span in the page text
    end: int
    page: Optional[int]
    words: int

    def to_payload(self) -> dict:
        payload = asdict(self)
        payload.pop("ordinal")
        return payload


class _Piece(NamedTuple):
    """A sentence, or a piece of a long one: its span, words and characters once whitespace is normalised."""

    start: int
    end: int
    words: int
    chars: int


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``, whitespace excluded, long ones cut into pieces."""
    return [(piece.start, piece.end) for piece in _pieces(text)]


def _pieces(text: str) -> Iterator[_Piece]:
    """The sentences of ``text`` in order, each cut into pieces of at most ``MAX_SENTENCE_WORDS``
    words and ``MAX_PASSAGE_CHARS`` characters (at word boundaries)."""
    position = 0
    for match in _SENTENCE_END.finditer(text):
        yield from _cut(text, position, match.start())
        position = match.end()
    yield from _cut(text, position, len(text))


def _cut(text: str, start: int, end: int) -> Iterator[_Piece]:
    """The words of ``text[start:end]`` grouped into pieces within the sentence limits."""
    first = last = None
    words = chars = 0
    for word in _WORD.finditer(text, start, end):
        size = word.end() - word.start()
        if first is not None and (words >= MAX_SENTENCE_WORDS or chars + 1 + size > MAX_PASSAGE_CHARS):
            yield _Piece(first, last, words, chars)
            first = None
        if first is None:
            first, words, chars = word.start(), 0, -1
        last, words, chars = word.end(), words + 1, chars + 1 + size
    if first is not None:
        yield _Piece(first, last, words, chars)


def split_page(page: Page, first_ordinal: int = 0, target_words: int = TARGET_WORDS,
               overlap_words: int = OVERLAP_WORDS) -> list[Passage]:
    """Passages of one page: whole sentences packed up to ``target_words`` (and ``MAX_PASSAGE_CHARS``);
    the last sentences of a passage (up to ``overlap_words``) start the next one. One pass: only the
    current passage's sentences are held."""
    passages: list[Passage] = []
    current: list[_Piece] = []
    words, chars = 0, -1  # of the current passage (chars: its text's length once joined)
    for piece in _pieces(page.text):
        if current and (words + piece.words > target_words or chars + 1 + piece.chars > MAX_PASSAGE_CHARS):
            passages.append(_make_passage(page, current, words, first_ordinal + len(passages)))
            current = _overlap(current, piece, overlap_words)
            words, chars = sum(p.words for p in current), sum(p.chars + 1 for p in current) - 1
        current.append(piece)
        words, chars = words + piece.words, chars + 1 + piece.chars
    if current:
        passages.append(_make_passage(page, current, words, first_ordinal + len(passages)))
    return passages


def _overlap(passage: list[_Piece], following: _Piece, overlap_words: int) -> list[_Piece]:
    """The last sentences of a passage (never its first) that start the next one: up to
    ``overlap_words`` words, leaving room for ``following`` (so no passage only repeats the last)."""
    kept: list[_Piece] = []
    words, chars = 0, following.chars
    for piece in reversed(passage[1:]):
        if words + piece.words > overlap_words or chars + 1 + piece.chars > MAX_PASSAGE_CHARS:
            break
        kept.insert(0, piece)
        words, chars = words + piece.words, chars + 1 + piece.chars
    return kept


def _make_passage(page: Page, pieces: list[_Piece], words: int, ordinal: int) -> Passage:
    start, end = pieces[0].start, pieces[-1].end
    text = " ".join(page.text[start:end].split())
    return Passage(ordinal, text, start, end, page.number, words)


def split_pages(pages: Iterable[Page], target_words: int = TARGET_WORDS,
                overlap_words: int = OVERLAP_WORDS) -> list[Passage]:
    """Passages of a whole document, numbered across its pages; :class:`ExtractError` past ``MAX_PASSAGES``."""
    passages: list[Passage] = []
    for page in pages:
        passages.extend(split_page(page, len(passages), target_words, overlap_words))
        if len(passages) > MAX_PASSAGES:
            raise ExtractError(f"too many passages (over {MAX_PASSAGES:,}; the limit is {MAX_PASSAGES:,} per file)")
    return passages
