"""Ways to rank passages: dense encoders (MiniLM fp32/int8, word-vector averages), BM25, hybrid.

Dense methods turn texts into L2-normalised vectors stored per method in the collection store;
:class:`BM25Index` scores on the passage texts directly; ``hybrid`` fuses MiniLM and BM25 with
:func:`score_fusion` (min-max normalised scores, equal weights). :func:`reciprocal_rank_fusion` is the
rank-only alternative; on the judged set of benchmarks/documents.py it did not beat MiniLM alone.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from embedengine.errors import UserError
from embedengine.linalg import normalise, top_k
from embedengine.tasks import CancelToken, Progress, ProgressCallback, RateMeter, checkpoint, emit

RRF_K = 60
FUSION_DEPTH = 100
ENCODE_BATCH = 256  # word-average texts between cancel checks and progress reports


@dataclass(frozen=True)
class MethodInfo:
    key: str
    label: str
    kind: str  # "dense" | "lexical" | "fusion"
    needs_word_model: bool
    description: str

    def to_dict(self) -> dict:
        return asdict(self)


METHODS: dict[str, MethodInfo] = {m.key: m for m in (
    MethodInfo("minilm", "MiniLM", "dense", False, "all-MiniLM-L6-v2 sentence embeddings (default)"),
    MethodInfo("minilm-int8", "MiniLM int8 (fast)", "dense", False, "the same model quantised to int8"),
    MethodInfo("w2v-avg", "Word-vector average", "dense", True, "mean of the word vectors of a trained model"),
    MethodInfo("w2v-tfidf", "TF-IDF weighted average", "dense", True,
               "word vectors weighted by term frequency x IDF from this collection"),
    MethodInfo("bm25", "BM25", "lexical", False, "keyword ranking (Okapi BM25, k1=1.2, b=0.75)"),
    MethodInfo("hybrid", "Hybrid (MiniLM + BM25)", "fusion", False,
               "MiniLM and BM25 scores, each min-max normalised over its top 100, averaged"),
)}
DEFAULT_METHOD = "minilm"
DENSE_METHODS = tuple(k for k, m in METHODS.items() if m.kind == "dense")


def method_info(key: str) -> MethodInfo:
    if key not in METHODS:
        raise UserError(f"unknown method '{key}'", hint=f"choose one of: {', '.join(METHODS)}")
    return METHODS[key]


def method_build(key: str, word_model: Optional[str] = None) -> str:
    """Which model build ranks with method ``key``, for an answer's source line: the MiniLM file's short
    sha256 and build date from the models' manifest (hybrid: MiniLM's), the word model of the word-vector
    methods; "" for BM25, or when nothing is recorded."""
    info = method_info(key)
    if info.needs_word_model:
        return f"word model '{word_model}'" if word_model else ""
    if info.kind == "lexical":
        return ""
    from embedengine.manifest import ManifestDamagedError, read_manifest, recorded_file
    from embedengine.text import MODEL_FILES

    filename = MODEL_FILES["int8" if key == "minilm-int8" else "fp32"]
    try:
        manifest = read_manifest()
    except ManifestDamagedError:
        return ""
    record = recorded_file(manifest, filename)
    if record is None:
        return ""
    built = next((str(entry.get("built_at", ""))[:10] for entry in manifest["models"].values()
                  if filename in entry.get("files", {})), "")
    return f"{filename} {record['sha256'][:8]}" + (f", built {built}" if built else "")


def stored_methods(keys: Iterable[str]) -> list[str]:
    """The dense vector sets that the given methods need (hybrid needs MiniLM)."""
    needed: list[str] = []
    for key in keys:
        info = method_info(key)
        for stored in (("minilm",) if info.kind == "fusion" else (key,) if info.kind == "dense" else ()):
            if stored not in needed:
                needed.append(stored)
    return needed


# -- lexical tokens -----------------------------------------------------------------------------

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
of off on once only or other our ours ourselves out over own same she should so some such than that the
their theirs them themselves then there these they this those through to too under until up very was we
were what when where which while who whom why will with would you your yours yourself yourselves
""".split())
_LEXICAL_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


@lru_cache(maxsize=1 << 19)  # a corpus repeats its words: tokenising 100K passages takes 25% less time
def light_stem(word: str) -> str:
    """Strips common English inflections so 'queries'/'query' and 'indexed'/'index' meet."""
    for suffix, replacement, minimum in (("ies", "y", 4), ("sses", "ss", 5), ("ing", "", 5), ("edly", "", 6),
                                         ("ed", "", 4), ("es", "", 4), ("s", "", 3)):
        if word.endswith(suffix) and len(word) >= minimum + len(suffix) - len(replacement):
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            return word[: len(word) - len(suffix)] + replacement
    return word


