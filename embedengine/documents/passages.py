"""Split document text into passages of about 200 words along sentence boundaries, with overlap.

Every passage keeps its character span in the page text it came from and its PDF page, so a hit
can be shown in context and the best sentence highlighted (:func:`sentence_spans`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Iterable, Optional

from .extract import Page

TARGET_WORDS = 200
OVERLAP_WORDS = 30
MAX_SENTENCE_WORDS = 120  # longer "sentences" (lists, tables) are cut at word boundaries

# A sentence ends at . ! ? (optionally followed by quotes/brackets) before whitespace, or at a blank line.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n\s*\n")
_WORD = re.compile(r"\S+")


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


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``, whitespace excluded, long ones cut into pieces."""
    spans: list[tuple[int, int]] = []
    position = 0
    for match in _SENTENCE_END.finditer(text):
        spans.extend(_trimmed(text, position, match.start()))
        position = match.end()
    spans.extend(_trimmed(text, position, len(text)))
    return [piece for span in spans for piece in _cut_long(text, span)]


def _trimmed(text: str, start: int, end: int) -> list[tuple[int, int]]:
    chunk = text[start:end]
    stripped = chunk.strip()
    if not stripped:
        return []
    offset = start + (len(chunk) - len(chunk.lstrip()))
    return [(offset, offset + len(stripped))]


def _cut_long(text: str, span: tuple[int, int]) -> list[tuple[int, int]]:
    words = list(_WORD.finditer(text, span[0], span[1]))
    if len(words) <= MAX_SENTENCE_WORDS:
        return [span]
    pieces = []
    for first in range(0, len(words), MAX_SENTENCE_WORDS):
        group = words[first:first + MAX_SENTENCE_WORDS]
        pieces.append((group[0].start(), group[-1].end()))
    return pieces


def split_page(page: Page, first_ordinal: int = 0, target_words: int = TARGET_WORDS,
               overlap_words: int = OVERLAP_WORDS) -> list[Passage]:
    """Passages of one page: whole sentences packed up to ``target_words``; the last sentences of a
    passage (up to ``overlap_words``) start the next one."""
    spans = sentence_spans(page.text)
    counts = [len(page.text[s:e].split()) for s, e in spans]
    passages: list[Passage] = []
    first = 0
    while first < len(spans):
        last, words = first, counts[first]
        while last + 1 < len(spans) and words + counts[last + 1] <= target_words:
            last += 1
            words += counts[last]
        passages.append(_make_passage(page, spans, first, last, words, first_ordinal + len(passages)))
        if last + 1 >= len(spans):
            break
        first = _overlap_start(counts, first, last, overlap_words)
    return passages


def _overlap_start(counts: list[int], first: int, last: int, overlap_words: int) -> int:
    """First sentence of the next passage: go back from ``last`` while the overlap stays small."""
    start, carried = last + 1, 0
    while start - 1 > first and carried + counts[start - 1] <= overlap_words:
        start -= 1
        carried += counts[start]
    return start


def _make_passage(page: Page, spans, first: int, last: int, words: int, ordinal: int) -> Passage:
    start, end = spans[first][0], spans[last][1]
    text = " ".join(page.text[start:end].split())
    return Passage(ordinal, text, start, end, page.number, words)


def split_pages(pages: Iterable[Page], target_words: int = TARGET_WORDS,
                overlap_words: int = OVERLAP_WORDS) -> list[Passage]:
    """Passages of a whole document, numbered across its pages."""
    passages: list[Passage] = []
    for page in pages:
        passages.extend(split_page(page, len(passages), target_words, overlap_words))
    return passages
