"""The Explore grammar: parse one line of user input into a query, answer it into a result.

Grammar (one query per input)::

    cat                          nearest neighbours of a word
    cat, dog   |  cat ~ dog      cosine similarity of two words
    king - man + woman           analogy / vector arithmetic (3CosAdd, or 3CosMul)
    man : king :: woman : ?      the same analogy in the classic notation
    odd: breakfast lunch dinner car    which word does not belong
    sentences: <one per line>    MiniLM similarity matrix of sentences (empty = the "bank" demo)
    help                         this grammar

Word answers carry a 2-D PCA ``map`` of the words involved and their neighbourhood, and a
``one_hot`` lesson: the same words as one-hot vectors (every pair 0 apart) beside their dense
cosine similarities. No Qt here: the desktop renders these result objects, the CLI prints them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Union

import numpy as np

from embedengine.errors import UserError
from embedengine.linalg import cosine_matrix, normalise
from embedengine.results import Result
from embedengine.runtime import BUILD_HINT, ModelMissingError

# The seed's four "bank" sentences (money, river, money, river): MiniLM pairs them by meaning.
BANK_SENTENCES = (
    "I need to bank the money.",
    "The river bank was steep.",
    "I deposited cash at the bank.",
    "Fish swam near the river bank.",
)

ANALOGY_METHODS = ("add", "mul")
MAP_NEIGHBOURS = 8  # neighbours per query word drawn on the map besides the answers
GRAMMAR = (
    ("cat", "nearest neighbours of a word", "king"),
    ("cat, dog   or   cat ~ dog", "how similar two words are (cosine)", "bread ~ wine"),
    ("king - man + woman", "analogy: vector arithmetic (3CosAdd; 3CosMul on the toggle)", "king - man + woman"),
    ("man : king :: woman : ?", "the same analogy in classic notation", "man : king :: woman : ?"),
    ("odd: a b c d", "which word does not belong", "odd: bread wine meat sword"),
    ("sentences: a | b | c", "MiniLM similarity of sentences, split by | or lines (none = the bank demo)", "sentences:"),
    ("help", "this list", "help"),
)

_WORD = r"[^\s,~:+\-?]+"
_CLASSIC_ANALOGY = re.compile(rf"^({_WORD})\s*:\s*({_WORD})\s*::\s*({_WORD})\s*:\s*\??$")
_ARITHMETIC_TERM = re.compile(rf"([+-]?)\s*({_WORD})")
_PREFIX = re.compile(r"^(odd|sentences)\s*:", re.IGNORECASE)


# ----------------------------------------------------------------------------- queries


@dataclass
class NeighboursQuery:
    word: str
    kind: str = field(default="neighbours", init=False)


@dataclass
class SimilarityQuery:
    first: str
    second: str
    kind: str = field(default="similarity", init=False)


@dataclass
class AnalogyQuery:
    positive: list[str]
    negative: list[str]
    method: str = "add"
    kind: str = field(default="analogy", init=False)

    @property
    def expression(self) -> str:
        terms = [self.positive[0]] + [f"+ {w}" for w in self.positive[1:]] + [f"- {w}" for w in self.negative]
        return " ".join(terms)


@dataclass
class OddOneOutQuery:
    words: list[str]
    kind: str = field(default="odd_one_out", init=False)


@dataclass
class SentencesQuery:
    sentences: list[str]
    kind: str = field(default="sentences", init=False)


@dataclass
class HelpQuery:
    kind: str = field(default="help", init=False)


Query = Union[NeighboursQuery, SimilarityQuery, AnalogyQuery, OddOneOutQuery, SentencesQuery, HelpQuery]


def _grammar_hint() -> str:
    return "Try `king`, `bread ~ wine`, `king - man + woman`, `odd: bread wine meat sword` or `help`."


def parse_query(text: str, analogy_method: str = "add") -> Query:
    """Turn one input line (or a `sentences:` block) into a query; :class:`UserError` on nonsense."""
    if analogy_method not in ANALOGY_METHODS:
        raise UserError(f"Unknown analogy method {analogy_method!r}", hint="Use 'add' (3CosAdd) or 'mul' (3CosMul).")
    stripped = (text or "").strip()
    if not stripped:
        raise UserError("Type a word or a question.", hint=_grammar_hint())
    check_text(stripped, "The question")
    if stripped.lower() in ("help", "?", "h"):
        return HelpQuery()
    prefix = _PREFIX.match(stripped)
    if prefix:
        body = stripped[prefix.end():]
        return _parse_odd(body) if prefix.group(1).lower() == "odd" else sentences_query(_split_sentences(body))
    return _parse_word_query(stripped, analogy_method)


def _parse_word_query(text: str, method: str) -> Query:
    classic = _CLASSIC_ANALOGY.match(text)
    if classic:
        a, b, c = classic.groups()
        return AnalogyQuery(positive=[b, c], negative=[a], method=method)
    if "::" in text or text.count(":") >= 2:
        raise UserError(f"Could not read the analogy {text!r}.", hint="Write it as `man : king :: woman : ?`.")
    for separator in ("~", ","):
        if separator in text:
            return _parse_pair(text, separator)
    if re.search(r"[+-]", text):
        return _parse_arithmetic(text, method)
    words = text.split()
    if len(words) == 2:
        return SimilarityQuery(words[0], words[1])
    if len(words) > 2:
        raise UserError(
            f"Not sure what to do with {len(words)} words.",
            hint=f"For the odd one out type `odd: {' '.join(words)}`; for similarity `{words[0]} ~ {words[1]}`.",
        )
    _check_word(words[0], text)
    return NeighboursQuery(words[0])


def check_text(text: str, what: str = "The text") -> None:
    """:class:`UserError` when ``text`` holds undecodable bytes (surrogate escapes, e.g. from a non-UTF-8 argv)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise UserError(f"{what} '{shown}' is not valid UTF-8 text.",
                        hint="Retype it, or check that the terminal or file it came from uses UTF-8.") from None


