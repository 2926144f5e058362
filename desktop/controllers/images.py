"""The Images tab's state and grammar, without Qt.

Typed: ``help`` (or ``?``, or nothing), ``dupes [threshold]``, ``index PATH``, ``remove PATH``, ``status``,
``exclude PATTERNS`` (``exclude none`` clears them), otherwise a search: ``text ~ a dog on a beach`` by the
active image–text (CLIP) model, ``label ~ horse`` by what the ImageNet labels mean, and plain text by the
CLIP model when one is active, else by the labels; ``ocr: invoice 2024`` (or ``text: …``) by the words of
the text inside the photos, and ``ocr on`` / ``ocr off`` switches that text recognition for the collection. Filters go anywhere in a search (``beach after:2024-01
camera:pixel``): ``after:``, ``before:``, ``camera:``, ``folder:``, ``size:`` (quote a value with spaces:
``camera:"pixel 8"``); filters alone list the photos meeting them. Payloads: a dropped or pasted picture
``{"image": path, "label": words and filters}``, folders to index, a folder to remove.
User folders never go into the demo collection (they go into "photos"). Preferences of the tab: the
similarity image results are cut at (``images/min_similarity``) and the active CLIP model
(``images/clip_model``, one ``models add-clip`` added).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

from embedengine import images_index as engine
from embedengine.clip import clip_method, registered_models
from embedengine.errors import UserError
from embedengine.image_filters import ImageFilters
from embedengine.tasks import Cancelled

from .collection import NO_FOLDERS_HINT, CollectionController, Command, Settings, error_command

EXCLUDE_HINT = "for example: exclude *.gif raw  (exclude none clears them)"
MIN_SIMILARITY_KEY = "images/min_similarity"
CLIP_MODEL_KEY = "images/clip_model"
ENCODER_NAME = "ResNet50"
FILTER_WORDS = {"after": "after", "before": "before", "camera": "camera", "folder": "folder", "size": "min_size",
                "min-size": "min_size"}
_FILTER = re.compile(r'(?<!\S)(after|before|camera|folder|min-size|size):("[^"]*"|\S+)', re.IGNORECASE)
_TEXT = re.compile(r"^text\s*~\s*", re.IGNORECASE)
_LABEL = re.compile(r"^labels?\s*~\s*", re.IGNORECASE)
_OCR = re.compile(r"^(ocr|text)\s*:\s*", re.IGNORECASE)
OCR_HINT = "for example: ocr: invoice 2024 (ocr on / ocr off switches reading the text inside the photos)"
NO_CLIP_HINT = ("add an image–text model in Preferences (Add model folder…) or with `embedstudio models add-clip "
                "DIR`, then pick it there")


def split_filters(text: str) -> tuple[str, ImageFilters]:
    """The words of a query without its filters, and the filters (``beach after:2024-01`` → ``beach``, after
    2024-01); a filter that does not parse is a :class:`UserError`."""
    options = {FILTER_WORDS[key.lower()]: value.strip('"') for key, value in _FILTER.findall(text)}
    return " ".join(_FILTER.sub(" ", text).split()), ImageFilters.parse(**options)


class ImagesController(CollectionController):
    tab = "images"
    first_name = engine.DEMO_COLLECTION
    protected = frozenset({engine.DEMO_COLLECTION})
    create_on_open = False  # only indexing creates an image collection (the demo's first launch relies on it)
    needs_folders = frozenset({"search", "search_by_label", "search_text", "search_ocr_text", "filter_images",
                               "near_duplicates"})

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
            try:
                label, filters = split_filters(payload.get("label") or "")
            except UserError as error:
                return error_command(str(error), error.hint)
            return Command("image_search", {"image": str(payload["image"]), "label": label or None,
                                            "collection": name, "min_score": self.min_similarity, "filters": filters})
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
        if word == "ocr" and rest.lower() in ("on", "off"):
            return Command("ocr_switch", {"enabled": rest.lower() == "on", "collection": name})
        if word == "exclude":
            patterns = rest.split()
            if not patterns:
                return error_command("exclude what?", EXCLUDE_HINT)
            return Command("exclude", {"patterns": [] if patterns == ["none"] else patterns, "collection": name})
        return self.parse_search(text, name)

    def parse_search(self, text: str, name: Optional[str]) -> Command:
        """A typed search: by text (CLIP), by label meaning, or by filters alone (see the module docstring)."""
        try:
            words, filters = split_filters(text)
        except UserError as error:
            return error_command(str(error), error.hint)
        by_ocr = _OCR.match(words)
        if by_ocr:
            if not words[by_ocr.end():]:
                return error_command("find which words?", OCR_HINT)
            return Command("ocr_search", {"text": words[by_ocr.end():], "filters": filters, "collection": name})
        by_text, by_label = _TEXT.match(words), _LABEL.match(words)
        words = words[(by_text or by_label).end():] if (by_text or by_label) else words
        model = self.clip_model
        if not words:
            if by_text or by_label or not filters.active():
                return error_command("search for what?", "for example: text ~ a dog on a beach, label ~ horse, "
                                                         "after:2024-01")
            return Command("filter_search", {"filters": filters, "collection": name})
        if by_text or (model and not by_label):
            if not model:
                return error_command("no image–text model is active", NO_CLIP_HINT)
            return Command("text_search", {"text": words, "model": model, "filters": filters, "collection": name})
        return Command("label_search", {"text": words, "filters": filters, "collection": name})

    def search_text(self, text: str, model: str, filters: ImageFilters, k: int, collection: Optional[str] = None,
                    progress=None, cancel=None) -> engine.ImageSearchResult:
        """Text → image search with ``model`` (for a worker thread); a collection not yet embedded with the model
        (or with a changed one) is first brought up to date with it by an index run, whose progress shows."""
        with self.using(collection) as images:
            if not images.roots():
                raise UserError(f"collection '{images.name}' has no folders yet", hint=NO_FOLDERS_HINT)
            if not images.clip_ready(model) and images.index(clip=model, progress=progress, cancel=cancel).cancelled:
                raise Cancelled()
            return images.search_text(text, k=k, model=model, filters=filters)

    def search_ocr_text(self, text: str, filters: ImageFilters, k: int, collection: Optional[str] = None,
                        progress=None, cancel=None) -> engine.ImageSearchResult:
        """Search by the text inside the photos (for a worker thread); images still without their text are
        read first by an index run, whose progress shows."""
        with self.using(collection) as images:
            if images.ocr_pending() and images.index(progress=progress, cancel=cancel).cancelled:
                raise Cancelled()
            return images.search_ocr_text(text, k=k, filters=filters)

    def switch_ocr(self, enabled: bool, collection: Optional[str] = None) -> str:
        """Turn reading the text inside the photos on or off for a collection; returns what changed."""
        with self.using(collection) as images:
            images.set_ocr(enabled)
            if not enabled:
                return f"Collection '{images.name}' no longer reads the text inside new photos."
            pending = images.ocr_pending()
            return (f"Collection '{images.name}' now reads the text inside its photos (0.5–4 s each). "
                    + (f"**Re-index** (or search with **ocr: words**) reads the {pending} already indexed."
                       if pending else "Search it with **ocr: words**."))

    # -- the active image–text (CLIP) model -----------------------------------------------------

    @property
    def clip_model(self) -> Optional[str]:
        """The added CLIP model typed text goes to (None: none is picked, or it was removed since)."""
        name = str(self.settings.value(CLIP_MODEL_KEY, "") or "")
        return name if name and name in registered_models() else None

    def set_clip_model(self, name: Optional[str]) -> None:
        self.settings.setValue(CLIP_MODEL_KEY, name or "")

    def index_options(self) -> dict:
        """What the tab's index runs add: the active CLIP model (the collection then keeps it)."""
        model = self.clip_model
        return {"clip": model} if model else {}

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

    def source(self, collection: Optional[str] = None, action: str = "image_search", model: Optional[str] = None
               ) -> str:
        """The "from …" line of an answer: the collection and what compared its images."""
        how = {"label_search": f"{ENCODER_NAME} ImageNet labels", "duplicates": f"{ENCODER_NAME} + sha256",
               "filter_search": "EXIF date, camera and size", "text_search": clip_method(model or ""),
               "ocr_search": f"OCR ({engine.OCR_ENGINE})", "ocr_switch": f"OCR ({engine.OCR_ENGINE})"}
        return f"collection '{collection or self.selected}' · {how.get(action, ENCODER_NAME)}"
