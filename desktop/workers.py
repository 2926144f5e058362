"""Run engine calls off the UI thread; deliver progress, results and errors back on it as Qt signals.

This is the only place the desktop app starts threads. Typical use from a tab::

    handle = ctx.tasks.run(engine_fn, arg, on_result=show, on_error=show_error, on_progress=bar.update)
    handle.cancel()   # or pause() / resume()

``engine_fn`` receives ``progress=`` and ``cancel=`` keyword arguments when its signature declares
them (the engine convention of :mod:`embedengine.tasks`). Progress is coalesced to at most
``MAX_PROGRESS_HZ`` deliveries a second, always including the last report before the result.
"""

from __future__ import annotations

import inspect
import itertools
import threading
import time
import traceback
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from embedengine.errors import UserError
from embedengine.tasks import CancelToken, Cancelled, Progress

MAX_PROGRESS_HZ = 20
_task_ids = itertools.count(1)


def accepts_keyword(fn: Callable, name: str) -> bool:
    """True when ``fn`` declares a parameter called ``name`` (positional-or-keyword or keyword-only)."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    param = parameters.get(name)
    return param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)


def describe_error(error: BaseException) -> tuple[str, str]:
    """(message, hint) for showing any exception to a person.

    A :class:`UserError` is shown as written; anything else is an internal error with its type named
    and a hint to report it (the traceback is kept on ``error.traceback_text`` by the worker).
    """
    if isinstance(error, UserError):
        return str(error), error.hint
    name = type(error).__name__
    text = str(error) or name
    return f"Something went wrong: {text} ({name}).", "This is a bug in Embed Studio; the details were logged."


class _Bridge(QObject):
    """Created on the UI thread; emitted from the worker thread, so its signals are queued."""

    progressed = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()


class TaskHandle(QObject):
    """A running (or finished) task. Signals fire on the UI thread.

    ``progressed(Progress)``, ``finished(result)``, ``failed(exception)``, ``cancelled()`` and, after any
    of the last three, ``done()``. ``state`` is one of running / paused / finished / failed / cancelled.
    """

    progressed = Signal(object)
    finished = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    done = Signal()

    def __init__(self, label: str, cancellable: bool, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.id = next(_task_ids)
        self.label = label
        self.cancellable = cancellable
        self.token = CancelToken()
        self.state = "running"
        self.last_progress: Optional[Progress] = None
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self.bridge = _Bridge()
        self.bridge.progressed.connect(self._on_progress)
        self.bridge.succeeded.connect(self._on_success)
        self.bridge.failed.connect(self._on_failure)
        self.bridge.cancelled.connect(self._on_cancelled)

    # -- control (UI thread) --------------------------------------------------------------------
    def cancel(self) -> None:
        if self.is_running:
            self.token.cancel()

    def pause(self) -> None:
        if self.state == "running":
            self.token.pause()
            self.state = "paused"

    def resume(self) -> None:
        if self.state == "paused":
            self.token.resume()
            self.state = "running"

    @property
    def is_running(self) -> bool:
        return self.state in ("running", "paused")

    # -- delivery (UI thread, via queued signals) -----------------------------------------------
    @Slot(object)
    def _on_progress(self, progress: Progress) -> None:
        if not self.is_running:
            return
        self.last_progress = progress
        self.progressed.emit(progress)

    @Slot(object)
    def _on_success(self, result: Any) -> None:
        self.result = result
        self._finish("finished", self.finished, result)

    @Slot(object)
    def _on_failure(self, error: BaseException) -> None:
        self.error = error
        self._finish("failed", self.failed, error)

    @Slot()
    def _on_cancelled(self) -> None:
        self._finish("cancelled", self.cancelled)

    def _finish(self, state: str, signal, *args) -> None:
        self.state = state
        signal.emit(*args)
        self.done.emit()


class _ProgressForwarder:
    """Progress callback run on the worker thread: forwards at most ``hz`` reports a second."""

    def __init__(self, bridge: _Bridge, hz: float = MAX_PROGRESS_HZ) -> None:
        self.bridge = bridge
        self.interval = 1.0 / hz
        self.last_sent = -1e18
        self.pending: Optional[Progress] = None
        self.last_stage: Optional[str] = None

    def __call__(self, progress: Progress) -> None:
        now = time.perf_counter()
        stage_changed = progress.stage != self.last_stage
        if stage_changed or now - self.last_sent >= self.interval:
            self._send(progress, now)
        else:
            self.pending = progress

    def flush(self) -> None:
        if self.pending is not None:
            self._send(self.pending, time.perf_counter())

    def _send(self, progress: Progress, now: float) -> None:
        self.last_sent = now
        self.last_stage = progress.stage
        self.pending = None
        self.bridge.progressed.emit(progress)


class _Job(QRunnable):
    def __init__(self, handle: TaskHandle, fn: Callable, args: tuple, kwargs: dict) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self.handle = handle
        self.fn = fn
        self.args = args
        self.kwargs = kwargs

    def run(self) -> None:
        bridge = self.handle.bridge
        forwarder = _ProgressForwarder(bridge)
        kwargs = dict(self.kwargs)
        if accepts_keyword(self.fn, "progress"):
            kwargs["progress"] = forwarder
        if accepts_keyword(self.fn, "cancel"):
            kwargs["cancel"] = self.handle.token
        try:
            result = self.fn(*self.args, **kwargs)
        except Cancelled:
            bridge.cancelled.emit()
            return
        except BaseException as error:  # delivered to the UI, never lost in a thread
            error.traceback_text = traceback.format_exc()
            if not isinstance(error, UserError):
                traceback.print_exc()
            forwarder.flush()
            bridge.failed.emit(error)
            return
        forwarder.flush()
        bridge.succeeded.emit(result)


class TaskRunner(QObject):
    """Runs callables on a private thread pool. One instance lives on :class:`AppContext` as ``ctx.tasks``.

    Signals (UI thread): ``task_started(handle)``, ``task_progress(handle, Progress)``, ``task_done(handle)``
    — the main window uses them for the status-bar progress.
    """

    task_started = Signal(object)
    task_progress = Signal(object, object)
    task_done = Signal(object)

    def __init__(self, max_threads: int = 4, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._active: dict[int, TaskHandle] = {}
        self._lock = threading.Lock()
        self._closing = False

    def run(
        self,
        fn: Callable,
        *args: Any,
        on_result: Optional[Callable[[Any], None]] = None,
        on_error: Optional[Callable[[BaseException], None]] = None,
        on_progress: Optional[Callable[[Progress], None]] = None,
        on_cancel: Optional[Callable[[], None]] = None,
        cancellable: bool = True,
        label: str = "",
        **kwargs: Any,
    ) -> TaskHandle:
        """Start ``fn(*args, **kwargs)`` on a worker thread; callbacks run on the UI thread."""
        if self._closing:
            raise RuntimeError("the application is closing; no new tasks")
        handle = TaskHandle(label or getattr(fn, "__name__", "task"), cancellable)
        self._connect(handle, on_result, on_error, on_progress, on_cancel)
        with self._lock:
            self._active[handle.id] = handle
        self.task_started.emit(handle)
        self.pool.start(_Job(handle, fn, args, kwargs))
        return handle

    def _connect(self, handle: TaskHandle, on_result, on_error, on_progress, on_cancel) -> None:
        handle.progressed.connect(lambda p, h=handle: self.task_progress.emit(h, p))
        if on_progress is not None:
            handle.progressed.connect(on_progress)
        if on_result is not None:
            handle.finished.connect(on_result)
        if on_error is not None:
            handle.failed.connect(on_error)
        if on_cancel is not None:
            handle.cancelled.connect(on_cancel)
        handle.done.connect(lambda h=handle: self._forget(h))

    def _forget(self, handle: TaskHandle) -> None:
        with self._lock:
            self._active.pop(handle.id, None)
        self.task_done.emit(handle)

    def active(self) -> list[TaskHandle]:
        """Tasks still running or paused, oldest first."""
        with self._lock:
            return list(self._active.values())

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel every task and wait for the workers; called when the app closes."""
        self._closing = True
        for handle in self.active():
            handle.token.cancel()
        return self.pool.waitForDone(timeout_ms)
