"""`embedstudio images index|remove|search|dupes|status|list`: image collections from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from embedengine.errors import UserError
from embedengine.images_index import (
    DEFAULT_DUPLICATE_THRESHOLD,
    DuplicatesResult,
    ImageCollection,
    ImageSearchResult,
)

from .collections import collection_option, register_collection_commands
from .common import add_command


def register(subparsers) -> None:
    images = subparsers.add_parser("images", help="index folders of photos, find similar images and near-duplicates")
    sub = images.add_subparsers(dest="images_command", metavar="ACTION", required=True)

    register_collection_commands(sub, ImageCollection)

    search = add_command(sub, "search", run_search, "find the images most similar to IMAGE", format_search)
    search.add_argument("image", nargs="?", type=Path, metavar="IMAGE",
                        help="the query picture (it need not be in the collection)")
    search.add_argument("-k", type=int, default=10, help="how many results (default 10)")
    search.add_argument("--label", default=None, metavar="WORD",
                        help="only images whose ImageNet labels mention WORD; alone, a search by meaning through the labels "
                             "('a dog on a beach')")
    collection_option(search, ImageCollection)

    dupes = add_command(sub, "dupes", run_dupes, "group near-duplicate images (resized, recompressed, cropped copies)",
                        format_dupes)
    dupes.add_argument("--threshold", type=float, default=DEFAULT_DUPLICATE_THRESHOLD,
                       help=f"similarity needed to link two images (default {DEFAULT_DUPLICATE_THRESHOLD})")
    collection_option(dupes, ImageCollection)


# -- handlers ----------------------------------------------------------------------------------

def run_search(args: argparse.Namespace) -> ImageSearchResult:
    if args.k < 1:
        raise UserError("-k must be at least 1")
    if args.image is None and not args.label:
        raise UserError("give a query IMAGE, or --label WORD, or both", hint="embedstudio images search photo.jpg -k 5")
    with ImageCollection.open(args.collection) as collection:
        if args.image is None:
            return collection.search_by_label(args.label, k=args.k)
        return collection.search(args.image, k=args.k, label_filter=args.label)


def run_dupes(args: argparse.Namespace) -> DuplicatesResult:
    with ImageCollection.open(args.collection) as collection:
        return collection.near_duplicates(args.threshold)


# -- text output -------------------------------------------------------------------------------

def _labels(labels, n: int = 2) -> str:
    return ", ".join(f"{name} {p:.0%}" for name, p in labels[:n])


def format_search(result: ImageSearchResult) -> str:
    head = f"query {result.query}" if result.query else f"label '{result.label_filter}'"
    if result.query and result.label_filter:
        head += f" (label '{result.label_filter}')"
    lines = [f"{head} in '{result.collection}' ({result.images} images, search {result.search_ms:.1f} ms)"]
    if result.query_labels:
        lines.append(f"  query looks like: {_labels(result.query_labels, 3)}")
    if result.related_labels:
        lines.append(f"  labels that mean it: {', '.join(name for name, _ in result.related_labels[:6])}")
    lines += [f"{rank:3d}. {hit.score:.3f}  {hit.path}  [{_labels(hit.labels)}]"
              for rank, hit in enumerate(result.hits, start=1)]
    if not result.hits:
        lines.append("  no matching images")
    return "\n".join(lines)


def format_dupes(result: DuplicatesResult) -> str:
    lines = [f"'{result.collection}': {len(result.groups)} group(s) of near-duplicates at ≥ {result.threshold:.2f} "
             f"among {result.images} images"]
    for number, group in enumerate(result.groups, start=1):
        lines.append(f"group {number} ({len(group.images)} images, similarity {group.min_similarity:.3f}–"
                     f"{group.max_similarity:.3f})")
        lines += [f"    {hit.score:.3f}  {hit.path}" for hit in group.images]
    return "\n".join(lines)
