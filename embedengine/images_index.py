"""Image collections: index folders of photos, find similar images, filter by label, date, camera, size and
folder, search by text with an added CLIP model, group near-duplicates.

An :class:`ImageCollection` is a :class:`~embedengine.collections.base.Collection` of kind ``"images"``
(``data_home()/image-collections/<name>/``): one file → one item whose payload holds the picture's size,
its top-5 ImageNet labels, its cached thumbnail and the facts of its header (date taken, camera:
:func:`embedengine.image_filters.photo_facts`); one L2-normalised ResNet50 vector per item (method
``"resnet50"``), made while the file is decoded. Thumbnails (≤ 256 px JPEG) live in ``thumbs/``, named by
the file's content hash. Indexing, folders, status and the int8 first pass of large collections are the
base's; this module adds labels, image queries, filters and duplicates (grouping and the trash:
:mod:`embedengine.duplicates`).

A collection indexed with an added CLIP model (``configure(clip=NAME)``, kept in the collection's meta
``clip_models``) also holds the method ``clip:NAME``, embedded after reading (the base's embed step) from
the original files; the vectors carry the model's fingerprint (:func:`embedengine.clip.vector_settings`) and
are made again when the model's files change under the same name. :meth:`ImageCollection.search_text`
ranks images by CLIP text → image similarity; :meth:`ImageCollection.search` takes ``method="clip:NAME"``
for image → image.

Text inside the photos (OCR, :mod:`embedengine.ocr`) is opt-in per collection (``configure(ocr=True)``, kept in
the meta ``ocr``): each image read then gets ``payload["ocr_text"]`` ("" when it shows none; an image whose OCR
fails keeps ``ocr_error`` instead and stays in the collection), and images indexed before get theirs on the next
run without being embedded again. :meth:`ImageCollection.search_ocr_text` ranks images by the words of that text.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from embedengine import duplicates, ocr
from embedengine.clip import ClipModel, clip_method, clip_name, get_clip_model, registered_models, vector_settings
from embedengine.collections.base import Collection, ReadFile, skipped_entry
from embedengine.collections.files import FileStat, hash_or_none, resolved
from embedengine.collections.report import IndexReport
from embedengine.errors import UserError
from embedengine.image import KNOWN_IMAGE_EXTENSIONS, ImageLoadError, describe_source
from embedengine.image_filters import FACTS_VERSION, ImageFilters, camera_name, photo_facts
from embedengine.label_meanings import label_meanings, meaning_scores
from embedengine.linalg import normalise
from embedengine.results import Result
from embedengine.runtime import ModelMissingError, resources_dir
from embedengine.store import FileEntry, Item
from embedengine.tasks import CancelToken, checkpoint

KIND = "images"
METHOD = "resnet50"
DEFAULT_COLLECTION = "photos"
DEMO_COLLECTION = "demo"
THUMB_SIZE = 256
TOP_LABELS = 5
# Similar-image results are cut at DEFAULT_MIN_SIMILARITY. Measured on the 11 demo photos (all of unrelated
# subjects): their 55 pairs have median 0.18, 95th percentile 0.32 and maximum 0.455, while two views of one
# scene (left and right 55 % of each photo) score 0.45–0.97 (median 0.86) and edited copies (flip, half size,
# 10 % crop, 20 % darker) 0.72–1.0. 0.45 sits at the top of the unrelated pairs: what shows shares the
# subject; tests/test_images_index.py re-measures it.
DEFAULT_MIN_SIMILARITY = 0.45
# Duplicates: resized, recompressed and brightened demo photos score ≥ 0.97, flips ≥ 0.93, most 10 % crops
# ≥ 0.90; 0.80 keeps them and stays far above unrelated photos (≤ 0.455). Byte-identical files (same sha256)
# are grouped whatever the threshold.
DEFAULT_DUPLICATE_THRESHOLD = 0.80
MIN_DUPLICATE_THRESHOLD = 0.5  # unrelated photos reach ~0.45 with ResNet50 features
MIN_LABEL_PROBABILITY = 0.02  # a label this unlikely does not count as "mentioned"
COMMIT_EVERY = 32  # images per store transaction
CLIP_MODELS = "clip_models"  # meta: the added CLIP models this collection is embedded with
FACTS_META = "facts"  # meta: the FACTS_VERSION every payload has reached (older ones are completed)
INDEX_BATCH = 16  # images per model call while indexing
OCR_META = "ocr"  # meta: whether the images' text is recognised (OCR) at index time
OCR_METHOD = "ocr"  # ImageSearchResult.method of a search by the text inside the images
OCR_ENGINE = "PP-OCRv4"


# ---------------------------------------------------------------------------------------------
# Result records
# ---------------------------------------------------------------------------------------------

@dataclass
class ImageHit(Result):
    """One image of a collection with its score (cosine similarity, or label probability)."""

    path: str
    score: float
    labels: list[tuple[str, float]]
    width: int
    height: int
    thumbnail: str  # cached JPEG thumbnail ("" when missing)
    size: int = 0  # bytes of the file (duplicates only; 0 when not looked up)
    modified: float = 0.0  # the file's modification time (duplicates only)
    taken: str = ""  # local ISO date-time the photo was taken ("" for images indexed before facts existed)
    taken_from: str = ""  # "exif" (DateTimeOriginal) or "file" (its modification time)
    item_id: int = 0  # the collection's id of the image (maps highlight hits by it)
    camera: str = ""  # EXIF make and model ("" when the file names none)
    ocr_lines: list[str] = field(default_factory=list)  # OCR search: the image's lines that hold a query word


@dataclass
class ImageSearchResult(Result):
    """Top images for a query picture, a label word, a text (CLIP) and/or filters, best first."""

    collection: str
    query: str  # the query image's path or description ("" for a label-only search)
    query_labels: list[tuple[str, float]]
    label_filter: str
    hits: list[ImageHit]
    images: int  # images searched
    encode_ms: float
    search_ms: float
    min_score: float = 0.0  # hits below this similarity are candidates the user may reveal, not results
    related_labels: list[tuple[str, float]] = ()  # a label search by meaning: the labels it counted, with weights
    text: str = ""  # a text → image search (CLIP): the text
    method: str = METHOD  # the vectors compared ("resnet50" or "clip:NAME"); labels only: "resnet50"
    filters: dict = field(default_factory=dict)  # the active filters, as typed (ImageFilters.to_dict)


@dataclass
class DuplicateGroup(Result):
    """Images linked by similarities ≥ the threshold or by identical bytes; each member's score is its
    closest match's similarity (1.0 for a byte-identical copy)."""

    images: list[ImageHit]
    max_similarity: float
    min_similarity: float
    exact: list[str]  # members with a byte-identical copy in the group
    keep: dict[str, str]  # "largest" / "newest" -> the path to keep under that rule


