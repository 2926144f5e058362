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


def to_jsonable(value: Any) -> Any:
    """Dataclasses, numpy values and paths turned into plain JSON types (NaN → null)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_dict"):
            return to_jsonable(value.to_dict())
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def format_removed(removed) -> str:
    """Text of a :class:`~embedengine.store.FolderRemoved` (documents and images alike)."""
    return (f"{removed.folder} left '{removed.collection}': {removed.files_removed} files removed from the index "
            f"(the files themselves are untouched); {removed.files_left} files and "
            f"{len(removed.roots_left)} folders remain")


def format_duration(seconds: Optional[float]) -> str:
    """``mm:ss`` or ``h:mm:ss``; ``--:--`` when unknown."""
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
