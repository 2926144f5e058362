"""Plain text out of .txt/.md/.rst (encoding detection), .html/.htm (visible text) and .pdf (text layer).

:func:`extract` returns a :class:`Document` (one :class:`Page` per PDF page, one page otherwise) or
raises :class:`ExtractError` whose ``reason`` is short and human ("binary file, not text",
"corrupt PDF", "unreadable: Permission denied", "deleted during indexing", ...).
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Optional

TEXT_EXTENSIONS = frozenset({".txt", ".text", ".md", ".markdown", ".rst"})
HTML_EXTENSIONS = frozenset({".html", ".htm", ".xhtml"})
PDF_EXTENSIONS = frozenset({".pdf"})
SUPPORTED_EXTENSIONS = TEXT_EXTENSIONS | HTML_EXTENSIONS | PDF_EXTENSIONS
MAX_FILE_BYTES = 200 * 1024 * 1024
_SNIFF = 8192
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class ExtractError(Exception):
    """A file that cannot give text; ``reason`` is what the skipped list shows."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Page:
    number: Optional[int]  # 1-based PDF page; None for other formats
    text: str


@dataclass
class Document:
    path: str
    kind: str  # "text" | "html" | "pdf"
    pages: list[Page]
    sha256: str
    size: int
    encoding: str = ""

    @property
    def words(self) -> int:
        return sum(len(page.text.split()) for page in self.pages)


def file_kind(path: str | Path) -> Optional[str]:
    suffix = Path(path).suffix.lower()
    if suffix in TEXT_EXTENSIONS:
        return "text"
    if suffix in HTML_EXTENSIONS:
        return "html"
    if suffix in PDF_EXTENSIONS:
        return "pdf"
    return None


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, or :class:`ExtractError` naming why they cannot be read."""
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise ExtractError(f"too large ({size / 2**20:.0f} MB; limit {MAX_FILE_BYTES / 2**20:.0f} MB)")
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise ExtractError("deleted during indexing") from None
    except IsADirectoryError:
        raise ExtractError("not a regular file") from None
    except OSError as error:
        raise ExtractError(f"unreadable: {error.strerror or error}") from None


def extract(path: str | Path, data: Optional[bytes] = None) -> Document:
    """Text of a supported file (``data`` = its bytes when already read)."""
    kind = file_kind(path)
    if kind is None:
        raise ExtractError(f"unsupported file type '{Path(path).suffix or '(none)'}'")
    data = read_bytes(path) if data is None else data
    if not data.strip():
        raise ExtractError("empty file")
    digest = hashlib.sha256(data).hexdigest()
    if kind == "pdf":
        pages, encoding = pdf_pages(data), ""
    else:
        text, encoding = decode_text(data)
        pages = [Page(None, html_to_text(text) if kind == "html" else normalise_newlines(text))]
    if not any(page.text.strip() for page in pages):
        raise ExtractError("no text layer (scanned PDF?)" if kind == "pdf" else "no text")
    return Document(str(path), kind, pages, digest, len(data), encoding)


# -- plain text ---------------------------------------------------------------------------------

def looks_binary(data: bytes) -> bool:
    """NUL bytes or many control characters in the first 8 KB (UTF-16/32 with a BOM is text)."""
    head = data[:_SNIFF]
    if any(head.startswith(bom) for bom, _ in _BOMS):
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls > 0.05 * max(1, len(head))


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding): BOM, then strict UTF-8, then cp1252 with replacement characters."""
    if looks_binary(data):
        raise ExtractError("binary file, not text")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace"), encoding
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    text = data.decode("cp1252", errors="replace")
    if text.count("\ufffd") > 0.05 * max(1, len(text)):
        raise ExtractError("binary file, not text")
    return text, "cp1252"


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# -- HTML ---------------------------------------------------------------------------------------

_HIDDEN_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "head", "iframe", "object"})
_BLOCK_TAGS = frozenset({
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "section",
    "article", "header", "footer", "blockquote", "pre", "dd", "dt", "hr", "title", "main", "nav", "figcaption",
})


class _VisibleText(HTMLParser):
    """Collects text outside hidden elements, with paragraph breaks at block elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden_depth = 0
        self.title: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _HIDDEN_TAGS:
            self.hidden_depth += 1
        if tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _HIDDEN_TAGS and self.hidden_depth:
            self.hidden_depth -= 1
        if tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self.hidden_depth:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML page: title first, then body text; scripts and styles dropped."""
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    body = "".join(parser.parts)
    title = " ".join("".join(parser.title).split())
    paragraphs = [" ".join(block.split()) for block in re.split(r"\n\s*\n", body)]
    text = "\n\n".join(p for p in paragraphs if p)
    if title and not text.startswith(title):
        text = f"{title}\n\n{text}"
    return text


# -- PDF ----------------------------------------------------------------------------------------

def pdf_pages(data: bytes) -> list[Page]:
    """Text of each page via pypdf; problems become :class:`ExtractError`."""
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise ExtractError("corrupt PDF (no PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not _try_empty_password(reader):
            raise ExtractError("encrypted PDF (password protected)")
        return [Page(number, normalise_newlines(page.extract_text() or ""))
                for number, page in enumerate(reader.pages, start=1)]
    except ExtractError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError,
            RecursionError, AssertionError) as error:
        raise ExtractError(f"corrupt PDF ({type(error).__name__}: {str(error)[:80]})") from None


def _try_empty_password(reader) -> bool:
    try:
        return bool(reader.decrypt(""))
    except Exception:  # noqa: BLE001 - any failure means we cannot read it
        return False
