"""Plain text out of .txt/.md/.rst (encoding detection), .html/.htm (visible text), .pdf (text layer) and
images (.png/.jpg/.webp/.tif/.bmp: text recognised by :mod:`embedengine.ocr`, as are a PDF's pages without
a text layer, from the pictures embedded in them).

:func:`extract` returns a :class:`Document` (one :class:`Page` per PDF page, one page otherwise) or
raises :class:`ExtractError` whose ``reason`` is short and human ("binary file, not text",
"corrupt PDF", "unreadable: Permission denied", "deleted during indexing", ...).

Every file is bounded before its text is kept: bytes read, characters of text and extraction time
(the limits below); a file over a limit is refused with a reason naming it. Without the OCR models an
image is refused with the reason ``embedengine.ocr.MISSING_REASON`` (how to install them).
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Optional

from embedengine.safety import NotRegularFile, open_regular_file

TEXT_EXTENSIONS = frozenset({".txt", ".text", ".md", ".markdown", ".rst"})
HTML_EXTENSIONS = frozenset({".html", ".htm", ".xhtml"})
PDF_EXTENSIONS = frozenset({".pdf"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"})
SUPPORTED_EXTENSIONS = TEXT_EXTENSIONS | HTML_EXTENSIONS | PDF_EXTENSIONS | IMAGE_EXTENSIONS
MAX_FILE_BYTES = 200 * 1024 * 1024  # bytes read from any one file (a PDF with pictures can be big)
MAX_TEXT_CHARS = 10_000_000  # characters of text one file may give (~5,000 book pages); more: skipped
MAX_TEXT_FILE_BYTES = 40 * 1024 * 1024  # text/HTML files: ≥ 1 character per 4 bytes, so more is surely too much text
EXTRACT_TIME_LIMIT_S = 30.0  # seconds one file's extraction may take (checked between PDF pages, HTML chunks)
OCR_TIME_LIMIT_S = 120.0  # seconds of text recognition one file may take besides (a dense A4 scan: ~4 s on 2 cores)
MAX_OCR_IMAGES_PER_PAGE = 8  # pictures of one PDF page whose text is recognised
MIN_OCR_IMAGE_SIDE = 32  # pixels: smaller pictures (icons, rules) hold no legible text
HTML_CHUNK_CHARS = 1 << 20  # the HTML parser is fed this much at a time, limits checked in between
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
    kind: str  # "text" | "html" | "pdf" | "image"
    pages: list[Page]
    sha256: str
    size: int
    encoding: str = ""

    @property
    def words(self) -> int:
        return sum(len(page.text.split()) for page in self.pages)


def file_kind(path: str | Path) -> Optional[str]:
    """"text", "html", "pdf" or "image" by the file's extension; plain text by its content for the files
    that carry no real extension (README, LICENSE, GPL-3, LGPL-2.1); None when not readable here."""
    suffix = Path(path).suffix.lower()
    if suffix in TEXT_EXTENSIONS or (_extensionless(suffix) and _looks_like_text(path)):
        return "text"
    if suffix in HTML_EXTENSIONS:
        return "html"
    if suffix in PDF_EXTENSIONS:
        return "pdf"
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    return None


SNIFF_BYTES = 8192  # read from an extensionless file to tell text from binary
VERSION_SUFFIX = re.compile(r"\.\d+$")  # GFDL-1.2, LGPL-2.1, Apache-2.0: a version, not an extension


def _extensionless(suffix: str) -> bool:
    return not suffix or bool(VERSION_SUFFIX.fullmatch(suffix))


def _looks_like_text(path: str | Path) -> bool:
    """The file's first bytes are UTF-8 text without NUL bytes or other control characters."""
    try:
        with open_regular_file(path) as handle:
            head = handle.read(SNIFF_BYTES)
    except (OSError, NotRegularFile):
        return False
    if not head.strip() or b"\x00" in head:
        return False
    text = head.decode("utf-8", errors="ignore")
    controls = sum(1 for char in text if ord(char) < 32 and char not in "\t\n\r\f")
    return len(text) >= 0.95 * len(head) and controls <= len(text) // 100


def read_bytes(path: str | Path) -> bytes:
    """The bytes of a regular file within the size limits, or :class:`ExtractError` naming why not."""
    try:
        _check_size(path, Path(path).stat().st_size)
        with open_regular_file(path) as handle:
            return handle.read()
    except NotRegularFile as error:
        raise ExtractError(error.reason) from None
    except FileNotFoundError:
        raise ExtractError("deleted during indexing") from None
    except IsADirectoryError:
        raise ExtractError("not a regular file") from None
    except OSError as error:
        raise ExtractError(f"unreadable: {error.strerror or error}") from None


