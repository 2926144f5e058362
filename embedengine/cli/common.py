"""Shared CLI plumbing: ``--json`` output, error printing and a terminal progress bar."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Optional

from embedengine.errors import UserError
from embedengine.results import display_text, format_duration, format_removed, to_jsonable
from embedengine.tasks import Progress, Throttle

# The JSON and text helpers live with the results (the desktop uses them too); re-exported for the area modules.
__all__ = ["TerminalProgress", "add_command", "emit", "emit_error", "format_duration", "format_removed", "to_jsonable"]


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


def emit(result: Any, args: argparse.Namespace) -> None:
    if getattr(args, "json", False):
        print(json.dumps(to_jsonable(result), ensure_ascii=False))
        return
    formatter = getattr(args, "format_text", None)
    if formatter is not None:
        print(display_text(formatter(result)))
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
        sys.stderr.write("\r" + display_text(text) + " " * pad)
        sys.stderr.flush()
        self._last_len = len(text)

    def close(self) -> None:
        if self.enabled and self._last_len:
            sys.stderr.write("\n")
            sys.stderr.flush()
