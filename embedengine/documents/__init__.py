"""Documents: extract text, split into passages, embed with several methods, search by meaning.

Main entry point: :class:`DocumentCollection` (``index``, ``search``, ``compare``, ``more_like``, ``status``).
"""

from .extract import SUPPORTED_EXTENSIONS, Document, ExtractError, Page, extract
from .index import DEFAULT_COLLECTION, Comparison, DocumentCollection, PassageHit, SearchResult
from .methods import DEFAULT_METHOD, METHODS, BM25Index, MethodInfo, method_info
from .passages import Passage, sentence_spans, split_pages

__all__ = [
    "SUPPORTED_EXTENSIONS", "Document", "ExtractError", "Page", "extract", "DEFAULT_COLLECTION",
    "Comparison", "DocumentCollection", "PassageHit", "SearchResult",
    "DEFAULT_METHOD", "METHODS", "BM25Index", "MethodInfo", "method_info", "Passage", "sentence_spans", "split_pages",
]
