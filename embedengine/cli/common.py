"""Shared CLI plumbing: ``--json`` output, error printing and a terminal progress bar."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from embedengine.errors import UserError
from embedengine.tasks import Progress, Throttle


def add_command(
    subparsers,
    name: str,
    handler: Callable[[argparse.Namespace], Any],
    help: str,
    format_text: Optional[Callable[[Any], str]] = None,
) -> argparse.ArgumentParser:
    """A subcommand with ``--json`` whose handler returns a result object."""
    parser = subparsers.add_parser(name, help=help, description=help)
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.set_defaults(handler=handler, format_text=format_text)
    return parser


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


def emit(result: Any, args: argparse.Namespace) -> None:
    if getattr(args, "json", False):
        print(json.dumps(to_jsonable(result), ensure_ascii=False))
        return
    formatter = getattr(args, "format_text", None)
    if formatter is not None:
        print(formatter(result))
    else:
        print(json.dumps(to_jsonable(result), indent=2, ensure_ascii=False))


def emit_error(error: BaseException, args: argparse.Namespace) -> None:
    payload = error.to_dict() if isinstance(error, UserError) else {"error": str(error), "type": type(error).__name__}
    if getattr(args, "json", False):
        print(json.dumps(to_jsonable(payload), ensure_ascii=False))
    else:
        print(f"error: {payload['error']}", file=sys.stderr)
        if payload.get("hint"):
            print(f"hint: {payload['hint']}", file=sys.stderr)


def format_removed(removed) -> str:
    """Text of a :class:`~embedengine.store.FolderRemoved` (documents and images alike)."""
    return (f"{removed.folder} left '{removed.collection}': {removed.files_removed} files removed from the index "
            f"(the files themselves are untouched); {removed.files_left} files and "
            f"{len(removed.roots_left)} folders remain")


def format_duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class TerminalProgress:
    """A one-line progress bar on stderr (silent when stderr is not a terminal, unless ``force``)."""

    def __init__(self, force: bool = False, width: int = 30) -> None:
        self.enabled = force or sys.stderr.isatty()
        self.width = width
        self.throttle = Throttle(0.2)
        self._last_len = 0

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        if progress.fraction is None and progress.message:
            self._write(progress.message)
            return
        if not self.throttle.ready() and (progress.fraction or 0) < 1.0:
            return
        fraction = progress.fraction or 0.0
        filled = int(self.width * fraction)
        bar = "#" * filled + "-" * (self.width - filled)
        rate = f" {progress.rate:,.0f} {progress.unit}/s" if progress.rate else ""
        extra = "".join(f" {k}={v:.4g}" if isinstance(v, float) else f" {k}={v}" for k, v in progress.extra.items())
        self._write(f"{progress.stage} [{bar}] {fraction:6.1%}{rate} ETA {format_duration(progress.eta_s)}{extra}")

    def _write(self, text: str) -> None:
        pad = max(0, self._last_len - len(text))
        sys.stderr.write("\r" + text + " " * pad)
        sys.stderr.flush()
        self._last_len = len(text)

    def close(self) -> None:
        if self.enabled and self._last_len:
            sys.stderr.write("\n")
            sys.stderr.flush()
