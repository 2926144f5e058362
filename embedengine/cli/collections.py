"""The commands every kind of collection has (`index`, `remove`, `repair`, `status`, `list`), registered once.

``docs`` and ``images`` call :func:`register_collection_commands` with their collection class and add
only their own commands (search, compare, dupes).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable, Optional

from embedengine.collections.base import Collection
from embedengine.collections.report import CollectionStatus, IndexReport
from embedengine.cluster import RaySettings, on_cluster
from embedengine.errors import UserError

from .common import TerminalProgress, add_command, format_duration, format_removed

IndexOptions = Callable[[argparse.Namespace], dict]
LOCAL_RAY = "local"  # `--ray` without an address: start a local Ray instance


def register_collection_commands(sub, kind: type[Collection], index_options: Optional[IndexOptions] = None
                                 ) -> argparse.ArgumentParser:
    """Add index/remove/status/list for ``kind`` to ``sub``; returns the index parser (for kind options)."""
    noun = kind.item_noun
    index = add_command(sub, "index", lambda args: run_index(kind, args, index_options),
                        "add folders to a collection and (re)index it incrementally", format_index)
    index.add_argument("folders", nargs="*", type=Path, metavar="FOLDER",
                       help="folders (or files) to add; none re-indexes the collection's folders")
    index.add_argument("--exclude", nargs="+", action="extend", default=None, metavar="GLOB",
                       help="leave out matching files or folders, e.g. '*.log' drafts (replaces the saved list)")
    index.add_argument("--remove", action="append", default=[], type=Path, metavar="FOLDER",
                       help=f"take FOLDER out first: its {noun} leave the collection (repeatable)")
    collection_option(index, kind)
    cluster_options(index)

    remove = add_command(sub, "remove", lambda args: run_remove(kind, args),
                         "take a folder out of a collection (your files stay where they are)", format_removed)
    remove.add_argument("folder", type=Path, help="one of the collection's folders, or a folder inside one")
    collection_option(remove, kind)

    repair = add_command(sub, "repair", lambda args: run_repair(kind, args, index_options),
                         "rebuild a damaged collection from your files (the damaged copy is kept aside)", format_index)
    repair.add_argument("folders", nargs="*", type=Path, metavar="FOLDER",
                        help="the folders to index (default: the collection's own, as last saved)")
    collection_option(repair, kind)

    status = add_command(sub, "status", lambda args: run_status(kind, args),
                         f"folders, files, {noun} and skipped files of the collections", format_statuses)
    status.add_argument("--collection", default=None, help="only this collection (default: all)")
    add_command(sub, "list", lambda args: {"collections": kind.names()}, "the collection names",
                lambda result: "\n".join(result["collections"]) or "(none)")
    return index


def collection_option(parser: argparse.ArgumentParser, kind: type[Collection]) -> None:
    parser.add_argument("--collection", default=kind.default_name,
                        help=f"collection name (default '{kind.default_name}')")


def cluster_options(parser: argparse.ArgumentParser) -> None:
    """``--ray [ADDRESS]`` and the actor pool's options (:mod:`embedengine.cluster`)."""
    defaults = RaySettings()
    group = parser.add_argument_group("indexing on a Ray cluster (pip install 'embed-studio[cluster]')")
    group.add_argument("--ray", nargs="?", const=LOCAL_RAY, default=None, metavar="ADDRESS",
                       help="read and embed the new and changed files on Ray: the cluster at ADDRESS (auto, HOST:6379, "
                            "ray://HOST:10001), or a local Ray instance without one; put it after the folders")
    group.add_argument("--ray-batch-size", type=int, default=defaults.batch_size, metavar="N",
                       help=f"files per actor call (default {defaults.batch_size})")
    group.add_argument("--ray-concurrency", type=int, default=defaults.concurrency, metavar="N",
                       help=f"actors, each loading the model once (default {defaults.concurrency})")
    group.add_argument("--ray-cpus-per-actor", type=float, default=defaults.cpus_per_actor, metavar="N",
                       help=f"CPUs (and model threads) per actor (default {defaults.cpus_per_actor:g})")
    group.add_argument("--ray-gpus-per-actor", type=float, default=defaults.gpus_per_actor, metavar="N",
                       help="GPUs per actor, e.g. 1 or 0.5 (default 0: CPU only; needs onnxruntime-gpu on the nodes)")


