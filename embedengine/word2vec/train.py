"""Training: corpus preparation, the consumer loop, progress, pause/cancel and checkpoints.

The corpus is read once into an on-disk stream of vocabulary ids (cache_dir()/word2vec), which a
producer thread (:mod:`.pipeline`) turns into mini-batches while this thread applies the update
rules of :mod:`.kernels`. Effective words are the words kept by subsampling, as gensim counts them.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import zipfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional

import numpy as np

from embedengine.errors import UserError
from embedengine.runtime import cache_dir
from embedengine.tasks import CancelToken, Cancelled, Progress, ProgressCallback, RateMeter, Throttle, emit

from .corpus import count_corpus, find_corpus_files, remap_ids
from .formats import atomic_write
from .kernels import KERNELS, Batch
from .pipeline import CHUNK_TOKENS, PipelinePlan, Producer
from .vectors import WordVectors
from .vocab import CorpusSummary, Vocabulary, build_vocabulary, keep_probabilities, noise_cumulative, summarise

ARCHITECTURES = ("sgns", "cbow", "softmax")
SOFTMAX_MAX_VOCAB = 30_000
SOFTMAX_MAX_HOURS = 1.0
ASSUMED_FLOPS = 1e10  # dense float32 products on a small machine, for the softmax time estimate
SHARED_NEGATIVES = 16  # noise words shared by ...
NOISE_GROUP_ROWS = 16  # ... each group of this many consecutive tokens (more rows per noise word diverged)
# Tokens per mini-batch: larger batches vectorise better, but every row's updates within a batch
# are computed from the same (stale) weights; 2048 diverged; 512 (with kernels.REPEAT_CAP) matched gensim.
BATCH_TOKENS = {"sgns": 512, "cbow": 512, "softmax": 128}
CHECKPOINT_EVERY_S = 30.0
# Ranges the settings must be in (checked before anything is allocated): far beyond any useful model,
# but small enough that a typo (--dim 100000000) is an error rather than a machine out of memory.
LIMITS = {"dim": (1, 10_000), "window": (1, 100), "epochs": (1, 1_000), "min_count": (1, 2**62),
          "max_vocab": (1, 2**62), "seed": (0, 2**63 - 1)}
MAX_NEGATIVE = 100
MEMORY_HEADROOM = 0.9  # of the memory available now, the most a run may plan to use


@dataclass
class TrainConfig:
    """Training settings; defaults are gensim's."""

    architecture: str = "sgns"
    dim: int = 100
    window: int = 5
    negative: int = 5
    min_count: int = 5
    max_vocab: Optional[int] = None
    sample: float = 1e-3
    alpha: float = 0.025
    min_alpha: float = 1e-4
    epochs: int = 5
    seed: int = 1
    keep_digits: bool = False

    def validate(self) -> None:
        """:class:`UserError` listing every setting out of its range (before anything is allocated)."""
        problems = []
        if self.architecture not in ARCHITECTURES:
            problems.append(f"architecture must be one of {', '.join(ARCHITECTURES)}")
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if name == "max_vocab" and value is None:
                continue
            if not _is_whole(value):
                problems.append(f"{name} must be a whole number, not {value!r}")
            elif value < low:
                problems.append(f"{name} must be at least {low:,} (got {value:,})")
            elif value > high:
                problems.append(f"{name} must be at most {high:,} (got {value:,})")
        low_negative = 0 if self.architecture == "softmax" else 1
        if not _is_whole(self.negative):
            problems.append(f"negative must be a whole number, not {self.negative!r}")
        elif not low_negative <= self.negative <= MAX_NEGATIVE:
            problems.append(f"negative must be between {low_negative} and {MAX_NEGATIVE} (got {self.negative:,})")
        for name in ("alpha", "min_alpha", "sample"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value):
                problems.append(f"{name} must be a finite number, not {value!r}")
        if _is_number(self.alpha) and _is_number(self.min_alpha) and math.isfinite(self.alpha) and \
                math.isfinite(self.min_alpha) and not (0 < self.alpha <= 1 and 0 <= self.min_alpha <= self.alpha):
            problems.append("need 0 < min_alpha <= alpha <= 1")
        if _is_number(self.sample) and math.isfinite(self.sample) and not 0 <= self.sample <= 1:
            problems.append(f"sample must be between 0 and 1 (got {self.sample})")
        if problems:
            raise UserError("Invalid training settings: " + "; ".join(problems) + ".",
                            hint="Typical values: dim 100-300, window 5-10, negative 5-20, epochs 5, sample 1e-3.",
                            data={"problems": problems})