def lexical_tokens(text: str) -> list[str]:
    """Lower-cased, stop words removed, lightly stemmed word tokens."""
    return [light_stem(t) for t in _LEXICAL_TOKEN.findall(text.lower()) if t not in STOPWORDS]


# -- BM25 ---------------------------------------------------------------------------------------

class BM25Index:
    """Okapi BM25 over a fixed list of documents, stored as per-term posting arrays (CSR by term).

    ``save``/``load`` keep it in one ``.npz`` (no pickles), so a big collection does not re-tokenise
    every passage when the app starts.
    """

    def __init__(self, token_lists: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.n_docs = len(token_lists)
        self.vocabulary: dict[str, int] = {}
        lengths = np.fromiter((len(tokens) for tokens in token_lists), dtype=np.int64, count=self.n_docs)
        vocabulary = self.vocabulary
        term_ids = np.fromiter((vocabulary.setdefault(t, len(vocabulary)) for tokens in token_lists for t in tokens),
                               dtype=np.int64, count=int(lengths.sum()))
        token_docs = np.repeat(np.arange(self.n_docs, dtype=np.int64), lengths)
        pairs, freqs = np.unique(token_docs * max(len(vocabulary), 1) + term_ids, return_counts=True)
        docs, terms = np.divmod(pairs, max(len(vocabulary), 1))
        self._build_postings(terms, docs, freqs.astype(np.float32), lengths.astype(np.float32))

    def _build_postings(self, terms: np.ndarray, docs: np.ndarray, freqs: np.ndarray, lengths: np.ndarray) -> None:
        order = np.argsort(terms, kind="stable")
        terms, self.docs, freqs = terms[order], docs[order], freqs[order]
        self.offsets = np.zeros(len(self.vocabulary) + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms, minlength=len(self.vocabulary)), out=self.offsets[1:])
        df = np.diff(self.offsets).astype(np.float64)
        self.idf = np.log(1.0 + (self.n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        average = float(lengths.mean()) if self.n_docs else 1.0
        norm = self.k1 * (1.0 - self.b + self.b * lengths[self.docs] / max(average, 1e-9))
        self.weights = (self.idf[terms] * freqs * (self.k1 + 1.0) / (freqs + norm)).astype(np.float32)

    def save(self, path: Path, **extra: np.ndarray) -> None:
        """Write the index (and ``extra`` arrays) to ``path`` through a temporary file and a rename."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        # Terms as one UTF-8 blob, one per line (tokens never hold a newline): a fixed-width string
        # array would give every term the length of the longest, say a 5,000-letter base64 run.
        terms = np.frombuffer("\n".join(self.vocabulary).encode("utf-8"), dtype=np.uint8)
        np.savez(tmp, docs=self.docs, weights=self.weights, offsets=self.offsets, idf=self.idf, terms=terms,
                 params=np.array([self.k1, self.b, self.n_docs], dtype=np.float64), **extra)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> tuple["BM25Index", dict[str, np.ndarray]]:
        """An index written by :meth:`save`, and the extra arrays saved with it."""
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        index = cls.__new__(cls)
        index.k1, index.b, n_docs = arrays.pop("params").tolist()
        index.n_docs = int(n_docs)
        index.docs, index.weights, index.offsets, index.idf = (arrays.pop(n) for n in ("docs", "weights", "offsets", "idf"))
        blob = arrays.pop("terms").tobytes().decode("utf-8")
        index.vocabulary = {term: i for i, term in enumerate(blob.split("\n"))} if blob else {}
        return index, arrays

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for ``query`` (float32 [n_docs])."""
        scores = np.zeros(self.n_docs, dtype=np.float32)
        for term, count in Counter(lexical_tokens(query)).items():
            term_id = self.vocabulary.get(term)
            if term_id is None:
                continue
            start, end = self.offsets[term_id], self.offsets[term_id + 1]
            scores[self.docs[start:end]] += count * self.weights[start:end]
        return scores

    def search(self, query: str, k: int = 10, mask: Optional[np.ndarray] = None) -> list[tuple[int, float]]:
        """[(document index, score)] of the k best documents with a positive score."""
        scores = self.scores(query)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        best = top_k(scores, min(k, int(np.count_nonzero(scores > 0))))
        return [(int(i), float(scores[i])) for i in best]


def score_fusion(rankings: Sequence[Sequence[tuple[int, float]]],
                 weights: Optional[Sequence[float]] = None) -> list[tuple[int, float]]:
    """Fused [(id, score)], best first: weighted sum of each ranking's min-max normalised scores
    (an id missing from a ranking gets 0 there). Scores end up in [0, 1]."""
    weights = list(weights) if weights is not None else [1.0 / len(rankings)] * len(rankings)
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        if not ranking:
            continue
        scores = np.array([score for _, score in ranking], dtype=np.float64)
        low, span = scores.min(), scores.max() - scores.min()
        normalised = (scores - low) / span if span > 0 else np.ones_like(scores)
        for (item, _), value in zip(ranking, normalised):
            fused[item] = fused.get(item, 0.0) + weight * float(value)
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Fused [(id, score)], best first: score = sum over rankings of 1 / (k + rank)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))


