"""How the Documents and Images tabs show a collection, one way for every kind: an index run's report, a
collection's status (its folders each with Remove, unavailable ones marked, the skipped files) and a folder
removal. Each renderer works from the result's JSON alone, so saved answers replay the same.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtWidgets import QWidget

from desktop.chat import cards

KINDS = ("index", "status", "removed")
MethodLabel = Callable[[str], str]
OnRemove = Callable[[str, str], None]  # (collection, folder)


def render(kind: str, result: Any, on_remove: OnRemove, method_label: MethodLabel = str) -> Optional[list[QWidget]]:
    """Card content for the collection kinds (``KINDS``); None for any other kind."""
    if kind == "index":
        return index_report(result, method_label)
    if kind == "status":
        return collection_status(result, on_remove, method_label)
    if kind == "removed":
        return [cards.folder_removed(result)]
    return None


def index_report(report: dict, method_label: MethodLabel = str) -> list[QWidget]:
    """An :class:`~embedengine.collections.report.IndexReport` as JSON."""
    noun = report["item_noun"]
    state = "Cancelled — press Re-index to resume." if report["cancelled"] else "Indexed."
    embedded = ", ".join(f"{n:,} with {method_label(m)}" for m, n in report["embedded"].items()) or "nothing new"
    rate = f" ({report['items_per_s']:,.1f} {noun}/s)" if report["embedded"] and report["items_per_s"] else ""
    lines = [f"{state} '{report['collection']}': {report['files_new']} new, {report['files_changed']} changed, "
             f"{report['files_unchanged']} unchanged, {report['files_removed']} removed and "
             f"{len(report['skipped'])} skipped files; {report['items_added']:,} {noun} read; embedded {embedded} "
             f"in {report['seconds']:.1f} s{rate}."]
    if report["items"] is not None:  # None: an answer saved before the total was reported
        lines.append(f"{report['items']:,} {noun} in the collection.")
    if report["caught_up"]:
        lines.append(f"{report['caught_up']:,} of those {noun} were read earlier and had no vectors yet "
                     "(an interrupted run or a newly chosen method).")
    lines += [f"{root} is unavailable — its {noun} are kept." for root in report["unavailable"]]
    lines += [f"⚠ {warning}" for warning in report.get("warnings", [])]  # answers saved by older versions
    widgets = [cards.text("\n".join(lines))]
    if report["skipped"]:
        widgets.append(skipped_files(report["skipped"]))
    return widgets


def collection_status(status: dict, on_remove: OnRemove, method_label: MethodLabel = str) -> list[QWidget]:
    """A :class:`~embedengine.collections.report.CollectionStatus` as JSON (or ``{"collections": [...]}``,
    as older versions saved the images status): counts, vectors, folders with Remove, skipped files."""
    if "collections" in status:
        return [widget for one in status["collections"] for widget in collection_status(one, on_remove, method_label)]
    name, noun = status["name"], status["item_noun"]
    sets = ", ".join(f"{method_label(s['method'])} {s['live_rows']:,}" for s in status["vector_sets"]) or "none yet"
    lines = [f"Collection '{name}': {status['files']:,} files, {status['items']:,} {noun}, "
             f"{len(status['skipped'])} skipped.", f"Vectors: {sets}"]
    pending = sum(status["pending"].values())
    if pending:
        lines.append(f"{pending:,} {noun} still to embed: press Re-index.")
    if status["excludes"]:
        lines.append("Leaves out: " + ", ".join(status["excludes"]))
    if status["last_indexed"]:
        lines.append("Last indexed " + time.strftime("%Y-%m-%d %H:%M", time.localtime(status["last_indexed"])))
    folders = cards.folder_list(status["roots"], lambda folder: on_remove(name, folder), status["unavailable"],
                                f"(unavailable — its {noun} are kept)")
    widgets = [cards.text("\n".join(lines)), cards.heading(f"Folders of '{name}'"), folders]
    if status["skipped"]:
        widgets.append(skipped_files(status["skipped"]))
    return widgets


def skipped_files(skipped: list[dict]) -> QWidget:
    """The files left out, with the reason, in a table under an expander (open)."""
    rows = [[Path(s["path"]).name, s["reason"], str(Path(s["path"]).parent)] for s in skipped]
    return cards.expander(f"{len(skipped)} skipped files", cards.table(["file", "reason", "folder"], rows),
                          expanded=True)
