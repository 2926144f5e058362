"""The small vector maths every part of the engine shares: unit rows, cosine matrices, top-k."""

from __future__ import annotations

import numpy as np

EPSILON = 1e-12


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows (or one vector) scaled to unit length as float32; zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, EPSILON)


def cosine_matrix(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarity of every row of ``a`` with every row of ``b`` (``a`` with itself when omitted)."""
    left = normalise(a)
    return left @ (left if b is None else normalise(b)).T


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first (argpartition, then sort of the k)."""
    k = min(k, scores.shape[0])
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k] if k < scores.shape[0] else np.arange(scores.shape[0])
    return part[np.argsort(-scores[part], kind="stable")]
