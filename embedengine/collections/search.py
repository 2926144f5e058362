"""Nearest-neighbour search over a collection's vector sets, the same for every kind.

Small sets are scored exactly (float32 dot products of unit vectors). From ``FAST_SEARCH_MIN`` rows an
int8 copy of the set picks candidates first (a quarter of float32's memory traffic, run by ONNX Runtime's
MatMulInteger in the ``int8-scores.onnx`` model that ``models build`` writes) and the best ``RERANK``
candidates are re-scored exactly, so the reported scores are always exact cosines.

The int8 copy is a derived file (``search-int8/<method>.<generation>.<rows>.{weights,sums}.npy``, memory-mapped
on open): rows are append-only, so it stays valid until vectors are added or compacted; a damaged or stale copy
is rebuilt.
"""

from __future__ import annotations

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

FAST_SEARCH_MIN = 20_000  # from this many vectors, a search picks candidates with the int8 first pass
RERANK = 100  # candidates re-scored exactly (at least; 10 × k for larger k)
INT8_MODEL = "int8-scores.onnx"
QUERY_OFFSET = 128  # signed int8 query levels shifted into MatMulInteger's uint8 range
COPY_FOLDER = "search-int8"

Ranked = list[tuple[int, float]]  # (item id, score), best first


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
    """Exact top-k, with the int8 first pass for large sets. One per open collection (it caches)."""

    def __init__(self, store: CollectionStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._copies: dict[str, tuple[tuple[int, int], Optional[Int8Copy]]] = {}

    def nearest(self, method: str, vector: np.ndarray, k: int, allowed: Optional[np.ndarray] = None) -> Ranked:
        """Cosine top-k ``[(item id, score)]`` of a unit ``vector`` among live (and ``allowed``) items."""
        matrix = self.store.matrix(method)
        vector = np.asarray(vector, dtype=np.float32).ravel()
        copy = self.int8_copy(matrix) if matrix.rows >= FAST_SEARCH_MIN else None
        if copy is None:
            return self.store.search(method, vector, k, allowed_items=allowed)
        mask = matrix.live_mask()
        if allowed is not None:
            mask = mask & np.isin(matrix.row_items, allowed)
        candidates = top_k(np.where(mask, copy.scores(vector), -np.inf), min(int(mask.sum()), max(RERANK, 10 * k)))
        exact = matrix.rows_as_float32(candidates) @ vector
        best = np.argsort(-exact, kind="stable")[:k]
        return [(int(matrix.row_items[candidates[i]]), float(exact[i])) for i in best]

    def prepare(self, method: str) -> bool:
        """Build (or load) the int8 copy now when the set is large enough to use it; True when ready."""
        if method not in self.store.vector_methods():
            return False
        matrix = self.store.matrix(method)
        return matrix.rows >= FAST_SEARCH_MIN and self.int8_copy(matrix) is not None

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


def _drop_stale_copies(folder: Path, matrix: VectorMatrix) -> None:
    """Remove older copies of the same set (with temporary files a crash left behind)."""
    current = _copy_stem(matrix)
    if folder.exists():
        for path in folder.glob(f"{_safe(matrix.method)}.*"):
            if not path.name.startswith(current + "."):
                path.unlink(missing_ok=True)
