"""`embedstudio map MODEL | --collection NAME [--kind documents|images] [--out DIR]` and `map import DIR`.

The first lays out (or reopens, or updates) the 2-D map of a word model or a collection and, with ``--out``,
writes the Embedding Projector's files (``vectors.tsv``, ``metadata.tsv`` with the map's coordinates, a sprite
for photos). ``map import DIR`` reads such files back as a word model with its map.
"""

from __future__ import annotations

import argparse

from embedengine import maps
from embedengine.errors import UserError

from .common import TerminalProgress, add_command


def register(subparsers) -> None:
    parser = add_command(subparsers, "map", run_map, "lay out a word model or a collection in 2-D (and export it "
                                                     "for the Embedding Projector); `map import DIR` reads one back",
                         format_text=format_map)
    parser.add_argument("target", nargs="*", metavar="MODEL | import DIR",
                        help="a saved word model's name, or `import` and a folder of Projector files")
    parser.add_argument("--collection", help="map this collection instead of a word model")
    parser.add_argument("--kind", choices=("documents", "images"), default="documents",
                        help="the collection's kind (default %(default)s)")
    parser.add_argument("--method", choices=maps.METHODS, default="auto",
                        help="layout: auto (a saved map, else t-SNE when the maps extra is installed, else PCA), pca, tsne, umap "
                             "(default %(default)s)")
    parser.add_argument("--recompute", action="store_true", help="lay the map out anew, ignoring the saved one")
    parser.add_argument("--out", help="write the Projector's files into this folder")
    parser.add_argument("--name", help="with `import`: the word model's name (default: the folder's name)")


def run_map(args: argparse.Namespace):
    if args.target[:1] == ["import"]:
        if len(args.target) != 2:
            raise UserError("map import takes one folder", hint="embedstudio map import DIR [--name NAME]")
        return maps.import_projector_as_word_model(args.target[1], args.name)
    if bool(args.collection) == bool(args.target) or len(args.target) > 1:
        raise UserError("name one word model or one --collection", hint="embedstudio map MODEL | --collection NAME")
    kind, name = (args.kind, args.collection) if args.collection else ("words", args.target[0])
    bar = TerminalProgress()
    try:
        space = maps.load_space(kind, name)
        summary = maps.make_map(space, args.method, progress=bar, recompute=args.recompute)
        export = None
        if args.out:
            export = maps.export_projector(space, maps.SpaceMap.load(summary.file), args.out, progress=bar)
    finally:
        bar.close()
    return {"map": summary, "export": export}


def format_map(result) -> str:
    if isinstance(result, maps.ProjectorImport):
        where = f"; its map: {result.map_file}" if result.map_file else " (no map coordinates in the files)"
        return f"imported {result.points:,} vectors of {result.dim} dimensions as word model '{result.name}'{where}"
    summary, export = result["map"], result["export"]
    how = ("reopened" if summary.reused else
           f"updated ({summary.placed:,} placed, {summary.removed:,} removed)" if not summary.laid_out else "laid out")
    lines = [f"{summary.kind} '{summary.name}': {summary.points:,} points, {summary.method} map {how} in "
             f"{summary.seconds:.1f} s → {summary.file}"]
    if export is not None:
        lines.append(f"Projector files in {export.folder}: {', '.join(export.files)}")
    return "\n".join(lines)
