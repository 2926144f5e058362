"""`embedstudio images index|search|dupes|status`: image collections from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from embedengine.errors import UserError
from embedengine.images_index import (
    DEFAULT_COLLECTION,
    DEFAULT_DUPLICATE_THRESHOLD,
    CollectionStatus,
    DuplicatesResult,
    ImageCollection,
    ImageSearchResult,
    IndexReport,
    collection_names,
)

from .common import TerminalProgress, add_command, format_duration, format_removed


def register(subparsers) -> None:
    images = subparsers.add_parser("images", help="index folders of photos, find similar images and near-duplicates")
    sub = images.add_subparsers(dest="images_command", metavar="ACTION", required=True)

    index = add_command(sub, "index", run_index, "add folders to an image collection and (re)index it", format_index)
    index.add_argument("folders", nargs="*", type=Path, metavar="FOLDER",
                       help="folders (or image files) to add; none re-indexes the collection's folders")
    index.add_argument("--exclude", action="append", default=None, metavar="GLOB",
                       help="leave out matching files or folders (repeatable; replaces the saved excludes)")
    index.add_argument("--remove", action="append", default=[], type=Path, metavar="FOLDER",
                       help="stop indexing FOLDER: its images leave the collection (repeatable)")
    _collection_option(index)

    remove = add_command(sub, "remove", run_remove, "take a folder out of a collection (your files stay where they are)",
                         format_removed)
    remove.add_argument("folder", type=Path, help="one of the collection's folders (see status)")
    _collection_option(remove)

    search = add_command(sub, "search", run_search, "find the images most similar to IMAGE", format_search)
    search.add_argument("image", nargs="?", type=Path, metavar="IMAGE",
                        help="the query picture (it need not be in the collection)")
    search.add_argument("-k", type=int, default=10, help="how many results (default 10)")
    search.add_argument("--label", default=None, metavar="WORD",
                        help="only images whose ImageNet labels mention WORD (alone: a label search)")
    _collection_option(search)

    dupes = add_command(sub, "dupes", run_dupes, "group near-duplicate images (resized, recompressed, cropped copies)",
                        format_dupes)
    dupes.add_argument("--threshold", type=float, default=DEFAULT_DUPLICATE_THRESHOLD,
                       help=f"similarity needed to link two images (default {DEFAULT_DUPLICATE_THRESHOLD})")
    _collection_option(dupes)

    status = add_command(sub, "status", run_status, "show image collections: folders, counts, skipped files",
                         format_status)
    status.add_argument("--collection", default=None, help="only this collection (default: all)")


def _collection_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--collection", default=DEFAULT_COLLECTION,
                        help=f"image collection name (default '{DEFAULT_COLLECTION}')")


# -- handlers ----------------------------------------------------------------------------------

def run_index(args: argparse.Namespace) -> IndexReport:
    create = bool(args.folders)
    bar = TerminalProgress()
    try:
        with ImageCollection(args.collection, create=create) as collection:
            if args.exclude is not None:
                collection.set_excludes(args.exclude)
            for folder in args.remove:
                collection.remove_folder(folder)
            return collection.index(args.folders, progress=bar)
    finally:
        bar.close()


def run_remove(args: argparse.Namespace):
    with ImageCollection(args.collection, create=False) as collection:
        return collection.remove_folder(args.folder)


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


def run_status(args: argparse.Namespace) -> dict:
    names = [args.collection] if args.collection else collection_names()
    statuses = []
    for name in names:
        with ImageCollection.open(name) as collection:
            statuses.append(collection.status())
    return {"collections": statuses}


# -- text output -------------------------------------------------------------------------------

def _labels(labels, n: int = 2) -> str:
    return ", ".join(f"{name} {p:.0%}" for name, p in labels[:n])


def format_index(report: IndexReport) -> str:
    state = "cancelled" if report.cancelled else "done"
    lines = [f"{report.collection}: {state} in {format_duration(report.seconds)} — {report.indexed} indexed "
             f"({report.images_per_s:.1f} images/s), {report.unchanged} unchanged, {report.removed} removed, "
             f"{len(report.skipped)} skipped; {report.images} images in the collection"]
    lines += [f"  skipped {s.path}: {s.reason}" for s in report.skipped]
    lines += [f"  warning: {w}" for w in report.warnings]
    return "\n".join(lines)


def format_search(result: ImageSearchResult) -> str:
    head = f"query {result.query}" if result.query else f"label '{result.label_filter}'"
    if result.query and result.label_filter:
        head += f" (label '{result.label_filter}')"
    lines = [f"{head} in '{result.collection}' ({result.images} images, search {result.search_ms:.1f} ms)"]
    if result.query_labels:
        lines.append(f"  query looks like: {_labels(result.query_labels, 3)}")
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


def format_status(result: dict) -> str:
    statuses: list[CollectionStatus] = result["collections"]
    if not statuses:
        return "no image collections yet: run `embedstudio images index FOLDER`"
    lines = []
    for status in statuses:
        lines.append(f"{status.name}: {status.images} images, {len(status.skipped)} skipped — {status.folder}")
        lines += [f"    folder  {root}" for root in status.roots]
        lines += [f"    exclude {pattern}" for pattern in status.excludes]
        lines += [f"    skipped {s.path}: {s.reason}" for s in status.skipped]
    return "\n".join(lines)
