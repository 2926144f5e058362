"""An approximate nearest-neighbour index (HNSW, by usearch) of one vector set, for large collections.

The graph holds int8 copies of the set's rows; the searcher re-scores its candidates exactly from the
stored rows, so scores stay exact cosines. Keys are the set's row numbers: rows are append-only within a
generation, so the index follows added and changed files by adding the new rows (removed and replaced
items leave tombstone rows, which the searcher's live mask drops); a compaction (a new generation) gets a
new index.

File: ``search-ann/<method>.<generation>.<rows>.v<FORMAT>.usearch``, memory-mapped when opened (usearch's
*view*: pages are read as searches touch them). Each update writes a new file (a temporary file, then a
rename), so a ``kill -9`` during an update leaves the old file, and a process still searching the old
mapping is never disturbed (nor blocked, on Windows, where a mapped file cannot be replaced); the newest
file is used and older ones are deleted. Opening checks it (readable, its dimension, and that
sampled rows match the stored vectors); a missing or damaged index, or one of an older format, is
(re)built, with a message.

usearch was chosen from measurements on this machine (benchmarks/RESULTS.md, "Scale"): a 2.3 MB wheel
(plus numkong's kernels), the only candidate that serves an index from disk (view) so it opens in
milliseconds at any size, incremental adds and removes, and int8 storage (a quarter of float32's size).
"""

from __future__ import annotations

import functools
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from embedengine.store import VectorMatrix

FORMAT = 1  # bump when the file's meaning changes: older files are rebuilt
FOLDER = "search-ann"
CONNECTIVITY = 16  # HNSW M
EXPANSION_ADD = 128  # efConstruction
EXPANSION_SEARCH = 400  # ef (at least the candidates asked for)
STORAGE = "i8"  # the graph's copy of the rows; candidates are re-scored from the stored float16 rows
ADD_CHUNK = 16_384  # rows converted to float32 at a time while adding (bounded memory)
SAMPLE_ROWS = 8  # rows compared with the stored vectors when an index is opened
SAMPLE_TOLERANCE = 0.02  # largest difference of a component (int8 steps are 1/127)
STALE_TEMPORARY_S = 3600.0


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Whether the ANN library is installed (without it, large sets are searched as before: int8 or exact)."""
    try:
        import usearch.index  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class AnnIndex:
    """An opened (memory-mapped) index of the rows ``[0, rows)`` of one generation of a vector set."""

    path: Path
    generation: int
    rows: int
    index: object  # usearch.index.Index, viewed from ``path``

    def candidates(self, query: np.ndarray, count: int) -> np.ndarray:
        """Row numbers of about the ``count`` nearest indexed rows to a unit ``query`` (unordered use)."""
        if count <= 0 or self.rows == 0:
            return np.zeros(0, dtype=np.int64)
        matches = self.index.search(query, min(count, self.rows), threads=1)
        return np.asarray(matches.keys, dtype=np.int64)


def index_path(folder: Path, method: str, generation: int, rows: int) -> Path:
    return Path(folder) / FOLDER / f"{_safe(method)}.{generation}.{rows}.v{FORMAT}.usearch"


def saved_files(folder: Path, method: str, generation: int) -> dict[Path, tuple[int, int]]:
    """This set generation's index files: path -> (rows, format version)."""
    pattern = re.compile(rf"^{re.escape(_safe(method))}\.{generation}\.(\d+)\.v(\d+)\.usearch$")
    found = {}
    for path in (Path(folder) / FOLDER).glob(f"{_safe(method)}.{generation}.*.usearch"):
        match = pattern.match(path.name)
        if match:
            found[path] = (int(match.group(1)), int(match.group(2)))
    return found


def newest_rows(folder: Path, method: str, generation: int) -> int:
    """Rows of the newest saved index of the current format (0 when there is none)."""
    return max((rows for rows, version in saved_files(folder, method, generation).values() if version == FORMAT),
               default=0)