def _check_word(word: str, text: str) -> None:
    if not re.fullmatch(_WORD, word) or not re.search(r"\w", word):
        raise UserError(f"{text!r} is not a word or a question I understand.", hint=_grammar_hint())


def _parse_pair(text: str, separator: str) -> SimilarityQuery:
    parts = [p.strip() for p in text.split(separator)]
    if len(parts) != 2 or not all(parts) or any(len(p.split()) != 1 for p in parts):
        raise UserError(
            f"Similarity compares exactly two words; got {text!r}.",
            hint="Write `cat ~ dog` or `cat, dog`. For more words use `odd: a b c d`.",
        )
    for part in parts:
        _check_word(part, text)
    return SimilarityQuery(parts[0], parts[1])


def _parse_arithmetic(text: str, method: str) -> AnalogyQuery:
    positive: list[str] = []
    negative: list[str] = []
    position = 0
    for match in _ARITHMETIC_TERM.finditer(text):
        if text[position:match.start()].strip():
            break
        (negative if match.group(1) == "-" else positive).append(match.group(2))
        position = match.end()
    if text[position:].strip() or not positive:
        raise UserError(
            f"Could not read the word arithmetic {text!r}.",
            hint="Use words joined by + and -, starting with a word: `king - man + woman`.",
        )
    return AnalogyQuery(positive=positive, negative=negative, method=method)


def _parse_odd(body: str) -> OddOneOutQuery:
    words = [w for w in re.split(r"[\s,]+", body.strip()) if w]
    if len(words) < 3:
        raise UserError(
            "The odd-one-out needs at least three words.",
            hint="For example `odd: breakfast lunch dinner car`.",
        )
    return OddOneOutQuery(words)


def _split_sentences(body: str) -> list[str]:
    separator = "\n" if "\n" in body else "|"
    return [line.strip() for line in body.split(separator) if line.strip()]


