"""Every command and every option of the whole `embedstudio` command line says what it is for.

The parser is the one the `embedstudio` console script runs: ``embedstudio.main`` hands a subcommand to
``models.cli.main``, which is ``embedengine.cli.main`` with ``models.cli.register`` composed in.
"""

from __future__ import annotations

import argparse

import pytest

from embedengine.cli import build_parser
from models.cli import register as register_models


def full_parser() -> argparse.ArgumentParser:
    return build_parser(registrars=[register_models])


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) for the parser and every subparser below it, depth first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from walk(child, path + (name,))


def subcommand_actions(parser: argparse.ArgumentParser) -> list:
    return [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]


def is_command(parser: argparse.ArgumentParser) -> bool:
    """A command that runs something (not an area such as ``docs`` that only groups actions)."""
    return parser.get_default("handler") is not None


PARSERS = list(walk(full_parser()))
COMMANDS = [(path, parser) for path, parser in PARSERS if is_command(parser)]


def label(path: tuple[str, ...]) -> str:
    return " ".join(("embedstudio",) + path)


def test_the_whole_command_line_is_there():
    commands = {" ".join(path) for path, _ in COMMANDS}
    for expected in ("models build", "models info", "encode text", "encode image", "train", "scan", "similar",
                     "analogy", "eval", "convert", "docs index", "docs search", "docs compare", "docs remove",
                     "docs repair", "docs status", "docs list", "images index", "images search", "images dupes",
                     "images remove", "images repair", "images status", "images list"):
        assert expected in commands, f"`{label(tuple(expected.split()))}` is missing from the parser"


def test_every_argument_of_every_command_has_help():
    missing = []
    for path, parser in PARSERS:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue  # the COMMAND/ACTION slot: its choices are checked below
            if action.help is argparse.SUPPRESS or not (action.help or "").strip():
                missing.append(f"{label(path)} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "arguments without help text:\n" + "\n".join(missing)


def test_every_subcommand_has_help_in_its_parents_list():
    missing = []
    for path, parser in PARSERS:
        for subparsers in subcommand_actions(parser):
            described = {choice.dest: choice.help for choice in subparsers._choices_actions}
            missing += [label(path + (name,)) for name in subparsers.choices
                        if not (described.get(name) or "").strip()]
    assert not missing, "subcommands without help text:\n" + "\n".join(missing)


def test_every_default_is_stated_in_the_help():
    """An option with a default value says what it is (``--collection`` defaults to 'default' or 'photos')."""
    unstated = []
    for path, parser in PARSERS:
        for action in parser._actions:
            if not action.option_strings or action.default in (None, False, [], (), argparse.SUPPRESS):
                continue
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            if "default" not in (action.help or ""):
                unstated.append(f"{label(path)} {'/'.join(action.option_strings)} (default {action.default!r})")
    assert not unstated, "defaults not stated in the help:\n" + "\n".join(unstated)


@pytest.mark.parametrize("area,default", [("docs", "default"), ("images", "photos")])
def test_the_default_collection_of_each_kind_is_named_in_its_help(area, default):
    for path, parser in PARSERS:
        if path[:1] != (area,) or not is_command(parser) or path[-1] in ("status", "list"):
            continue
        collection = next(a for a in parser._actions if "--collection" in a.option_strings)
        assert collection.default == default and f"'{default}'" in collection.help, label(path)


def test_every_command_takes_json_and_every_help_page_renders():
    for path, parser in COMMANDS:
        assert any("--json" in a.option_strings for a in parser._actions), f"`{label(path)}` has no --json"
    for path, parser in PARSERS:
        text = parser.format_help()  # a stray '%' in a help string fails here
        assert text.strip(), label(path)