def open_index(folder: Path, matrix: VectorMatrix) -> tuple[Optional[AnnIndex], str]:
    """The set's newest index, memory-mapped, or ``(None, why)``: 'missing', 'from an older version' or
    'damaged (…)'."""
    files = saved_files(folder, matrix.method, matrix.generation)
    current = {path: rows for path, (rows, version) in files.items() if version == FORMAT}
    if not current:
        return None, "from an older version" if files else "missing"
    path = max(current, key=current.get)
    from usearch.index import Index
    try:
        index = Index.restore(str(path), view=True)
        if index is None:
            raise ValueError("not an index")
        problem = f"{len(index):,} rows, its name says {current[path]:,}" if len(index) != current[path] else ""
        problem = problem or _mismatch(index, matrix)
    except Exception as error:  # noqa: BLE001 - any unreadable file is damaged (a derived file: rebuilt)
        problem = f"{type(error).__name__}: {error}"
    if problem:
        return None, f"damaged ({problem})"
    index.expansion_search = EXPANSION_SEARCH
    return AnnIndex(path, matrix.generation, current[path], index), ""


def _mismatch(index, matrix: VectorMatrix) -> str:
    """Why ``index`` does not belong to ``matrix`` ('' when it does): its dimension or sampled rows differ."""
    if index.ndim != matrix.stored.shape[1]:
        return f"{index.ndim} dimensions, the set has {matrix.stored.shape[1]}"
    shared = min(len(index), matrix.rows)
    if shared == 0:
        return ""
    rows = np.unique(np.linspace(0, shared - 1, SAMPLE_ROWS).astype(np.int64))
    if not all(index.contains(int(r)) for r in rows):
        return "rows are missing"
    kept = np.stack([np.asarray(v, dtype=np.float32).ravel() for v in index.get(rows, dtype="f32")])
    if np.abs(kept - matrix.rows_as_float32(rows)).max() > SAMPLE_TOLERANCE:
        return "its vectors are not the set's"
    return ""


def build_index(folder: Path, matrix: VectorMatrix, start: Optional[AnnIndex] = None,
                progress: Optional[Callable[[int, int], None]] = None) -> AnnIndex:
    """Add the rows past ``start`` (all rows when None) and save: returns the updated index, memory-mapped.

    The index is loaded into memory to add to it (int8: about a quarter of the set's float32 size) and rows
    are converted ``ADD_CHUNK`` at a time; the saved file replaces the old one in one rename."""
    from usearch.index import Index
    path = index_path(folder, matrix.method, matrix.generation, matrix.rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    if start is not None:
        index = Index.restore(str(start.path), view=False)
    else:
        index = Index(ndim=matrix.stored.shape[1], metric="ip", dtype=STORAGE, connectivity=CONNECTIVITY,
                      expansion_add=EXPANSION_ADD, expansion_search=EXPANSION_SEARCH)
    first = len(index)
    for begin in range(first, matrix.rows, ADD_CHUNK):
        end = min(begin + ADD_CHUNK, matrix.rows)
        rows = np.asarray(matrix.stored[begin:end], dtype=np.float32)
        index.add(np.arange(begin, end), rows, threads=os.cpu_count() or 1)
        if progress:
            progress(end - first, matrix.rows - first)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    index.save(str(temporary))
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    del index
    opened, problem = open_index(folder, matrix)
    if opened is None:
        raise RuntimeError(f"the search index just written is {problem}")
    return opened


def drop_stale(folder: Path, method: str, keep: Path) -> None:
    """Remove this set's index files but ``keep`` (older updates, generations and formats), and temporary
    files that killed writers left (an hour old: a younger one may be another process's update in progress).
    A file still mapped elsewhere (Windows refuses) is removed next time."""
    for path in (Path(folder) / FOLDER).glob(f"{_safe(method)}.*"):
        if path.name != keep.name and not (path.name.endswith(".tmp") and _age_s(path) < STALE_TEMPORARY_S):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def _safe(method: str) -> str:
    return re.sub(r"[^\w.-]", "_", method)