def sentences_query(sentences: Sequence[str]) -> SentencesQuery:
    """A sentence-similarity query; no sentences means the built-in "bank" demo."""
    cleaned = [s.strip() for s in sentences if s and s.strip()]
    if not cleaned:
        return SentencesQuery(list(BANK_SENTENCES))
    if len(cleaned) < 2:
        raise UserError(
            "Sentence mode compares two or more sentences.",
            hint="Type `sentences:` and then one sentence per line (or separate them with |).",
        )
    for sentence in cleaned:
        check_text(sentence, "The sentence")
    return SentencesQuery(cleaned)


# ----------------------------------------------------------------------------- results


@dataclass
class MapPoint:
    word: str
    x: float
    y: float
    role: str  # "query" | "positive" | "negative" | "answer" | "neighbour" | "member" | "odd" | "target"


@dataclass
class WordMap:
    """2-D PCA projection of the words of an answer; ``explained`` = variance share of each axis."""

    points: list[MapPoint]
    explained: tuple[float, float]


@dataclass
class OneHotLesson:
    """The same words as one-hot vectors (index into a vocabulary of ``vocab_size``) and as dense vectors."""

    words: list[str]
    indices: list[int]
    vocab_size: int
    dim: int
    one_hot_similarity: list[list[float]]
    dense_similarity: list[list[float]]


@dataclass
class NeighboursResult(Result):
    word: str
    neighbours: list[tuple[str, float]]
    map: WordMap
    one_hot: OneHotLesson
    kind: str = field(default="neighbours", init=False)


@dataclass
class SimilarityResult(Result):
    first: str
    second: str
    similarity: float
    verdict: str
    map: WordMap
    one_hot: OneHotLesson
    kind: str = field(default="similarity", init=False)


@dataclass
class AnalogyResult(Result):
    positive: list[str]
    negative: list[str]
    method: str
    expression: str
    answers: list[tuple[str, float]]
    map: WordMap
    one_hot: OneHotLesson
    kind: str = field(default="analogy", init=False)


@dataclass
class OddOneOutResult(Result):
    words: list[str]
    odd: str
    scores: list[tuple[str, float]]  # similarity to the mean of the group, least similar first
    map: WordMap
    one_hot: OneHotLesson
    kind: str = field(default="odd_one_out", init=False)


@dataclass
class SentenceSimilarityResult(Result):
    sentences: list[str]
    matrix: list[list[float]]
    closest_pair: tuple[int, int, float]
    farthest_pair: tuple[int, int, float]
    kind: str = field(default="sentences", init=False)


@dataclass
class HelpResult(Result):
    entries: list[tuple[str, str, str]]  # (syntax, meaning, example)
    kind: str = field(default="help", init=False)


Result = Union[NeighboursResult, SimilarityResult, AnalogyResult, OddOneOutResult, SentenceSimilarityResult, HelpResult]


# ----------------------------------------------------------------------------- maths


