"""File locks of a collection folder (POSIX ``flock``; no-ops where there is none).

- ``index.lock`` — **one writer per collection**: an index run (or a folder removal) holds it. A second
  writer, in this process or another, is refused with a message naming the holder; readers (searches)
  never take it.
- ``write.lock`` — held by the store for the moment it appends vectors (blocking: a CLI run beside the app).

An ``flock`` belongs to an open file, so the kernel releases it when its process dies: a crashed or
killed run leaves no stale lock, only the file with the last holder's details (then ignored).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Optional

from embedengine.errors import UserError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; a single writer is the user's job there
    fcntl = None

LOCK_FILE = "index.lock"


class FileLock:
    """``with FileLock(path):`` an exclusive ``flock`` (``blocking=False``: :class:`BlockingIOError` when held)."""

    def __init__(self, path: Path, blocking: bool = True) -> None:
        self.path = Path(path)
        self.blocking = blocking
        self.handle = None

    def __enter__(self) -> "FileLock":
        if fcntl is None:
            return self
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if self.blocking else fcntl.LOCK_NB))
        except BaseException:
            handle.close()
            raise
        self.handle = handle
        return self

    def __exit__(self, *exc) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


class CollectionLock(FileLock):
    """The one-writer lock: non-blocking; :class:`UserError` naming the holder when it is held."""

    def __init__(self, folder: Path, name: str) -> None:
        super().__init__(Path(folder) / LOCK_FILE, blocking=False)
        self.name = name

    def __enter__(self) -> "CollectionLock":
        try:
            super().__enter__()
        except BlockingIOError:
            raise UserError(f"collection '{self.name}' is being indexed by another run{_holder(self.path)}",
                            hint="wait for it to finish (or cancel it); searching works meanwhile") from None
        if self.handle is not None:
            self.handle.seek(0)
            self.handle.truncate()
            self.handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}))
            self.handle.flush()
        return self


def _holder(path: Path) -> str:
    """`` (process 123, since 10:42)`` from the lock file, or "" when it says nothing useful."""
    try:
        holder: Optional[dict] = json.loads(path.read_text() or "null")
        since = time.strftime("%H:%M", time.localtime(float(holder["since"])))
        return f" (process {int(holder['pid'])}, since {since})"
    except (ValueError, TypeError, KeyError, OSError):
        return ""
