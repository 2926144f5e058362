"""A named document collection: files become passages, passages become vectors by several methods.

The index run is :class:`~embedengine.collections.base.Collection`'s: read each new or changed file
into passages (a skipped file keeps its reason), then give every passage a vector for every configured
dense method, a batch per transaction, then rebuild the keyword (BM25) index. Cancelling or killing at
any point loses at most one batch; the next ``index()`` continues where it stopped.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from embedengine.collections.base import Collection, skipped_entry
from embedengine.collections.files import FileStat, is_within, resolved
from embedengine.collections.report import IndexReport
from embedengine.errors import UserError
from embedengine.results import Result
from embedengine.store import FileEntry, Item
from embedengine.tasks import CancelToken, Progress, emit

from .extract import ExtractError, extract, file_kind, read_bytes
from .methods import (DEFAULT_METHOD, FUSION_DEPTH, METHODS, BM25Index, DenseEncoder, MiniLMEncoder,
                      WordAverageEncoder, document_frequencies, idf_table, lexical_tokens, load_word_vectors,
                      method_info, score_fusion, stored_methods)
from .passages import sentence_spans, split_pages

KIND = "documents"
DEFAULT_COLLECTION = "default"
SNIPPET_CHARS = 320
SEMANTIC_SNIPPETS = 10  # hits whose best sentence MiniLM may pick (when no query word matches)
BM25_FILE = "bm25.npz"
TFIDF_REFRESH = 0.2  # rebuild TF-IDF vectors when the passage count moved by more than 20 %


# ---------------------------------------------------------------------------------------------
# Result records
# ---------------------------------------------------------------------------------------------

@dataclass
class PassageHit(Result):
    rank: int
    score: float
    item_id: int
    path: str
    file_name: str
    folder: str
    file_type: str
    page: Optional[int]
    start: int  # char span in the page text
    end: int
    text: str
    sentence: tuple[int, int]  # best sentence, span in ``text``
    snippet: str
    highlight: tuple[int, int]  # best sentence, span in ``snippet``


@dataclass
class SearchResult(Result):
    collection: str
    query: str
    method: str
    method_label: str
    hits: list[PassageHit]
    passages_searched: int
    encode_ms: float
    search_ms: float
    filters: dict


@dataclass
class Comparison(Result):
    query: str
    methods: list[str]
    labels: list[str]
    results: list[SearchResult]
    headers: list[str]
    rows: list[list[str]]  # rank, then "file (p. N): snippet" per method


@dataclass
class _Filters:
    folder: Optional[str] = None
    file_types: tuple[str, ...] = ()

    def active(self) -> bool:
        return bool(self.folder or self.file_types)

    def accepts(self, path: str) -> bool:
        if self.folder and not is_within(path, self.folder):
            return False
        return not self.file_types or Path(path).suffix.lower() in self.file_types

    def to_dict(self) -> dict:
        return {"folder": self.folder, "file_types": list(self.file_types)}


def make_filters(folder: Optional[str] = None, file_types: Iterable[str] = ()) -> _Filters:
    types = tuple(sorted({t.lower() if t.startswith(".") else f".{t.lower()}" for t in file_types if t}))
    return _Filters(resolved(folder) if folder else None, types)


# ---------------------------------------------------------------------------------------------
# The collection
# ---------------------------------------------------------------------------------------------

class DocumentCollection(Collection):
    """A named collection of documents in ``data_home()/collections/<name>``."""

    kind = KIND
    default_name = DEFAULT_COLLECTION
    cli_area = "docs"
    item_noun = "passages"

    def __init__(self, name: str = DEFAULT_COLLECTION, create: bool = True) -> None:
        super().__init__(name, create=create)
        self._encoders: dict[str, DenseEncoder] = {}
        self._bm25: Optional[tuple[tuple[int, int], BM25Index, np.ndarray]] = None
        self._bm25_lock = threading.RLock()

    # -- configuration -------------------------------------------------------------------------

    @property
    def methods(self) -> list[str]:
        """Methods this collection keeps vectors (or rankings) for."""
        return list(self.store.get_meta("methods", [DEFAULT_METHOD]))

    @property
    def word_model(self) -> Optional[str]:
        return self.store.get_meta("word_model")

    def configure(self, methods: Optional[Sequence[str]] = None, word_model: Optional[str] = None) -> None:
        """Add methods (kept from then on) and/or switch the word model (its vectors are rebuilt)."""
        if word_model and word_model != self.word_model:
            load_word_vectors(word_model)  # fails early with a clear message
            for key in ("w2v-avg", "w2v-tfidf"):
                self.store.drop_vector_set(key)
                self._encoders.pop(key, None)
            self.store.set_meta("word_model", word_model)
        if methods:
            for key in methods:
                method_info(key)
            merged = self.methods + [m for m in methods if m not in self.methods]
            if any(METHODS[m].needs_word_model for m in merged) and not self.word_model:
                raise UserError("the word-vector methods need a trained word model", hint="pass --model NAME")
            self.store.set_meta("methods", merged)

    def configured_methods(self) -> list[str]:
        return self.methods

    # -- what the index run needs of this kind --------------------------------------------------

    def read_file(self, stat: FileStat, sha256: Optional[str]) -> FileEntry:
        return read_entry(stat)

    def pending_methods(self) -> list[str]:
        return stored_methods(self.methods)

    def before_embedding(self) -> None:
        self._refresh_tfidf_if_needed(self.pending_methods())

    def encode_items(self, method: str, items: Sequence[Item], cancel: Optional[CancelToken]) -> np.ndarray:
        encoder = self.encoder(method)
        vectors = encoder.encode([item.payload["text"] for item in items], cancel=cancel)
        self.store.set_vector_settings(method, encoder.settings())
        return vectors

    def after_index(self, report: IndexReport, progress, cancel) -> None:
        super().after_index(report, progress, cancel)
        emit(progress, Progress("keywords", 0, None, "steps", message="preparing keyword search…"))
        self.bm25()
        emit(progress, Progress("keywords", 1, 1, "steps", message="keyword search ready"))

    def _refresh_tfidf_if_needed(self, dense: list[str]) -> None:
        if "w2v-tfidf" not in dense:
            return
        built_for = self.store.get_meta("tfidf_passages", 0)
        count = self.store.count_items()
        if built_for and abs(count - built_for) <= TFIDF_REFRESH * built_for:
            return
        base = WordAverageEncoder(load_word_vectors(self.word_model), self.word_model)
        n_docs, df = document_frequencies((item.payload["text"] for item in self.store.iter_items()), base.tokens)
        idf = {t: v for t, v in idf_table(n_docs, df).items() if base.knows(t)}
        self.store.drop_vector_set("w2v-tfidf")
        self.store.set_meta("tfidf_idf", idf)
        self.store.set_meta("tfidf_passages", count)
        self._encoders.pop("w2v-tfidf", None)

    def encoder(self, method: str) -> DenseEncoder:
        """The (cached) encoder of a dense method."""
        if method not in self._encoders:
            self._encoders[method] = self._make_encoder(method)
        return self._encoders[method]

    def _make_encoder(self, method: str) -> DenseEncoder:
        if method in ("minilm", "minilm-int8"):
            return MiniLMEncoder("fp32" if method == "minilm" else "int8")
        vectors = load_word_vectors(self.word_model)
        idf = self.store.get_meta("tfidf_idf", {}) if method == "w2v-tfidf" else None
        return WordAverageEncoder(vectors, self.word_model, idf)

    # -- searching -----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        method: str = DEFAULT_METHOD,
        k: int = 10,
        folder: Optional[str] = None,
        file_types: Iterable[str] = (),
    ) -> SearchResult:
        """The k passages that best match ``query`` by ``method`` (optionally within a folder/types)."""
        query = query.strip()
        if not query:
            raise UserError("type something to search for")
        info = method_info(method)
        filters = make_filters(folder, file_types)
        started = time.perf_counter()
        ranked, encode_s = self.rank(query, method, k, filters)
        search_ms = (time.perf_counter() - started - encode_s) * 1000
        hits = self._hits(query, ranked, method)
        return SearchResult(self.name, query, method, info.label, hits, self._searchable(method),
                            encode_s * 1000, search_ms, filters.to_dict())

    def rank(self, query: str, method: str, k: int, filters: Optional[_Filters] = None
             ) -> tuple[list[tuple[int, float]], float]:
        """[(item_id, score)] best first, and the seconds spent encoding the query (no snippets)."""
        allowed = self.store.item_ids_for_paths(filters.accepts) if filters and filters.active() else None
        return self._rank(query, method_info(method).key, k, allowed)

    def _rank(self, query: str, method: str, k: int, allowed) -> tuple[list[tuple[int, float]], float]:
        """[(item_id, score)] best first, and the seconds spent encoding the query."""
        kind = METHODS[method].kind
        if kind == "lexical":
            return self._bm25_search(query, k, allowed), 0.0
        if kind == "fusion":
            dense, encode_s = self._dense_search(query, "minilm", FUSION_DEPTH, allowed)
            lexical = self._bm25_search(query, FUSION_DEPTH, allowed)
            return score_fusion([dense, lexical])[:k], encode_s
        return self._dense_search(query, method, k, allowed)

    def _dense_search(self, query: str, method: str, k: int, allowed) -> tuple[list[tuple[int, float]], float]:
        self._require_vectors(method)
        started = time.perf_counter()
        vector = self.encoder(method).encode_query(query)
        encode_s = time.perf_counter() - started
        return self.nearest(method, vector, k, allowed), encode_s

    def _require_vectors(self, method: str) -> None:
        if method not in self.store.vector_methods():
            raise UserError(f"collection '{self.name}' has no {METHODS[method].label} vectors yet",
                            hint=f"index it with that method: embedstudio docs index --collection '{self.name}' "
                                 f"--method {method}")

    def bm25(self) -> tuple[BM25Index, np.ndarray]:
        """The BM25 index of all passages and their item ids.

        Kept in memory and in ``bm25.npz`` beside the store, both tagged with the items' signature:
        rebuilt (about 9 s per 100K passages here) only after the passages changed, which
        :meth:`index` does at the end of its run rather than at the next search.
        """
        signature = self.store.items_signature()
        with self._bm25_lock:
            if self._bm25 is None or self._bm25[0] != signature:
                self._bm25 = (signature, *self._load_or_build_bm25(signature))
            return self._bm25[1], self._bm25[2]

    def _load_or_build_bm25(self, signature: tuple[int, int]) -> tuple[BM25Index, np.ndarray]:
        path = self.store.folder / BM25_FILE
        if path.exists():
            try:
                index, extra = BM25Index.load(path)
                if tuple(extra["signature"].tolist()) == signature:
                    return index, extra["ids"]
            except Exception:  # noqa: BLE001 - a derived file, damaged or from an older version: rebuild it
                pass
        ids, tokens = [], []
        for item in self.store.iter_items():
            ids.append(item.id)
            tokens.append(lexical_tokens(item.payload["text"]))
        index, item_ids = BM25Index(tokens), np.array(ids, dtype=np.int64)
        index.save(path, ids=item_ids, signature=np.array(signature, dtype=np.int64))
        return index, item_ids

    def _bm25_search(self, query: str, k: int, allowed) -> list[tuple[int, float]]:
        index, ids = self.bm25()
        mask = np.isin(ids, allowed) if allowed is not None else None
        return [(int(ids[doc]), score) for doc, score in index.search(query, k, mask)]

    def _searchable(self, method: str) -> int:
        kind = METHODS[method].kind
        if kind == "lexical":
            return self.store.count_items()
        return self.store.live_count("minilm" if kind == "fusion" else method)

    def _hits(self, query: str, ranked: list[tuple[int, float]], method: str) -> list[PassageHit]:
        found = {item.id: item for item in self.store.items([i for i, _ in ranked])}
        kept = [(item_id, score) for item_id, score in ranked if item_id in found]
        semantic = self.encoder("minilm") if method in ("minilm", "hybrid") else None
        sentences = best_sentences(query, [found[i].payload["text"] for i, _ in kept], semantic)
        return [make_hit(rank, score, found[item_id], sentence)
                for rank, ((item_id, score), sentence) in enumerate(zip(kept, sentences), start=1)]

    def more_like(self, item_id: int, method: str = DEFAULT_METHOD, k: int = 10) -> SearchResult:
        """Passages like a given passage (the passage itself left out)."""
        items = self.store.items([item_id])
        if not items:
            raise UserError("that passage is no longer in the index", hint="search again")
        result = self.search(items[0].payload["text"], method, k + 1)
        result.hits = [h for h in result.hits if h.item_id != item_id][:k]
        for rank, hit in enumerate(result.hits, start=1):
            hit.rank = rank
        return result

    def compare(self, query: str, methods: Sequence[str], k: int = 5, folder: Optional[str] = None,
                file_types: Iterable[str] = ()) -> Comparison:
        """The top ``k`` of each method for the same query, as results and as a side-by-side table."""
        if len(methods) < 2:
            raise UserError("compare needs at least two methods", hint=f"choose from: {', '.join(METHODS)}")
        results = [self.search(query, m, k, folder, file_types) for m in methods]
        headers = ["#"] + [r.method_label for r in results]
        rows = []
        for rank in range(k):
            cells = [_hit_cell(r.hits[rank]) if rank < len(r.hits) else "" for r in results]
            if any(cells):
                rows.append([str(rank + 1)] + cells)
        return Comparison(query, list(methods), [r.method_label for r in results], results, headers, rows)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def read_entry(stat: FileStat) -> FileEntry:
    """A file turned into a store entry: its passages, or status 'skipped' with the reason."""
    if file_kind(stat.path) is None:
        suffix = Path(stat.path).suffix.lower() or "(no extension)"
        return skipped_entry(stat, f"unsupported file type {suffix}")
    try:
        document = extract(stat.path, read_bytes(stat.path))
        passages = split_pages(document.pages)
    except ExtractError as error:
        return skipped_entry(stat, error.reason)
    return FileEntry(stat.path, stat.size, stat.mtime, sha256=document.sha256,
                     payloads=[p.to_payload() for p in passages])


def best_sentences(query: str, texts: Sequence[str], semantic: Optional[DenseEncoder] = None) -> list[tuple[int, int]]:
    """For each text, the span of the sentence sharing most query words; where none shares any,
    MiniLM picks the closest sentence (one batched encode for all such texts)."""
    wanted = set(lexical_tokens(query))
    all_spans = [sentence_spans(text) or [(0, len(text))] for text in texts]
    best: list[Optional[tuple[int, int]]] = []
    for text, spans in zip(texts, all_spans):
        overlaps = [len(wanted.intersection(lexical_tokens(text[s:e]))) for s, e in spans]
        top = int(np.argmax(overlaps))
        best.append(spans[top] if overlaps[top] or semantic is None or len(spans) == 1 else None)
    unresolved = [i for i, span in enumerate(best) if span is None]
    for i in unresolved[SEMANTIC_SNIPPETS:]:
        best[i] = all_spans[i][0]
    unresolved = unresolved[:SEMANTIC_SNIPPETS]
    if unresolved:
        candidates = [(i, span) for i in unresolved for span in all_spans[i]]
        vectors = semantic.encode([query] + [texts[i][s:e] for i, (s, e) in candidates])
        scores = vectors[1:] @ vectors[0]
        for i in unresolved:
            rows = [row for row, (owner, _) in enumerate(candidates) if owner == i]
            best[i] = candidates[max(rows, key=lambda row: scores[row])][1]
    return best


def best_sentence(query: str, text: str, semantic: Optional[DenseEncoder] = None) -> tuple[int, int]:
    """Span of the sentence of ``text`` that best matches ``query``."""
    return best_sentences(query, [text], semantic)[0]


def snippet_around(text: str, span: tuple[int, int], limit: int = SNIPPET_CHARS) -> tuple[str, tuple[int, int]]:
    """A piece of ``text`` of about ``limit`` characters containing ``span``, and the span inside it."""
    start, end = span
    if end - start >= limit:  # a very long sentence: its beginning, highlighted
        return text[start:start + limit - 2] + " …", (0, limit - 2)
    room = limit - (end - start)
    left = max(0, start - room // 2)
    right = min(len(text), end + (room - (start - left)))
    left = max(0, min(left, right - limit))
    while left > 0 and not text[left - 1].isspace():
        left += 1
    while right < len(text) and not text[right].isspace():
        right -= 1
    left, right = min(left, start), max(right, end)
    prefix = "… " if left > 0 else ""
    suffix = " …" if right < len(text) else ""
    snippet = prefix + text[left:right] + suffix
    offset = len(prefix) - left
    return snippet, (start + offset, end + offset)


def make_hit(rank: int, score: float, item, sentence: tuple[int, int]) -> PassageHit:
    payload = item.payload
    text = payload["text"]
    snippet, highlight = snippet_around(text, sentence)
    path = Path(item.path)
    return PassageHit(rank, float(score), item.id, item.path, path.name, str(path.parent),
                      path.suffix.lower(), payload.get("page"), payload["start"], payload["end"], text,
                      sentence, snippet, highlight)


def _hit_cell(hit: PassageHit) -> str:
    page = f" (p. {hit.page})" if hit.page else ""
    sentence = hit.text[hit.sentence[0]:hit.sentence[1]]
    short = sentence if len(sentence) <= 90 else sentence[:87] + "…"
    return f"{hit.file_name}{page}: {short}"
