"""The Documents tab's state and grammar, without Qt.

``demo`` indexes the shipped corpus into the "demo" collection; ``status`` shows the collection; a
payload removes a folder, indexes folders or asks for passages like a given one; ``compare <query>``
compares the methods; anything else is a search, or a comparison of methods while compare mode is on.

How answers are laid out, still without Qt: :func:`group_by_file` (a search's passages grouped by file,
best file first), :func:`agreement` (how many of the compared methods found each passage) and
:func:`answer_source` (the "from …" line naming collection, method and model build).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from embedengine.documents import DocumentCollection
from embedengine.runtime import resources_dir

from .collection import CollectionController, Command, Settings

DEMO_COLLECTION = "demo"
SOURCE_SEPARATOR = " · "
COMPARE_PREFIX = "compare "


def demo_corpus() -> str:
    """The shipped public-domain text (``resources/corpus``)."""
    return str(resources_dir() / "corpus")


class DocumentsController(CollectionController):
    tab = "documents"
    needs_folders = frozenset({"search", "compare", "more_like"})

    def __init__(self, settings: Settings) -> None:
        super().__init__(DocumentCollection, settings)
        self.compare = False  # compare mode: a query shows every indexed method side by side

    def parse(self, text: str, payload: Any = None) -> Command:
        query = text.strip()
        word = query.lower()
        if word == "demo":
            return Command("index", {"folders": [demo_corpus()], "collection": DEMO_COLLECTION})
        if word == "status":
            return Command("status", {"collection": None})
        command = self.parse_payload(payload)
        if command is not None:
            return command
        if isinstance(payload, dict) and "more_like" in payload:
            return Command("more_like", {"item_id": int(payload["more_like"]),
                                         "collection": payload.get("collection") or None})
        if word.startswith(COMPARE_PREFIX) and query[len(COMPARE_PREFIX):].strip():
            return Command("compare", {"query": query[len(COMPARE_PREFIX):].strip()})
        return Command("compare" if self.compare else "search", {"query": query})


@dataclass
class FileGroup:
    """The passages found in one file, best first; ``hits[0]`` is shown, the rest folded under it."""

    path: str
    hits: list[dict]
    same_in: list[str] = field(default_factory=list)  # other files whose best passage is the same text

    @property
    def folded(self) -> list[dict]:
        return self.hits[1:]


def group_by_file(hits: Sequence[dict], max_files: int) -> list[FileGroup]:
    """``hits`` (best first, each with a ``path``) grouped by file, files in the order of their best passage;
    at most ``max_files`` files (passages of later files are left out). A file whose best passage repeats an
    earlier file's word for word (copies, versions of a licence) is named under that one instead."""
    groups: dict[str, FileGroup] = {}
    for hit in hits:
        if hit["path"] not in groups:
            groups[hit["path"]] = FileGroup(hit["path"], [])
        groups[hit["path"]].hits.append(hit)
    shown: dict[str, FileGroup] = {}
    for group in groups.values():
        text = " ".join(str(group.hits[0].get("text", "")).split())
        first = shown.get(text) if text else None
        if first is not None:
            first.same_in.append(group.path)
        elif len(shown) < max_files:
            shown[text or group.path] = group
    return list(shown.values())


def agreement(results: Sequence[dict]) -> dict[int, int]:
    """For each passage (``item_id``) in any compared method's hits: how many of the methods found it."""
    counts: dict[int, int] = {}
    for result in results:
        for item_id in {hit["item_id"] for hit in result["hits"]}:
            counts[item_id] = counts.get(item_id, 0) + 1
    return counts


def answer_source(collection: str, methods: Sequence[str], build: str = "") -> str:
    """What produced an answer: "collection 'notes' · MiniLM · minilm.onnx ced46117, built 2026-12-03"."""
    parts = [f"collection '{collection}'", ", ".join(methods)] + ([build] if build else [])
    return SOURCE_SEPARATOR.join(part for part in parts if part)
