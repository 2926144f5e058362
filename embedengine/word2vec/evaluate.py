"""Intrinsic evaluation: Google analogies (as gensim scores them) and word-pair similarity (Spearman ρ)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from embedengine.errors import UserError
from embedengine.linalg import normalise
from embedengine.safety import open_regular_file

from .vectors import WordVectors

_QUERY_BLOCK = 1024


@dataclass
class AnalogyEvaluation:
    """Accuracy over questions whose four words are all in the top ``restrict_vocab`` words."""

    accuracy: float
    correct: int
    total: int
    oov: int
    sections: list[dict] = field(default_factory=list)
    method: str = "add"
    restrict_vocab: int = 30000

    @property
    def oov_ratio(self) -> float:
        asked = self.total + self.oov
        return self.oov / asked if asked else 0.0


@dataclass
class PairsEvaluation:
    """Spearman and Pearson correlation with human scores over the ``pairs`` in vocabulary.

    ``oov_ratio`` is the fraction (0 to 1) of the file's pairs left out as out of vocabulary, like the
    other ratios Embed Studio reports (gensim's ``evaluate_word_pairs`` gives the same number as a percentage).
    """

    spearman: float
    pearson: float
    pairs: int
    oov: int
    oov_ratio: float


def _read_lines(path: str | Path) -> list[str]:
    try:
        with open_regular_file(path) as handle:  # a FIFO would block forever
            return handle.read().decode("utf-8", errors="replace").splitlines()
    except OSError as error:
        raise UserError(f"Cannot read evaluation file {path}: {error.strerror or error}.") from error


def _lowercase_index(vectors: WordVectors, limit: int) -> dict[str, int]:
    """Lower-cased word -> row among the first ``limit`` rows (first occurrence wins, as gensim)."""
    index: dict[str, int] = {}
    for row, word in enumerate(vectors.words[:limit]):
        index.setdefault(word.lower(), row)
    return index


def read_analogies(path: str | Path) -> list[tuple[str, list[list[str]]]]:
    """Sections of (a, b, c, expected) questions from a questions-words file."""
    sections: list[tuple[str, list[list[str]]]] = []
    for number, line in enumerate(_read_lines(path), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(":"):
            sections.append((line[1:].strip(), []))
            continue
        words = line.lower().split()
        if len(words) != 4:
            raise UserError(f"{Path(path).name} line {number}: expected 4 words, found {len(words)}.",
                            hint="Analogy files have ': section' lines and 'a b c d' question lines.")
        if not sections:
            sections.append(("questions", []))
        sections[-1][1].append(words)
    return sections


def _answer(normed: np.ndarray, rows: np.ndarray, method: str) -> np.ndarray:
    """Best row for each (a, b, c) question among ``normed`` rows, excluding the three inputs."""
    a, b, c = (normed[rows[:, i]] for i in range(3))
    if method == "mul":
        shift = lambda q: (1.0 + q @ normed.T) / 2.0  # noqa: E731
        scores = shift(b) * shift(c) / (shift(a) + 1e-6)
    elif method == "add":
        scores = normalise(b - a + c) @ normed.T
    else:
        raise UserError(f"Unknown analogy method {method!r}.", hint="Use 'add' (3CosAdd) or 'mul' (3CosMul).")
    np.put_along_axis(scores, rows, -np.inf, axis=1)
    return scores.argmax(axis=1)


def evaluate_analogies(vectors: WordVectors, path: str | Path, restrict_vocab: int = 30000,
                       method: str = "add") -> AnalogyEvaluation:
    """Google-format analogy accuracy, per section and in total; OOV questions are counted, not scored."""
    index = _lowercase_index(vectors, restrict_vocab)
    normed = vectors.normed[:restrict_vocab]
    result = AnalogyEvaluation(0.0, 0, 0, 0, [], method, restrict_vocab)
    for name, questions in read_analogies(path):
        known = [q for q in questions if all(w in index for w in q)]
        result.oov += len(questions) - len(known)
        rows = np.array([[index[w] for w in q] for q in known], dtype=np.int64).reshape(-1, 4)
        correct = sum(int(np.count_nonzero(_answer(normed, block[:, :3], method) == block[:, 3]))
                      for block in np.array_split(rows, max(1, -(-len(rows) // _QUERY_BLOCK))) if len(block))
        result.sections.append({"name": name, "correct": correct, "total": len(known),
                                "accuracy": correct / len(known) if known else 0.0, "oov": len(questions) - len(known)})
        result.correct += correct
        result.total += len(known)
    result.accuracy = result.correct / result.total if result.total else 0.0
    return result


def rank_with_ties(values: np.ndarray) -> np.ndarray:
    """1-based ranks; tied values share the mean of their ranks."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.flatnonzero(np.diff(sorted_values, prepend=np.nan) != 0)
    ends = np.append(starts[1:], len(values))
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = np.asarray(x, np.float64) - np.mean(x), np.asarray(y, np.float64) - np.mean(y)
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator else float("nan")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    return pearson(rank_with_ties(x), rank_with_ties(y))


def read_pairs(path: str | Path) -> list[tuple[str, str, float]]:
    """(word, word, human score) triples from a tab- or space-separated file; '#' lines are comments."""
    pairs = []
    for number, line in enumerate(_read_lines(path), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        try:
            pairs.append((parts[0].strip().lower(), parts[1].strip().lower(), float(parts[2])))
        except (IndexError, ValueError) as error:
            raise UserError(f"{Path(path).name} line {number}: expected 'word<TAB>word<TAB>score'.") from error
    return pairs


def evaluate_pairs(vectors: WordVectors, path: str | Path, restrict_vocab: Optional[int] = 300000) -> PairsEvaluation:
    """Correlation of cosine similarity with human judgements over in-vocabulary pairs."""
    index = _lowercase_index(vectors, restrict_vocab or len(vectors))
    pairs = read_pairs(path)
    known = [(index[a], index[b], score) for a, b, score in pairs if a in index and b in index]
    oov = len(pairs) - len(known)
    if len(known) < 2:
        return PairsEvaluation(float("nan"), float("nan"), len(known), oov, oov / max(1, len(pairs)))
    rows_a, rows_b, human = (np.array(column) for column in zip(*known))
    model = np.einsum("ij,ij->i", vectors.normed[rows_a], vectors.normed[rows_b])
    return PairsEvaluation(spearman(model, human), pearson(model, human), len(known), oov, oov / len(pairs))


# -- saying the scores (the command line and the app) -------------------------------------------------

def analogy_score(analogies: dict) -> str:
    """``"41.2% (412/1000, 9 questions out of vocabulary)"``, or "all out of vocabulary" instead of 0/0."""
    if not analogies["total"]:
        return _all_out_of_vocabulary(analogies["oov"], "question")
    return (f"{analogies['accuracy']:.1%} ({analogies['correct']}/{analogies['total']}, "
            f"{_count(analogies['oov'], 'question')} out of vocabulary)")


def section_score(section: dict) -> str:
    """One analogy section's accuracy, or why it has none."""
    if section["total"]:
        return f"{section['accuracy']:.1%} ({section['correct']}/{section['total']})"
    return _all_out_of_vocabulary(section.get("oov", 0), "question")


def pairs_score(pairs: dict) -> str:
    """The word-pair correlations with how many pairs they rest on, or why there are none."""
    unknown = f"{pairs['oov_ratio']:.1%} out of vocabulary"
    if pairs["pairs"] >= 2:
        return (f"Spearman {pairs['spearman']:.3f}, Pearson {pairs['pearson']:.3f} "
                f"({pairs['pairs']} pairs, {unknown})")
    if not pairs["pairs"]:
        return _all_out_of_vocabulary(pairs["oov"], "pair")
    return f"only 1 pair in vocabulary, too few for a correlation ({unknown})"


def _all_out_of_vocabulary(count: int, noun: str) -> str:
    """What to say instead of "0.0% (0/0)" when nothing could be scored."""
    if not count:
        return f"no {noun}s"
    return f"all out of vocabulary ({_count(count, noun)})"


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