def _check_size(path: str | Path, size: int) -> None:
    """Refuse a file over ``MAX_FILE_BYTES`` (text and HTML: ``MAX_TEXT_FILE_BYTES``) before reading it."""
    limit = MAX_FILE_BYTES if file_kind(path) in ("pdf", "image") else MAX_TEXT_FILE_BYTES
    if size > limit:
        raise ExtractError(f"too large ({size / 2**20:,.1f} MB; the limit is {limit / 2**20:,.0f} MB)")


def extract(path: str | Path, data: Optional[bytes] = None) -> Document:
    """Text of a supported file (``data`` = its bytes when already read), within the module's limits."""
    kind = file_kind(path)
    if kind is None:
        raise ExtractError(f"unsupported file type '{Path(path).suffix or '(none)'}'")
    data = read_bytes(path) if data is None else data
    _check_size(path, len(data))
    if not data.strip():
        raise ExtractError("empty file")
    digest = hashlib.sha256(data).hexdigest()
    clock = _Clock()
    if kind == "pdf":
        pages, encoding = pdf_pages(data, clock), ""
    elif kind == "image":
        pages, encoding = image_pages(data, clock), ""
    else:
        text, encoding = decode_text(data)
        pages = [Page(None, html_to_text(text, clock) if kind == "html" else normalise_newlines(text))]
    check_text_size(sum(len(page.text) for page in pages))
    if not any(page.text.strip() for page in pages):
        raise ExtractError(_no_text_reason(kind))
    return Document(str(path), kind, pages, digest, len(data), encoding)


def _no_text_reason(kind: str) -> str:
    if kind == "image":
        return "no text recognised in the image"
    if kind != "pdf":
        return "no text"
    from embedengine import ocr

    if not ocr.available():
        return f"no text layer (scanned PDF?); {ocr.MISSING_REASON}"
    return "no text layer, and no text recognised in its pictures"


