"""Only regular files are read: a FIFO, socket or device given as input would block or never end.

:func:`require_regular_file` checks a path with ``stat`` (which never blocks) before anything opens
it; :func:`open_regular_file` checks, then opens without blocking and checks the opened file again,
so a path swapped for a FIFO in between is refused too.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from .errors import UserError

_KIND_NAMES = (  # how a file that is not regular is named in messages
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISDIR, "a folder"),
)
_NONBLOCKING = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO for reading would wait for a writer


class NotRegularFile(UserError):
    """A path that is not a regular file; ``reason`` is the short form for skipped-file lists."""

    def __init__(self, path: str | os.PathLike, mode: int) -> None:
        self.path, self.mode = str(path), mode
        self.reason = f"not a regular file ({kind_name(mode)})"
        super().__init__(f"{path} is {kind_name(mode)}, not a regular file",
                         hint="Give a regular file: named pipes (FIFOs), sockets and devices are not read.",
                         data={"path": self.path, "reason": self.reason})

    def __reduce__(self):
        return type(self), (self.path, self.mode)


def kind_name(mode: int) -> str:
    """'a FIFO', 'a socket', ... for a ``st_mode``."""
    return next((name for test, name in _KIND_NAMES if test(mode)), "a special file")


def require_regular_file(path: str | os.PathLike) -> None:
    """Raise :class:`NotRegularFile` (a :class:`UserError`) unless ``path`` is a regular file (links
    followed). A missing path or a folder raises the ``OSError`` that ``open`` would."""
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not stat.S_ISREG(mode):
        raise NotRegularFile(path, mode)


def open_regular_file(path: str | Path) -> BinaryIO:
    """``open(path, "rb")`` for a regular file only: never blocks on a FIFO (see the module docstring)."""
    require_regular_file(path)
    descriptor = os.open(path, os.O_RDONLY | _NONBLOCKING | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, mode)
        if _NONBLOCKING:
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