def indexing_kind(kind: type[Collection], args: argparse.Namespace) -> type[Collection]:
    """``kind``, or with ``--ray`` the same kind reading on a Ray cluster."""
    if args.ray is None:
        return kind
    return on_cluster(kind, RaySettings(
        address=None if args.ray == LOCAL_RAY else args.ray, batch_size=args.ray_batch_size,
        concurrency=args.ray_concurrency, cpus_per_actor=args.ray_cpus_per_actor,
        gpus_per_actor=args.ray_gpus_per_actor))


def run_index(kind: type[Collection], args: argparse.Namespace, index_options: Optional[IndexOptions]) -> IndexReport:
    kind = indexing_kind(kind, args)
    missing = [f for f in args.folders if not Path(f).expanduser().exists()]
    if missing:  # before creating the collection, so a typo leaves nothing behind
        raise UserError(f"{missing[0]} does not exist", hint="pass existing folders")
    bar = TerminalProgress()
    created = args.collection not in kind.names()
    try:
        with kind(args.collection, create=bool(args.folders)) as collection:
            if args.exclude is not None:
                collection.set_excludes(args.exclude)
            for folder in args.remove:
                collection.remove_folder(folder)
            return collection.index(args.folders, progress=bar, **(index_options(args) if index_options else {}))
    except BaseException:
        if created:  # a failed first run leaves no empty collection behind
            kind.delete_if_empty(args.collection)
        raise
    finally:
        bar.close()


def run_repair(kind: type[Collection], args: argparse.Namespace, index_options: Optional[IndexOptions]) -> IndexReport:
    bar = TerminalProgress()
    try:
        options = index_options(args) if index_options and hasattr(args, "method") else {}
        return kind.repair(args.collection, args.folders, progress=bar, **options)
    finally:
        bar.close()


def run_remove(kind: type[Collection], args: argparse.Namespace):
    with kind.open(args.collection) as collection:
        return collection.remove_folder(args.folder)


def run_status(kind: type[Collection], args: argparse.Namespace) -> dict:
    statuses = []
    for name in [args.collection] if args.collection else kind.names():
        with kind.open(name) as collection:
            statuses.append(collection.status())
    return {"collections": statuses}


def format_index(report: IndexReport) -> str:
    state = "cancelled" if report.cancelled else "done"
    noun = report.item_noun
    lines = [f"{report.collection}: {state} in {format_duration(report.seconds)}; {report.items:,} {noun} in the collection",
             f"files: {report.files_new} new, {report.files_changed} changed, {report.files_unchanged} unchanged, "
             f"{report.files_removed} removed, {len(report.skipped)} skipped; {report.items_added:,} {noun} read"]
    lines += [f"embedded {count:,} {noun} with {method} ({report.items_per_s:.1f}/s)"
              for method, count in report.embedded.items()]
    if report.caught_up:
        lines.append(f"({report.caught_up:,} of them were read earlier and had no vectors yet)")
    lines += [f"unavailable: {root} (its {noun} stay in the index)" for root in report.unavailable]
    lines += [f"skipped {s.path}: {s.reason}" for s in report.skipped]
    return "\n".join(lines)


def format_status(status: CollectionStatus) -> str:
    lines = [f"{status.name}: {status.files} files, {status.items:,} {status.item_noun}, "
             f"{len(status.skipped)} skipped — {status.folder}"]
    lines += [f"    folder  {root}" + ("  (unavailable)" if root in status.unavailable else "") for root in status.roots]
    lines += [f"    exclude {pattern}" for pattern in status.excludes]
    lines += [f"    vectors {s['method']}: {s['live_rows']:,}, dim {s['dim']}" for s in status.vector_sets]
    lines += [f"    {m}: {n:,} {status.item_noun} still to embed (run index)" for m, n in status.pending.items() if n]
    lines += [f"    skipped {s.path}: {s.reason}" for s in status.skipped]
    return "\n".join(lines)


def format_statuses(result: dict) -> str:
    return "\n".join(format_status(s) for s in result["collections"]) or "no collections yet: index a folder first"
