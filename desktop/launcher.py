"""Opening the app from a terminal: say plainly why a window cannot open, or open it.

The ``embedstudio`` command (the top-level ``embedstudio.py``, which also dispatches subcommands to
the command line and builds absent models first) calls :func:`main` when it has no subcommand;
``python -m desktop`` calls it directly.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Optional, Sequence


def has_display() -> bool:
    """False on a Linux machine with no X11/Wayland display and no explicit Qt platform."""
    if sys.platform in ("win32", "darwin") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


# Libraries Qt's X11 plugin loads (name for ctypes.util.find_library -> Debian/Ubuntu package).
XCB_LIBRARIES = {
    "xcb-cursor": "libxcb-cursor0",
    "xcb-icccm": "libxcb-icccm4",
    "xcb-keysyms": "libxcb-keysyms1",
    "xcb-image": "libxcb-image0",
    "xcb-render-util": "libxcb-render-util0",
    "xcb-shape": "libxcb-shape0",
    "xcb-randr": "libxcb-randr0",
    "xcb-xkb": "libxcb-xkb1",
    "xkbcommon-x11": "libxkbcommon-x11-0",
}


def missing_linux_packages() -> list[str]:
    """Packages whose libraries Qt's X11 plugin needs: without them Qt aborts the process with a vague message."""
    if not sys.platform.startswith("linux") or not os.environ.get("DISPLAY"):
        return []
    if os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb":
        return []
    from ctypes.util import find_library

    return [package for library, package in XCB_LIBRARIES.items() if find_library(library) is None]


def main(argv: Optional[Sequence[str]] = None, before_window: Optional[Callable[[], object]] = None) -> int:
    """Open the app with ``argv`` (``--demo``/``--no-demo``); returns the exit status.

    With no display at all it says so, points at the command line and returns 0: that is how this
    machine is meant to be used, not a failure (``make run`` then ends without ``make: *** Error``).
    When a display is there but Qt cannot use it (X11 libraries missing) it returns 3.

    ``before_window`` runs once the window is known to be able to open (``embedstudio`` builds
    absent models there).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not has_display():
        print(
            "Embed Studio needs a display to open its window, and none was found (DISPLAY/WAYLAND_DISPLAY unset).\n"
            "Everything works from the command line too: run `embedstudio --help`, e.g.\n"
            "    embedstudio similar MODEL king --json\n"
            "    embedstudio docs search 'query' --json\n"
            "or start a virtual display: `xvfb-run embedstudio`.",
            file=sys.stderr,
        )
        return 0
    missing = missing_linux_packages()
    if missing:
        print(
            "Qt needs a few X11 libraries that are not installed here, so it cannot open a window.\n"
            f"On Debian/Ubuntu: sudo apt install {' '.join(missing)}\n"
            "(other distributions: the xcb-util packages), then run `make run` again. "
            "The command line works without them: `embedstudio --help`.",
            file=sys.stderr,
        )
        return 3
    if before_window is not None:
        before_window()
    from desktop.app import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
