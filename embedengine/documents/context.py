"""A found passage in the text around it, read again from its file: what the app shows when the system has
no program to open the file with (or the user asks to see the passage in place).

:func:`passage_in_file` extracts the file's page again and returns the passage with up to ``margin``
characters either side, the passage's span and its best sentence's span in that text. A file that cannot be
read any more (moved, changed beyond the passage, now unreadable) gives the stored passage alone, marked
``from_index``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from embedengine.results import Result

from .extract import ExtractError, extract, read_bytes

CONTEXT_CHARS = 1500  # characters shown either side of the passage


@dataclass
class PassageContext(Result):
    path: str
    page: Optional[int]
    text: str  # the passage with the text around it
    passage: tuple[int, int]  # the passage's span in ``text``
    sentence: tuple[int, int]  # its best sentence's span in ``text`` (inside ``passage``)
    from_index: bool  # the file could not be read again: ``text`` is the indexed passage alone
    reason: str = ""  # why the file could not be read again


def passage_in_file(path: str, page: Optional[int], start: int, end: int, passage_text: str,
                    sentence: tuple[int, int], margin: int = CONTEXT_CHARS) -> PassageContext:
    """The passage ``passage_text`` (span ``start``:``end`` of the page's text; ``sentence`` its best
    sentence, a span in ``passage_text``) in its file, with ``margin`` characters either side."""
    best = passage_text[sentence[0]:sentence[1]]
    try:
        page_text = _page_text(path, page)
    except ExtractError as error:
        return PassageContext(path, page, passage_text, (0, len(passage_text)), tuple(sentence), True, error.reason)
    if not _same_words(page_text[start:end], passage_text):
        return PassageContext(path, page, passage_text, (0, len(passage_text)), tuple(sentence), True,
                              "the file changed since it was indexed")
    left, right = max(0, start - margin), min(len(page_text), end + margin)
    found = find_words(page_text, best, start, end)
    span = found if found is not None else (start, end)
    return PassageContext(path, page, page_text[left:right], (start - left, end - left),
                          (span[0] - left, span[1] - left), False)


def _page_text(path: str, page: Optional[int]) -> str:
    pages = extract(path, read_bytes(path)).pages
    for candidate in pages:
        if candidate.number == page:
            return candidate.text
    if page is None and pages:
        return pages[0].text
    raise ExtractError(f"page {page} is no longer in the file")


def _same_words(raw: str, normalised: str) -> bool:
    return raw.split() == normalised.split()


def find_words(text: str, words: str, start: int = 0, end: Optional[int] = None) -> Optional[tuple[int, int]]:
    """Span of ``words`` in ``text[start:end]`` where any run of whitespace may stand for a space, or None."""
    tokens = words.split()
    if not tokens:
        return None
    match = re.compile(r"\s+".join(map(re.escape, tokens))).search(text, start, len(text) if end is None else end)
    return (match.start(), match.end()) if match else None