# -- dense encoders -----------------------------------------------------------------------------

class DenseEncoder:
    """Base of the dense methods: encodes passages (batched, with progress) and queries.

    ``encode`` has the engine's encoder shape (:mod:`embedengine.encoders`): unit float32 [N, dim]
    in input order, progress reports as it goes, ``cancel`` checked between batches (paused blocks,
    cancelled raises :class:`~embedengine.tasks.Cancelled`).
    """

    key: str = ""

    def encode(self, texts: Sequence[str], *, progress: Optional[ProgressCallback] = None,
               cancel: Optional[CancelToken] = None) -> np.ndarray:
        raise NotImplementedError

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def settings(self) -> dict:
        return {}


class MiniLMEncoder(DenseEncoder):
    def __init__(self, variant: str = "fp32") -> None:
        from embedengine.text import MODEL_FILES

        if variant not in MODEL_FILES:
            raise ValueError(f"unknown MiniLM variant {variant!r}; use one of {sorted(MODEL_FILES)}")
        self.key = "minilm" if variant == "fp32" else "minilm-int8"
        self.variant = variant

    @property
    def encoder(self):
        """The process-wide MiniLM encoder for the current preferences (threads, provider)."""
        from embedengine.text import get_text_encoder

        return get_text_encoder(self.variant)

    def encode(self, texts, *, progress=None, cancel=None) -> np.ndarray:
        return self.encoder.encode(list(texts), progress=progress, cancel=cancel)

    def settings(self) -> dict:
        return {"model": self.encoder.variant, "provider": self.encoder.provider_label}


class WordAverageEncoder(DenseEncoder):
    """Average of unit word vectors; with ``idf`` each word is weighted by tf x idf."""

    def __init__(self, vectors, model_name: str, idf: Optional[dict[str, float]] = None) -> None:
        from embedengine.word2vec.corpus import tokenize

        self.key = "w2v-tfidf" if idf is not None else "w2v-avg"
        self.model_name = model_name
        self.idf = idf
        self._tokenize = tokenize
        self._keep_digits = bool(getattr(vectors, "settings", {}).get("keep_digits", False))
        self._index = vectors.key_to_index
        self._units = normalise(vectors.vectors)
        self._unseen_idf = max(idf.values(), default=1.0) if idf else 1.0  # words new since the IDF was taken

    def knows(self, word: str) -> bool:
        return word in self._index

    def tokens(self, text: str) -> list[str]:
        return self._tokenize(text, keep_digits=self._keep_digits)

    def _weights(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        counts = Counter(t for t in tokens if t in self._index)
        ids = np.fromiter((self._index[t] for t in counts), dtype=np.int64, count=len(counts))
        weights = np.fromiter((c * (self.idf.get(t, self._unseen_idf) if self.idf is not None else 1.0)
                               for t, c in counts.items()), dtype=np.float32, count=len(counts))
        return ids, weights

    def encode(self, texts, *, progress=None, cancel=None) -> np.ndarray:
        out = np.zeros((len(texts), self._units.shape[1]), dtype=np.float32)
        meter = RateMeter(len(texts))
        for row, text in enumerate(texts):
            if row % ENCODE_BATCH == 0:
                checkpoint(cancel)
                emit(progress, _encode_progress(row, len(texts), meter))
            ids, weights = self._weights(self.tokens(text))
            if len(ids):
                out[row] = normalise(weights @ self._units[ids])
        emit(progress, _encode_progress(len(texts), len(texts), meter))
        return out

    def settings(self) -> dict:
        return {"word_model": self.model_name}


def _encode_progress(done: int, total: int, meter: RateMeter) -> Progress:
    return Progress("encode", done, total, "texts", rate=meter.rate(done), eta_s=meter.eta(done))


def document_frequencies(texts: Iterable[str], tokenize: Callable[[str], list[str]]) -> tuple[int, Counter]:
    """(number of texts, how many texts contain each token)."""
    df: Counter = Counter()
    n = 0
    for text in texts:
        df.update(set(tokenize(text)))
        n += 1
    return n, df


def idf_table(n_docs: int, df: Counter) -> dict[str, float]:
    """Smoothed IDF: log((1 + N) / (1 + df)) + 1."""
    return {term: math.log((1 + n_docs) / (1 + count)) + 1.0 for term, count in df.items()}


def load_word_vectors(model_name: Optional[str]):
    """A saved word model by name (helper C's library), with a clear error when absent."""
    if not model_name:
        raise UserError("this method needs a trained word model",
                        hint="pass --model NAME (see `embedstudio word2vec list`) or pick one in the Train tab")
    from embedengine.word2vec.library import load_model

    return load_model(model_name)
