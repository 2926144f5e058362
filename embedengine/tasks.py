"""Progress reporting and cooperative cancellation for long engine calls.

The engine never talks to a GUI: long work accepts ``progress: ProgressCallback | None`` and
``cancel: CancelToken | None`` and calls :meth:`CancelToken.checkpoint` between units of work.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional


class Cancelled(Exception):
    """Raised by :meth:`CancelToken.checkpoint` once cancellation was requested."""


@dataclass
class Progress:
    """One progress report. ``done``/``total`` are in ``unit``s; ``extra`` holds task-specific numbers."""

    stage: str
    done: float = 0.0
    total: Optional[float] = None
    unit: str = "items"
    rate: Optional[float] = None  # units per second
    eta_s: Optional[float] = None
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> Optional[float]:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], None]


def emit(progress: Optional[ProgressCallback], report: Progress) -> None:
    """Send ``report`` to ``progress`` when there is a callback (the one helper for optional progress)."""
    if progress is not None:
        progress(report)


def say(progress: Optional[ProgressCallback], stage: str, message: str) -> None:
    """A message-only progress report (no counts): ``say(progress, "models", "building minilm")``."""
    emit(progress, Progress(stage=stage, message=message))


class CancelToken:
    """Thread-safe cancel and pause flags, polled by the worker at checkpoints."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def cancel(self) -> None:
        self._cancelled.set()
        self._running.set()  # wake a paused worker so it can see the cancel

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def checkpoint(self) -> None:
        """Block while paused; raise :class:`Cancelled` if cancelled."""
        self._running.wait()
        if self._cancelled.is_set():
            raise Cancelled()


def checkpoint(token: Optional[CancelToken]) -> None:
    """:meth:`CancelToken.checkpoint` that accepts ``None``."""
    if token is not None:
        token.checkpoint()


class RateMeter:
    """Turns a running count into rate and ETA, smoothed over the whole run."""

    def __init__(self, total: Optional[float] = None) -> None:
        self.total = total
        self.start = time.perf_counter()
        self.paused_s = 0.0

    def elapsed(self) -> float:
        return max(1e-9, time.perf_counter() - self.start - self.paused_s)

    def rate(self, done: float) -> float:
        return done / self.elapsed()

    def eta(self, done: float) -> Optional[float]:
        if not self.total or done <= 0:
            return None
        return max(0.0, (self.total - done) / self.rate(done))


class Throttle:
    """Lets a call through at most every ``interval`` seconds (always the first)."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._last = -1e18

    def ready(self) -> bool:
        now = time.perf_counter()
        if now - self._last >= self.interval:
            self._last = now
            return True
        return False
