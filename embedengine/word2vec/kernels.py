"""Mini-batch update rules for the three architectures (pure NumPy, BLAS for the dense products).

A batch holds (input word, output word) pairs. Skip-gram reads ``syn0[context]`` to predict the
centre word, like word2vec.c; CBOW averages the context rows of each centre. Negative sampling
shares one set of K noise words across the whole mini-batch, so scores and gradients are matrix
products ``[B,d] @ [d,K]`` (BLAS, multi-threaded) instead of B small gathers; each pair's negative
term is scaled by ``negative / K`` so its expectation equals word2vec's ``negative`` samples.
Row updates with repeated indices are summed with a sort + ``np.add.reduceat`` scatter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

_CLIP = 30.0


@dataclass
class Batch:
    """One mini-batch of training work produced by the pipeline thread."""

    inputs: np.ndarray          # syn0 rows (context words), int64 [P]
    outputs: np.ndarray         # syn1 rows (centre words), int64 [B]
    negatives: np.ndarray       # shared noise words, int64 [K] (empty for softmax)
    groups: Optional[np.ndarray]  # CBOW: start of each centre's contexts in ``inputs`` [B]
    words_done: float           # training position (vocabulary words, all epochs) after this batch
    effective_words: int        # centre words kept by subsampling in this batch
    epoch: int
    chunk: int
    last_in_chunk: bool
    measure_loss: bool


def sigmoid(x: np.ndarray) -> np.ndarray:
    np.clip(x, -_CLIP, _CLIP, out=x)
    np.negative(x, out=x)
    np.exp(x, out=x)
    x += 1.0
    return np.reciprocal(x, out=x)


def scatter_add_rows(matrix: np.ndarray, rows: np.ndarray, updates: np.ndarray) -> None:
    """``matrix[rows] += updates`` where ``rows`` may repeat (repeats are summed)."""
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    starts = np.flatnonzero(np.diff(sorted_rows, prepend=-1))
    summed = np.add.reduceat(updates[order], starts, axis=0)
    matrix[sorted_rows[starts]] += summed


def _negative_terms(hidden: np.ndarray, syn1: np.ndarray, batch: Batch, alpha: float, negative: int):
    """Scores against the shared noise words: gradient coefficients [B,K] and their loss."""
    noise = syn1[batch.negatives]
    coeff = sigmoid(hidden @ noise.T)
    loss = -np.log1p(-np.minimum(coeff, 1 - 1e-7)).sum(axis=1) if batch.measure_loss else None
    scale = alpha * negative / len(batch.negatives)
    coeff *= -scale
    coeff[batch.outputs[:, None] == batch.negatives[None, :]] = 0.0  # a target is never its own noise
    if loss is not None:
        loss *= negative / len(batch.negatives)
    return coeff, noise, loss


def _negative_sampling(hidden: np.ndarray, syn1: np.ndarray, batch: Batch, alpha: float, negative: int):
    """Shared SGNS/CBOW step: returns the gradient for ``hidden`` and the mean loss (or None)."""
    target = syn1[batch.outputs]
    positive = sigmoid(np.einsum("ij,ij->i", hidden, target))
    neg_coeff, noise, neg_loss = _negative_terms(hidden, syn1, batch, alpha, negative)
    pos_coeff = (1.0 - positive) * alpha
    grad_hidden = neg_coeff @ noise
    grad_hidden += pos_coeff[:, None] * target
    loss = None
    if neg_loss is not None:
        loss = float(np.mean(neg_loss - np.log(np.maximum(positive, 1e-7))))
    scatter_add_rows(syn1, batch.outputs, pos_coeff[:, None] * hidden)
    np.add.at(syn1, batch.negatives, neg_coeff.T @ hidden)
    return grad_hidden, loss


def sgns_step(syn0: np.ndarray, syn1: np.ndarray, batch: Batch, alpha: float, negative: int) -> Optional[float]:
    """Skip-gram with negative sampling on one batch of (context, centre) pairs."""
    if not len(batch.outputs):
        return None
    hidden = syn0[batch.inputs]
    grad, loss = _negative_sampling(hidden, syn1, batch, alpha, negative)
    scatter_add_rows(syn0, batch.inputs, grad)
    return loss


def cbow_step(syn0: np.ndarray, syn1: np.ndarray, batch: Batch, alpha: float, negative: int) -> Optional[float]:
    """CBOW (mean of context vectors) with negative sampling; each context row gets the full gradient."""
    if not len(batch.outputs):
        return None
    sizes = np.diff(np.append(batch.groups, len(batch.inputs)))
    hidden = np.add.reduceat(syn0[batch.inputs], batch.groups, axis=0)
    hidden /= sizes[:, None].astype(np.float32)
    grad, loss = _negative_sampling(hidden, syn1, batch, alpha, negative)
    scatter_add_rows(syn0, batch.inputs, np.repeat(grad, sizes, axis=0))
    return loss


def softmax_step(syn0: np.ndarray, syn1: np.ndarray, batch: Batch, alpha: float, negative: int) -> Optional[float]:
    """Skip-gram with a full softmax over the vocabulary (dense [B,V] products)."""
    if not len(batch.outputs):
        return None
    hidden = syn0[batch.inputs]
    logits = hidden @ syn1.T
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    rows = np.arange(len(batch.outputs))
    loss = float(-np.mean(np.log(np.maximum(logits[rows, batch.outputs], 1e-12)))) if batch.measure_loss else None
    logits *= -alpha
    logits[rows, batch.outputs] += alpha
    grad_hidden = logits @ syn1
    syn1 += logits.T @ hidden
    scatter_add_rows(syn0, batch.inputs, grad_hidden)
    return loss


KERNELS = {"sgns": sgns_step, "cbow": cbow_step, "softmax": softmax_step}
