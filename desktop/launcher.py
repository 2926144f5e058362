"""The ``embedstudio`` console command: no arguments opens the app, a subcommand runs the CLI."""

from __future__ import annotations

import os
import sys
from typing import Optional, Sequence


def has_display() -> bool:
    """False on a Linux machine with no X11/Wayland display and no explicit Qt platform."""
    if sys.platform in ("win32", "darwin") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in ("--demo", "--no-demo"):
        from embedengine.cli import main as cli_main

        return cli_main(args)
    if not has_display():
        print(
            "Embed Studio needs a display to open its window, and none was found (DISPLAY/WAYLAND_DISPLAY unset).\n"
            "Everything works from the command line too: run `embedstudio --help`, e.g.\n"
            "    embedstudio similar MODEL king --json\n"
            "    embedstudio docs search 'query' --json\n"
            "or start a virtual display: `xvfb-run embedstudio`.",
            file=sys.stderr,
        )
        return 3
    from desktop.app import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
