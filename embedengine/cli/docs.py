"""`embedstudio docs index|search|compare|status|list`: semantic search over your own documents."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from embedengine.documents import DEFAULT_COLLECTION, METHODS, DocumentCollection, list_document_collections
from embedengine.errors import UserError

from .common import TerminalProgress, add_command, format_duration, format_removed


def register(subparsers) -> None:
    docs = subparsers.add_parser("docs", help="index folders of documents and search them by meaning")
    sub = docs.add_subparsers(dest="docs_command", metavar="ACTION", required=True)

    index = add_command(sub, "index", run_index, "add folders to a collection and (re)index it incrementally",
                        format_text=format_index)
    index.add_argument("folders", nargs="*", help="folders to add (none: re-index the collection's folders)")
    _collection_option(index)
    index.add_argument("--method", nargs="+", choices=list(METHODS), default=None,
                       help="methods to keep vectors for (added to those already configured; default minilm)")
    index.add_argument("--model", help="trained word model for the w2v-avg / w2v-tfidf methods")
    index.add_argument("--exclude", nargs="+", default=None, metavar="GLOB",
                       help="glob patterns to leave out (replaces the collection's list)")

    remove = add_command(sub, "remove", run_remove, "take a folder out of a collection (your files stay where they are)",
                         format_text=format_removed)
    remove.add_argument("folder", help="one of the collection's folders (see status)")
    _collection_option(remove)

    search = add_command(sub, "search", run_search, "search a collection", format_text=format_search)
    _query_options(search)
    search.add_argument("--method", choices=list(METHODS), default="minilm")
    search.add_argument("-k", type=int, default=10, help="number of passages (default 10)")

    compare = add_command(sub, "compare", run_compare, "top passages of several methods side by side",
                          format_text=format_compare)
    _query_options(compare)
    compare.add_argument("--method", nargs="+", choices=list(METHODS), default=["minilm", "bm25", "hybrid"])
    compare.add_argument("-k", type=int, default=5)

    status = add_command(sub, "status", run_status, "files, passages and skipped files of a collection",
                         format_text=format_status)
    _collection_option(status)
    add_command(sub, "list", run_list, "the document collections", format_text=lambda r: "\n".join(r["collections"]))


def _collection_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--collection", default=DEFAULT_COLLECTION, help="collection name (default 'default')")


def _query_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query")
    _collection_option(parser)
    parser.add_argument("--folder", help="only passages from files under this folder")
    parser.add_argument("--type", nargs="+", default=(), dest="file_types", metavar="EXT",
                        help="only these file types, e.g. pdf md")


def _open(args: argparse.Namespace, create: bool = False) -> DocumentCollection:
    return DocumentCollection(args.collection, create=create)


def run_index(args: argparse.Namespace):
    missing = [f for f in args.folders if not Path(f).expanduser().exists()]
    if missing:  # before creating the collection, so a typo leaves nothing behind
        raise UserError(f"{missing[0]} does not exist", hint="pass existing folders")
    collection = _open(args, create=True)
    if args.exclude is not None:
        collection.set_excludes(args.exclude)
    bar = TerminalProgress()
    try:
        return collection.index(args.folders, methods=args.method, word_model=args.model, progress=bar)
    finally:
        bar.close()


def run_remove(args: argparse.Namespace):
    return _open(args).remove_folder(args.folder)


def run_search(args: argparse.Namespace):
    return _open(args).search(args.query, args.method, args.k, args.folder, args.file_types)


def run_compare(args: argparse.Namespace):
    return _open(args).compare(args.query, args.method, args.k, args.folder, args.file_types)


def run_status(args: argparse.Namespace):
    return _open(args).status()


def run_list(args: argparse.Namespace) -> dict:
    return {"collections": list_document_collections()}


def format_index(report) -> str:
    state = "cancelled" if report.cancelled else "done"
    lines = [f"{report.collection}: {state} in {format_duration(report.seconds)}",
             f"files: {report.files_new} new, {report.files_changed} changed, {report.files_unchanged} unchanged, "
             f"{report.files_deleted} removed; {report.passages_added} passages read from new or changed files"]
    lines += [f"embedded {count} passages with {method}" for method, count in report.embedded.items()]
    if report.caught_up:
        lines.append(f"({report.caught_up} of them were read earlier and had no vectors yet)")
    lines += [f"skipped {s['path']}: {s['reason']}" for s in report.skipped]
    return "\n".join(lines)


def format_search(result) -> str:
    lines = [f"{result.method_label}: {len(result.hits)} of {result.passages_searched} passages "
             f"({result.encode_ms + result.search_ms:.0f} ms)"]
    for hit in result.hits:
        page = f" p.{hit.page}" if hit.page else ""
        lines.append(f"{hit.rank:2d}. {hit.score:.3f}  {hit.path}{page}")
        lines.append(textwrap.indent(textwrap.fill(hit.snippet, 100), "      "))
    return "\n".join(lines)


def format_compare(comparison) -> str:
    widths = [3] + [40] * (len(comparison.headers) - 1)
    def row(cells):
        return " | ".join(cell[:w].ljust(w) for cell, w in zip(cells, widths))
    return "\n".join([f"query: {comparison.query}", row(comparison.headers)] + [row(r) for r in comparison.rows])


def format_status(status) -> str:
    lines = [f"collection {status.name}: {status.files} files, {status.passages} passages",
             f"folders: {', '.join(status.roots) or '(none)'}", f"methods: {', '.join(status.methods)}"]
    lines += [f"  {s['method']}: {s['live_rows']} vectors, dim {s['dim']}" for s in status.vector_sets]
    lines += [f"  {m}: {n} passages still to embed" for m, n in status.pending.items() if n]
    lines += [f"skipped {s['path']}: {s['reason']}" for s in status.skipped]
    return "\n".join(lines)
