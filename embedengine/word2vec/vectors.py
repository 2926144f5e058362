"""WordVectors: a gensim ``KeyedVectors``-like set of word vectors with fast queries.

The unit-normalised matrix is computed once and cached; top-k uses ``argpartition`` so a query
over 70k words is one matrix-vector product plus a partial sort.
"""

from __future__ import annotations

import difflib
import threading
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from embedengine.errors import UserError
from embedengine.linalg import normalise, top_k


class UnknownWordError(UserError):
    """A queried word is not in the vocabulary; ``suggestions`` are close spellings that are."""

    def __init__(self, word: str, suggestions: Sequence[str] = ()) -> None:
        self.word, self.suggestions = word, list(suggestions)
        message = f"'{word}' is not in the vocabulary"
        if self.suggestions:
            message += " — did you mean " + " or ".join(f"'{s}'" for s in self.suggestions) + "?"
        else:
            message += "."
        super().__init__(message, hint="Words are matched in lower case; rare words below min_count are not kept.",
                         data={"word": word, "suggestions": self.suggestions})


def _as_words(words: str | Iterable[str]) -> list[str]:
    return [words] if isinstance(words, str) else list(words)


class WordVectors:
    """Words, their vectors (float32 [V,d]) and corpus counts, most frequent first."""

    def __init__(self, words: Sequence[str], vectors: np.ndarray, counts: Optional[np.ndarray] = None,
                 settings: Optional[dict] = None, name: str = "", evaluation: Optional[dict] = None) -> None:
        self.words = list(words)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.vectors.ndim != 2 or len(self.words) != len(self.vectors):
            raise UserError(f"{len(self.words)} words but vectors of shape {self.vectors.shape}.")
        self.counts = np.zeros(len(self.words), np.int64) if counts is None else np.asarray(counts, np.int64)
        self.key_to_index = {word: i for i, word in enumerate(self.words)}
        self.settings = dict(settings or {})
        self.evaluation = dict(evaluation or {})
        self.name = name
        self._normed: Optional[np.ndarray] = None
        self._lock = threading.Lock()

    # ---- container protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self._find(word) is not None

    def __getitem__(self, word: str | Sequence[str]) -> np.ndarray:
        if isinstance(word, str):
            return self.get_vector(word)
        return np.stack([self.get_vector(w) for w in word])

    def __repr__(self) -> str:
        return f"WordVectors(name={self.name!r}, words={len(self)}, dim={self.dim})"

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def normed(self) -> np.ndarray:
        """Unit-normalised vectors, computed on first use."""
        if self._normed is None:
            with self._lock:
                if self._normed is None:
                    self._normed = normalise(self.vectors)
        return self._normed

    # ---- lookup -------------------------------------------------------------------------
    def _find(self, word: str) -> Optional[int]:
        index = self.key_to_index.get(word)
        return self.key_to_index.get(word.lower()) if index is None else index

    def index_of(self, word: str) -> int:
        """Row of ``word`` (exact, else lower-case), or :class:`UnknownWordError`."""
        index = self._find(word)
        if index is None:
            raise UnknownWordError(word, self.suggestions(word))
        return index

    def get_vector(self, word: str, norm: bool = False) -> np.ndarray:
        index = self.index_of(word)
        return (self.normed if norm else self.vectors)[index]

    def suggestions(self, word: str, n: int = 3) -> list[str]:
        """Close spellings from the vocabulary (difflib), for an unknown word."""
        word = word.lower()
        candidates = [w for w in self.words[:200_000] if abs(len(w) - len(word)) <= 2]
        return difflib.get_close_matches(word, candidates, n=n, cutoff=0.75)

    # ---- queries ------------------------------------------------------------------------
    def similarity(self, a: str, b: str) -> float:
        return float(self.get_vector(a, norm=True) @ self.get_vector(b, norm=True))

    def _top(self, scores: np.ndarray, topn: int, exclude: Iterable[int] = ()) -> list[tuple[str, float]]:
        scores = scores.copy()
        excluded = list(exclude)
        scores[excluded] = -np.inf
        topn = max(0, min(topn, len(scores) - len(set(excluded))))
        return [(self.words[i], float(scores[i])) for i in top_k(scores, topn)]

    def most_similar(self, positive: str | Sequence[str] = (), negative: str | Sequence[str] = (),
                     topn: int = 10, method: str = "add") -> list[tuple[str, float]]:
        """Nearest words to sum(positive) − sum(negative) (3CosAdd), or by 3CosMul with ``method="mul"``."""
        positive, negative = _as_words(positive), _as_words(negative)
        if method == "mul":
            return self.most_similar_cosmul(positive, negative, topn)
        if method != "add":
            raise UserError(f"Unknown analogy method {method!r}.", hint="Use 'add' (3CosAdd) or 'mul' (3CosMul).")
        if not positive and not negative:
            raise UserError("Give at least one word.")
        rows = [self.index_of(w) for w in positive + negative]
        signs = np.array([1.0] * len(positive) + [-1.0] * len(negative), dtype=np.float32)
        query = normalise(signs @ self.normed[rows])
        return self._top(self.normed @ query, topn, rows)

    def most_similar_cosmul(self, positive: str | Sequence[str] = (), negative: str | Sequence[str] = (),
                            topn: int = 10) -> list[tuple[str, float]]:
        """3CosMul (Levy & Goldberg 2014) with cosines shifted to [0, 1], as gensim does."""
        positive, negative = _as_words(positive), _as_words(negative)
        if not positive:
            raise UserError("3CosMul needs at least one positive word.")
        pos_rows = [self.index_of(w) for w in positive]
        neg_rows = [self.index_of(w) for w in negative]
        shifted = (1.0 + self.normed @ self.normed[pos_rows + neg_rows].T) / 2.0
        scores = shifted[:, :len(pos_rows)].prod(axis=1) / (shifted[:, len(pos_rows):].prod(axis=1) + 1e-6)
        return self._top(scores, topn, pos_rows + neg_rows)

    def odd_one_out(self, words: Sequence[str]) -> list[tuple[str, float]]:
        """Each word with its cosine to the group's mean direction, least similar first."""
        words = list(words)
        if len(words) < 2:
            raise UserError("Give at least two words to compare.")
        rows = [self.index_of(w) for w in words]
        vectors = self.normed[rows]
        scores = vectors @ normalise(vectors.mean(axis=0))
        order = np.argsort(scores, kind="stable")
        return [(words[i], float(scores[i])) for i in order]

    def doesnt_match(self, words: Sequence[str]) -> str:
        """The word furthest from the others' mean direction."""
        return self.odd_one_out(words)[0][0]

    def most_similar_to_vector(self, vector: np.ndarray, topn: int = 10,
                               exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
        """Nearest words to an arbitrary vector (cosine)."""
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.dim:
            raise UserError(f"Vector has {vector.shape[0]} dimensions; this model has {self.dim}.")
        rows = [i for i in (self._find(w) for w in exclude) if i is not None]
        return self._top(self.normed @ normalise(vector), topn, rows)

    # ---- evaluation -----------------------------------------------------------------------
    def evaluate_analogies(self, path: str | Path, restrict_vocab: int = 30000, method: str = "add"):
        from .evaluate import evaluate_analogies
        return evaluate_analogies(self, path, restrict_vocab=restrict_vocab, method=method)

    def evaluate_pairs(self, path: str | Path):
        from .evaluate import evaluate_pairs
        return evaluate_pairs(self, path)

    # ---- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        from .formats import save_native
        save_native(self, path)

    @classmethod
    def load(cls, path: str | Path) -> "WordVectors":
        from .formats import load_native
        return load_native(path)

    def save_word2vec_format(self, path: str | Path, binary: bool = False) -> None:
        from .formats import save_word2vec_format
        save_word2vec_format(self, path, binary=binary)

    @classmethod
    def load_word2vec_format(cls, path: str | Path, binary: Optional[bool] = None,
                             no_header: bool = False) -> "WordVectors":
        from .formats import load_word2vec_format
        return load_word2vec_format(path, binary=binary, no_header=no_header)
