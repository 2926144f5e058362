"""One writer per collection: an index run (or a folder removal) holds ``index.lock`` in the collection
folder. A second writer, in this process or another, is refused with a message naming the holder;
readers (searches) never take it.

The lock is an ``flock`` on an open file, so the kernel releases it when its process dies: a crashed or
killed run leaves no stale lock, only the file with the last holder's details (which are then ignored).
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


class CollectionLock:
    """``with CollectionLock(folder, name):`` — exclusive, non-blocking; :class:`UserError` when held."""

    def __init__(self, folder: Path, name: str) -> None:
        self.path = Path(folder) / LOCK_FILE
        self.name = name
        self._handle = None

    def __enter__(self) -> "CollectionLock":
        if fcntl is None:
            return self
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(handle)
            handle.close()
            raise UserError(f"collection '{self.name}' is being indexed by another run{holder}",
                            hint="wait for it to finish (or cancel it); searching works meanwhile") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _read_holder(handle) -> str:
    """`` (process 123, since 10:42)`` from the lock file, or "" when it says nothing useful."""
    try:
        handle.seek(0)
        holder: Optional[dict] = json.loads(handle.read() or "null")
        since = time.strftime("%H:%M", time.localtime(float(holder["since"])))
        return f" (process {int(holder['pid'])}, since {since})"
    except (ValueError, TypeError, KeyError, OSError):
        return ""
