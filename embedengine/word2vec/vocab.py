"""Vocabulary selection, frequent-word subsampling and the unigram^0.75 noise table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from .corpus import CorpusCounts


@dataclass
class CorpusSummary:
    """What a corpus scan found; ``vocab_size`` counts the words kept by min_count / max_vocab."""

    files: list[str]
    skipped: list[tuple[str, str]]
    tokens: int
    unique_words: int
    vocab_size: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class Vocabulary:
    """Kept words, most frequent first, with their corpus counts."""

    words: list[str]
    counts: np.ndarray
    mapping: np.ndarray  # provisional id -> vocabulary id, -2 when dropped

    def __len__(self) -> int:
        return len(self.words)


def build_vocabulary(counted: CorpusCounts, min_count: int = 5, max_vocab: Optional[int] = None) -> Vocabulary:
    """Words with count >= min_count, sorted by count (ties: first seen first), capped at max_vocab."""
    counts = counted.counts
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] >= max(1, min_count)]
    if max_vocab is not None:
        order = order[:max(0, int(max_vocab))]
    mapping = np.full(len(counts), -2, dtype=np.int64)
    mapping[order] = np.arange(len(order))
    return Vocabulary([counted.words[i] for i in order], counts[order].astype(np.int64), mapping)


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """word2vec's subsampling: P(keep) = (sqrt(f / (s·T)) + 1) · (s·T) / f, capped at 1."""
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0 or counts.size == 0:
        return np.ones(len(counts), dtype=np.float64)
    threshold = sample * counts.sum()
    ratio = threshold / np.maximum(counts, 1)
    return np.minimum(1.0, np.sqrt(ratio) + ratio)


def noise_cumulative(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """Cumulative unigram^power distribution (last value 1) for sampling negatives by searchsorted."""
    weights = np.asarray(counts, dtype=np.float64) ** power
    cumulative = np.cumsum(weights)
    return cumulative / cumulative[-1]


def summarise(files: Sequence[str], skipped: list[tuple[str, str]], counted: CorpusCounts,
              vocab: Vocabulary, min_count: int) -> CorpusSummary:
    """A :class:`CorpusSummary` with warnings a user should see before training."""
    warnings = [f"{path}: {n} undecodable byte sequence(s) replaced (file is not valid UTF-8)"
                for path, n in counted.replaced_chars.items()]
    warnings += [f"skipped {path}: {reason}" for path, reason in skipped]
    if len(vocab) == 0:
        warnings.append(f"no word occurs at least {min_count} times; lower min_count or add text")
    elif counted.tokens < 100_000:
        warnings.append(f"small corpus ({counted.tokens:,} words): vectors will be noisy")
    return CorpusSummary([str(f) for f in files], list(skipped), counted.tokens, len(counted.words),
                         len(vocab), warnings)
