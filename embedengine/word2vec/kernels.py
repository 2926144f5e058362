"""Mini-batch update rules for the three architectures (pure NumPy, BLAS for the dense products).

A batch is a run of consecutive (subsampled) tokens with a ``mask[i, k]`` saying whether token
``i + offsets[k]`` is inside token i's reduced window. Rows are gathered once per token, not once
per (centre, context) pair, and the pairs are visited one window offset at a time with shifted
slices, so the positive terms are dense slice operations and scatters touch one row per token.

Skip-gram, like word2vec.c, reads ``syn0[context]`` to predict the centre through ``syn1``.
Negative sampling shares K noise words across each group of consecutive rows: each pair's
negative term depends only on its input row, so it is a product ``[R,d] @ [d,K]`` per group,
weighted by the number of pairs the row takes part in and scaled by ``negative / K`` (its
expectation equals word2vec's). Small groups keep the summed update of one noise row bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np

_CLIP = 30.0
REPEAT_CAP = 4.0  # occurrences of one word per batch whose updates are summed in full (see damp_repeats)


@dataclass
class Batch:
    """Consecutive tokens and their window mask, produced by the pipeline thread."""

    tokens: np.ndarray      # vocabulary ids, int64 [n] (first/last rows may be context-only halo)
    mask: np.ndarray        # float32 [n, 2W]: 1 where (centre i, context i + offsets[k]) is a pair
    offsets: np.ndarray     # int [2W]: -W..-1, 1..W
    negatives: np.ndarray   # shared noise words, int64 [G, K], one row per group of rows ([0, 0] for softmax)
    words_done: float       # training position (vocabulary words, all epochs) after this batch
    effective_words: int    # centre words kept by subsampling in this batch
    epoch: int
    chunk: int
    last_in_chunk: bool
    measure_loss: bool

    def pairs(self) -> Iterator[tuple[np.ndarray, slice, slice]]:
        """(mask column, centre rows, context rows) for each window offset."""
        n = len(self.tokens)
        for column, offset in enumerate(self.offsets.tolist()):
            if abs(offset) >= n:
                continue
            centres = slice(max(0, -offset), n - max(0, offset))
            contexts = slice(max(0, offset), n + min(0, offset))
            yield self.mask[centres, column], centres, contexts


def sigmoid(x: np.ndarray) -> np.ndarray:
    """In-place logistic function."""
    np.clip(x, -_CLIP, _CLIP, out=x)
    np.negative(x, out=x)
    np.exp(x, out=x)
    x += 1.0
    return np.reciprocal(x, out=x)


def rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


def damp_repeats(rows: np.ndarray, updates: np.ndarray, cap: float) -> np.ndarray:
    """Scale the updates of a row that occurs k > cap times in the batch by cap / k.

    All updates in a batch come from the same weights; summing many of them for one frequent word
    overshoots (sequential SGD would see each step's effect before the next) and diverges over
    several epochs. Capping the summed weight keeps every batch step in the range SGD takes.
    """
    _, inverse, counts = np.unique(rows, return_inverse=True, return_counts=True)
    if counts.max() <= cap:
        return updates
    scale = np.minimum(1.0, cap / counts).astype(np.float32)[inverse]
    return updates * scale[:, None]


def scatter_add_rows(matrix: np.ndarray, rows: np.ndarray, updates: np.ndarray, cap: Optional[float] = None) -> None:
    """``matrix[rows] += updates`` where ``rows`` may repeat; np.add.at on the flat view (fastest here)."""
    if cap is not None:
        updates = damp_repeats(rows, updates, cap)
    width = matrix.shape[1]
    flat_index = (rows[:, None] * width + np.arange(width)).ravel()
    np.add.at(matrix.reshape(-1), flat_index, updates.ravel())


def _grouped(matrix: np.ndarray, groups: int) -> np.ndarray:
    """[n, ...] zero-padded and reshaped to [groups, n/groups, ...]."""
    rows = -(-len(matrix) // groups)
    padded = np.zeros((groups * rows,) + matrix.shape[1:], dtype=matrix.dtype)
    padded[:len(matrix)] = matrix
    return padded.reshape((groups, rows) + matrix.shape[1:])


def _noise_step(hidden: np.ndarray, weight: np.ndarray, syn1: np.ndarray, batch: Batch, alpha: float,
                negative: int) -> tuple[np.ndarray, float]:
    """Shared negatives: each group of consecutive rows of ``hidden`` shares K noise words.

    Row i counts ``weight[i]`` times. Updates the noise rows of syn1; returns the gradient for
    ``hidden`` and the summed loss.
    """
    groups, shared = batch.negatives.shape
    noise = syn1[batch.negatives]                                      # [G, K, d]
    grouped, grouped_weight = _grouped(hidden, groups), _grouped(weight, groups)
    probability = sigmoid(np.matmul(grouped, noise.transpose(0, 2, 1)))  # [G, R, K]
    scale = negative / shared
    loss = 0.0
    if batch.measure_loss:
        loss = float(-(np.log1p(-np.minimum(probability, 1 - 1e-7)).sum(axis=2) * grouped_weight).sum() * scale)
    probability *= (-alpha * scale) * grouped_weight[:, :, None]
    noise_grad = np.matmul(probability.transpose(0, 2, 1), grouped)     # [G, K, d]
    scatter_add_rows(syn1, batch.negatives.reshape(-1), noise_grad.reshape(-1, hidden.shape[1]), REPEAT_CAP)
    return np.matmul(probability, noise).reshape(-1, hidden.shape[1])[:len(hidden)], loss


def _positive_loss(probability: np.ndarray, weight: np.ndarray) -> float:
    return float(-(weight * np.log(np.maximum(probability, 1e-7))).sum())


def sgns_step(syn0: np.ndarray, syn1: np.ndarray, batch: Batch, alpha: float, negative: int) -> Optional[float]:
    """Skip-gram with negative sampling; returns the mean loss per pair when measured."""
    inputs, targets = syn0[batch.tokens], syn1[batch.tokens]
    grad_in, grad_out = np.zeros_like(inputs), np.zeros_like(targets)
    uses = np.zeros(len(inputs), dtype=np.float32)  # pairs in which each row is the input
    loss = 0.0
    for weight, centres, contexts in batch.pairs():
        uses[contexts] += weight
        probability = sigmoid(rowdot(inputs[contexts], targets[centres]))
        if batch.measure_loss:
            loss += _positive_loss(probability, weight)
        coefficient = ((1.0 - probability) * weight * alpha)[:, None]
        grad_out[centres] += coefficient * inputs[contexts]
        grad_in[contexts] += coefficient * targets[centres]
    noise_grad, noise_loss = _noise_step(inputs, uses, syn1, batch, alpha, negative)
    grad_in += noise_grad
    scatter_add_rows(syn1, batch.tokens, grad_out, REPEAT_CAP)
    scatter_add_rows(syn0, batch.tokens, grad_in, REPEAT_CAP)
    return (loss + noise_loss) / max(1.0, float(uses.sum())) if batch.measure_loss else None


def cbow_step(syn0: np.ndarray, syn1: np.ndarray, batch: Batch, alpha: float, negative: int) -> Optional[float]:
    """CBOW: the mean of the context vectors predicts the centre; each context row gets the full gradient."""
    inputs, targets = syn0[batch.tokens], syn1[batch.tokens]
    hidden = np.zeros_like(inputs)
    for weight, centres, contexts in batch.pairs():
        hidden[centres] += weight[:, None] * inputs[contexts]
    sizes = batch.mask.sum(axis=1)
    active = (sizes > 0).astype(np.float32)
    hidden /= np.maximum(sizes, 1.0)[:, None]
    probability = sigmoid(rowdot(hidden, targets))
    loss = _positive_loss(probability, active) if batch.measure_loss else 0.0
    coefficient = ((1.0 - probability) * active * alpha)[:, None]
    grad_hidden, noise_loss = _noise_step(hidden, active, syn1, batch, alpha, negative)
    grad_hidden += coefficient * targets
    scatter_add_rows(syn1, batch.tokens, coefficient * hidden, REPEAT_CAP)
    grad_in = np.zeros_like(inputs)
    for weight, centres, contexts in batch.pairs():
        grad_in[contexts] += weight[:, None] * grad_hidden[centres]
    scatter_add_rows(syn0, batch.tokens, grad_in, REPEAT_CAP)
    return (loss + noise_loss) / max(1.0, float(active.sum())) if batch.measure_loss else None


def softmax_step(syn0: np.ndarray, syn1: np.ndarray, batch: Batch, alpha: float, negative: int) -> Optional[float]:
    """Skip-gram with a full softmax: p(· | input row) is shared by all pairs of that row."""
    inputs, targets = syn0[batch.tokens], syn1[batch.tokens]
    probability = inputs @ syn1.T
    probability -= probability.max(axis=1, keepdims=True)
    np.exp(probability, out=probability)
    probability /= probability.sum(axis=1, keepdims=True)
    loss = 0.0
    grad_in, grad_out = np.zeros_like(inputs), np.zeros_like(targets)
    uses = np.zeros(len(inputs), dtype=np.float32)
    rows = np.arange(len(batch.tokens))
    for weight, centres, contexts in batch.pairs():
        uses[contexts] += weight
        if batch.measure_loss:
            chosen = probability[rows[contexts], batch.tokens[centres]]
            loss += _positive_loss(chosen, weight)
        coefficient = (weight * alpha)[:, None]
        grad_out[centres] += coefficient * inputs[contexts]
        grad_in[contexts] += coefficient * targets[centres]
    probability *= (-alpha) * uses[:, None]
    grad_in += probability @ syn1
    syn1 += probability.T @ inputs
    scatter_add_rows(syn1, batch.tokens, grad_out)  # small batches of a small vocabulary: no damping
    scatter_add_rows(syn0, batch.tokens, grad_in)
    return loss / max(1.0, float(uses.sum())) if batch.measure_loss else None


KERNELS = {"sgns": sgns_step, "cbow": cbow_step, "softmax": softmax_step}