def pca_2d(matrix: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """Project rows onto their first two principal components (NumPy SVD); pads with zeros if rank < 2."""
    data = np.asarray(matrix, dtype=np.float64)
    centred = data - data.mean(axis=0, keepdims=True)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    coords = np.zeros((len(data), 2))
    k = min(2, components.shape[0])
    coords[:, :k] = centred @ components[:k].T
    variance = singular**2
    total = float(variance.sum()) or 1.0
    explained = [float(v / total) for v in variance[:2]] + [0.0] * (2 - min(2, len(variance)))
    return coords, (explained[0], explained[1])


def _rounded(matrix: np.ndarray) -> list[list[float]]:
    return [[round(float(v), 4) for v in row] for row in matrix]


def similarity_verdict(score: float) -> str:
    """A plain-words reading of a cosine similarity between word vectors."""
    for threshold, words in ((0.7, "very similar"), (0.5, "similar"), (0.3, "somewhat related"), (0.1, "weakly related")):
        if score >= threshold:
            return words
    return "unrelated"


# ----------------------------------------------------------------------------- answering


def answer(query: Query, vectors=None, topn: int = 10, encoder=None) -> Result:
    """Answer a parsed query. Word queries need ``vectors`` (a WordVectors); sentences use MiniLM."""
    if isinstance(query, HelpQuery):
        return HelpResult(entries=[tuple(entry) for entry in GRAMMAR])
    if isinstance(query, SentencesQuery):
        return _answer_sentences(query, encoder)
    if isinstance(topn, bool) or not isinstance(topn, (int, np.integer)) or topn < 1:
        raise UserError(f"The number of results must be a whole number of at least 1, not {topn!r}.")
    if vectors is None:
        raise UserError(
            "No word model is loaded yet.",
            hint="Train one in the Train tab (the demo model trains on first start) or import vectors.",
        )
    handler: Callable = _WORD_HANDLERS[type(query)]
    return handler(query, vectors, topn)


def _resolve(vectors, word: str) -> str:
    """The vocabulary spelling of ``word`` (exact, else lower-case); UnknownWordError otherwise."""
    for spelling in (word, word.lower()):
        if spelling in vectors.key_to_index:
            return spelling
    vectors[word]  # raises UnknownWordError with spelling suggestions
    return word


def _resolve_all(vectors, words: Sequence[str]) -> list[str]:
    return [_resolve(vectors, w) for w in words]


def _unit(vectors, word: str) -> np.ndarray:
    vector = np.asarray(vectors.get_vector(word, norm=True), dtype=np.float64)
    if not np.isfinite(vector).all():
        raise UserError(
            f"The vector of {word!r} holds NaN or infinite values: this model's training diverged.",
            hint="Retrain it with a smaller learning rate (alpha), or load another model.",
        )
    return vector


def _sum_units(vectors, words: Sequence[str]) -> np.ndarray:
    return np.sum([_unit(vectors, w) for w in words], axis=0) if words else np.zeros(int(vectors.dim))


def _answer_neighbours(query: NeighboursQuery, vectors, topn: int) -> NeighboursResult:
    word = _resolve(vectors, query.word)
    neighbours = _scored(vectors.most_similar(positive=[word], topn=topn))
    roles = [(word, "query")] + [(w, "neighbour") for w, _ in neighbours]
    return NeighboursResult(
        word=word,
        neighbours=neighbours,
        map=build_map(vectors, roles),
        one_hot=build_lesson(vectors, [word] + [w for w, _ in neighbours[:4]]),
    )


def _answer_similarity(query: SimilarityQuery, vectors, topn: int) -> SimilarityResult:
    first, second = _resolve_all(vectors, [query.first, query.second])
    score = float(vectors.similarity(first, second))
    roles = [(first, "query"), (second, "query")]
    for word in (first, second):
        roles += [(w, "neighbour") for w, _ in vectors.most_similar(positive=[word], topn=MAP_NEIGHBOURS // 2)]
    return SimilarityResult(
        first=first,
        second=second,
        similarity=round(score, 4),
        verdict=similarity_verdict(score),
        map=build_map(vectors, roles),
        one_hot=build_lesson(vectors, [first, second]),
    )


def _answer_analogy(query: AnalogyQuery, vectors, topn: int) -> AnalogyResult:
    positive = _resolve_all(vectors, query.positive)
    negative = _resolve_all(vectors, query.negative)
    answers = _scored(vectors.most_similar(positive=positive, negative=negative, topn=topn, method=query.method))
    roles = [(w, "positive") for w in positive] + [(w, "negative") for w in negative]
    roles += [(w, "answer") for w, _ in answers[:MAP_NEIGHBOURS]]
    target = _sum_units(vectors, positive) - _sum_units(vectors, negative)
    resolved = AnalogyQuery(positive, negative, query.method)
    return AnalogyResult(
        positive=positive,
        negative=negative,
        method=query.method,
        expression=resolved.expression,
        answers=answers,
        map=build_map(vectors, roles, extra=(resolved.expression, target)),
        one_hot=build_lesson(vectors, positive + negative + [w for w, _ in answers[:1]]),
    )


def _answer_odd(query: OddOneOutQuery, vectors, topn: int) -> OddOneOutResult:
    words = _resolve_all(vectors, query.words)
    scores = _scored(vectors.odd_one_out(words))
    odd = scores[0][0]
    roles = [(w, "odd" if w == odd else "member") for w in words]
    return OddOneOutResult(
        words=words,
        odd=odd,
        scores=scores,
        map=build_map(vectors, roles),
        one_hot=build_lesson(vectors, words),
    )


_WORD_HANDLERS = {
    NeighboursQuery: _answer_neighbours,
    SimilarityQuery: _answer_similarity,
    AnalogyQuery: _answer_analogy,
    OddOneOutQuery: _answer_odd,
}


def _scored(pairs) -> list[tuple[str, float]]:
    return [(str(w), round(float(s), 4)) for w, s in pairs]


def _answer_sentences(query: SentencesQuery, encoder=None) -> SentenceSimilarityResult:
    try:
        if encoder is None:
            from embedengine.text import get_text_encoder

            encoder = get_text_encoder()
        embeddings = encoder.encode(query.sentences)
    except ModelMissingError as missing:
        raise UserError(f"Sentence mode needs the MiniLM model, which is not built yet ({missing.path.name} "
                        f"is missing from {missing.path.parent}).", hint=BUILD_HINT) from missing
    matrix = np.clip(cosine_matrix(embeddings), -1.0, 1.0)
    pairs = [(i, j, float(matrix[i, j])) for i in range(len(matrix)) for j in range(i + 1, len(matrix))]
    closest = max(pairs, key=lambda p: p[2])
    farthest = min(pairs, key=lambda p: p[2])
    return SentenceSimilarityResult(
        sentences=list(query.sentences),
        matrix=_rounded(matrix),
        closest_pair=(closest[0], closest[1], round(closest[2], 4)),
        farthest_pair=(farthest[0], farthest[1], round(farthest[2], 4)),
    )


def build_map(vectors, roles: Sequence[tuple[str, str]], extra: Optional[tuple[str, np.ndarray]] = None) -> WordMap:
    """PCA map of the given (word, role) pairs (first role wins for repeats), plus an optional extra point."""
    unique: dict[str, str] = {}
    for word, role in roles:
        unique.setdefault(word, role)
    labels = list(unique)
    rows = [_unit(vectors, w) for w in labels]
    if extra is not None:
        labels.append(extra[0])
        rows.append(normalise(extra[1]))
    coords, explained = pca_2d(np.vstack(rows))
    role_of = dict(unique, **({extra[0]: "target"} if extra is not None else {}))
    points = [MapPoint(w, round(float(x), 4), round(float(y), 4), role_of[w]) for w, (x, y) in zip(labels, coords)]
    return WordMap(points=points, explained=explained)


def build_lesson(vectors, words: Sequence[str]) -> OneHotLesson:
    """One-hot vs dense: one-hot vectors of distinct words are orthogonal (similarity 0), dense ones are not."""
    unique = list(dict.fromkeys(words))
    dense = np.clip(cosine_matrix(np.vstack([_unit(vectors, w) for w in unique])), -1.0, 1.0)
    return OneHotLesson(
        words=unique,
        indices=[int(vectors.key_to_index[w]) for w in unique],
        vocab_size=len(vectors),
        dim=int(vectors.dim),
        one_hot_similarity=_rounded(np.eye(len(unique))),
        dense_similarity=_rounded(dense),
    )


def ask(text: str, vectors=None, topn: int = 10, analogy_method: str = "add", encoder=None) -> Result:
    """Parse and answer in one call."""
    return answer(parse_query(text, analogy_method=analogy_method), vectors, topn=topn, encoder=encoder)