class _Clock:
    """Time since one file's extraction started; :meth:`check` refuses it past ``EXTRACT_TIME_LIMIT_S``
    (time spent recognising text in pictures not counted) or past ``OCR_TIME_LIMIT_S`` of recognition."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.ocr_seconds = 0.0

    def check(self) -> None:
        if self.ocr_seconds > OCR_TIME_LIMIT_S:
            raise ExtractError(f"text recognition (OCR) took too long (over {OCR_TIME_LIMIT_S:g} s)")
        if time.monotonic() - self.started - self.ocr_seconds > EXTRACT_TIME_LIMIT_S:
            raise ExtractError(f"extraction took too long (over {EXTRACT_TIME_LIMIT_S:g} s)")


def check_text_size(chars: int, where: str = "") -> None:
    """Refuse more than ``MAX_TEXT_CHARS`` characters of text (``where``: how far extraction got)."""
    if chars > MAX_TEXT_CHARS:
        counted = f"over {MAX_TEXT_CHARS:,} characters {where}" if where else f"{chars:,} characters"
        raise ExtractError(f"too much text ({counted}; the limit is {MAX_TEXT_CHARS:,})")


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
        self.chars = 0  # characters of visible text so far
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
            self.chars += len(data)


def html_to_text(html: str, clock: Optional[_Clock] = None) -> str:
    """Visible text of an HTML page: title first, then body text; scripts and styles dropped.

    Fed in chunks, the time limit (``clock``) and the text limit are checked as it goes."""
    parser = _VisibleText()
    clock = clock or _Clock()
    for start in range(0, len(html), HTML_CHUNK_CHARS):
        parser.feed(html[start:start + HTML_CHUNK_CHARS])
        clock.check()
        check_text_size(parser.chars, "so far")
    parser.close()
    body = "".join(parser.parts)
    title = " ".join("".join(parser.title).split())
    paragraphs = [" ".join(block.split()) for block in re.split(r"\n\s*\n", body)]
    text = "\n\n".join(p for p in paragraphs if p)
    if title and not text.startswith(title):
        text = f"{title}\n\n{text}"
    return text


# -- PDF ----------------------------------------------------------------------------------------

# pypdf's own limits (pypdf.errors.LimitReachedError) that mean "inflates too much" rather than "too complex"
_DECOMPRESSION_LIMITS = re.compile(r"decompress|decoding work|declared|requested|buffer size", re.IGNORECASE)


def pdf_pages(data: bytes, clock: Optional[_Clock] = None) -> list[Page]:
    """Text of each page via pypdf; problems and limits become :class:`ExtractError`."""
    import logging

    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise ExtractError("corrupt PDF (no PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not _try_empty_password(reader):
            raise ExtractError("encrypted PDF (password protected)")
        return _read_pages(reader, clock or _Clock())
    except ExtractError:
        raise
    except LimitReachedError as error:
        raise ExtractError(_limit_reason(error)) from None
    except MemoryError:
        raise ExtractError("PDF too large when decompressed (out of memory)") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError,
            RecursionError, AssertionError) as error:
        raise ExtractError(f"corrupt PDF ({type(error).__name__}: {str(error)[:80]})") from None


def _read_pages(reader, clock: _Clock) -> list[Page]:
    """Page texts, checking the time and text limits after each page; decoded streams are let go
    page by page (pypdf keeps every object it resolved, so a PDF of many inflating pages piles up)."""
    pages, chars, total = [], 0, len(reader.pages)
    for number, page in enumerate(reader.pages, start=1):
        text = normalise_newlines(page.extract_text() or "")
        pages.append(Page(number, text if text.strip() else pictures_text(page, clock)))
        reader.resolved_objects.clear()
        chars += len(pages[-1].text)
        check_text_size(chars, f"in the first {number:,} of {total:,} pages")
        if number < total:
            clock.check()  # before starting another page
    return pages


def _limit_reason(error: Exception) -> str:
    """A pypdf safety limit as a reason: too large when decompressed, or too complex."""
    detail = str(error).strip().rstrip(".!")[:80]
    kind = "too large when decompressed" if _DECOMPRESSION_LIMITS.search(detail) else "too complex"
    return f"PDF {kind} (pypdf limit: {detail})"


def _try_empty_password(reader) -> bool:
    try:
        return bool(reader.decrypt(""))
    except Exception:  # noqa: BLE001 - any failure means we cannot read it
        return False


# -- text in pictures (OCR) ------------------------------------------------------------------------

def recognised_text(source, clock: _Clock) -> str:
    """Text :mod:`embedengine.ocr` recognises in one picture, its time counted against ``OCR_TIME_LIMIT_S``.

    A picture that cannot be read raises :class:`~embedengine.image.ImageLoadError` (its ``reason`` says why)."""
    from embedengine import ocr

    try:
        result = ocr.recognise(source)
    except ocr.OcrUnavailable as error:
        raise ExtractError(error.reason) from None
    clock.ocr_seconds += result.seconds
    clock.check()
    return result.text


def image_pages(data: bytes, clock: _Clock) -> list[Page]:
    """An image file's recognised text: one page, or one per frame of a multi-page TIFF (a scan)."""
    from PIL import Image

    from embedengine import ocr
    from embedengine.image import ImageLoadError

    if not ocr.available():
        raise ExtractError(ocr.MISSING_REASON)
    try:
        frames = _tiff_frames(data)
        if frames == 1:
            return [Page(None, recognised_text(data, clock))]
        with Image.open(io.BytesIO(data)) as image:
            return [Page(number, recognised_text(_seek(image, number - 1), clock)) for number in range(1, frames + 1)]
    except ImageLoadError as error:
        raise ExtractError(error.reason) from None


def _tiff_frames(data: bytes) -> int:
    """Frames (pages) of a TIFF; 1 for any other picture, or one Pillow cannot open (reading it says why)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return getattr(image, "n_frames", 1) if image.format == "TIFF" else 1
    except Exception:  # noqa: BLE001 - Pillow raises many types for data it cannot open
        return 1


def _seek(image, index: int):
    image.seek(index)
    return image


def pictures_text(page, clock: _Clock) -> str:
    """Text recognised in the pictures of a PDF page without a text layer ("" without the OCR models).

    A picture that pypdf or Pillow cannot decode (an unsupported filter, damaged data) is passed over;
    the page keeps what the others give."""
    from embedengine import ocr
    from embedengine.image import ImageLoadError

    if not ocr.available():
        return ""
    texts = []
    for picture in _legible_pictures(page):
        try:
            texts.append(recognised_text(picture, clock))
        except ImageLoadError:
            continue
    return "\n\n".join(text for text in texts if text.strip())


def _legible_pictures(page):
    """Up to ``MAX_OCR_IMAGES_PER_PAGE`` pictures of the page, each at least ``MIN_OCR_IMAGE_SIDE`` on both sides."""
    try:
        count = len(page.images)
    except Exception:  # noqa: BLE001 - damaged resources: a page without usable pictures
        return
    found = 0
    for index in range(count):
        try:
            picture = page.images[index].image
        except Exception:  # noqa: BLE001 - pypdf and Pillow raise many types for pictures they cannot decode
            continue
        if picture is not None and min(picture.size) >= MIN_OCR_IMAGE_SIDE:
            yield picture
            found += 1
            if found == MAX_OCR_IMAGES_PER_PAGE:
                return
