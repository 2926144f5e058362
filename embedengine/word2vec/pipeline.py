"""The batch pipeline: a producer thread turning the on-disk id stream into mini-batches.

Everything random (subsampling, dynamic window, noise words) is drawn from a generator seeded by
``(seed, epoch, chunk)``, so batches are identical run after run and a resumed run can restart at
any chunk boundary without saved generator state.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from .corpus import SENTENCE_END
from .kernels import Batch

CHUNK_TOKENS = 1 << 17


@dataclass
class PipelinePlan:
    """What the producer needs to know; fixed for a whole run."""

    ids_path: Path
    architecture: str
    window: int
    keep_prob: np.ndarray
    noise_cumulative: np.ndarray
    shared_negatives: int
    batch_pairs: int
    seed: int
    epochs: int
    words_per_epoch: int
    loss_every: int = 4

    def stream(self) -> np.ndarray:
        if self.ids_path.stat().st_size == 0:
            return np.zeros(0, dtype=np.int32)
        return np.memmap(self.ids_path, dtype=np.int32, mode="r")

    def chunk_count(self) -> int:
        return max(1, -(-len(self.stream()) // CHUNK_TOKENS))


def _window_pairs(tokens: np.ndarray, sentences: np.ndarray, window: int, rng: np.random.Generator):
    """(centre position, context position) pairs within each token's random reduced window."""
    count = len(tokens)
    reach = rng.integers(1, window + 1, size=count)
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])
    positions = np.arange(count)[:, None] + offsets[None, :]
    clipped = np.clip(positions, 0, max(0, count - 1))
    valid = (np.abs(offsets)[None, :] <= reach[:, None]) & (positions >= 0) & (positions < count)
    valid &= sentences[clipped] == sentences[:, None]
    centre, column = np.nonzero(valid)
    return centre, clipped[centre, column]


def _subsample(raw: np.ndarray, keep_prob: np.ndarray, rng: np.random.Generator):
    """Drop sentence markers and frequent words; returns kept ids, their sentence ids, words seen."""
    breaks = raw == SENTENCE_END
    sentence_of = np.cumsum(breaks)
    words = ~breaks
    ids, sentences = raw[words].astype(np.int64), sentence_of[words]
    keep = rng.random(len(ids)) < keep_prob[ids]
    return ids[keep], sentences[keep], len(ids)


class ChunkBatcher:
    """Splits one chunk's pairs into mini-batches."""

    def __init__(self, plan: PipelinePlan) -> None:
        self.plan = plan

    def batches(self, raw: np.ndarray, epoch: int, chunk: int, words_before: float) -> Iterator[Batch]:
        plan = self.plan
        rng = np.random.default_rng([plan.seed, epoch, chunk])
        tokens, sentences, words_seen = _subsample(raw, plan.keep_prob, rng)
        centre, context = _window_pairs(tokens, sentences, plan.window, rng)
        if plan.architecture == "cbow":
            yield from self._cbow_batches(tokens, centre, context, rng, epoch, chunk, words_before, words_seen)
            return
        bounds = list(range(0, len(centre), plan.batch_pairs)) or [0]
        for number, start in enumerate(bounds):
            stop = min(start + plan.batch_pairs, len(centre))
            effective = round(len(tokens) * (stop - start) / max(1, len(centre)))
            yield self._batch(tokens[context[start:stop]], tokens[centre[start:stop]], None, rng,
                              words_before + words_seen * stop / max(1, len(centre)), effective,
                              epoch, chunk, number == len(bounds) - 1, number)

    def _cbow_batches(self, tokens, centre, context, rng, epoch, chunk, words_before, words_seen):
        plan = self.plan
        group_starts = np.flatnonzero(np.diff(centre, prepend=-1))
        per_batch = max(1, plan.batch_pairs // (plan.window + 1))
        bounds = list(range(0, len(group_starts), per_batch)) or [0]
        for number, first in enumerate(bounds):
            last = min(first + per_batch, len(group_starts))
            lo = group_starts[first] if first < len(group_starts) else 0
            hi = group_starts[last] if last < len(group_starts) else len(centre)
            groups = group_starts[first:last] - lo
            yield self._batch(tokens[context[lo:hi]], tokens[centre[group_starts[first:last]]], groups, rng,
                              words_before + words_seen * hi / max(1, len(centre)), last - first,
                              epoch, chunk, number == len(bounds) - 1, number)

    def _batch(self, inputs, outputs, groups, rng, words_done, effective, epoch, chunk, last, number) -> Batch:
        plan = self.plan
        negatives = np.zeros(0, dtype=np.int64)
        if plan.architecture != "softmax":
            draws = rng.random(plan.shared_negatives)
            negatives = np.searchsorted(plan.noise_cumulative, draws, side="right").astype(np.int64)
            np.minimum(negatives, len(plan.noise_cumulative) - 1, out=negatives)
        return Batch(inputs, outputs, negatives, groups, words_done, effective, epoch, chunk, last,
                     number % plan.loss_every == 0)


class Producer(threading.Thread):
    """Fills a bounded queue with batches from (epoch, chunk) onwards; ``None`` marks the end."""

    def __init__(self, plan: PipelinePlan, start_epoch: int = 0, start_chunk: int = 0, depth: int = 8) -> None:
        super().__init__(name="word2vec-batches", daemon=True)
        self.plan, self.start_epoch, self.start_chunk = plan, start_epoch, start_chunk
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.stop_event = threading.Event()
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            self._produce()
        except BaseException as error:  # handed to the consumer, which re-raises it
            self.error = error
        finally:
            self._put(None)

    def _produce(self) -> None:
        plan, batcher = self.plan, ChunkBatcher(self.plan)
        stream, chunks = plan.stream(), plan.chunk_count()
        for epoch in range(self.start_epoch, plan.epochs):
            first = self.start_chunk if epoch == self.start_epoch else 0
            words_before = epoch * plan.words_per_epoch + self._words_before(stream, first)
            for chunk in range(first, chunks):
                raw = np.asarray(stream[chunk * CHUNK_TOKENS:(chunk + 1) * CHUNK_TOKENS])
                for batch in batcher.batches(raw, epoch, chunk, words_before):
                    if not self._put(batch):
                        return
                words_before += int(np.count_nonzero(raw != SENTENCE_END))

    @staticmethod
    def _words_before(stream: np.ndarray, chunk: int) -> int:
        return int(np.count_nonzero(np.asarray(stream[:chunk * CHUNK_TOKENS]) != SENTENCE_END))

    def _put(self, item) -> bool:
        while not self.stop_event.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def batches(self) -> Iterator[Batch]:
        while True:
            item = self.queue.get()
            if item is None:
                if self.error is not None:
                    raise self.error
                return
            yield item

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=5)
