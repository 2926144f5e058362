"""The ``embedstudio`` command line: one subcommand per engine action, each with ``--json``.

Each area module (``encode``, ``word2vec``, ``docs``, ``images``) exposes ``register(subparsers)``;
a command's handler returns a result (dataclass or dict) that is printed as one JSON document with
``--json`` or as text via the command's ``format_text``.

Areas that live outside the engine come in as extra ``registrars``: the ``models`` area
(``models.cli.register``, which builds the ONNX models) is composed in by ``models.cli.main``, the
function behind the ``embedstudio`` command and ``python -m models``. The engine never imports the
``models`` package, so ``python -m embedengine.cli`` has every area but ``models``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable, Optional, Sequence

from embedengine import __version__
from embedengine.errors import UserError
from embedengine.runtime import ModelMissingError
from embedengine.tasks import Cancelled

from .common import emit, emit_error

AREAS = ("encode", "word2vec", "docs", "images")

Registrar = Callable[[argparse._SubParsersAction], None]  # adds one area's subcommands


def build_parser(registrars: Sequence[Registrar] = ()) -> argparse.ArgumentParser:
    """The parser with ``registrars`` (areas from outside the engine) first, then the engine's areas."""
    parser = argparse.ArgumentParser(
        prog="embedstudio",
        description="Embed Studio: word vectors, semantic document search and image similarity, offline. "
        "Run with no arguments to open the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"embedstudio {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in registrars:
        register(subparsers)
    for area in AREAS:
        try:
            module = importlib.import_module(f"embedengine.cli.{area}")
        except ModuleNotFoundError as error:
            if error.name == f"embedengine.cli.{area}":
                continue  # area not present in this build
            raise
        module.register(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None, registrars: Sequence[Registrar] = ()) -> int:
    parser = build_parser(registrars)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 1
    try:
        result = args.handler(args)
    except (UserError, ModelMissingError, FileNotFoundError) as error:
        emit_error(error, args)
        return 2
    except Cancelled:
        emit_error(UserError("cancelled"), args)
        return 130
    except KeyboardInterrupt:
        emit_error(UserError("interrupted"), args)
        return 130
    emit(result, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
