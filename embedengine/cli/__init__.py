"""The ``embedstudio`` command line: one subcommand per engine action, each with ``--json``.

Each area module (``models``, ``word2vec``, ``docs``, ``images``, ``encode``) exposes
``register(subparsers)``; a command's handler returns a result (dataclass or dict) that is printed
as one JSON document with ``--json`` or as text via the command's ``format_text``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from embedengine import __version__
from embedengine.errors import UserError
from embedengine.runtime import ModelMissingError
from embedengine.tasks import Cancelled

from .common import emit, emit_error

AREAS = ("models", "encode", "word2vec", "docs", "images")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="embedstudio",
        description="Embed Studio: word vectors, semantic document search and image similarity, offline. "
        "Run with no arguments to open the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"embedstudio {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for area in AREAS:
        try:
            module = importlib.import_module(f"embedengine.cli.{area}")
        except ModuleNotFoundError as error:
            if error.name == f"embedengine.cli.{area}":
                continue  # area not present in this build
            raise
        module.register(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
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
