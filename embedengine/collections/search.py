"""Nearest-neighbour search over a collection's vector sets, the same for every kind.

Small sets are scored exactly (float32 dot products of unit vectors). From ``ANN_MIN`` rows an approximate
index (HNSW, ``ann.py``) picks candidates, over-fetched for tombstones and filters, and they are re-scored
exactly; rows added since the index was last brought up to date are scored exactly beside them. Until the
index is ready (it is built by ``prepare`` after an index run, or in the background on first use), and
without the ANN library, a large set is searched as below.

From ``FAST_SEARCH_MIN`` rows (without an ANN index) an int8 copy of the set picks candidates first (a quarter of float32's memory traffic, run by ONNX Runtime's
MatMulInteger in the ``int8-scores.onnx`` model that ``models build`` writes) and the best ``RERANK``
candidates are re-scored exactly, so the reported scores are always exact cosines.

The int8 copy is a derived file (``search-int8/<method>.<generation>.<rows>.{weights,sums}.npy``, memory-mapped
on open): rows are append-only, so it stays valid until vectors are added or compacted; a damaged or stale copy
is rebuilt.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from pathlib import Path
from typing import Optional

import numpy as np

from embedengine.linalg import top_k
from embedengine.manifest import verified_model_path
from embedengine.runtime import ModelMissingError, make_session
from embedengine.store import CollectionStore, VectorMatrix

from . import ann

FAST_SEARCH_MIN = 20_000  # from this many vectors, a search picks candidates with the int8 first pass
RERANK = 100  # candidates re-scored exactly (at least; 10 × k for larger k)
INT8_MODEL = "int8-scores.onnx"
QUERY_OFFSET = 128  # signed int8 query levels shifted into MatMulInteger's uint8 range
COPY_FOLDER = "search-int8"

# From this many rows a set is searched through its ANN index (below it: exact). Measured on this machine
# (benchmarks/scale.py --crossover, 384-d clustered rows, 2 cores shared, load ~9; benchmarks/RESULTS.md
# "Scale"), median ms per query, exact float32 / int8 first pass / ANN + exact re-scoring of 100:
# 5K 0.79 / 0.36 / 0.38, 10K 27.9 / 0.96 / 0.27 (ANN recall@10 0.995), 20K 18.3 / 0.65 / 0.68,
# 50K 32.8 / 8.9 / 0.75. The ANN beats exact scoring from about 5K rows, and the int8 pass (the path of
# sets from FAST_SEARCH_MIN) from 20K, growing apart from there (12 × at 50K). Below 20K rows exact search
# is exact, needs no index build (about 30 s for 20K rows here) and stays within milliseconds. (Measured
# with 100 candidates and ef 128; both were raised to 400 for recall at 1M, which adds about a millisecond.)
ANN_MIN = 20_000
ANN_RESCORE = 400  # ANN candidates re-scored exactly (at least; 10 × k for larger k). At 1M × 384, 100 gave
# recall@10 0.967 and 1,000 (a 10 % filter's over-fetch) 0.993 (benchmarks/RESULTS.md, "Scale")
ANN_TAIL_MAX = 50_000  # rows not yet in the index that a search scores exactly (more: the index is updated)
ANN_FETCH_MAX = 2_500  # candidates fetched at most for a filter (1M × 384, 10 % filter: 1,000 gave recall@10 0.985)
EXACT_FILTERED_MAX = 50_000  # a filter keeping at most this many rows is scored exactly over them (a few ms)
EXACT_CHUNK = 65_536  # rows converted to float32 at a time when scoring a large set exactly

Ranked = list[tuple[int, float]]  # (item id, score), best first
log = logging.getLogger(__name__)


class Int8Copy:
    """A set's vectors quantised to int8 (transposed, [dim, rows]) with each column's sum."""

    def __init__(self, weights: np.ndarray, column_sums: np.ndarray, session) -> None:
        self.weights = weights
        self.column_sums = column_sums
        self.session = session

    @classmethod
    def load_or_build(cls, folder: Path, matrix: VectorMatrix, session) -> "Int8Copy":
        """Map the saved copy (pages are read at the first search), or build and save it when it is absent,
        damaged or stale."""
        stem = folder / COPY_FOLDER / _copy_stem(matrix)
        try:
            weights = np.load(f"{stem}.weights.npy", mmap_mode="r", allow_pickle=False)
            sums = np.load(f"{stem}.sums.npy", mmap_mode="r", allow_pickle=False)
            if weights.shape != (matrix.stored.shape[1], matrix.rows) or sums.shape != (matrix.rows,):
                raise ValueError("stale int8 copy")
        except Exception:  # noqa: BLE001 - absent, damaged or stale (a derived file): rebuild it
            weights, sums = quantise_columns(matrix.stored)
            _save_atomic(Path(f"{stem}.sums.npy"), sums)
            _save_atomic(Path(f"{stem}.weights.npy"), weights)  # last: its presence means the copy is whole
        return cls(weights, sums, session)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Approximate scores, proportional to the dot products with ``query`` (any sign)."""
        peak = float(np.abs(query).max()) or 1.0
        levels = np.rint(query * (127.0 / peak)).astype(np.int16) + QUERY_OFFSET
        raw = self.session.run(None, {"query": levels.astype(np.uint8)[None], "weights": self.weights})[0][0]
        return (raw - QUERY_OFFSET * self.column_sums).astype(np.float32)


