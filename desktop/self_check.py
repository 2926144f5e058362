"""``embedstudio --self-check``: open the main window, wait until it is on screen and idle, print one JSON
line saying what opened and how long it took, close it and exit.

For packagers and support ("does the app start on this machine?"): the one-folder bundle's test runs it
offscreen. Models are not built here; the tabs that need absent models say how to build them.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Callable, Sequence

SETTLE_SECONDS = 0.5  # the window stays up this long with no task running before it counts as started
MAX_WAIT_SECONDS = 60.0


def main(args: Sequence[str] = (), started: float = 0.0) -> int:
    """Open the window with ``args`` (``--no-demo`` is added), report, quit; 0 when the window opened."""
    started = started or time.monotonic()
    from PySide6.QtWidgets import QApplication

    from desktop.app import create_main_window

    window = create_main_window([*args, "--no-demo"])
    window.show()
    app = QApplication.instance()
    shown = pump(MAX_WAIT_SECONDS, lambda: window.isVisible() and window.windowHandle() is not None
                  and window.windowHandle().isExposed())
    seconds_to_window = round(time.monotonic() - started, 2)
    idle_since = time.monotonic()
    deadline = time.monotonic() + MAX_WAIT_SECONDS
    while time.monotonic() < deadline and time.monotonic() - idle_since < SETTLE_SECONDS:
        app.processEvents()
        if window.ctx.tasks.active():
            idle_since = time.monotonic()
        time.sleep(0.02)
    report = {
        "window": window.windowTitle(),
        "shown": shown,
        "tabs": [window.tabs.tabText(i) for i in range(window.tabs.count())],
        "seconds_to_window": seconds_to_window,
        "frozen": bool(getattr(sys, "frozen", False)),
    }
    window.close()
    app.processEvents()
    print(json.dumps(report), flush=True)
    return 0 if shown else 1


def pump(seconds: float, until: Callable[[], bool] = lambda: False) -> bool:
    """Run the event loop for up to ``seconds`` or until ``until()``; returns whether it came true."""
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        QApplication.processEvents()
        if until():
            return True
        time.sleep(0.01)
    return until()