def _is_whole(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


# ---- memory ------------------------------------------------------------------------------------
def estimate_memory(vocab_size: int, config: TrainConfig) -> int:
    """Bytes a run needs at its peak, roughly: the weight matrices and the per-chunk and per-batch work.

    Matrices: syn0 and syn1 (float32 [vocab, dim]) and the trained vectors' copy of syn0. Work: a chunk's
    window mask and its temporaries (~24 bytes per token and window slot), and each batch's gathered rows
    and updates (~16 float32 rows of ``dim`` per token; full softmax also scores every word per token).
    """
    matrices = 3 * vocab_size * config.dim * 4
    window = CHUNK_TOKENS * 2 * config.window * 24
    rows = BATCH_TOKENS.get(config.architecture, 512) + 2 * config.window
    batch = rows * config.dim * 4 * 16
    if config.architecture == "softmax":
        batch += rows * vocab_size * 4 * 4
    return int(matrices + window + batch)


def available_memory() -> Optional[int]:
    """Bytes of memory available now: /proc/meminfo's MemAvailable (and a cgroup limit), else sysconf; None if unknown."""
    available = None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        available = None
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            available = None
    limit = _cgroup_room()
    if limit is not None:
        available = limit if available is None else min(available, limit)
    return available


def _cgroup_room() -> Optional[int]:
    """Memory left under this process's cgroup (v2) limit, when there is one."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        return max(0, int(limit) - used)
    except (OSError, ValueError):
        return None


def check_memory(vocab_size: int, config: TrainConfig, available: Optional[int] = None) -> int:
    """:class:`UserError` when a run would need more memory than is available; returns the estimate in bytes.

    ``available`` defaults to :func:`available_memory` (no check when that is unknown).
    """
    needed = estimate_memory(vocab_size, config)
    room = available_memory() if available is None else available
    if room is not None and needed > room * MEMORY_HEADROOM:
        raise UserError(
            f"Training {vocab_size:,} words × {config.dim:,} dimensions needs about {_gb(needed)} GB of memory; "
            f"{_gb(room)} GB available.",
            hint="Lower the dimensions (dim) or the window, raise the minimum count or set a maximum vocabulary size.",
            data={"needed_bytes": needed, "available_bytes": room, "vocab_size": vocab_size})
    return needed


def _gb(size: float) -> str:
    return f"{size / 1e9:,.1f}" if size >= 1e8 else f"{size / 1e9:.2f}"


@dataclass
class TrainResult:
    """Trained (or, when cancelled, partially trained) vectors and how the run went."""

    vectors: WordVectors
    cancelled: bool
    epochs_done: float
    seconds: float
    words_per_s: float  # effective (kept after subsampling) words per second, as gensim reports
    loss_history: list[tuple[int, float]]
    summary: CorpusSummary
    raw_words_per_s: float = 0.0  # vocabulary words per second before subsampling
    effective_words: int = 0
    resumed_from: float = 0.0  # epochs already done by a checkpoint this run resumed


@dataclass
class PreparedCorpus:
    """The vocabulary and the on-disk id stream of a corpus."""

    summary: CorpusSummary
    vocab: Vocabulary
    ids_path: Path
    words: int  # vocabulary tokens per epoch


def _scan(paths, keep_digits, ids_out=None, progress=None, cancel=None):
    corpus_files = find_corpus_files(paths)
    counted = count_corpus(corpus_files.files, keep_digits, ids_out, progress, cancel)
    return corpus_files, counted


def scan_corpus(paths: Iterable, min_count: int = 5, max_vocab: Optional[int] = None, keep_digits: bool = False,
                progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> CorpusSummary:
    """Count a corpus without training: tokens, distinct words, vocabulary size, warnings."""
    corpus_files, counted = _scan(paths, keep_digits, None, progress, cancel)
    vocab = build_vocabulary(counted, min_count, max_vocab)
    return summarise(corpus_files.files, corpus_files.skipped, counted, vocab, min_count)


@contextmanager
def prepared_corpus(paths: Iterable, config: TrainConfig, progress=None, cancel=None) -> Iterator[PreparedCorpus]:
    """Read the corpus once into a temporary id stream; removed when the block ends."""
    folder = cache_dir() / "word2vec"
    folder.mkdir(parents=True, exist_ok=True)
    raw_fd, raw_name = tempfile.mkstemp(prefix="corpus-", suffix=".raw", dir=folder)
    ids_path = Path(raw_name).with_suffix(".ids")
    try:
        with os.fdopen(raw_fd, "wb") as raw:
            corpus_files, counted = _scan(paths, config.keep_digits, raw, progress, cancel)
        vocab = build_vocabulary(counted, config.min_count, config.max_vocab)
        summary = summarise(corpus_files.files, corpus_files.skipped, counted, vocab, config.min_count)
        if len(vocab) == 0:
            raise UserError(f"No word occurs at least {config.min_count} times in {summary.tokens:,} words.",
                            hint="Lower the minimum count or add more text.", data={"summary": asdict(summary)})
        words = remap_ids(Path(raw_name), ids_path, vocab.mapping)
        Path(raw_name).unlink(missing_ok=True)
        yield PreparedCorpus(summary, vocab, ids_path, words)
    finally:
        Path(raw_name).unlink(missing_ok=True)
        ids_path.unlink(missing_ok=True)


def check_softmax_size(vocab: Vocabulary, config: TrainConfig) -> None:
    """Refuse a full-softmax run that would take hours."""
    effective = float((vocab.counts * keep_probabilities(vocab.counts, config.sample)).sum())
    hours = effective * config.epochs * 6 * len(vocab) * config.dim / ASSUMED_FLOPS / 3600  # 3 [n,V,d] products
    if len(vocab) > SOFTMAX_MAX_VOCAB or hours > SOFTMAX_MAX_HOURS:
        raise UserError(
            f"Full softmax over {len(vocab):,} words would take about {hours:,.1f} hours.",
            hint=f"Use skip-gram with negative sampling (sgns), or keep the softmax for vocabularies under "
                 f"{SOFTMAX_MAX_VOCAB:,} words (raise min count or set max vocab).",
            data={"vocab_size": len(vocab), "estimated_hours": hours})


class Weights:
    """The two trained matrices, initialised as gensim does (syn0 uniform ±0.5/d, syn1 zeros)."""

    def __init__(self, vocab_size: int, dim: int, seed: int) -> None:
        rng = np.random.default_rng([seed, 0x5EED])
        self.syn0 = ((rng.random((vocab_size, dim), dtype=np.float32) - 0.5) / dim).astype(np.float32)
        self.syn1 = np.zeros((vocab_size, dim), dtype=np.float32)


@dataclass
class RunState:
    """Where a run is; saved in checkpoints."""

    epoch: int = 0
    chunk: int = 0
    words_done: float = 0.0
    effective_words: int = 0
    loss_history: list = field(default_factory=list)


def save_checkpoint(path: Path, weights: Weights, state: RunState, config: TrainConfig, vocab: Vocabulary) -> None:
    """Weights and position, written atomically (restart point: the start of ``state.chunk``)."""
    meta = {"config": asdict(config), "epoch": state.epoch, "chunk": state.chunk, "words_done": state.words_done,
            "effective_words": state.effective_words, "loss_history": state.loss_history,
            "vocab_size": len(vocab), "vocab_head": vocab.words[:50]}
    with atomic_write(path) as handle:
        np.savez(handle, syn0=weights.syn0, syn1=weights.syn1, meta=np.array(json.dumps(meta)))


def load_checkpoint(path: Path, weights: Weights, config: TrainConfig, vocab: Vocabulary) -> RunState:
    """Restore weights and position; refuses a checkpoint of another corpus or other settings, or a damaged one."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            syn0, syn1 = archive["syn0"], archive["syn1"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        reason = str(error) or type(error).__name__
        if "pickle" in reason or isinstance(error, zipfile.BadZipFile):  # numpy's advice on pickles does not apply
            reason = "it is not an .npz archive"
        raise _bad_checkpoint(path, reason) from error
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise _bad_checkpoint(path, "its settings are missing")
    same_run = {k: v for k, v in meta["config"].items() if k != "epochs"} == \
        {k: v for k, v in asdict(config).items() if k != "epochs"}
    if not same_run or meta.get("vocab_size") != len(vocab) or meta.get("vocab_head") != vocab.words[:50]:
        raise UserError("The checkpoint belongs to another corpus or other settings.",
                        hint="Resume with the same corpus and settings, or start without resume.")
    shape = weights.syn0.shape
    if syn0.shape != shape or syn1.shape != shape:
        raise _bad_checkpoint(path, f"its weights are {syn0.shape} and {syn1.shape}, expected {shape}")
    try:
        state = RunState(int(meta["epoch"]), int(meta["chunk"]), float(meta["words_done"]),
                         int(meta["effective_words"]), [(int(w), float(l)) for w, l in meta["loss_history"]])
    except (KeyError, TypeError, ValueError) as error:
        raise _bad_checkpoint(path, f"its position is missing or malformed ({error})") from error
    if not (np.isfinite(syn0).all() and np.isfinite(syn1).all()):
        raise _bad_checkpoint(path, "its weights hold values that are not finite numbers")
    weights.syn0[:], weights.syn1[:] = syn0, syn1
    return state


def _bad_checkpoint(path: Path, reason: str) -> UserError:
    return UserError(f"Cannot resume from checkpoint {path}: it is not a readable Embed Studio checkpoint ({reason}).",
                     hint="Start without --resume (or delete the checkpoint file) to train from the beginning.",
                     data={"path": str(path)})


class Trainer:
    """Consumes batches, applies the kernel, reports progress, handles pause/cancel/checkpoints."""

    def __init__(self, corpus: PreparedCorpus, config: TrainConfig, progress, cancel, checkpoint_path) -> None:
        self.corpus, self.config = corpus, config
        self.progress, self.cancel = progress, cancel
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.weights = Weights(len(corpus.vocab), config.dim, config.seed)
        self.state = RunState()
        self.total_words = corpus.words * config.epochs
        self.kernel = KERNELS[config.architecture]
        self.pipeline_plan = self.plan()
        self.loss_ema: Optional[float] = None

    def plan(self) -> PipelinePlan:
        config, vocab = self.config, self.corpus.vocab
        return PipelinePlan(self.corpus.ids_path, config.architecture, config.window,
                            keep_probabilities(vocab.counts, config.sample), noise_cumulative(vocab.counts),
                            SHARED_NEGATIVES, BATCH_TOKENS[config.architecture], NOISE_GROUP_ROWS,
                            config.seed, config.epochs, self.corpus.words)

    def alpha(self, words_done: float) -> float:
        fraction = min(1.0, words_done / max(1, self.total_words))
        return max(self.config.min_alpha, self.config.alpha - (self.config.alpha - self.config.min_alpha) * fraction)

    def run(self) -> bool:
        """Train to the end; returns True when cancelled (the weights then hold the partial model)."""
        producer = Producer(self.pipeline_plan, self.state.epoch, self.state.chunk)
        self.meter = RateMeter(self.total_words - self.state.words_done)
        self.start_words, self.start_effective = self.state.words_done, self.state.effective_words
        throttle, saved_at = Throttle(0.5), time.perf_counter()
        producer.start()
        try:
            for batch in producer.batches():
                if self._wait_or_cancelled():
                    return True
                self._apply(batch)
                if throttle.ready():
                    self._report()
                if batch.last_in_chunk:
                    saved_at = self._maybe_checkpoint(saved_at)
            self._report()
            return False
        finally:
            producer.stop()

    def _wait_or_cancelled(self) -> bool:
        if self.cancel is None:
            return False
        started = time.perf_counter()
        try:
            self.cancel.checkpoint()
        except Cancelled:
            return True
        finally:
            waited = time.perf_counter() - started
            if waited > 0.01:
                self.meter.paused_s += waited
        return False

    def _apply(self, batch: Batch) -> None:
        alpha = self.alpha(batch.words_done)
        loss = self.kernel(self.weights.syn0, self.weights.syn1, batch, alpha, self.config.negative)
        if loss is not None and np.isfinite(loss):
            self.loss_ema = loss if self.loss_ema is None else 0.95 * self.loss_ema + 0.05 * loss
        self.state.words_done = batch.words_done
        self.state.effective_words += batch.effective_words
        self.state.epoch = batch.epoch
        self.state.chunk = batch.chunk + (1 if batch.last_in_chunk else 0)  # restart point

    def _maybe_checkpoint(self, saved_at: float) -> float:
        """At a chunk boundary: write the checkpoint if CHECKPOINT_EVERY_S passed since the last one."""
        if self.checkpoint_path is None or time.perf_counter() - saved_at < CHECKPOINT_EVERY_S:
            return saved_at
        self.write_checkpoint()
        return time.perf_counter()

    def write_checkpoint(self) -> None:
        if self.checkpoint_path is not None:
            state = self.state
            if state.chunk >= self._chunks():  # the epoch's last chunk is done: restart at the next epoch
                state = RunState(state.epoch + 1, 0, state.words_done, state.effective_words, state.loss_history)
            save_checkpoint(self.checkpoint_path, self.weights, state, self.config, self.corpus.vocab)

    def _chunks(self) -> int:
        return self.pipeline_plan.chunk_count()

    def _report(self) -> None:
        done = self.state.words_done - self.start_words
        if self.loss_ema is not None:
            self.state.loss_history.append((int(self.state.words_done), round(self.loss_ema, 5)))
        epoch = min(self.config.epochs, int(self.state.words_done // max(1, self.corpus.words)) + 1)
        effective_rate = (self.state.effective_words - self.start_effective) / self.meter.elapsed()
        emit(self.progress, Progress(
            "train", self.state.words_done, self.total_words, "words", self.meter.rate(done), self.meter.eta(done),
            message=f"epoch {epoch}/{self.config.epochs}",
            extra={"epoch": epoch, "epochs": self.config.epochs, "loss": float(self.loss_ema or 0.0),
                   "alpha": self.alpha(self.state.words_done), "effective_words_per_s": effective_rate}))


def train(paths: Iterable, config: TrainConfig, progress: Optional[ProgressCallback] = None,
          cancel: Optional[CancelToken] = None, checkpoint_path=None, resume: bool = False) -> TrainResult:
    """Train word vectors on text files/folders. Cancelling returns the partial model (``cancelled=True``)."""
    config.validate()
    paths = list(paths)
    with prepared_corpus(paths, config, progress, cancel) as corpus:
        if config.architecture == "softmax":
            check_softmax_size(corpus.vocab, config)
        check_memory(len(corpus.vocab), config)
        trainer = Trainer(corpus, config, progress, cancel, checkpoint_path)
        if resume and checkpoint_path and Path(checkpoint_path).exists():
            trainer.state = load_checkpoint(Path(checkpoint_path), trainer.weights, config, corpus.vocab)
        resumed_from = trainer.state.words_done / max(1, corpus.words)
        started = time.perf_counter()
        cancelled = trainer.run()
        seconds = time.perf_counter() - started
        if cancelled:
            trainer.write_checkpoint()
        elif checkpoint_path:
            Path(checkpoint_path).unlink(missing_ok=True)
        return _result(trainer, corpus, config, cancelled, seconds, resumed_from, paths)


def _result(trainer: Trainer, corpus: PreparedCorpus, config: TrainConfig, cancelled: bool, seconds: float,
            resumed_from: float, paths: list) -> TrainResult:
    state = trainer.state
    epochs_done = state.words_done / max(1, corpus.words)
    settings = {**asdict(config), "corpus": [str(p) for p in paths], "tokens": corpus.summary.tokens,
                "epochs_done": round(epochs_done, 4), "cancelled": cancelled,
                "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    vectors = WordVectors(corpus.vocab.words, trainer.weights.syn0, corpus.vocab.counts, settings)
    trained_words = state.words_done - trainer.start_words
    effective = state.effective_words - trainer.start_effective
    return TrainResult(vectors, cancelled, epochs_done, seconds, effective / max(seconds, 1e-9),
                       list(state.loss_history), corpus.summary, trained_words / max(seconds, 1e-9),
                       state.effective_words, resumed_from)
