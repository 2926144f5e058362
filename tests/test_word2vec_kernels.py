"""The vectorised update rules against a plain per-pair loop written from the word2vec formulas."""

from __future__ import annotations

import numpy as np
import pytest

from embedengine.word2vec import kernels
from embedengine.word2vec.kernels import Batch, damp_repeats, sgns_step
from embedengine.word2vec.pipeline import window_mask


def make_batch(rng, vocab: int, length: int, window: int, groups: int, shared: int) -> Batch:
    tokens = rng.integers(0, vocab, length)
    sentences = np.repeat(np.arange(3), -(-length // 3))[:length]
    offsets, mask = window_mask(sentences, window, rng)
    negatives = rng.integers(0, vocab, (groups, shared))
    return Batch(tokens, mask, offsets, negatives, 0.0, length, 0, 0, True, True)


def per_pair_sgns(syn0, syn1, batch: Batch, alpha: float, negative: int):
    """word2vec's skip-gram step pair by pair, all from the batch's starting weights."""
    sigmoid = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    grad0, grad1 = np.zeros_like(syn0), np.zeros_like(syn1)
    rows_per_group = -(-len(batch.tokens) // len(batch.negatives))
    for centre in range(len(batch.tokens)):
        for column, offset in enumerate(batch.offsets):
            if not batch.mask[centre, column]:
                continue
            context = centre + offset
            x, target = syn0[batch.tokens[context]], batch.tokens[centre]
            g = (1 - sigmoid(x @ syn1[target])) * alpha
            grad1[target] += g * x
            grad0[batch.tokens[context]] += g * syn1[target]
            for noise in batch.negatives[context // rows_per_group]:
                g = -sigmoid(x @ syn1[noise]) * alpha * negative / batch.negatives.shape[1]
                grad1[noise] += g * x
                grad0[batch.tokens[context]] += g * syn1[noise]
    return syn0 + grad0, syn1 + grad1


def test_sgns_step_equals_per_pair_updates(monkeypatch):
    monkeypatch.setattr(kernels, "REPEAT_CAP", None)
    rng = np.random.default_rng(0)
    syn0, syn1 = rng.normal(size=(2, 40, 6)).astype(np.float32)
    batch = make_batch(rng, 40, 32, 3, groups=2, shared=4)
    expected0, expected1 = per_pair_sgns(syn0, syn1, batch, 0.1, 5)
    loss = sgns_step(syn0, syn1, batch, 0.1, 5)
    np.testing.assert_allclose(syn0, expected0, atol=2e-5)
    np.testing.assert_allclose(syn1, expected1, atol=2e-5)
    assert loss is not None and loss > 0


def test_damp_repeats_scales_only_frequent_rows():
    rows = np.array([7, 7, 7, 7, 3, 3, 1])
    updates = np.ones((7, 2), dtype=np.float32)
    damped = damp_repeats(rows, updates, cap=2)
    assert damped[:, 0].tolist() == pytest.approx([0.5, 0.5, 0.5, 0.5, 1, 1, 1])  # 4 repeats -> 2/4 each
    assert np.array_equal(damp_repeats(rows[4:], updates[4:], cap=2), updates[4:])
