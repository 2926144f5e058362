"""What a photo's file says about it (date taken, camera) and the filters an image search combines with.

:func:`photo_facts` reads the EXIF block of a file's header (``Image.open`` parses the header only; no pixel is
decoded): the date taken is EXIF ``DateTimeOriginal`` (tag 0x9003 in the Exif IFD 0x8769) when the file has
a valid one, else the file's modification time (``taken_from`` says which), both as local ISO date-times
(EXIF dates carry no time zone); the camera is EXIF ``Make`` and ``Model``. An image collection keeps these
facts in each image's payload (:data:`FACTS_VERSION` marks them; older payloads are completed on the next
index run without decoding again).

:class:`ImageFilters` are the conditions ``--after``, ``--before``, ``--camera``, ``--folder`` and
``--min-size`` (and the Images tab's ``after:``, ``before:``, ``camera:``, ``folder:``, ``size:``):

* ``after DATE``: taken at or after the start of DATE; ``before DATE``: taken before the start of DATE.
  DATE is ``2024``, ``2024-06``, ``2024-06-30`` or ``2024-06-30T18:00`` (so ``after 2024-01 before 2024-07``
  is the first half of 2024);
* ``camera TEXT``: make or model contains TEXT, ignoring case (``pixel`` matches "Google Pixel 7");
* ``folder PATH``: the file lies in PATH or below it;
* ``min-size WxH``: at least W×H pixels either way round (a portrait 1080×1920 passes ``1920x1080``);
  ``WxH`` may be a single number, the long side.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Optional

from PIL import Image

from .collections.files import is_within, resolved
from .errors import UserError
from .results import Result

FACTS_VERSION = 1  # payload["facts"]: which facts the payload holds (bump when adding one)
EXIF_IFD = 0x8769
DATE_TIME_ORIGINAL = 0x9003
MAKE, MODEL = 0x010F, 0x0110
FACT_KEYS = ("taken", "taken_from", "make", "model", "facts")
FILTER_KEYS = ("after", "before", "camera", "folder", "min_size")
DATE_HINT = "dates look like 2024, 2024-06, 2024-06-30 or 2024-06-30T18:00"
SIZE_HINT = "a size looks like 1920x1080 (either way round) or 1000 (the long side)"
_EXIF_DATE = re.compile(r"^\s*(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_QUERY_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2}))?)?)?)?$")
_SIZE = re.compile(r"^\s*(\d+)\s*(?:[x×X*]\s*(\d+))?\s*$")


# ---------------------------------------------------------------------------------------------
# Facts from the file
# ---------------------------------------------------------------------------------------------

def photo_facts(path: str | Path, mtime: float) -> dict:
    """``{"taken", "taken_from", "make", "model", "facts"}`` of an image file, from its header only.

    ``taken_from`` is ``"exif"`` (DateTimeOriginal) or ``"file"`` (the modification time ``mtime``). A file
    whose header cannot be read gets the modification time and no camera (the decoder reports real damage).
    """
    exif = _header_exif(path)
    taken = exif_date(exif.get_ifd(EXIF_IFD).get(DATE_TIME_ORIGINAL)) if exif is not None else ""
    return {"taken": taken or local_iso(mtime), "taken_from": "exif" if taken else "file",
            "make": _exif_text(exif.get(MAKE)) if exif is not None else "",
            "model": _exif_text(exif.get(MODEL)) if exif is not None else "", "facts": FACTS_VERSION}


def _header_exif(path: str | Path) -> Optional[Image.Exif]:
    try:
        with Image.open(path) as image:
            if image.format == "PNG" and "exif" not in image.info:
                return None  # Pillow would decode the whole PNG looking for an eXIf chunk after the pixels
            return image.getexif()
    except Exception:  # noqa: BLE001 - facts are optional; decoding reports unusable files
        return None


def exif_date(value: Any) -> str:
    """An EXIF date ``2024:06:30 18:05:09`` as ``2024-06-30T18:05:09``; ``""`` when absent or not a date
    (cameras write blanks or zeros when the clock was not set)."""
    match = _EXIF_DATE.match(_exif_text(value))
    if not match:
        return ""
    try:
        return datetime(*map(int, match.groups())).isoformat()
    except ValueError:
        return ""


def local_iso(timestamp: float) -> str:
    """A POSIX time as a local ISO date-time (the way cameras record the date taken)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(timestamp))


def _exif_text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(str(value).replace("\x00", " ").split()) if value is not None else ""


