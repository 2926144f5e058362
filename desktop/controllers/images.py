"""The Images tab's state and grammar, without Qt.

Typed: ``help`` (or ``?``, or nothing), ``dupes [threshold]``, ``index PATH``, ``remove PATH``, ``status``,
``exclude PATTERNS`` (``exclude none`` clears them), otherwise a label search (``cat``). Payloads: a
dropped or pasted picture ``{"image": path, "label": word}``, folders to index, a folder to remove.
User folders never go into the demo collection (they go into "photos"). The similarity image results are
cut at is a preference of the tab (``images/min_similarity``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from embedengine import images_index as engine

from .collection import CollectionController, Command, Settings, error_command

EXCLUDE_HINT = "for example: exclude *.gif raw  (exclude none clears them)"
MIN_SIMILARITY_KEY = "images/min_similarity"
ENCODER_NAME = "ResNet50"


class ImagesController(CollectionController):
    tab = "images"
    first_name = engine.DEMO_COLLECTION
    protected = frozenset({engine.DEMO_COLLECTION})
    create_on_open = False  # only indexing creates an image collection (the demo's first launch relies on it)
    needs_folders = frozenset({"search", "search_by_label", "near_duplicates"})

    def __init__(self, settings: Settings) -> None:
        super().__init__(engine.ImageCollection, settings)

    def demo_to_index(self) -> Optional[str]:
        """``"new"`` on a first launch, ``"resume"`` to finish (or refresh) the demo's index, None once the
        user took the demo folder out (it stays out)."""
        if engine.DEMO_COLLECTION not in self.kind.names():
            return "new"
        with self.using(engine.DEMO_COLLECTION) as demo:
            return "resume" if str(engine.demo_folder().resolve()) in demo.roots() else None

    def parse(self, text: str, payload: Any = None) -> Command:
        name = (payload.get("collection") or None) if isinstance(payload, dict) else None
        if isinstance(payload, dict) and payload.get("image"):
            return Command("image_search", {"image": str(payload["image"]), "label": payload.get("label") or None,
                                            "collection": name, "min_score": self.min_similarity})
        command = self.parse_payload(payload)
        if command is not None:
            return command
        word, _, rest = text.strip().partition(" ")
        word, rest = word.lower(), rest.strip()
        if word in ("help", "?", ""):
            return Command("help")
        if word in ("dupes", "duplicates"):
            try:
                threshold = float(rest) if rest else engine.DEFAULT_DUPLICATE_THRESHOLD
            except ValueError:
                return error_command(f"'{rest}' is not a threshold", "for example: dupes 0.9")
            return Command("duplicates", {"threshold": threshold, "collection": name})
        if word == "index" and rest:
            return Command("index", {"folders": [str(Path(rest).expanduser())], "collection": self.folder_target(name)})
        if word == "remove" and rest:
            return Command("remove", {"folder": str(Path(rest).expanduser()), "collection": name})
        if word == "status":
            return Command("status", {"collection": name})
        if word == "exclude":
            patterns = rest.split()
            if not patterns:
                return error_command("exclude what?", EXCLUDE_HINT)
            return Command("exclude", {"patterns": [] if patterns == ["none"] else patterns, "collection": name})
        return Command("label_search", {"text": text.strip(), "collection": name})

    # -- the similarity threshold of image results ----------------------------------------------

    @property
    def min_similarity(self) -> float:
        """The similarity image results are cut at (default :data:`engine.DEFAULT_MIN_SIMILARITY`)."""
        try:
            value = float(self.settings.value(MIN_SIMILARITY_KEY, engine.DEFAULT_MIN_SIMILARITY))
        except (TypeError, ValueError):
            return engine.DEFAULT_MIN_SIMILARITY
        return min(max(value, 0.0), 1.0)

    def set_min_similarity(self, value: float) -> None:
        self.settings.setValue(MIN_SIMILARITY_KEY, round(min(max(float(value), 0.0), 1.0), 2))

    # -- what answers name as their source ------------------------------------------------------

    def source(self, collection: Optional[str] = None, action: str = "image_search") -> str:
        """The "from …" line of an answer: the collection and what compared its images."""
        how = {"label_search": f"{ENCODER_NAME} ImageNet labels", "duplicates": f"{ENCODER_NAME} + sha256"}
        return f"collection '{collection or self.selected}' · {how.get(action, ENCODER_NAME)}"
