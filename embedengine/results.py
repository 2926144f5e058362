"""The base of every engine result, and the helpers that turn results into plain data and text.

A result is a dataclass the CLI prints as JSON and the desktop renders as a card; both go through
:func:`to_jsonable`, and both word durations and removals the same way (:func:`format_duration`,
:func:`format_removed`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

import numpy as np


class Result:
    """Mixin for result dataclasses: ``to_dict()`` gives plain data (see :func:`to_jsonable`)."""

    def to_dict(self) -> dict:
        return asdict(self)


def display_text(text: str) -> str:
    """``text`` as it can be shown and printed: the bytes of a non-UTF-8 file name escaped (``\\xff``)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def to_jsonable(value: Any) -> Any:
    """Dataclasses, numpy values and paths turned into plain JSON types (NaN → null; file names that are
    not UTF-8 escaped, see :func:`display_text`)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_dict"):
            return to_jsonable(value.to_dict())
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, str):
        return display_text(value)
    if isinstance(value, dict):
        return {display_text(str(k)): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return display_text(str(value))
    return value


def plural(count: int, noun: str) -> str:
    """``1 file``, ``2 files`` (nouns that take an ``s``)."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def format_removed(removed) -> str:
    """Text of a :class:`~embedengine.collections.report.FolderRemoved` (every kind of collection)."""
    left = f"{plural(removed.files_left, 'file')} and {plural(len(removed.roots_left), 'folder')}"
    return (f"{removed.folder} left '{removed.collection}': {plural(removed.files_removed, 'file')} removed from the "
            f"index (the files themselves are untouched); {left} remain")


def format_duration(seconds: Optional[float]) -> str:
    """``mm:ss`` or ``h:mm:ss``; ``--:--`` when unknown."""
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
