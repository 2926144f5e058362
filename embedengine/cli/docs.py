"""`embedstudio docs index|remove|search|compare|status|list`: semantic search over your own documents."""

from __future__ import annotations

import argparse
import textwrap

from embedengine.documents import METHODS, DocumentCollection

from .collections import collection_option, register_collection_commands
from .common import add_command


def register(subparsers) -> None:
    docs = subparsers.add_parser("docs", help="index folders of documents and search them by meaning")
    sub = docs.add_subparsers(dest="docs_command", metavar="ACTION", required=True)

    index = register_collection_commands(sub, DocumentCollection, index_options)
    index.add_argument("--method", nargs="+", choices=list(METHODS), default=None,
                       help="methods to keep vectors for (added to those already configured; default minilm)")
    index.add_argument("--model", help="trained word model for the w2v-avg / w2v-tfidf methods")

    search = add_command(sub, "search", run_search, "search a collection", format_text=format_search)
    _query_options(search)
    search.add_argument("--method", choices=list(METHODS), default="minilm",
                        help="how to rank the passages (default %(default)s)")
    search.add_argument("-k", type=int, default=10, help="number of passages (default %(default)s)")

    compare = add_command(sub, "compare", run_compare, "top passages of several methods side by side",
                          format_text=format_compare)
    _query_options(compare)
    compare.add_argument("--method", nargs="+", choices=list(METHODS), default=["minilm", "bm25", "hybrid"],
                         help="the methods to put side by side (default: minilm bm25 hybrid)")
    compare.add_argument("-k", type=int, default=5, help="passages per method (default %(default)s)")


def _query_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", help="what to look for, in your own words (quote it)")
    collection_option(parser, DocumentCollection)
    parser.add_argument("--folder", help="only passages from files under this folder")
    parser.add_argument("--type", nargs="+", default=(), dest="file_types", metavar="EXT",
                        help="only these file types, e.g. pdf md")


def index_options(args: argparse.Namespace) -> dict:
    return {"methods": args.method, "word_model": args.model}


def _open(args: argparse.Namespace) -> DocumentCollection:
    return DocumentCollection.open(args.collection)


def run_search(args: argparse.Namespace):
    with _open(args) as collection:
        return collection.search(args.query, args.method, args.k, args.folder, args.file_types)


def run_compare(args: argparse.Namespace):
    with _open(args) as collection:
        return collection.compare(args.query, args.method, args.k, args.folder, args.file_types)


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
