"""The result records every kind of collection shares: index report, status, skipped files, removals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from embedengine.results import Result


@dataclass
class SkippedFile(Result):
    """A file left out of the index and why ("unsupported file type .xyz", "corrupt or truncated", …)."""

    path: str
    reason: str


@dataclass
class IndexReport(Result):
    """What one index run did, with the same names for every kind of collection.

    ``items`` are passages for documents and images for images (``item_noun`` says which).
    """

    collection: str
    kind: str
    item_noun: str
    roots: list[str]
    files_seen: int = 0
    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)  # files this run could not use
    items_added: int = 0  # items read from new and changed files
    embedded: dict[str, int] = field(default_factory=dict)  # method -> items given vectors this run
    caught_up: int = 0  # of those, items read earlier that had no vectors yet (an interrupted run, a new method)
    items: int = 0  # items in the collection after the run
    unavailable: list[str] = field(default_factory=list)  # roots absent during the run: their items are kept
    seconds: float = 0.0
    items_per_s: float = 0.0
    cancelled: bool = False


@dataclass
class CollectionStatus(Result):
    """A collection at a glance; cheap to compute (SQL counts only, no walking of folders)."""

    name: str
    kind: str
    item_noun: str
    folder: str
    roots: list[str]
    unavailable: list[str]
    excludes: list[str]
    files: int
    items: int
    skipped: list[SkippedFile]
    methods: list[str]
    vector_sets: list[dict]
    pending: dict[str, int]  # method -> items still without vectors
    last_indexed: Optional[float]
    word_model: Optional[str] = None  # documents: the word model of the w2v methods


@dataclass
class FolderRemoved(Result):
    """A folder taken out of a collection: the files that went with it and what is left."""

    collection: str
    folder: str
    files_removed: int
    files_left: int
    roots_left: list[str]