@dataclass
class DuplicatesResult(Result):
    collection: str
    threshold: float
    groups: list[DuplicateGroup]
    images: int
    seconds: float


# ---------------------------------------------------------------------------------------------
# Labels and near-duplicates (pure functions)
# ---------------------------------------------------------------------------------------------

def label_words(text: str) -> list[str]:
    """Lower-case words of a label query, with a plural ``s`` dropped (``cats`` → ``cat``)."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words]


def label_score(labels: Sequence[Sequence], words: Sequence[str]) -> float:
    """Summed probability of the likely labels that contain every query word as a whole word (0 = no match)."""
    if not words:
        return 0.0
    total = 0.0
    for name, probability in labels:
        tokens = set(label_words(str(name)))
        if probability >= MIN_LABEL_PROBABILITY and all(word in tokens for word in words):
            total += float(probability)
    return total


# ---------------------------------------------------------------------------------------------
# The collection
# ---------------------------------------------------------------------------------------------

class ImageCollection(Collection):
    """A named image collection: folders, excludes, the index, and searches over it."""

    kind = KIND
    default_name = DEFAULT_COLLECTION
    cli_area = "images"
    item_noun = "images"
    extensions = frozenset(KNOWN_IMAGE_EXTENSIONS)  # HEIC/RAW listed without their extra: skipped, saying why
    files_per_commit = COMMIT_EVERY

    def __init__(self, name: str = DEFAULT_COLLECTION, create: bool = True, encoder: Any = None) -> None:
        super().__init__(name, create=create)
        self._encoder = encoder
        self._batch_size = INDEX_BATCH
        self._catalogue: Optional[tuple[tuple[int, int], dict[str, list[tuple[int, float]]], list[tuple]]] = None

    @property
    def thumbs_dir(self) -> Path:
        """Cached JPEG thumbnails, named by content hash."""
        return self.folder / "thumbs"

    @classmethod
    def open(cls, name: str = DEFAULT_COLLECTION, create: bool = False, encoder: Any = None) -> "ImageCollection":
        return cls(name, create=create, encoder=encoder)

    @property
    def encoder(self):
        """The ResNet50 encoder: the one given, else the process-wide one for the current threads and
        provider (looked up at each use, so changed preferences apply to open collections too)."""
        if self._encoder is not None:
            return self._encoder
        from embedengine.image import get_image_encoder

        return get_image_encoder()

    # -- what the index run needs of this kind --------------------------------------------------

    def configure(self, batch_size: Optional[int] = None, clip: Optional[str] = None,
                  ocr: Optional[bool] = None) -> None:
        """``batch_size``: images per model call (smaller: Cancel takes effect sooner); ``clip``: an added CLIP
        model to embed the images with as well, from this run on (kept in the collection's settings); ``ocr``:
        recognise the text inside the images from this run on, or stop (None: as before; kept likewise)."""
        self._batch_size = batch_size or INDEX_BATCH
        if clip and clip not in self.clip_models:
            get_clip_model(clip)  # not added, or its files changed: a UserError now, before any work
            self.store.set_meta(CLIP_MODELS, self.clip_models + [clip])
        if ocr is not None:
            self.set_ocr(ocr)

    @property
    def ocr_enabled(self) -> bool:
        """Whether index runs recognise the text inside the images (OCR)."""
        return bool(self.store.get_meta(OCR_META, False))

    def set_ocr(self, enabled: bool) -> None:
        """Switch OCR at index time on or off (on without the OCR models: :class:`ocr.OcrUnavailable`)."""
        if enabled and not ocr.available():
            raise ocr.OcrUnavailable()
        self.store.set_meta(OCR_META, bool(enabled))

    def ocr_pending(self) -> int:
        """How many images still lack their OCR text (0 while OCR is off)."""
        if not self.ocr_enabled:
            return 0
        return sum(1 for _, _, payload in self._catalogue_now()[1] if not _has_ocr(payload))

    @property
    def clip_models(self) -> list[str]:
        """The added CLIP models this collection is embedded with (``clip:NAME`` methods)."""
        return list(self.store.get_meta(CLIP_MODELS, []))

    def configured_methods(self) -> list[str]:
        return [METHOD] + [clip_method(name) for name in self.clip_models]

    def pending_methods(self) -> list[str]:
        """The ``clip:NAME`` methods, filled after reading; a model removed since (models remove-clip) waits."""
        added = registered_models()
        return [clip_method(name) for name in self.clip_models if name in added]

    def before_embedding(self) -> None:
        """Drop the vectors of a CLIP model replaced under the same name: they are all made again."""
        stored = {info.method: info.settings for info in self.store.vector_sets()}
        for method in self.pending_methods():
            if method in stored and not _made_by_current_model(method, stored[method]):
                self.store.drop_vector_set(method)

    def encode_items(self, method: str, items: Sequence[Item], cancel: Optional[CancelToken]) -> np.ndarray:
        """CLIP vectors of the original files (a file that cannot be read now gets a zero row: it never ranks)."""
        name = clip_name(method)
        vectors, _ = get_clip_model(name).encode_image_files([item.path for item in items], cancel=cancel)
        self.store.set_vector_settings(method, vector_settings(name))
        return vectors

    def read_files(self, todo: list[FileStat], hashes: dict[str, str], cancel: Optional[CancelToken]
                   ) -> Iterator[ReadFile]:
        """Decode, embed, label and thumbnail the files through the encoder's pool (one bad file is one skip)."""
        outcomes = self.encoder.iter_encode([s.path for s in todo], batch_size=self._batch_size,
                                            thumbnail_size=THUMB_SIZE, cancel=cancel)
        for outcome in outcomes:
            stat = todo[outcome.index]
            if outcome.error is not None:
                yield skipped_entry(stat, outcome.error.reason), {}
                continue
            digest = hashes.get(stat.path) or hash_or_none(stat.path)
            labels = [[name, round(p, 5)] for name, p in self.encoder.top_labels(outcome.probs, TOP_LABELS)]
            payload = {"width": outcome.width, "height": outcome.height, "labels": labels,
                       "thumb": self._save_thumbnail(outcome.thumbnail, digest), **photo_facts(stat.path, stat.mtime)}
            if self.ocr_enabled:
                payload.update(ocr_payload(stat.path))
            yield (FileEntry(stat.path, stat.size, stat.mtime, digest, payloads=[payload]),
                   {METHOD: normalise(outcome.embedding)[None]})

    def after_index(self, report: IndexReport, progress, cancel) -> None:
        self.complete_facts(cancel)
        self.complete_ocr(cancel)
        for method in set(self.pending_methods()) & set(self.store.vector_methods()):
            self.store.set_vector_settings(method, vector_settings(clip_name(method)))  # all made by this model now
        super().after_index(report, progress, cancel)
        if report.files_removed or report.files_changed:
            self.prune_thumbnails()

    def complete_facts(self, cancel: Optional[CancelToken] = None) -> int:
        """Give images indexed before the header facts existed their date taken and camera (header reads, no
        decoding; their vectors are kept); returns how many. Once done, later runs skip the check."""
        if self.store.get_meta(FACTS_META) == FACTS_VERSION:
            return 0
        stale = [item for item in self.store.iter_items() if item.payload.get("facts") != FACTS_VERSION]
        self._rewrite_payloads(stale, lambda item, record: photo_facts(item.path, record.mtime), cancel)
        self.store.set_meta(FACTS_META, FACTS_VERSION)
        return len(stale)

    def complete_ocr(self, cancel: Optional[CancelToken] = None) -> int:
        """While OCR is on, give images indexed before it was switched on their text (their vectors are kept);
        returns how many."""
        if not self.ocr_enabled:
            return 0
        stale = [item for item in self.store.iter_items() if not _has_ocr(item.payload)]
        self._rewrite_payloads(stale, lambda item, record: ocr_payload(item.path), cancel, batch=1)
        return len(stale)

    def _rewrite_payloads(self, items: list[Item], added: Callable[[Item, Any], dict],
                          cancel: Optional[CancelToken], batch: int = COMMIT_EVERY) -> None:
        """Store ``items`` again with ``added(item, file record)`` merged into their payloads, keeping every
        method's vector (nothing is embedded again)."""
        if not items:
            return
        records = self.store.file_records()
        matrices = {method: self.store.matrix(method) for method in self.store.vector_methods()}
        rows = {method: {int(item): row for row, item in enumerate(matrix.row_items) if item >= 0}
                for method, matrix in matrices.items()}
        by_methods: dict[tuple[str, ...], list[Item]] = {}
        for item in items:  # write_batch wants every method's vector for every item of a batch
            by_methods.setdefault(tuple(m for m in matrices if item.id in rows[m]), []).append(item)
        for methods, group in by_methods.items():
            for start in range(0, len(group), batch):
                checkpoint(cancel)
                chunk = group[start:start + batch]
                entries = [_with_payload(item, records[item.path], added(item, records[item.path])) for item in chunk]
                kept = {m: matrices[m].rows_as_float32(np.array([rows[m][i.id] for i in chunk])) for m in methods}
                self.store.write_batch(entries, kept)

    def after_removal(self) -> None:
        self.prune_thumbnails()

    def after_interrupted_run(self) -> None:
        self.prune_thumbnails()

    def prune_thumbnails(self) -> int:
        """Delete cached thumbnails no image refers to any more (and temp files a crash left); returns how many."""
        if not self.thumbs_dir.exists():
            return 0
        used = {item.payload.get("thumb") for item in self.store.iter_items()}
        stale = [p for p in self.thumbs_dir.glob("*/*")
                 if p.suffix == ".tmp" or p.relative_to(self.thumbs_dir).as_posix() not in used]
        for path in stale:
            path.unlink(missing_ok=True)
        for folder in self.thumbs_dir.iterdir():
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return len(stale)

    def _save_thumbnail(self, thumbnail, digest: Optional[str]) -> str:
        """Write the JPEG thumbnail (temp file + rename) once per content hash; returns its relative path."""
        if thumbnail is None or not digest:
            return ""
        relative = f"{digest[:2]}/{digest}.jpg"
        target = self.thumbs_dir / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_suffix(f".{os.getpid()}.tmp")
            thumbnail.convert("RGB").save(temporary, "JPEG", quality=85)
            os.replace(temporary, target)
        return relative

    # -- reading -------------------------------------------------------------------------------

    def _hit(self, item: Item, score: float) -> ImageHit:
        payload = item.payload
        thumb = payload.get("thumb") or ""
        return ImageHit(
            path=item.path, score=round(float(score), 6),
            labels=[(str(n), float(p)) for n, p in payload.get("labels", [])],
            width=int(payload.get("width", 0)), height=int(payload.get("height", 0)),
            thumbnail=str(self.thumbs_dir / thumb) if thumb else "",
            taken=str(payload.get("taken") or ""), taken_from=str(payload.get("taken_from") or ""),
            camera=camera_name(str(payload.get("make") or ""), str(payload.get("model") or "")),
            item_id=int(item.id),
        )

    def hits(self, scored: Sequence[tuple[int, float]]) -> list[ImageHit]:
        """Hits for ``(item_id, score)`` pairs, in that order."""
        items = {item.id: item for item in self.store.items([i for i, _ in scored])}
        return [self._hit(items[i], s) for i, s in scored if i in items]

    def image(self, path: str | Path) -> Optional[ImageHit]:
        """The indexed image at ``path`` (score 1), or None."""
        wanted = resolved(path)
        ids = self.store.item_ids_for_paths(lambda p: p == wanted)
        return self.hits([(int(ids[0]), 1.0)])[0] if len(ids) else None

    def _catalogue_now(self) -> tuple[dict[str, list[tuple[int, float]]], list[tuple[int, str, dict]]]:
        """Label name → [(item id, probability)], and (item id, path, size and facts) of every image; read in
        one pass, again only when items change."""
        signature = self.store.items_signature()
        if self._catalogue is None or self._catalogue[0] != signature:
            labels: dict[str, list[tuple[int, float]]] = {}
            facts = []
            for item in self.store.iter_items():
                for name, probability in item.payload.get("labels", []):
                    labels.setdefault(str(name), []).append((item.id, float(probability)))
                item.payload.pop("labels", None)
                facts.append((item.id, item.path, item.payload))
            self._catalogue = (signature, labels, facts)
        return self._catalogue[1], self._catalogue[2]

    def _label_index(self) -> dict[str, list[tuple[int, float]]]:
        return self._catalogue_now()[0]

    def filtered_ids(self, filters: ImageFilters) -> set[int]:
        """Ids of the images meeting ``filters``."""
        return {item_id for item_id, path, payload in self._catalogue_now()[1] if filters.accepts(path, payload)}

    def allowed_ids(self, label_filter: Optional[str] = None, filters: Optional[ImageFilters] = None
                    ) -> Optional[np.ndarray]:
        """Ids of the images whose labels mention ``label_filter`` and that meet ``filters``; None: no condition."""
        allowed: Optional[set[int]] = None
        if label_filter:
            allowed = set(self.label_matches(label_filter))
        if filters is not None and filters.active():
            passing = self.filtered_ids(filters)
            allowed = passing if allowed is None else allowed & passing
        return None if allowed is None else np.fromiter(sorted(allowed), dtype=np.int64, count=len(allowed))

    def label_matches(self, text: str) -> dict[int, float]:
        """Item id → summed probability of its likely labels that mention ``text`` (only matches)."""
        words = label_words(text)
        scores: dict[int, float] = {}
        for name, entries in self._label_index().items():
            if not label_score([(name, 1.0)], words):
                continue
            for item_id, probability in entries:
                if probability >= MIN_LABEL_PROBABILITY:
                    scores[item_id] = scores.get(item_id, 0.0) + probability
        return scores

    # -- searching -----------------------------------------------------------------------------

    def encode_query(self, query: Any) -> tuple[np.ndarray, list[tuple[str, float]]]:
        """Unit vector and top labels of a query image (path, bytes, PIL image or uint8 array)."""
        outcome = next(iter(self.encoder.iter_encode([query], batch_size=1)))
        if outcome.error is not None:
            raise outcome.error
        return normalise(outcome.embedding), self.encoder.top_labels(outcome.probs, TOP_LABELS)

    def search(self, query: Any, k: int = 10, label_filter: Optional[str] = None, exclude_self: bool = True,
               min_score: float = 0.0, method: str = METHOD,
               filters: ImageFilters | dict | None = None) -> ImageSearchResult:
        """The ``k`` images most similar to ``query`` among those whose labels mention ``label_filter`` and
        that meet ``filters``, compared by ``method`` (``resnet50``, or ``clip:NAME`` of an added CLIP model).

        When the query is a file of this collection, that file itself is left out (``exclude_self``).
        ``min_score`` is the similarity results are cut at (see :data:`DEFAULT_MIN_SIMILARITY`, ResNet50's); the
        hits below it stay in the result, best first, as candidates to reveal (:func:`shown_hits`).
        """
        filters = ImageFilters.coerce(filters)
        started = time.perf_counter()
        if method == METHOD:
            vector, query_labels = self.encode_query(query)
        else:
            vector, query_labels = self.clip_model(clip_name(method) or method).encode_images([query])[0], []
        encoded = time.perf_counter()
        hits = self.search_vector(vector, k, label_filter, exclude=_query_path(query) if exclude_self else None,
                                  method=method, filters=filters)
        return ImageSearchResult(
            self.name, _describe_query(query), query_labels, label_filter or "", hits,
            self.count(), (encoded - started) * 1000, (time.perf_counter() - encoded) * 1000, min_score,
            method=method, filters=filters.to_dict())

    def search_vector(self, vector: np.ndarray, k: int = 10, label_filter: Optional[str] = None,
                      exclude: Optional[str] = None, method: str = METHOD,
                      filters: Optional[ImageFilters] = None) -> list[ImageHit]:
        """Nearest images to a unit vector of ``method`` (the part of :meth:`search` after encoding)."""
        allowed = self.allowed_ids(label_filter, filters)
        if (allowed is not None and allowed.size == 0) or self.count() == 0:
            return []
        scored = self.nearest(method, vector, k + (1 if exclude else 0), allowed)
        hits = self.hits(scored)
        return [h for h in hits if h.path != exclude][:k]

    def search_text(self, text: str, k: int = 20, model: Optional[str] = None, label_filter: Optional[str] = None,
                    filters: ImageFilters | dict | None = None) -> ImageSearchResult:
        """The ``k`` images an added CLIP model finds closest to ``text`` (``a dog on a beach``), best first,
        among those meeting the label filter and ``filters``; ``model`` defaults to the collection's first.

        Scores are the model's text–image cosines: no cut (their scale is not ResNet50's image similarity,
        and differs between models)."""
        text = " ".join(str(text).split())
        if not text:
            raise UserError("type what the photos should show", hint="for example: a dog on a beach")
        filters = ImageFilters.coerce(filters)
        clip_model = self.clip_model(model)
        started = time.perf_counter()
        vector = clip_model.encode_texts([text])[0]
        encoded = time.perf_counter()
        hits = self.search_vector(vector, k, label_filter, method=clip_model.method, filters=filters)
        return ImageSearchResult(self.name, "", [], label_filter or "", hits, self.count(),
                                 (encoded - started) * 1000, (time.perf_counter() - encoded) * 1000,
                                 text=text, method=clip_model.method, filters=filters.to_dict())

    def search_ocr_text(self, query: str, k: int = 20, filters: ImageFilters | dict | None = None
                        ) -> ImageSearchResult:
        """The ``k`` images whose recognised text (OCR) holds most of the words of ``query`` (``invoice 2024``),
        among those meeting ``filters``: score = share of the query's words found, ties by how often they occur.
        Each hit lists its lines that hold a query word (``ocr_lines``)."""
        words = ocr_words(query)
        if not words:
            raise UserError("type the words to find in the photos", hint="for example: ocr: invoice 2024")
        if not self.ocr_enabled:
            raise UserError(f"collection '{self.name}' does not read the text inside its images",
                            hint=f"turn it on: type `ocr on` in the Images tab, or embedstudio images index --ocr "
                                 f"--collection '{self.name}'")
        filters = ImageFilters.coerce(filters)
        started = time.perf_counter()
        passing = self.filtered_ids(filters) if filters.active() else None
        ranked, lines = [], {}
        for item_id, _, payload in self._catalogue_now()[1]:
            if payload.get("ocr_text") and (passing is None or item_id in passing):
                share, count, lines[item_id] = ocr_match(payload["ocr_text"], words)
                if share > 0:
                    ranked.append((item_id, share, count))
        ranked.sort(key=lambda entry: (-entry[1], -entry[2]))
        hits = self.hits([(item_id, share) for item_id, share, _ in ranked[:k]])
        for hit in hits:
            hit.ocr_lines = lines[hit.item_id]
        return ImageSearchResult(self.name, "", [], "", hits, self.count(), 0.0, (time.perf_counter() - started) * 1000,
                                 text=" ".join(query.split()), method=OCR_METHOD, filters=filters.to_dict())

    def clip_model(self, name: Optional[str] = None) -> ClipModel:
        """The added CLIP model ``name`` (default: the first this collection is embedded with), once its vectors
        here are known to be that model's; else a :class:`UserError` saying how to index with it."""
        name = name or next(iter(self.clip_models), None)
        index_hint = (f"index it with the model: Re-index in the app, or embedstudio images index --clip "
                      f"{name or 'NAME'} --collection '{self.name}'")
        if not name:
            raise UserError(f"collection '{self.name}' is not indexed with an image–text (CLIP) model",
                            hint=index_hint + " (embedstudio models add-clip DIR adds a model)")
        settings = {info.method: info.settings for info in self.store.vector_sets()}.get(clip_method(name))
        if name not in self.clip_models or settings is None:
            raise UserError(f"collection '{self.name}' has no {clip_method(name)} vectors yet", hint=index_hint)
        model = get_clip_model(name)
        if not _made_by_current_model(model.method, settings):
            raise UserError(f"CLIP model {name!r} changed since collection '{self.name}' was indexed with it",
                            hint=index_hint + ": its vectors are made again")
        return model

    def clip_ready(self, name: str) -> bool:
        """Whether every image has ``clip:NAME`` vectors of the added model as it is now (else an index run with
        ``clip=name`` makes what is missing)."""
        info = {i.method: i for i in self.store.vector_sets()}.get(clip_method(name))
        return (name in self.clip_models and info is not None and info.live_rows == self.count()
                and _made_by_current_model(info.method, info.settings))

    def filter_images(self, filters: ImageFilters | dict, k: int = 50) -> ImageSearchResult:
        """The images meeting ``filters`` (at least one), most recently taken first; each scores 1."""
        filters = ImageFilters.coerce(filters)
        if not filters.active():
            raise UserError("no filter given", hint="for example: after 2024-01, camera pixel, min-size 1920x1080")
        started = time.perf_counter()
        facts = {item_id: str(payload.get("taken") or "") for item_id, _, payload in self._catalogue_now()[1]}
        newest = sorted(self.filtered_ids(filters), key=lambda item_id: facts[item_id], reverse=True)[:k]
        return ImageSearchResult(self.name, "", [], "", self.hits([(item_id, 1.0) for item_id in newest]),
                                 self.count(), 0.0, (time.perf_counter() - started) * 1000, filters=filters.to_dict())

    def search_by_label(self, text: str, k: int = 20, filters: ImageFilters | dict | None = None) -> ImageSearchResult:
        """Images whose labels mean what ``text`` says (``horse`` finds the sorrel, ``a dog on a beach`` the dog
        breeds and the shore) or mention its words (``sports car``), most likely first, among those meeting
        ``filters``.

        By meaning when ``models build`` has made the label vectors (:mod:`embedengine.label_meanings`); by the
        words alone otherwise. ``related_labels`` lists the labels counted and their weights.
        """
        filters = ImageFilters.coerce(filters)
        started = time.perf_counter()
        if not label_words(text):
            raise UserError("type what to look for in the photos", hint="for example: horse, a dog on a beach, pizza")
        scores = self.label_matches(text)
        related = self._related_labels(text)
        for item_id, score in meaning_scores(self._label_index(), related).items():
            scores[item_id] = scores.get(item_id, 0.0) + score
        if filters.active():
            passing = self.filtered_ids(filters)
            scores = {item_id: score for item_id, score in scores.items() if item_id in passing}
        best = sorted(scores.items(), key=lambda pair: -pair[1])[:k]
        return ImageSearchResult(self.name, "", [], text, self.hits(best), self.count(), 0.0,
                                 (time.perf_counter() - started) * 1000,
                                 related_labels=[(r.label, round(r.weight, 3)) for r in related],
                                 filters=filters.to_dict())

    @staticmethod
    def _related_labels(text: str) -> list:
        try:
            return label_meanings().related(text)
        except ModelMissingError:  # built before label meanings existed: words only until `models build`
            return []

    def near_duplicates(self, threshold: float = DEFAULT_DUPLICATE_THRESHOLD) -> DuplicatesResult:
        """Groups of images whose similarity is ≥ ``threshold`` (resized, recompressed, cropped copies) or whose
        files are identical (sha256), with the member to keep when keeping the largest or the newest."""
        if not MIN_DUPLICATE_THRESHOLD <= threshold <= 1.0:
            raise UserError(f"threshold {threshold} is out of range",
                            hint=f"use a similarity between {MIN_DUPLICATE_THRESHOLD} and 1, e.g. 0.8")
        started = time.perf_counter()
        if self.count() == 0:
            return DuplicatesResult(self.name, threshold, [], 0, 0.0)
        matrix = self.store.matrix(METHOD)
        live = np.nonzero(matrix.live_mask())[0]
        item_ids = [int(matrix.row_items[row]) for row in live]
        paths = {item.id: item.path for item in self.store.items(item_ids)}
        records = self.store.file_records()
        hashes = [getattr(records.get(paths.get(i, "")), "sha256", None) for i in item_ids]
        groups = [self._duplicate_group(group, item_ids, records)
                  for group in duplicates.duplicate_groups(matrix.vectors[live], hashes, threshold)]
        return DuplicatesResult(self.name, threshold, groups, len(live), time.perf_counter() - started)

    def _duplicate_group(self, group: duplicates.RowGroup, item_ids: list[int], records: dict) -> DuplicateGroup:
        hits = self.hits([(item_ids[row], score) for row, score in zip(group.rows, group.best)])
        for hit in hits:
            record = records.get(hit.path)
            hit.size, hit.modified = (record.size, record.mtime) if record else (0, 0.0)
        facts = [duplicates.FileFacts(h.width, h.height, h.size, h.modified) for h in hits]
        keep = {rule: hits[index].path for rule, index in duplicates.keep_suggestions(facts).items()}
        exact = [hit.path for hit, is_exact in zip(hits, group.exact) if is_exact]
        return DuplicateGroup(hits, max(group.best), min(group.best), exact, keep)

    # -- the trash -----------------------------------------------------------------------------

    def trash(self, paths: Sequence[str]) -> duplicates.TrashReport:
        """Move files of this collection to the system trash (never a permanent delete) and forget them."""
        known = set(self.store.file_paths())
        strangers = [p for p in paths if p not in known]
        if strangers:
            raise UserError(f"{strangers[0]} is not a file of collection '{self.name}'",
                            hint="only files the collection lists can be moved to the trash from here")
        trashed, failed = duplicates.move_to_trash(paths)
        self.forget([t.original for t in trashed])
        return duplicates.TrashReport(self.name, trashed, failed, self.store.count_files())

    def restore(self, trashed: Sequence[duplicates.TrashedFile | dict]) -> duplicates.RestoreReport:
        """Undo :meth:`trash`: move the files back from the trash and index them again."""
        records = [t if isinstance(t, duplicates.TrashedFile) else duplicates.TrashedFile(**t) for t in trashed]
        restored, failed = duplicates.restore_from_trash(records)
        if restored:
            self.index()
        return duplicates.RestoreReport(self.name, restored, failed, self.store.count_files())

    def forget(self, paths: Sequence[str]) -> int:
        """Take files out of the collection now (their images, vectors and thumbnails); returns how many."""
        if not paths:
            return 0
        with self.writer():
            removed = self.store.remove_files(paths)
            self.after_removal()
        return removed


def shown_hits(hits: Sequence, min_score: float) -> list:
    """The hits (objects or dicts, best first) at or above ``min_score``: those a search shows."""
    return [hit for hit in hits if _score(hit) >= min_score]


def _score(hit: Any) -> float:
    return float(hit["score"] if isinstance(hit, dict) else hit.score)


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------

def _made_by_current_model(method: str, settings: dict) -> bool:
    """Whether the stored settings of ``clip:NAME`` vectors name the added model's present files."""
    return bool(settings.get("fingerprint")) and \
        settings.get("fingerprint") == vector_settings(clip_name(method))["fingerprint"]


def _with_payload(item: Item, record, added: dict) -> FileEntry:
    """The store entry of an indexed image, its payload completed with ``added``."""
    return FileEntry(item.path, record.size, record.mtime, record.sha256, payloads=[{**item.payload, **added}])


def _has_ocr(payload: dict) -> bool:
    return "ocr_text" in payload or "ocr_error" in payload


def ocr_payload(path: str) -> dict:
    """``{"ocr_text": text}`` of one image, or ``{"ocr_error": reason}`` when its OCR fails (the image stays)."""
    try:
        return {"ocr_text": ocr.recognise(path).text}
    except ImageLoadError as error:
        return {"ocr_error": error.reason}
    except ocr.OcrUnavailable:
        raise
    except Exception as error:  # noqa: BLE001 (one image's model failure must not stop the run)
        return {"ocr_error": f"OCR failed: {error}"}


def ocr_words(text: str) -> list[str]:
    """Lower-case words of a text (letters and digits)."""
    return re.findall(r"\w+", text.lower())


def ocr_match(text: str, words: Sequence[str]) -> tuple[float, int, list[str]]:
    """Share of the query ``words`` the text holds, how often they occur, and the lines holding any of them."""
    counts: dict[str, int] = {}
    for word in ocr_words(text):
        counts[word] = counts.get(word, 0) + 1
    wanted = set(words)
    matched = [word for word in wanted if word in counts]
    lines = [line for line in text.splitlines() if wanted & set(ocr_words(line))]
    return len(matched) / len(wanted), sum(counts[word] for word in matched), lines


def _query_path(query: Any) -> Optional[str]:
    if isinstance(query, (str, Path)):
        return str(Path(query).expanduser().resolve())
    return None


def _describe_query(query: Any) -> str:
    return _query_path(query) or describe_source(query)


def demo_folder() -> Path:
    """The shipped demo photos (``resources/images``)."""
    return resources_dir() / "images"
