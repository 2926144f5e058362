"""Duplicate groups over a collection's vectors and file hashes, which copy to keep, and the system trash.

* :func:`duplicate_groups`: rows linked by cosine similarity ≥ a threshold (resized, recompressed, lightly
  cropped copies) or by the same sha256 (byte-identical files, whatever the threshold), as connected groups.
* :func:`keep_suggestions`: the member to keep when keeping the largest (most pixels, then most bytes) or
  the newest (latest modification time).
* :func:`move_to_trash` / :func:`restore_from_trash`: files go to the system trash with ``send2trash``
  (never a permanent delete); on Linux and the BSDs (the freedesktop.org trash: ``…/Trash/files`` plus
  ``info/<name>.trashinfo`` holding the original path) they can be moved back.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence
from urllib.parse import unquote

import numpy as np

from embedengine.results import Result

SIMILARITY_BLOCK = 16_000_000  # similarities computed at once (about 64 MB of float32)


@dataclass
class RowGroup:
    """One group of rows: by best link (its closest match's similarity, 1.0 for a byte-identical copy)."""

    rows: list[int]
    best: list[float]
    exact: list[bool]  # the row has a byte-identical copy in the group


def duplicate_groups(vectors: np.ndarray, hashes: Sequence[Optional[str]], threshold: float) -> list[RowGroup]:
    """Connected groups of rows (L2-normalised) linked by cosine ≥ ``threshold`` or by equal ``hashes``.

    Single rows are left out; largest groups first, then by best link. Works in blocks of rows so memory
    stays near 64 MB of similarities whatever N is.
    """
    n = vectors.shape[0]
    parent = np.arange(n)
    best = np.zeros(n, dtype=np.float32)
    for i, j, similarity in _near_links(vectors, threshold):
        best[i] = max(best[i], similarity)
        _union(parent, i, j)
    exact = np.zeros(n, dtype=bool)
    for rows in _same_hash(hashes):
        exact[rows] = True
        best[rows] = 1.0
        for row in rows[1:]:
            _union(parent, rows[0], row)
    return _collect(parent, best, exact)


def _near_links(vectors: np.ndarray, threshold: float):
    """``(i, j, similarity)`` for every ordered pair i ≠ j with similarity ≥ ``threshold``."""
    n = vectors.shape[0]
    block = max(16, min(4096, SIMILARITY_BLOCK // max(n, 1)))
    for start in range(0, n, block):
        sims = vectors[start:start + block] @ vectors.T
        np.fill_diagonal(sims[:, start:start + block], -1.0)
        rows, cols = np.nonzero(sims >= threshold)
        yield from zip((rows + start).tolist(), cols.tolist(), sims[rows, cols].tolist())


def _same_hash(hashes: Sequence[Optional[str]]) -> list[list[int]]:
    """Rows sharing a (known) hash, for each hash held by more than one row."""
    by_hash: dict[str, list[int]] = {}
    for row, digest in enumerate(hashes):
        if digest:
            by_hash.setdefault(digest, []).append(row)
    return [rows for rows in by_hash.values() if len(rows) > 1]


def _find(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = int(parent[i])
    return i


def _union(parent: np.ndarray, i: int, j: int) -> None:
    a, b = _find(parent, i), _find(parent, j)
    if a != b:
        parent[max(a, b)] = min(a, b)


def _collect(parent: np.ndarray, best: np.ndarray, exact: np.ndarray) -> list[RowGroup]:
    members: dict[int, list[int]] = {}
    for i in np.nonzero(best > 0)[0].tolist():
        members.setdefault(_find(parent, i), []).append(i)
    groups = []
    for rows in members.values():
        rows.sort(key=lambda r: -best[r])
        groups.append(RowGroup(rows, [float(best[r]) for r in rows], [bool(exact[r]) for r in rows]))
    groups.sort(key=lambda g: (-len(g.rows), -g.best[0]))
    return groups


# ---------------------------------------------------------------------------------------------
# Which copy to keep
# ---------------------------------------------------------------------------------------------

@dataclass
class FileFacts:
    """What the keep suggestions look at: pixels, bytes and modification time."""

    width: int
    height: int
    size: int
    mtime: float


def largest(members: Sequence[FileFacts]) -> int:
    """Index of the member with the most pixels (then the most bytes; among equals the oldest, usually the
    original of its copies)."""
    return max(range(len(members)), key=lambda i: (members[i].width * members[i].height, members[i].size,
                                                    -members[i].mtime))


def newest(members: Sequence[FileFacts]) -> int:
    """Index of the most recently modified member (then the largest)."""
    return max(range(len(members)), key=lambda i: (members[i].mtime, members[i].width * members[i].height,
                                                    members[i].size))


def keep_suggestions(members: Sequence[FileFacts]) -> dict[str, int]:
    """``{"largest": index, "newest": index}`` of the member to keep under each rule."""
    return {"largest": largest(members), "newest": newest(members)}


# ---------------------------------------------------------------------------------------------
# The system trash
# ---------------------------------------------------------------------------------------------

@dataclass
class TrashedFile(Result):
    """A file moved to the trash: where it was and, where known, where it is now (for Undo)."""

    original: str
    trashed: str = ""  # the file inside the trash ("" when the platform does not say: no Undo)
    info: str = ""  # its .trashinfo record


@dataclass
class TrashReport(Result):
    collection: str
    trashed: list[TrashedFile]
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    files_left: int = 0  # files the collection still lists

    @property
    def undoable(self) -> bool:
        return bool(self.trashed) and all(t.trashed for t in self.trashed)


@dataclass
class RestoreReport(Result):
    collection: str
    restored: list[str]
    failed: list[tuple[str, str]] = field(default_factory=list)
    files_left: int = 0


def move_to_trash(paths: Sequence[str | Path]) -> tuple[list[TrashedFile], list[tuple[str, str]]]:
    """Move files to the system trash; returns ``(trashed, failed as (path, reason))``. Never deletes."""
    from send2trash import send2trash

    trashed, failed = [], []
    for path in map(str, paths):
        try:
            send2trash(path)
        except Exception as error:  # OSError, or send2trash's own errors on some platforms
            failed.append((path, _reason(error)))
            continue
        trashed.append(_locate(path))
    return trashed, failed


def restore_from_trash(trashed: Sequence[TrashedFile]) -> tuple[list[str], list[tuple[str, str]]]:
    """Move trashed files back to where they were; returns ``(restored paths, failed as (path, reason))``."""
    restored, failed = [], []
    for record in trashed:
        reason = _restore_one(record)
        if reason:
            failed.append((record.original, reason))
        else:
            restored.append(record.original)
    return restored, failed


def _restore_one(record: TrashedFile) -> str:
    """Move one file back; returns why it could not be ("" when it was)."""
    if not record.trashed or not Path(record.trashed).exists():
        return "not found in the trash (emptied, or restored already?)"
    if os.path.lexists(record.original):
        return "a file of that name is there again"
    try:
        Path(record.original).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(record.trashed, record.original)
    except OSError as error:
        return _reason(error)
    if record.info:
        Path(record.info).unlink(missing_ok=True)
    return ""


def _locate(original: str) -> TrashedFile:
    """Where a just-trashed file went: the newest freedesktop.org trash record naming its original path."""
    if sys.platform in ("darwin", "win32"):
        return TrashedFile(original)
    found = []
    for trash, topdir in trash_folders(original):
        for info in (trash / "info").glob("*.trashinfo"):
            if _info_path(info, topdir) == original:
                files = trash / "files" / info.name[: -len(".trashinfo")]
                if os.path.lexists(files):
                    found.append((info.stat().st_mtime_ns, files, info))
    if not found:
        return TrashedFile(original)
    _, files, info = max(found)
    return TrashedFile(original, str(files), str(info))


def trash_folders(path: str | Path) -> list[tuple[Path, Path]]:
    """The freedesktop.org trash folders a file can go to, with the folder relative paths start from:
    the home trash (``$XDG_DATA_HOME/Trash``) and the trash of the file's volume (``.Trash/<uid>``,
    ``.Trash-<uid>``)."""
    data_home = _data_home()
    folders = [(data_home / "Trash", data_home)]
    volume = _mount_point(Path(path).parent)
    uid = str(os.getuid())
    folders += [(volume / ".Trash" / uid, volume), (volume / f".Trash-{uid}", volume)]
    return [(trash, topdir) for trash, topdir in folders if (trash / "info").is_dir()]


def _data_home() -> Path:
    """The home trash's parent, as send2trash's freedesktop implementation fixed it when it was imported."""
    try:
        from send2trash import plat_other

        return Path(os.fsdecode(plat_other.XDG_DATA_HOME))
    except ImportError:  # not a freedesktop platform
        return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def _mount_point(path: Path) -> Path:
    path = path.resolve()
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def _info_path(info: Path, topdir: Path) -> str:
    """The original path a .trashinfo file records (relative ones are relative to ``topdir``)."""
    try:
        lines = info.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except OSError:
        return ""
    for line in lines:
        if line.startswith("Path="):
            recorded = unquote(line[len("Path="):], errors="surrogateescape")
            return os.path.normpath(os.path.join(topdir, recorded))
    return ""


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