def camera_name(make: str, model: str) -> str:
    """``Google Pixel 7``; the make said once when the model repeats it (``Canon``, ``Canon EOS R5``)."""
    if make and model.lower().startswith(make.split()[0].lower()):
        return model
    return " ".join(part for part in (make, model) if part)


# ---------------------------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------------------------

def date_start(text: str, option: str = "date") -> str:
    """The first moment of a typed date (``2024-06`` → ``2024-06-01T00:00:00``), or :class:`UserError`."""
    match = _QUERY_DATE.match(text.strip())
    if not match:
        raise UserError(f"{option} {text!r} is not a date", hint=DATE_HINT)
    year, month, day, hour, minute, second = (int(part) if part else None for part in match.groups())
    try:
        return datetime(year, month or 1, day or 1, hour or 0, minute or 0, second or 0).isoformat()
    except ValueError as error:
        raise UserError(f"{option} {text!r} is not a date ({error})", hint=DATE_HINT) from None


def parse_size(text: str) -> tuple[int, int]:
    """``1920x1080`` → (1920, 1080); ``1000`` → (1000, 0): the sides to reach, or :class:`UserError`."""
    match = _SIZE.match(text)
    if not match or not int(match.group(1)):
        raise UserError(f"min-size {text!r} is not a size", hint=SIZE_HINT)
    return int(match.group(1)), int(match.group(2) or 0)


@dataclass(frozen=True)
class ImageFilters(Result):
    """Conditions on an image's facts (see the module docstring); empty strings are no condition.

    Build it with :meth:`parse` (checks and normalises what a person typed); ``to_dict`` gives the active
    conditions as typed, which results carry so a card can show them."""

    after: str = ""
    before: str = ""
    camera: str = ""
    folder: str = ""
    min_size: str = ""

    @classmethod
    def parse(cls, after: Optional[str] = None, before: Optional[str] = None, camera: Optional[str] = None,
              folder: Optional[str | Path] = None, min_size: Optional[str] = None) -> "ImageFilters":
        after, before = (after or "").strip(), (before or "").strip()
        if after:
            date_start(after, "after")
        if before:
            date_start(before, "before")
        if after and before and date_start(after) >= date_start(before):
            raise UserError(f"nothing is taken after {after} and before {before}",
                            hint="the 'after' date must come before the 'before' date")
        if min_size:
            parse_size(min_size)
        return cls(after, before, " ".join((camera or "").split()), resolved(folder) if folder else "",
                   (min_size or "").strip())

    @classmethod
    def coerce(cls, value: "ImageFilters | Mapping | None") -> "ImageFilters":
        """Filters from filters, a dict of the :meth:`parse` options (a saved result's), or None."""
        if value is None:
            return cls()
        if isinstance(value, ImageFilters):
            return value
        return cls.parse(**{key: value.get(key) for key in FILTER_KEYS})

    def active(self) -> bool:
        return any(getattr(self, key) for key in FILTER_KEYS)

    def to_dict(self) -> dict:
        return {key: getattr(self, key) for key in FILTER_KEYS if getattr(self, key)}

    def describe(self) -> str:
        """``after 2024-01 · camera ~ pixel · in /photos/trips · at least 1920x1080`` ("" when none)."""
        words = {"after": "after {}", "before": "before {}", "camera": "camera ~ {}", "folder": "in {}",
                 "min_size": "at least {}"}
        return " · ".join(words[key].format(value) for key, value in self.to_dict().items())

    @cached_property
    def _limits(self) -> tuple[str, str, tuple[int, int]]:
        """The date bounds and the (long, short) sides, worked out once."""
        sides = sorted(parse_size(self.min_size), reverse=True) if self.min_size else (0, 0)
        return (date_start(self.after) if self.after else "", date_start(self.before) if self.before else "",
                (sides[0], sides[1]))

    def accepts(self, path: str, payload: Mapping) -> bool:
        """Whether the image at ``path`` with ``payload`` (its width, height and facts) meets every condition."""
        start, end, (need_long, need_short) = self._limits
        taken = str(payload.get("taken") or "")
        if (start and not start <= taken) or (end and not (taken and taken < end)):
            return False
        camera = f"{payload.get('make') or ''} {payload.get('model') or ''}".lower()
        if self.camera and self.camera.lower() not in camera:
            return False
        if self.folder and not is_within(path, self.folder):
            return False
        long_side, short_side = sorted((int(payload.get("width", 0)), int(payload.get("height", 0))), reverse=True)
        return long_side >= need_long and short_side >= need_short
