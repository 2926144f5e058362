"""The ``embedstudio`` command: no arguments opens the app, a subcommand runs the command line.

This module sits above the three packages and composes them, so that none of them imports another
against the layering that ``tests/test_layers.py`` enforces (the engine knows neither the app nor the
model builder; the app does not use the command line):

* ``embedstudio COMMAND …`` runs the engine's command line with the ``models`` area added
  (``models.cli.main``);
* ``embedstudio`` (or ``--demo``/``--no-demo``) checks that a window can open (``desktop.launcher``),
  builds the absent models in the first-run window (``desktop.first_run``), then opens the app.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

APP_FLAGS = ("--demo", "--no-demo", "--self-check")  # arguments that go to the app rather than to the command line


def missing_models() -> list[str]:
    """Keys of the models not built yet (``minilm``, ``resnet50``)."""
    from embedengine.runtime import models_dir
    from models.build import RECIPES, is_built, read_manifest

    folder = models_dir()
    manifest = read_manifest(folder)
    return [recipe.key for recipe in RECIPES if not is_built(recipe, folder, manifest)]


def ensure_models() -> list[str]:
    """Build absent models before the app opens, in the first-run window (each model and step shown);
    returns what was built. When that fails (offline, say) the window says why and the app opens anyway:
    word vectors work without the models, and the tabs that need them say how to build them."""
    missing = missing_models()
    if not missing:
        return []
    from desktop.first_run import build_models_in_window

    return missing if build_models_in_window(missing, build_models) else []


def build_models(only: list[str], progress=None) -> list[str]:
    """Build the models ``only`` into the models folder (``models build``), reporting each step."""
    from models.build import build_all

    return build_all(only=only, progress=progress)["built"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in APP_FLAGS:
        from models.cli import main as cli_main

        return cli_main(args)
    if "--self-check" in args:  # open the window, report as JSON, quit (the bundle's test; packagers)
        from desktop.self_check import main as self_check

        return self_check([a for a in args if a != "--self-check"])
    from desktop.launcher import main as open_app

    return open_app(args, before_window=ensure_models)


if __name__ == "__main__":
    sys.exit(main())
