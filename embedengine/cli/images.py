"""`embedstudio images index|remove|search|dupes|status|list`: image collections from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from embedengine.errors import UserError
from embedengine.image_filters import DATE_HINT, SIZE_HINT, ImageFilters
from embedengine.images_index import (
    DEFAULT_DUPLICATE_THRESHOLD,
    METHOD,
    DuplicatesResult,
    ImageCollection,
    ImageSearchResult,
)

from .collections import collection_option, register_collection_commands
from .common import add_command


def register(subparsers) -> None:
    images = subparsers.add_parser("images", help="index folders of photos, find similar images and near-duplicates")
    sub = images.add_subparsers(dest="images_command", metavar="ACTION", required=True)

    index = register_collection_commands(sub, ImageCollection, index_options)
    index.add_argument("--clip", default=None, metavar="NAME",
                       help="embed the images with the added CLIP model NAME too (kept for later runs; "
                            "`embedstudio models add-clip DIR` adds one)")
    ocr_switch = index.add_mutually_exclusive_group()
    ocr_switch.add_argument("--ocr", dest="ocr", action="store_const", const=True, default=None,
                            help="recognise the text inside the images too (0.5-4 s per image; kept for later runs; "
                                 "images indexed before get theirs without being embedded again)")
    ocr_switch.add_argument("--no-ocr", dest="ocr", action="store_const", const=False,
                            help="stop recognising text in later runs")

    search = add_command(sub, "search", run_search,
                         "find the images most similar to IMAGE, or matching a text, labels or filters", format_search)
    search.add_argument("image", nargs="?", type=Path, metavar="IMAGE",
                        help="the query picture (it need not be in the collection)")
    search.add_argument("-k", type=int, default=10, help="how many results (default 10)")
    search.add_argument("--label", default=None, metavar="WORD",
                        help="only images whose ImageNet labels mention WORD; alone, a search by meaning through the labels "
                             "('a dog on a beach')")
    search.add_argument("--text", default=None, metavar="TEXT",
                        help="rank the images by what TEXT describes ('a dog on a beach'), with the collection's CLIP model")
    search.add_argument("--ocr-text", default=None, metavar="WORDS",
                        help="rank the images by the WORDS found in their text (OCR; index with --ocr first)")
    search.add_argument("--clip", default=None, metavar="NAME",
                        help="the CLIP model for --text (default: the collection's first)")
    search.add_argument("--method", default=METHOD, metavar="METHOD",
                        help=f"the vectors IMAGE is compared by: {METHOD} (default) or clip:NAME")
    search.add_argument("--after", default=None, metavar="DATE",
                        help=f"only images taken on or after DATE ({DATE_HINT}; EXIF date, else the file's)")
    search.add_argument("--before", default=None, metavar="DATE", help="only images taken before DATE")
    search.add_argument("--camera", default=None, metavar="TEXT",
                        help="only images whose EXIF camera make or model contains TEXT ('pixel')")
    search.add_argument("--folder", default=None, type=Path, metavar="PATH", help="only images in PATH or below")
    search.add_argument("--min-size", default=None, metavar="WxH",
                        help=f"only images at least this large ({SIZE_HINT})")
    collection_option(search, ImageCollection)

    dupes = add_command(sub, "dupes", run_dupes, "group near-duplicate images (resized, recompressed, cropped copies)",
                        format_dupes)
    dupes.add_argument("--threshold", type=float, default=DEFAULT_DUPLICATE_THRESHOLD,
                       help=f"similarity needed to link two images (default {DEFAULT_DUPLICATE_THRESHOLD})")
    collection_option(dupes, ImageCollection)


# -- handlers ----------------------------------------------------------------------------------

def index_options(args: argparse.Namespace) -> dict:
    options = {"clip": args.clip} if getattr(args, "clip", None) else {}
    if getattr(args, "ocr", None) is not None:
        options["ocr"] = args.ocr
    return options


def run_search(args: argparse.Namespace) -> ImageSearchResult:
    if args.k < 1:
        raise UserError("-k must be at least 1")
    if sum(bool(q) for q in (args.image, args.text, args.ocr_text)) > 1:
        raise UserError("give one of a query IMAGE, --text or --ocr-text",
                        hint="embedstudio images search --text 'a dog on a beach'")
    filters = ImageFilters.parse(args.after, args.before, args.camera, args.folder, args.min_size)
    if args.image is None and not (args.label or args.text or args.ocr_text or filters.active()):
        raise UserError("give a query IMAGE, --text, --label WORD or a filter (--after, --camera, …)",
                        hint="embedstudio images search photo.jpg -k 5")
    with ImageCollection.open(args.collection) as collection:
        if args.ocr_text:
            return collection.search_ocr_text(args.ocr_text, k=args.k, filters=filters)
        if args.text:
            return collection.search_text(args.text, k=args.k, model=args.clip, label_filter=args.label,
                                          filters=filters)
        if args.image is not None:
            method = f"clip:{args.clip}" if args.clip and args.method == METHOD else args.method
            return collection.search(args.image, k=args.k, label_filter=args.label, method=method, filters=filters)
        if args.label:
            return collection.search_by_label(args.label, k=args.k, filters=filters)
        return collection.filter_images(filters, k=args.k)


def run_dupes(args: argparse.Namespace) -> DuplicatesResult:
    with ImageCollection.open(args.collection) as collection:
        return collection.near_duplicates(args.threshold)


# -- text output -------------------------------------------------------------------------------

def _labels(labels, n: int = 2) -> str:
    return ", ".join(f"{name} {p:.0%}" for name, p in labels[:n])


def format_search(result: ImageSearchResult) -> str:
    if result.query or result.text:
        head = f"query {result.query}" if result.query else f"text '{result.text}'"
        head += f" by {result.method}" + (f" (label '{result.label_filter}')" if result.label_filter else "")
    else:
        head = f"label '{result.label_filter}'" if result.label_filter else "images"
    lines = [f"{head} in '{result.collection}' ({result.images} images, search {result.search_ms:.1f} ms)"]
    if result.filters:
        lines.append(f"  filters: {ImageFilters.coerce(result.filters).describe()}")
    if result.query_labels:
        lines.append(f"  query looks like: {_labels(result.query_labels, 3)}")
    if result.related_labels:
        lines.append(f"  labels that mean it: {', '.join(name for name, _ in result.related_labels[:6])}")
    for rank, hit in enumerate(result.hits, start=1):
        lines.append(f"{rank:3d}. {hit.score:.3f}  {hit.path}  [{_labels(hit.labels)}]{_facts(hit)}")
        lines += [f"       “{line}”" for line in hit.ocr_lines]
    if not result.hits:
        lines.append("  no matching images")
    return "\n".join(lines)


def _facts(hit) -> str:
    taken = hit.taken[:16].replace("T", " ") + ("" if hit.taken_from == "exif" else " (file date)") if hit.taken else ""
    return "".join(f"  {part}" for part in (taken, hit.camera) if part)


def format_dupes(result: DuplicatesResult) -> str:
    lines = [f"'{result.collection}': {len(result.groups)} group(s) of near-duplicates at ≥ {result.threshold:.2f} "
             f"among {result.images} images"]
    for number, group in enumerate(result.groups, start=1):
        lines.append(f"group {number} ({len(group.images)} images, similarity {group.min_similarity:.3f}–"
                     f"{group.max_similarity:.3f})")
        lines += [f"    {hit.score:.3f}  {hit.path}" for hit in group.images]
    return "\n".join(lines)
