"""One collection concept for every kind (documents, images): folders, excludes, status, the index run
and search. A kind supplies only how a file becomes items (:meth:`Collection.read_file` or
:meth:`Collection.read_files`) and how items become vectors (:meth:`Collection.encode_items`).

The index run is one sequence for every kind:

1. **plan**: walk the roots, compare with the store (size+mtime, then hash); forget files that are gone
   while their root is present (a root that is absent, an unplugged drive, is *unavailable*: its items
   stay); record new size/mtime for touched files;
2. **read** the new and changed files (plus those skipped as unreadable, whose permissions may have been
   fixed), each in isolation: a failure becomes one skipped entry with its reason; written a batch of
   files per transaction, with the vectors a kind computes while reading (images);
3. **embed** the items that still lack a vector for a configured method (documents), a batch per
   transaction; a cancelled or killed run resumes here;
4. **after**: compact vector sets with many tombstones, prepare the int8 first pass of large sets, then
   the kind's own steps (the keyword index, thumbnail pruning).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import ClassVar, Iterable, Iterator, Optional, Sequence

import numpy as np

from embedengine import ocr
from embedengine.errors import UserError
from embedengine.results import display_text, plural
from embedengine.store import (CollectionDamaged, CollectionStore, FileEntry, Item, Plan, collection_folder,
                               list_collections, read_settings_copy)
from embedengine.tasks import Cancelled, CancelToken, Progress, ProgressCallback, RateMeter, checkpoint, emit

from .files import FileStat, is_within, resolved, walk_files
from .lock import CollectionLock
from .report import CollectionStatus, FolderRemoved, IndexReport, SkippedFile
from .search import Ranked, VectorSearcher

DAMAGED_FOLDER = ".damaged"  # damaged collections put aside by repair (hidden: not listed as collections)
ReadFile = tuple[FileEntry, dict[str, np.ndarray]]  # a file's entry and the vectors computed while reading it


class Collection:
    """A named collection of one kind in ``data_home()/<kind folder>/<name>``. Subclasses set the class
    attributes and implement the reading (and, for vectors made after reading, the encoding) of items."""

    kind: ClassVar[str]
    default_name: ClassVar[str]
    cli_area: ClassVar[str]  # the command-line area (`embedstudio docs …`), for hints
    item_noun: ClassVar[str] = "items"
    extensions: ClassVar[Optional[frozenset[str]]] = None  # None: every file (the reader says what it skips)
    files_per_commit: ClassVar[int] = 16  # what a crash can lose at most while reading
    items_per_commit: ClassVar[int] = 64  # items per encode call and transaction in the embed step

    def __init__(self, name: Optional[str] = None, create: bool = True) -> None:
        name = name or self.default_name
        try:
            self.store = CollectionStore.open(self.kind, name, create=create)
        except CollectionDamaged as error:
            raise CollectionDamaged(str(error), hint=f"rebuild it from your files: embedstudio {self.cli_area} "
                                                     f"repair --collection '{name}'") from None
        self.name = self.store.folder.name
        self.folder = self.store.folder
        self.searcher = VectorSearcher(self.store)
        for legacy in self.folder.glob("search-int8.*.onnx"):  # int8 copies of version 0.1 (derived files)
            legacy.unlink(missing_ok=True)
        if self.store.get_meta("run_open"):
            self._recover_from_an_interrupted_run()

    @classmethod
    def open(cls, name: Optional[str] = None, create: bool = False) -> "Collection":
        """An existing collection (``create=False``: a missing one is a :class:`UserError`)."""
        return cls(name, create=create)

    @classmethod
    def delete_if_empty(cls, name: str) -> bool:
        """Remove the collection ``name`` when it holds no file (what a failed first run leaves)."""
        if name not in cls.names():
            return False
        with cls(name, create=False) as collection:
            try:
                with collection.writer():  # another run that is filling it now keeps it
                    if collection.store.count_files():
                        return False
                    shutil.rmtree(collection.folder, ignore_errors=True)
            except UserError:
                return False
        return True

    @classmethod
    def repair(cls, name: str, folders: Iterable[str | Path] = (), progress: Optional[ProgressCallback] = None,
               cancel: Optional[CancelToken] = None, **options) -> IndexReport:
        """Rebuild a damaged collection from the source files: the damaged folder is put aside (never deleted)
        and a new index of the same folders, excludes and settings is made (``folders`` when given)."""
        folder = collection_folder(cls.kind, name)
        saved = read_settings_copy(folder)
        roots = [str(f) for f in folders] or saved.get("roots", [])
        present = [root for root in roots if Path(root).exists()]
        if not present:
            raise UserError(f"the folders of '{name}' are not known or not available",
                            hint=f"name them: embedstudio {cls.cli_area} repair FOLDER… --collection '{name}'")
        if folder.exists():
            aside = folder.parent / DAMAGED_FOLDER / f"{folder.name}-{time.strftime('%Y%m%d-%H%M%S')}"
            aside.parent.mkdir(exist_ok=True)
            with CollectionLock(folder, name):  # not while another run writes to it
                folder.rename(aside)
        with cls(name, create=True) as fresh:
            fresh.store.restore_meta(saved.get("meta", {}))
            fresh.set_excludes(saved.get("excludes", []))
            return fresh.index(present, progress=progress, cancel=cancel, **options)

    def _recover_from_an_interrupted_run(self) -> None:
        """A run was killed (its flag is still set and nobody holds the lock): tidy what it left."""
        try:
            with self.writer():
                self.after_interrupted_run()
                self.store.set_meta("run_open", False)
        except UserError:
            pass  # a run is going on right now: it is not interrupted

    def after_interrupted_run(self) -> None:
        """Hook: remove what a killed run may leave (images: orphan thumbnails and temporary files).

        Runs while the base opens the collection: use only ``self.store`` and ``self.folder``."""

    @classmethod
    def names(cls) -> list[str]:
        """The collections of this kind in the data folder."""
        return list_collections(cls.kind)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Collection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- folders and excludes ------------------------------------------------------------------

    def roots(self) -> list[str]:
        return self.store.roots()

    def unavailable_roots(self) -> list[str]:
        """Roots that are absent now (an unplugged drive, an unmounted share): their items are kept."""
        return [root for root in self.roots() if not Path(root).exists()]

    def add_folders(self, folders: Iterable[str | Path]) -> list[str]:
        """Remember folders (or single files) to index; returns their resolved paths."""
        folders = list(folders)
        missing = [f for f in folders if not Path(f).expanduser().exists()]
        if missing:
            raise UserError(f"{missing[0]} does not exist", hint="pick an existing folder")
        return [self.store.add_root(folder) for folder in folders]

    def excludes(self) -> list[str]:
        return self.store.excludes()

    def set_excludes(self, patterns: Iterable[str]) -> None:
        """Glob patterns matched against relative paths, names and folder names (``*.log``, ``drafts``)."""
        self.store.set_excludes(patterns)

    def remove_folder(self, folder: str | Path) -> FolderRemoved:
        """Take a folder out now: its items and vectors leave the collection (the files stay on disk).

        A root is forgotten; a folder inside a root is excluded from later runs and its files forgotten.
        """
        target = resolved(folder)
        roots = self.roots()
        if target not in roots and not any(is_within(target, root) for root in roots):
            raise UserError(f"{target} is not a folder of this collection",
                            hint="status lists the collection's folders")
        with self.writer():
            if target in roots:
                removed = self.store.forget_root(target)
            else:
                self.store.set_excludes(self.excludes() + [target])
                removed = self.store.remove_files(p for p in self.store.file_paths() if is_within(p, target))
            self.after_removal()
        return FolderRemoved(self.name, target, removed, self.store.count_files(), self.roots())

    def writer(self) -> CollectionLock:
        """The collection's one-writer lock (index runs and removals; searches need none)."""
        return CollectionLock(self.folder, self.name)

    def after_removal(self) -> None:
        """Hook: tidy derived files after files left the collection (images prune thumbnails)."""

    # -- the index run -------------------------------------------------------------------------

    def index(
        self,
        folders: Iterable[str | Path] = (),
        progress: Optional[ProgressCallback] = None,
        cancel: Optional[CancelToken] = None,
        **options,
    ) -> IndexReport:
        """Add ``folders`` and bring the index up to date with every root (see the module docstring).

        ``options`` go to :meth:`configure` (documents: ``methods``, ``word_model``). Cancelling keeps
        everything committed so far and returns a report with ``cancelled=True``.
        """
        self.add_folders(folders)
        self.configure(**options)
        if not self.roots():
            raise UserError(f"collection '{self.name}' has no folders yet", hint="add a folder to index")
        report = IndexReport(self.name, self.kind, self.item_noun, self.roots())
        started = time.perf_counter()
        try:
            with self.writer():
                self.store.set_meta("run_open", True)  # still set on the next open: the run was killed
                plan = self._plan(report, progress, cancel)
                self._read(self._files_to_read(plan), plan.hashes, report, progress, cancel)
                self._embed_missing(report, progress, cancel)
                self.after_index(report, progress, cancel)
                self.store.set_meta("run_open", False)
        except Cancelled:
            report.cancelled = True
        return self._finish(report, started)

    def configure(self, **options) -> None:
        """Hook: apply index options before a run (documents: methods and word model)."""
        if options:
            raise TypeError(f"unexpected index options for {self.kind}: {sorted(options)}")

    def _plan(self, report: IndexReport, progress, cancel) -> Plan:
        emit(progress, Progress("scan", message=f"looking for files in {plural(len(report.roots), 'folder')}…"))
        paths, passed_over = [], []
        for path in walk_files(report.roots, self.extensions, self.excludes(), passed_over):
            paths.append(path)
            if len(paths) % 500 == 0:
                checkpoint(cancel)
        plan = self.store.plan(paths, retry=_unreadable)
        report.unavailable = self.unavailable_roots()
        passed = {path for path, _ in passed_over}
        plan.deleted = [p for p in plan.deleted
                        if p not in passed and not any(is_within(p, r) for r in report.unavailable)]
        self._record_passed_over(passed_over, report)
        report.files_seen = len(paths)
        report.files_new, report.files_changed = len(plan.new), len(plan.changed)
        report.files_unchanged = len(plan.unchanged) + len(plan.touched)
        report.files_removed = self.store.remove_files(plan.deleted)
        self.store.update_stats(plan.touched)
        return plan

    def _record_passed_over(self, passed_over: list[tuple[str, str]], report: IndexReport) -> None:
        """FIFOs, devices and links out of the folders: listed as skipped (in the report and the status)."""
        entries = [skipped_entry(_lstat(path), reason) for path, reason in passed_over]
        self.store.write_batch(entries, {})
        report.skipped += [SkippedFile(path, reason) for path, reason in passed_over]

    @staticmethod
    def _files_to_read(plan: Plan) -> list[FileStat]:
        return plan.to_process

    def _read(self, todo: list[FileStat], hashes: dict[str, str], report: IndexReport, progress, cancel) -> None:
        if not todo:
            return  # nothing new: no model is even loaded
        meter = RateMeter(len(todo))
        batch: list[ReadFile] = []
        try:
            for done, (entry, vectors) in enumerate(self.read_files(todo, hashes, cancel), start=1):
                batch.append((entry, vectors))
                self._count_read(entry, vectors, report)
                if len(batch) >= self.files_per_commit:
                    self._commit(batch)
                emit(progress, Progress("read", done, len(todo), "files", meter.rate(done), meter.eta(done),
                                        message=display_text(Path(entry.path).name),
                                        extra={self.item_noun: report.items_added, "skipped": len(report.skipped)}))
        finally:
            self._commit(batch)  # what was read before a cancel or an error is kept

    @staticmethod
    def _count_read(entry: FileEntry, vectors: dict[str, np.ndarray], report: IndexReport) -> None:
        if entry.status == "skipped":
            report.skipped.append(SkippedFile(entry.path, entry.reason))
        report.items_added += len(entry.payloads)
        for method, matrix in vectors.items():
            report.embedded[method] = report.embedded.get(method, 0) + len(matrix)

    def _commit(self, batch: list[ReadFile]) -> None:
        """Write a batch of files, their items and the vectors computed while reading, in one transaction."""
        if not batch:
            return
        methods = {method for _, vectors in batch for method in vectors}
        stacked = {m: np.concatenate([v[m] for _, v in batch if m in v]) for m in methods}
        self.store.write_batch([entry for entry, _ in batch], stacked)
        batch.clear()

    def read_files(self, todo: list[FileStat], hashes: dict[str, str], cancel: Optional[CancelToken]
                   ) -> Iterator[ReadFile]:
        """Each file as an entry (items or a skip reason) and the vectors made while reading it.

        The default reads files one by one with :meth:`read_file`, each isolated: any exception becomes a
        skipped entry. A kind that embeds while decoding (images) overrides this."""
        for stat in todo:
            checkpoint(cancel)
            try:
                entry = self.read_file(stat, hashes.get(stat.path))
            except Exception as error:  # noqa: BLE001 - one bad file never stops a run
                entry = skipped_entry(stat, f"could not be read ({type(error).__name__}: {error})"[:300])
            yield entry, {}

    def read_file(self, stat: FileStat, sha256: Optional[str]) -> FileEntry:
        """One file as a store entry: its items' payloads, or status 'skipped' with the reason."""
        raise NotImplementedError

    def pending_methods(self) -> list[str]:
        """Methods whose vectors the embed step fills after reading (none for kinds that embed while reading)."""
        return []

    def encode_items(self, method: str, items: Sequence[Item], cancel: Optional[CancelToken]) -> np.ndarray:
        """Unit vectors [len(items), dim] of ``items`` by ``method`` (for :meth:`pending_methods`)."""
        raise NotImplementedError

    def before_embedding(self) -> None:
        """Hook: refresh what the encoders depend on before the embed step (documents: TF-IDF weights)."""

    def configured_methods(self) -> list[str]:
        """The methods a status lists (default: the vector sets stored)."""
        return self.store.vector_methods()

    def _embed_missing(self, report: IndexReport, progress, cancel) -> None:
        """Give every item a vector for every pending method, a batch per transaction."""
        self.before_embedding()
        pending = {m: self.store.item_ids_without_vectors(m) for m in self.pending_methods()}
        total = sum(len(ids) for ids in pending.values())
        meter, done = RateMeter(total), 0
        for method, ids in pending.items():
            for start in range(0, len(ids), self.items_per_commit):
                checkpoint(cancel)
                chunk = ids[start:start + self.items_per_commit]
                self.store.add_vectors(method, chunk, self.encode_items(method, self.store.items(chunk), cancel))
                done += len(chunk)
                report.embedded[method] = report.embedded.get(method, 0) + len(chunk)
                emit(progress, Progress("embed", done, total, self.item_noun, meter.rate(done), meter.eta(done),
                                        message=f"embedding with {method}", extra={"method": method}))

    def after_index(self, report: IndexReport, progress, cancel) -> None:
        """Compact sets with many tombstones and prepare the int8 first pass of large ones.

        Kinds extend this with their own derived files (call ``super()`` first)."""
        for method in self.store.vector_methods():
            checkpoint(cancel)
            self.store.compact(method)
            emit(progress, Progress("search", message="preparing fast search…", extra={"method": method}))
            self.searcher.prepare(method)

    def _finish(self, report: IndexReport, started: float) -> IndexReport:
        report.seconds = time.perf_counter() - started
        embedded = max(report.embedded.values(), default=0)
        report.caught_up = max(0, embedded - report.items_added)
        report.items_per_s = embedded / report.seconds if report.seconds > 0 else 0.0
        report.items = self.store.count_items()
        self.store.set_meta("last_indexed", time.time())
        return report

    # -- status and search ---------------------------------------------------------------------

    def status(self) -> CollectionStatus:
        """Folders, counts, skipped files and vector sets (SQL counts only: cheap at any size)."""
        items = self.store.count_items()
        sets = self.store.vector_sets()
        live = {s.method: s.live_rows for s in sets}
        methods = self.configured_methods()
        return CollectionStatus(
            name=self.name, kind=self.kind, item_noun=self.item_noun, folder=str(self.folder), roots=self.roots(),
            unavailable=self.unavailable_roots(), excludes=self.excludes(), files=self.store.count_files("ok"),
            items=items, skipped=[SkippedFile(p, r) for p, r in self.store.skipped_files()], methods=methods,
            vector_sets=[s.to_dict() for s in sets], pending={m: items - live.get(m, 0) for m in self.pending_methods()},
            last_indexed=self.store.get_meta("last_indexed"), word_model=self.store.get_meta("word_model"))

    def count(self) -> int:
        """Items in the collection."""
        return self.store.count_items()

    def nearest(self, method: str, vector: np.ndarray, k: int, allowed: Optional[np.ndarray] = None) -> Ranked:
        """Exact cosine top-k ``[(item id, score)]`` (int8 first pass for large sets; see ``search.py``)."""
        if method not in self.store.vector_methods():
            return []
        return self.searcher.nearest(method, vector, k, allowed)


def skipped_entry(stat: FileStat, reason: str) -> FileEntry:
    """The store entry of a file left out, with its reason."""
    return FileEntry(stat.path, stat.size, stat.mtime, status="skipped", reason=reason)


def _lstat(path: str) -> FileStat:
    try:
        info = os.lstat(path)
        return FileStat(path, info.st_size, info.st_mtime)
    except OSError:
        return FileStat(path, 0, 0.0)


def _unreadable(record) -> bool:
    """Known files to read again although unchanged: skipped as unreadable (permissions may be fixed), or
    for want of OCR once its models are there."""
    if record.status != "skipped":
        return False
    return record.reason.startswith("unreadable") or (record.reason == ocr.MISSING_REASON and ocr.available())
