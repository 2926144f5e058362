"""Image collections: index folders of photos, find similar images, filter by label, group near-duplicates.

A collection is a :class:`~embedengine.store.CollectionStore` of kind ``"images"``
(``data_home()/image-collections/<name>/``): one file → one item whose payload holds the picture's
size, its top-5 ImageNet labels and its cached thumbnail; one L2-normalised ResNet50 vector per item
(method ``"resnet50"``, float16 on disk). Thumbnails (≤ 256 px JPEG) live in ``thumbs/``, named by the
file's content hash, written while the images pass through the encoder.

Indexing is incremental (size+mtime, then content hash) and crash-safe: every batch is committed in one
store transaction, so a ``kill -9`` leaves the batches committed so far and the next run carries on.
Files that cannot be used are recorded as skipped with a short reason and the run continues.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

import numpy as np

from embedengine.errors import UserError
from embedengine.image import IMAGE_EXTENSIONS, describe_source
from embedengine.results import Result
from embedengine.store import (
    CollectionStore,
    CollectionSummary,
    FileEntry,
    FileStat,
    FolderRemoved,
    Item,
    Plan,
    file_sha256,
    list_collections,
    top_k,
    walk_files,
)
from embedengine.tasks import CancelToken, Cancelled, Progress, ProgressCallback, RateMeter, checkpoint

KIND = "images"
METHOD = "resnet50"
DEFAULT_COLLECTION = "photos"
DEMO_COLLECTION = "demo"
THUMB_SIZE = 256
TOP_LABELS = 5
DEFAULT_DUPLICATE_THRESHOLD = 0.80
MIN_DUPLICATE_THRESHOLD = 0.5  # unrelated photos reach ~0.45 with ResNet50 features
MIN_LABEL_PROBABILITY = 0.02  # a label this unlikely does not count as "mentioned"
COMMIT_EVERY = 32  # images per store transaction
FAST_SEARCH_MIN = 20_000  # from this many vectors, search picks candidates with an int8 first pass
RERANK = 100  # candidates re-scored exactly (at least; 10 × k for larger k)
MAX_INT8_MODEL_BYTES = 1_500_000_000  # ONNX files hold < 2 GB: beyond ~700k images search stays float32


# ---------------------------------------------------------------------------------------------
# Result records
# ---------------------------------------------------------------------------------------------

@dataclass
class SkippedImage(Result):
    """A file left out of the index and why ("corrupt or truncated", "empty file", ...)."""

    path: str
    reason: str


@dataclass
class IndexReport(Result):
    """What one index run did. ``skipped`` lists the files this run could not use."""

    collection: str
    roots: list[str]
    found: int = 0
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[SkippedImage] = field(default_factory=list)
    images: int = 0  # usable images in the collection after the run
    seconds: float = 0.0
    images_per_s: float = 0.0
    cancelled: bool = False
    warnings: list[str] = field(default_factory=list)


@dataclass
class ImageHit(Result):
    """One image of a collection with its score (cosine similarity, or label probability)."""

    path: str
    score: float
    labels: list[tuple[str, float]]
    width: int
    height: int
    thumbnail: str  # cached JPEG thumbnail ("" when missing)


@dataclass
class ImageSearchResult(Result):
    """Top images for a query picture and/or a label word, best first."""

    collection: str
    query: str  # the query image's path or description ("" for a label-only search)
    query_labels: list[tuple[str, float]]
    label_filter: str
    hits: list[ImageHit]
    images: int  # images searched
    encode_ms: float
    search_ms: float


@dataclass
class DuplicateGroup(Result):
    """Images linked by similarities ≥ the threshold; each member's score is its closest match's similarity."""

    images: list[ImageHit]
    max_similarity: float
    min_similarity: float


@dataclass
class DuplicatesResult(Result):
    collection: str
    threshold: float
    groups: list[DuplicateGroup]
    images: int
    seconds: float


@dataclass
class CollectionStatus(CollectionSummary):
    images: int
    skipped: list[SkippedImage]
    last_indexed: Optional[float]
    thumbnails_bytes: int


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


def group_near_duplicates(vectors: np.ndarray, threshold: float) -> list[tuple[list[int], list[float]]]:
    """Connected groups of rows linked by cosine similarity ≥ ``threshold`` (rows L2-normalised).

    Returns ``(rows, best link of each row)`` per group, rows by best link, largest groups first.
    Works in blocks of rows so memory stays near 64 MB of similarities whatever N is.
    """
    n = vectors.shape[0]
    parent = np.arange(n)
    best = np.zeros(n, dtype=np.float32)
    block = max(16, min(4096, 16_000_000 // max(n, 1)))
    for start in range(0, n, block):
        sims = vectors[start:start + block] @ vectors.T
        np.fill_diagonal(sims[:, start:start + block], -1.0)
        rows, cols = np.nonzero(sims >= threshold)
        if rows.size:
            np.maximum.at(best, rows + start, sims[rows, cols])
        for i, j in zip((rows + start).tolist(), cols.tolist()):
            if i < j:
                _union(parent, i, j)
    return _collect_groups(parent, best)


def _find(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = int(parent[i])
    return i


def _union(parent: np.ndarray, i: int, j: int) -> None:
    a, b = _find(parent, i), _find(parent, j)
    if a != b:
        parent[max(a, b)] = min(a, b)


def _collect_groups(parent: np.ndarray, best: np.ndarray) -> list[tuple[list[int], list[float]]]:
    members: dict[int, list[int]] = {}
    for i in np.nonzero(best > 0)[0].tolist():
        members.setdefault(_find(parent, i), []).append(i)
    groups = []
    for rows in members.values():
        rows.sort(key=lambda r: -best[r])
        groups.append((rows, [float(best[r]) for r in rows]))
    groups.sort(key=lambda g: (-len(g[0]), -g[1][0]))
    return groups


class Int8Scorer:
    """Approximate scores of every stored vector from an int8 copy run by ONNX Runtime (MatMulInteger).

    A quarter of float32's memory traffic, so several times faster at 100k images on a busy machine;
    :meth:`ImageCollection.nearest` re-scores the best candidates exactly. ResNet50 features are ≥ 0
    (ReLU, average pooling), which the uint8 query needs; other vectors fall back to exact search.
    The model file is named by the vector set's generation and row count: rows are append-only, so it
    stays valid across restarts until vectors are added or compacted.
    """

    def __init__(self, session) -> None:
        self.session = session

    @classmethod
    def load_or_build(cls, folder: Path, vectors: np.ndarray, generation: int, rows: int) -> Optional["Int8Scorer"]:
        from embedengine.runtime import make_session

        path = folder / f"search-int8.{generation}.{rows}.onnx"
        if not path.exists():
            if vectors.size > MAX_INT8_MODEL_BYTES or vectors.min() < 0:
                return None
            _write_int8_model(path, vectors)
            for stale in folder.glob("search-int8.*.onnx"):
                if stale != path:
                    stale.unlink(missing_ok=True)
        return cls(make_session(path, ["CPUExecutionProvider"]))

    def scores(self, query: np.ndarray) -> Optional[np.ndarray]:
        """Scores proportional to the dot products (None for a query with negative values)."""
        peak = float(query.max())
        if query.min() < 0 or peak <= 0:
            return None
        quantized = np.rint(query * (255.0 / peak)).astype(np.uint8)[None]
        return self.session.run(None, {"query": quantized})[0][0].astype(np.float32)


def _write_int8_model(path: Path, vectors: np.ndarray, chunk: int = 8192) -> None:
    """A one-node ONNX graph ``query (uint8 [1, d]) × int8 weights [d, n] → int32 [1, n]`` (temp + rename)."""
    from onnx import TensorProto, helper

    rows, dim = vectors.shape
    scale = 127.0 / max(float(vectors.max()), 1e-12)
    weights = np.empty((dim, rows), dtype=np.int8)
    for start in range(0, rows, chunk):
        weights[:, start:start + chunk] = np.rint(vectors[start:start + chunk].astype(np.float32) * scale).T
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["query", "weights"], ["scores"])], "int8-scores",
        [helper.make_tensor_value_info("query", TensorProto.UINT8, [1, dim])],
        [helper.make_tensor_value_info("scores", TensorProto.INT32, [1, rows])],
        [helper.make_tensor("weights", TensorProto.INT8, [dim, rows], vals=weights.tobytes(), raw=True)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(model.SerializeToString())
    os.replace(temporary, path)


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


# ---------------------------------------------------------------------------------------------
# The collection
# ---------------------------------------------------------------------------------------------

def collection_names() -> list[str]:
    """Names of the image collections in the data folder."""
    return list_collections(KIND)


class ImageCollection:
    """A named image collection: folders, excludes, the index, and searches over it."""

    def __init__(self, name: str = DEFAULT_COLLECTION, create: bool = True, encoder: Any = None) -> None:
        self.store = CollectionStore.open(KIND, name, create=create)
        self.name = self.store.folder.name
        self.folder = self.store.folder
        self.thumbs_dir = self.folder / "thumbs"
        self._encoder = encoder
        self._scorer_lock = threading.Lock()
        self._scorer: Optional[tuple[tuple[int, int], Optional[Int8Scorer]]] = None
        self._label_cache: Optional[tuple[tuple[int, int], dict[str, list[tuple[int, float]]]]] = None

    @classmethod
    def open(cls, name: str = DEFAULT_COLLECTION, create: bool = False, encoder: Any = None) -> "ImageCollection":
        return cls(name, create=create, encoder=encoder)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "ImageCollection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def encoder(self):
        """The ResNet50 encoder (the process-wide one unless one was given)."""
        if self._encoder is None:
            from embedengine.image import get_image_encoder

            self._encoder = get_image_encoder()
        return self._encoder

    # -- folders -------------------------------------------------------------------------------

    def add_folders(self, folders: Iterable[str | Path]) -> list[str]:
        """Remember folders (or single image files) to index; returns their resolved paths."""
        return [self.store.add_root(folder) for folder in folders]

    def remove_folder(self, folder: str | Path) -> FolderRemoved:
        """Take a folder (or image file) out now: its images, vectors and thumbnails leave the collection."""
        removed = FolderRemoved.forget(self.store, folder)
        self.prune_thumbnails()
        return removed

    def roots(self) -> list[str]:
        return self.store.roots()

    def set_excludes(self, patterns: Iterable[str]) -> None:
        """Glob patterns matched against relative paths and folder names (``*.gif``, ``raw``)."""
        self.store.set_excludes(patterns)

    def excludes(self) -> list[str]:
        return self.store.excludes()

    def image_files(self) -> Iterator[Path]:
        """Image files under the roots, hidden/system folders and excludes left out."""
        return walk_files(self.roots(), IMAGE_EXTENSIONS, self.excludes())

    # -- indexing ------------------------------------------------------------------------------

    def index(
        self,
        folders: Iterable[str | Path] = (),
        progress: Optional[ProgressCallback] = None,
        cancel: Optional[CancelToken] = None,
        batch_size: int = 16,
        commit_every: int = COMMIT_EVERY,
    ) -> IndexReport:
        """Add ``folders`` and bring the index up to date with every root folder.

        New and changed files are decoded, embedded, labelled and thumbnailed; deleted ones are removed.
        Cancelling keeps everything committed so far and returns a report with ``cancelled=True``.
        ``commit_every`` images are written per transaction (what a crash can lose at most).
        """
        self.add_folders(folders)
        if not self.roots() and not self.store.file_records():
            raise UserError(f"collection '{self.name}' has no folders to index", hint="add a folder of photos first")
        started = time.perf_counter()
        report = IndexReport(self.name, self.roots())
        try:
            plan = self._plan(report, progress, cancel)
            todo = self._files_to_encode(plan, report)
            self._encode_files(todo, plan.hashes, report, progress, cancel, batch_size, commit_every)
            if plan.deleted or plan.changed:
                self.prune_thumbnails()
            self._prepare_fast_search(progress)
        except Cancelled:
            report.cancelled = True
        return self._finish_report(report, started)

    def _prepare_fast_search(self, progress) -> None:
        """Build the int8 copy for the first pass now (about 4 s per 100K images), not at the next search."""
        stored = next((s for s in self.store.vector_sets() if s.method == METHOD), None)
        if stored is None or stored.rows < FAST_SEARCH_MIN:  # the rule nearest() uses
            return
        _report(progress, Progress(stage="search", message="preparing fast search…"))
        self._int8_scorer(self.store.matrix(METHOD))

    def _plan(self, report: IndexReport, progress, cancel) -> Plan:
        """Walk the roots and compare with the index; apply deletions and stat-only updates."""
        _report(progress, Progress(stage="scan", message=f"Looking for images in {len(report.roots)} folder(s)…"))
        files: dict[str, None] = {}  # ordered set: overlapping roots list a file once
        for path in self.image_files():
            files[str(path)] = None
            if len(files) % 500 == 0:
                checkpoint(cancel)
        plan = self.store.plan(files)
        report.found = len(files)
        plan.deleted = self._keep_missing_roots(plan.deleted, report)
        report.removed = self.store.remove_files(plan.deleted)
        self.store.update_stats(plan.touched)
        report.unchanged = len(plan.unchanged) + len(plan.touched)
        return plan

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

    def _keep_missing_roots(self, deleted: list[str], report: IndexReport) -> list[str]:
        """Do not forget images of a root that is absent (an unplugged drive); warn instead."""
        missing = [root for root in report.roots if not Path(root).exists()]
        for root in missing:
            report.warnings.append(f"{root} is not available; its images stay in the index")
        prefixes = tuple(root.rstrip(os.sep) + os.sep for root in missing)
        return [path for path in deleted if not (prefixes and path.startswith(prefixes))]

    def _files_to_encode(self, plan: Plan, report: IndexReport) -> list[FileStat]:
        """New and changed files, plus unchanged ones skipped as unreadable (permissions may be fixed)."""
        records = self.store.file_records()
        retry = [records[path] for path in plan.unchanged
                 if records[path].status == "skipped" and records[path].reason.startswith("unreadable")]
        report.unchanged -= len(retry)
        return plan.to_process + [FileStat(r.path, r.size, r.mtime) for r in retry]

    def _encode_files(self, todo: list[FileStat], hashes: dict, report: IndexReport, progress, cancel,
                      batch_size: int, commit_every: int) -> None:
        if not todo:
            return  # nothing new: the model is not even loaded
        meter = RateMeter(len(todo))
        pending: list[tuple[FileEntry, Optional[np.ndarray]]] = []
        try:
            outcomes = self.encoder.iter_encode([s.path for s in todo], batch_size=batch_size,
                                                thumbnail_size=THUMB_SIZE, cancel=cancel)
            for done, outcome in enumerate(outcomes, start=1):
                pending.append(self._entry_for(todo[outcome.index], outcome, hashes, report))
                if len(pending) >= commit_every:
                    self._commit(pending)
                _report(progress, _index_progress(meter, done, len(todo), report))
        finally:
            self._commit(pending)  # what was encoded before a cancel or an error is kept

    def _entry_for(self, stat: FileStat, outcome, hashes: dict, report: IndexReport) -> tuple[FileEntry, Optional[np.ndarray]]:
        """The store entry (and unit vector) for one encoder outcome."""
        if outcome.error is not None:
            report.skipped.append(SkippedImage(stat.path, outcome.error.reason))
            return FileEntry(stat.path, stat.size, stat.mtime, None, "skipped", outcome.error.reason), None
        digest = hashes.get(stat.path) or _hash_or_none(stat.path)
        thumb = self._save_thumbnail(outcome.thumbnail, digest)
        labels = [[name, round(p, 5)] for name, p in self.encoder.top_labels(outcome.probs, TOP_LABELS)]
        payload = {"width": outcome.width, "height": outcome.height, "labels": labels, "thumb": thumb}
        report.indexed += 1
        return FileEntry(stat.path, stat.size, stat.mtime, digest, payloads=[payload]), normalise(outcome.embedding)

    def _commit(self, pending: list[tuple[FileEntry, Optional[np.ndarray]]]) -> None:
        """Write a batch of entries and their vectors in one transaction, then empty ``pending``."""
        if not pending:
            return
        vectors = [v for _, v in pending if v is not None]
        matrix = np.stack(vectors) if vectors else np.zeros((0, self.encoder.dim), np.float32)
        self.store.write_batch([entry for entry, _ in pending], {METHOD: matrix})
        pending.clear()

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

    def _finish_report(self, report: IndexReport, started: float) -> IndexReport:
        report.seconds = time.perf_counter() - started
        report.images_per_s = report.indexed / report.seconds if report.seconds > 0 else 0.0
        report.images = self.count()
        self.store.set_meta("last_indexed", time.time())
        return report

    # -- reading -------------------------------------------------------------------------------

    def count(self) -> int:
        """Usable (indexed) images."""
        return self.store.count_items()

    def _hit(self, item: Item, score: float) -> ImageHit:
        payload = item.payload
        thumb = payload.get("thumb") or ""
        return ImageHit(
            path=item.path, score=round(float(score), 6),
            labels=[(str(n), float(p)) for n, p in payload.get("labels", [])],
            width=int(payload.get("width", 0)), height=int(payload.get("height", 0)),
            thumbnail=str(self.thumbs_dir / thumb) if thumb else "",
        )

    def hits(self, scored: Sequence[tuple[int, float]]) -> list[ImageHit]:
        """Hits for ``(item_id, score)`` pairs, in that order."""
        items = {item.id: item for item in self.store.items([i for i, _ in scored])}
        return [self._hit(items[i], s) for i, s in scored if i in items]

    def image(self, path: str | Path) -> Optional[ImageHit]:
        """The indexed image at ``path`` (score 1), or None."""
        wanted = str(Path(path).expanduser().resolve())
        ids = self.store.item_ids_for_paths(lambda p: p == wanted)
        return self.hits([(int(ids[0]), 1.0)])[0] if len(ids) else None

    def _label_index(self) -> dict[str, list[tuple[int, float]]]:
        """Label name → [(item id, probability)] over all images, rebuilt only when items change."""
        signature = self.store.items_signature()
        if self._label_cache is None or self._label_cache[0] != signature:
            index: dict[str, list[tuple[int, float]]] = {}
            for item in self.store.iter_items():
                for name, probability in item.payload.get("labels", []):
                    index.setdefault(str(name), []).append((item.id, float(probability)))
            self._label_cache = (signature, index)
        return self._label_cache[1]

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

    def search(self, query: Any, k: int = 10, label_filter: Optional[str] = None, exclude_self: bool = True) -> ImageSearchResult:
        """The ``k`` images most similar to ``query``, optionally only those whose labels mention ``label_filter``.

        When the query is a file of this collection, that file itself is left out (``exclude_self``).
        """
        started = time.perf_counter()
        vector, query_labels = self.encode_query(query)
        encoded = time.perf_counter()
        hits = self.search_vector(vector, k, label_filter, exclude=_query_path(query) if exclude_self else None)
        return ImageSearchResult(
            self.name, _describe_query(query), query_labels, label_filter or "", hits,
            self.count(), (encoded - started) * 1000, (time.perf_counter() - encoded) * 1000)

    def search_vector(self, vector: np.ndarray, k: int = 10, label_filter: Optional[str] = None, exclude: Optional[str] = None) -> list[ImageHit]:
        """Nearest images to a unit vector (the part of :meth:`search` after encoding)."""
        allowed = None
        if label_filter:
            allowed = np.fromiter(self.label_matches(label_filter).keys(), dtype=np.int64)
            if allowed.size == 0:
                return []
        if self.count() == 0:
            return []
        scored = self.nearest(np.asarray(vector, dtype=np.float32).ravel(), k + (1 if exclude else 0), allowed)
        hits = self.hits(scored)
        return [h for h in hits if h.path != exclude][:k]

    def nearest(self, vector: np.ndarray, k: int, allowed: Optional[np.ndarray] = None) -> list[tuple[int, float]]:
        """Exact cosine top-k ``[(item id, score)]``; large collections pick candidates with an int8 first pass."""
        matrix = self.store.matrix(METHOD)
        scorer = self._int8_scorer(matrix) if matrix.rows >= FAST_SEARCH_MIN else None
        approximate = scorer.scores(vector) if scorer is not None else None
        if approximate is None:
            return self.store.search(METHOD, vector, k, allowed_items=allowed)
        mask = matrix.live_mask()
        if allowed is not None:
            mask &= np.isin(matrix.row_items, allowed)
        candidates = top_k(np.where(mask, approximate, -np.inf), min(int(mask.sum()), max(RERANK, 10 * k)))
        exact = matrix.rows_as_float32(candidates) @ vector
        best = np.argsort(-exact, kind="stable")[:k]
        return [(int(matrix.row_items[candidates[i]]), float(exact[i])) for i in best]

    def _int8_scorer(self, matrix) -> Optional["Int8Scorer"]:
        key = (matrix.generation, matrix.rows)
        with self._scorer_lock:  # two searches at once build it once
            if self._scorer is None or self._scorer[0] != key:
                self._scorer = (key, Int8Scorer.load_or_build(self.folder, matrix.stored, *key))
            return self._scorer[1]

    def search_by_label(self, text: str, k: int = 20) -> ImageSearchResult:
        """Images whose top labels mention ``text`` (``cat``, ``sports car``), most probable first."""
        started = time.perf_counter()
        if not label_words(text):
            raise UserError("type a word to look for in the image labels", hint="for example: cat, car, coffee")
        matches = self.label_matches(text)
        best = sorted(matches.items(), key=lambda pair: -pair[1])[:k]
        return ImageSearchResult(self.name, "", [], text, self.hits(best), self.count(), 0.0,
                                 (time.perf_counter() - started) * 1000)

    def near_duplicates(self, threshold: float = DEFAULT_DUPLICATE_THRESHOLD) -> DuplicatesResult:
        """Groups of images whose similarity is ≥ ``threshold`` (resized, recompressed, cropped copies)."""
        if not MIN_DUPLICATE_THRESHOLD <= threshold <= 1.0:
            raise UserError(f"threshold {threshold} is out of range",
                            hint=f"use a similarity between {MIN_DUPLICATE_THRESHOLD} and 1, e.g. 0.8")
        started = time.perf_counter()
        if self.count() == 0:
            return DuplicatesResult(self.name, threshold, [], 0, 0.0)
        matrix = self.store.matrix(METHOD)
        live = np.nonzero(matrix.live_mask())[0]
        groups = []
        for rows, scores in group_near_duplicates(matrix.vectors[live], threshold):
            item_ids = [int(matrix.row_items[live[r]]) for r in rows]
            groups.append(DuplicateGroup(self.hits(list(zip(item_ids, scores))), max(scores), min(scores)))
        return DuplicatesResult(self.name, threshold, groups, len(live), time.perf_counter() - started)

    # -- status --------------------------------------------------------------------------------

    def skipped(self) -> list[SkippedImage]:
        return [SkippedImage(s["path"], s["reason"]) for s in self.store.status().skipped]

    def status(self) -> CollectionStatus:
        thumbs = sum(p.stat().st_size for p in self.thumbs_dir.rglob("*.jpg")) if self.thumbs_dir.exists() else 0
        return CollectionStatus(
            name=self.name, folder=str(self.folder), roots=self.roots(), excludes=self.excludes(),
            images=self.count(), skipped=self.skipped(), last_indexed=self.store.get_meta("last_indexed"),
            thumbnails_bytes=thumbs)


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------

def _report(progress: Optional[ProgressCallback], report: Progress) -> None:
    if progress is not None:
        progress(report)


def _index_progress(meter: RateMeter, done: int, total: int, report: IndexReport) -> Progress:
    return Progress(stage="index", done=done, total=total, unit="images", rate=meter.rate(done),
                    eta_s=meter.eta(done), extra={"skipped": len(report.skipped), "unchanged": report.unchanged})


def _hash_or_none(path: str) -> Optional[str]:
    try:
        return file_sha256(path)
    except OSError:
        return None


def _query_path(query: Any) -> Optional[str]:
    if isinstance(query, (str, Path)):
        return str(Path(query).expanduser().resolve())
    return None


def _describe_query(query: Any) -> str:
    return _query_path(query) or describe_source(query)


def open_or_create(name: str) -> ImageCollection:
    """The named collection, created when absent."""
    return ImageCollection(name, create=True)


def demo_folder() -> Path:
    """The shipped demo photos (``resources/images``)."""
    from embedengine.runtime import resources_dir

    return resources_dir() / "images"


def ensure_demo_collection(progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> IndexReport:
    """Index the shipped demo photos into the ``demo`` collection (incremental: instant once done)."""
    folder = demo_folder()
    if not folder.exists():
        raise UserError(f"the demo images are missing from {folder}", hint="reinstall Embed Studio or index your own folder")
    with ImageCollection(DEMO_COLLECTION, create=True) as collection:
        return collection.index([folder], progress=progress, cancel=cancel)
