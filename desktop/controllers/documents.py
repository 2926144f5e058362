"""The Documents tab's state and grammar, without Qt.

``demo`` indexes the shipped corpus into the "demo" collection; ``status`` shows the collection; a
payload removes a folder, indexes folders or asks for passages like a given one; anything else is a
search, or a comparison of methods while compare mode is on.
"""

from __future__ import annotations

from typing import Any

from embedengine.documents import DocumentCollection
from embedengine.runtime import resources_dir

from .collection import CollectionController, Command, Settings

DEMO_COLLECTION = "demo"


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
        return Command("compare" if self.compare else "search", {"query": query})