def quantise_columns(stored: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights [dim, rows] (one scale for the whole set) and their column sums (int32)."""
    rows, dim = stored.shape
    scale = 127.0 / max(float(np.abs(stored).max()) if rows else 1.0, 1e-12)
    weights = np.empty((dim, rows), dtype=np.int8)
    for start in range(0, rows, chunk):
        weights[:, start:start + chunk] = np.rint(stored[start:start + chunk].astype(np.float32) * scale).T
    return weights, weights.sum(axis=0, dtype=np.int32)


class VectorSearcher:
    """Top-k with exact scores: exact for small sets, ANN candidates (or the int8 first pass) for large ones.
    One per open collection (it caches)."""

    def __init__(self, store: CollectionStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._copies: dict[str, tuple[tuple[int, int], Optional[Int8Copy]]] = {}
        self._anns: dict[str, ann.AnnIndex] = {}
        self._builders: dict[str, threading.Thread] = {}
        self.notices: list[str] = []  # messages about rebuilt indexes (also logged)

    def nearest(self, method: str, vector: np.ndarray, k: int, allowed: Optional[np.ndarray] = None) -> Ranked:
        """Cosine top-k ``[(item id, score)]`` of a unit ``vector`` among live (and ``allowed``) items."""
        matrix = self.store.matrix(method)
        vector = np.asarray(vector, dtype=np.float32).ravel()
        if self.uses_ann(matrix):
            index = self.ann_index(matrix, wait=False)
            mask = _usable(matrix, allowed)
            if index is not None:
                return self._ann_nearest(matrix, index, vector, k, mask)
            return _exact_rows(matrix, np.flatnonzero(mask), vector, k)
        copy = self.int8_copy(matrix) if matrix.rows >= FAST_SEARCH_MIN else None
        if copy is None:
            return self.store.search(method, vector, k, allowed_items=allowed)
        mask = _usable(matrix, allowed)
        candidates = top_k(np.where(mask, copy.scores(vector), -np.inf), min(int(mask.sum()), max(RERANK, 10 * k)))
        return _exact_rows(matrix, candidates, vector, k)

    def _ann_nearest(self, matrix: VectorMatrix, index: ann.AnnIndex, vector: np.ndarray, k: int,
                     mask: np.ndarray) -> Ranked:
        """ANN candidates among the indexed rows and every usable row added since, re-scored exactly.

        With a filter (or tombstones) candidates are over-fetched in proportion, up to ``ANN_FETCH_MAX``, and
        only usable ones are kept; a filter that keeps at most ``EXACT_FILTERED_MAX`` rows, or leaves fewer
        than k candidates, is scored exactly over its own rows."""
        indexed = min(index.rows, matrix.rows)
        usable_indexed = int(np.count_nonzero(mask[:indexed]))
        tail = indexed + np.flatnonzero(mask[indexed:])
        if usable_indexed < indexed and usable_indexed <= EXACT_FILTERED_MAX:
            return _exact_rows(matrix, np.flatnonzero(mask), vector, k)
        want = max(ANN_RESCORE, 10 * k)
        fetch = min(math.ceil(want * indexed / usable_indexed), max(want, ANN_FETCH_MAX), indexed)
        rows = index.candidates(vector, fetch)
        rows = rows[rows < matrix.rows]
        rows = rows[mask[rows]]  # live (deleted items never come back) and allowed
        if len(rows) < min(k, usable_indexed):
            return _exact_rows(matrix, np.flatnonzero(mask), vector, k)
        return _exact_rows(matrix, np.concatenate([rows, tail]), vector, k)

    def uses_ann(self, matrix: VectorMatrix) -> bool:
        return matrix.rows >= ANN_MIN and ann.available()

    def prepare(self, method: str) -> bool:
        """Build or update the search index of a large set now (ANN index, else the int8 copy); True when ready."""
        if method not in self.store.vector_methods():
            return False
        matrix = self.store.matrix(method)
        if self.uses_ann(matrix):
            return self.ann_index(matrix, wait=True) is not None
        return matrix.rows >= FAST_SEARCH_MIN and self.int8_copy(matrix) is not None

    def ann_index(self, matrix: VectorMatrix, wait: bool) -> Optional[ann.AnnIndex]:
        """The set's ANN index when it is usable now. ``wait``: build or bring it up to date first; else a
        missing, damaged or far-behind index is built in the background and None is returned meanwhile."""
        with self._lock:
            index = self._opened(matrix)
            behind = matrix.rows - index.rows if index else matrix.rows
            if index is not None and (behind == 0 or (not wait and behind <= ANN_TAIL_MAX)):
                return index
            builder = self._builders.get(matrix.method)
            if not wait and builder is None:
                builder = threading.Thread(target=self._build, args=(matrix,), daemon=True,
                                           name=f"ann-index-{matrix.method}")
                self._builders[matrix.method] = builder
                builder.start()
        if not wait:
            return index if index is not None and behind <= ANN_TAIL_MAX else None
        if builder is not None:
            builder.join()
        return self._build(matrix)

    def _opened(self, matrix: VectorMatrix) -> Optional[ann.AnnIndex]:
        """The cached index of this generation, or the one on disk (None when missing or unusable). Under the lock."""
        index = self._anns.get(matrix.method)
        if index is not None and index.generation == matrix.generation and index.rows >= matrix.rows:
            return index
        if index is None or index.generation != matrix.generation or \
                ann.newest_rows(self.store.folder, matrix.method, matrix.generation) > index.rows:
            index, problem = ann.open_index(self.store.folder, matrix)
            if index is None:
                self._anns.pop(matrix.method, None)
                self._note(matrix, problem)
                return None
            self._anns[matrix.method] = index
        return index

    def _build(self, matrix: VectorMatrix) -> Optional[ann.AnnIndex]:
        """Bring the set's index up to date (adding only the new rows to a sound one) and cache it."""
        try:
            with self._lock:
                start = self._opened(matrix)
            if start is not None and start.rows >= matrix.rows:
                return start
            index = ann.build_index(self.store.folder, matrix, start)
            ann.drop_stale(self.store.folder, matrix.method, index.path)
            _drop_int8_copies(self.store.folder / COPY_FOLDER, matrix.method)
            with self._lock:
                self._anns[matrix.method] = index
            return index
        except Exception as error:  # noqa: BLE001 - searches go on exactly; the next update tries again
            log.warning("could not build the search index of %s: %s", matrix.method, error)
            return None
        finally:
            with self._lock:
                if self._builders.get(matrix.method) is threading.current_thread():
                    del self._builders[matrix.method]

    def _note(self, matrix: VectorMatrix, problem: str) -> None:
        verb = "building" if problem == "missing" else f"rebuilding (the index on disk is {problem})"
        message = f"{verb} the search index of {matrix.rows:,} '{matrix.method}' vectors"
        if not self.notices or self.notices[-1] != message:
            self.notices.append(message)
            log.warning(message)

    def int8_copy(self, matrix: VectorMatrix) -> Optional[Int8Copy]:
        """The set's int8 copy (None without the int8 model: search then stays exact)."""
        key = (matrix.generation, matrix.rows)
        with self._lock:  # two searches at once build it once
            cached = self._copies.get(matrix.method)
            if cached is None or cached[0] != key:
                self._copies[matrix.method] = (key, self._load_copy(matrix))
                _drop_stale_copies(self.store.folder / COPY_FOLDER, matrix)
            return self._copies[matrix.method][1]

    def _load_copy(self, matrix: VectorMatrix) -> Optional[Int8Copy]:
        try:
            session = make_session(verified_model_path(INT8_MODEL), ["CPUExecutionProvider"])
        except ModelMissingError:
            return None
        return Int8Copy.load_or_build(self.store.folder, matrix, session)


def _usable(matrix: VectorMatrix, allowed: Optional[np.ndarray]) -> np.ndarray:
    """Rows that may be returned: live (not tombstones) and, with a filter, of ``allowed`` items (a lookup
    table by item id: linear in the rows, where ``np.isin`` sorts)."""
    mask = matrix.live_mask()
    if allowed is None or matrix.rows == 0:
        return mask
    largest = int(matrix.row_items.max())
    allowed = np.asarray(allowed, dtype=np.int64).ravel()
    lookup = np.zeros(largest + 2, dtype=bool)  # the last entry, False, is where tombstones (-1) look
    lookup[allowed[(allowed >= 0) & (allowed <= largest)]] = True
    return mask & lookup[matrix.row_items]


def _exact_rows(matrix: VectorMatrix, rows: np.ndarray, vector: np.ndarray, k: int) -> Ranked:
    """Exact top-k among ``rows``, converting ``EXACT_CHUNK`` rows to float32 at a time."""
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    best_rows, best_scores = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    for start in range(0, len(rows), EXACT_CHUNK):
        chunk = rows[start:start + EXACT_CHUNK]
        scores = matrix.rows_as_float32(chunk) @ vector
        keep = top_k(scores, min(k, len(chunk)))
        best_rows = np.concatenate([best_rows, chunk[keep]])
        best_scores = np.concatenate([best_scores, scores[keep]])
    order = np.argsort(-best_scores, kind="stable")[:k]
    return [(int(matrix.row_items[best_rows[i]]), float(best_scores[i])) for i in order]


def _safe(method: str) -> str:
    return re.sub(r"[^\w.-]", "_", method)


def _copy_stem(matrix: VectorMatrix) -> str:
    return f"{_safe(matrix.method)}.{matrix.generation}.{matrix.rows}"


def _save_atomic(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        np.save(handle, array, allow_pickle=False)
    os.replace(temporary, path)


def _drop_int8_copies(folder: Path, method: str) -> None:
    """Remove a set's int8 copies, made when it was smaller (one still mapped on Windows: next time)."""
    for path in folder.glob(f"{_safe(method)}.*"):
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


def _drop_stale_copies(folder: Path, matrix: VectorMatrix) -> None:
    """Remove older copies of the same set (with temporary files a crash left behind)."""
    current = _copy_stem(matrix)
    if folder.exists():
        for path in folder.glob(f"{_safe(matrix.method)}.*"):
            if not path.name.startswith(current + "."):
                path.unlink(missing_ok=True)
