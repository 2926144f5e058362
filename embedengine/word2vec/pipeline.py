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
    batch_tokens: int
    rows_per_noise_group: int
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


def window_mask(sentences: np.ndarray, window: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Offsets -W..-1, 1..W and mask[i, k]: token i + offsets[k] is in token i's reduced window."""
    count = len(sentences)
    reach = rng.integers(1, window + 1, size=count)
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])
    positions = np.arange(count)[:, None] + offsets[None, :]
    inside = (positions >= 0) & (positions < count)
    mask = (np.abs(offsets)[None, :] <= reach[:, None]) & inside
    mask &= sentences[np.clip(positions, 0, max(0, count - 1))] == sentences[:, None]
    return offsets, mask.astype(np.float32)


def _subsample(raw: np.ndarray, keep_prob: np.ndarray, rng: np.random.Generator):
    """Drop sentence markers and frequent words; returns kept ids, their sentence ids, words seen."""
    breaks = raw == SENTENCE_END
    sentence_of = np.cumsum(breaks)
    words = ~breaks
    ids, sentences = raw[words].astype(np.int64), sentence_of[words]
    keep = rng.random(len(ids)) < keep_prob[ids]
    return ids[keep], sentences[keep], len(ids)


class ChunkBatcher:
    """Splits one chunk into batches of consecutive centre tokens plus a context halo of W each side."""

    def __init__(self, plan: PipelinePlan) -> None:
        self.plan = plan

    def batches(self, raw: np.ndarray, epoch: int, chunk: int, words_before: float) -> Iterator[Batch]:
        plan = self.plan
        rng = np.random.default_rng([plan.seed, epoch, chunk])
        tokens, sentences, words_seen = _subsample(raw, plan.keep_prob, rng)
        offsets, mask = window_mask(sentences, plan.window, rng)
        bounds = list(range(0, len(tokens), plan.batch_tokens)) or [0]
        for number, start in enumerate(bounds):
            stop = min(start + plan.batch_tokens, len(tokens))
            low, high = max(0, start - plan.window), min(len(tokens), stop + plan.window)
            batch_mask = mask[low:high].copy()
            batch_mask[:start - low] = 0.0  # halo rows are contexts only: their own windows
            batch_mask[stop - low:] = 0.0  # are trained in the neighbouring batch
            yield Batch(tokens[low:high], batch_mask, offsets,
                        self._negatives(rng, high - low), words_before + words_seen * stop / max(1, len(tokens)),
                        stop - start, epoch, chunk, number == len(bounds) - 1, number % plan.loss_every == 0)

    def _negatives(self, rng: np.random.Generator, rows: int) -> np.ndarray:
        if self.plan.architecture == "softmax":
            return np.zeros((0, 0), dtype=np.int64)
        groups = max(1, -(-rows // self.plan.rows_per_noise_group))
        draws = rng.random((groups, self.plan.shared_negatives))
        negatives = np.searchsorted(self.plan.noise_cumulative, draws, side="right").astype(np.int64)
        return np.minimum(negatives, len(self.plan.noise_cumulative) - 1)


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
