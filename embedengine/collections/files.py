"""Finding a collection's files on disk: walking roots, excludes, stat and content hashes.

Excludes are glob patterns matched against a file's path relative to its root, its name and each of
its folder names (``*.log``, ``drafts``); an absolute path excludes that folder exactly (a sub-folder
taken out of a collection).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

from embedengine.results import Result

SKIPPED_DIR_NAMES = frozenset({
    ".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache",
    ".pytest_cache", ".idea", ".vscode", "site-packages", ".cache", ".Trash",
})


@dataclass
class FileStat(Result):
    path: str
    size: int
    mtime: float


def resolved(path: str | Path) -> str:
    """The absolute, resolved form of a path as the collection stores it."""
    return str(Path(path).expanduser().resolve())


def is_within(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or lies under it (both resolved, absolute)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def is_excluded(relative: str, patterns: Sequence[str], absolute: Optional[str] = None) -> bool:
    """True when a glob matches the relative path, its name or any of its folder names, or when an
    absolute pattern is ``absolute`` or one of its parents."""
    relative = relative.replace(os.sep, "/")
    parts = relative.split("/")
    for pattern in patterns:
        pattern = pattern.strip()
        if os.path.isabs(pattern):
            if absolute is not None and is_within(absolute, pattern.rstrip(os.sep) or os.sep):
                return True
            continue
        pattern = pattern.rstrip("/")
        if pattern and (fnmatch.fnmatch(relative, pattern) or any(fnmatch.fnmatch(p, pattern) for p in parts)):
            return True
    return False


Skipped = list[tuple[str, str]]  # (path, reason) of files seen but not to be read


def walk_files(
    roots: Iterable[str | Path],
    extensions: Optional[Iterable[str]] = None,
    excludes: Sequence[str] = (),
    skipped: Optional[Skipped] = None,
) -> Iterator[Path]:
    """Regular files under ``roots`` (recursive, sorted, each once), skipping hidden and tool folders
    and ``excludes``. ``extensions`` (lower-case, with dot) restricts the files; None yields every file.
    A root that is itself a file is yielded as is; a root that is absent yields nothing.

    Never yielded, and added to ``skipped`` with the reason: FIFOs, sockets and devices (reading one
    could block forever), broken links, and links to files outside every root (not followed)."""
    roots = [Path(root).expanduser() for root in roots]
    inside = [str(root.resolve()) for root in roots]
    wanted = {e.lower() for e in extensions} if extensions is not None else None
    seen: set[str] = set()
    for root in roots:
        for path in _walk_root(root, wanted, excludes):
            reason = unreadable_reason(path, inside)
            if reason is not None:
                if skipped is not None:
                    skipped.append((str(path), reason))
            elif str(path) not in seen:
                seen.add(str(path))
                yield path


def unreadable_reason(path: Path, roots: Sequence[str]) -> Optional[str]:
    """Why a file found while walking must not be read, or None for a regular file inside ``roots``."""
    try:
        mode = path.stat().st_mode  # follows links
    except OSError:
        return "broken link" if path.is_symlink() else "vanished while looking for files"
    if not stat.S_ISREG(mode):
        return f"not a regular file ({_file_type(mode)})"
    if path.is_symlink() and not any(is_within(str(path.resolve()), root) for root in roots):
        return "link to a file outside the collection's folders (not followed)"
    return None


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "special file"


def _walk_root(root: Path, wanted: Optional[set[str]], excludes: Sequence[str]) -> Iterator[Path]:
    if not root.is_dir():
        if root.exists() or root.is_symlink():
            yield root
        return
    for folder, dirnames, filenames in os.walk(root):
        relative_folder = os.path.relpath(folder, root)
        dirnames[:] = sorted(d for d in dirnames if not _skip_dir(folder, d, relative_folder, excludes))
        for name in sorted(filenames):
            relative = os.path.normpath(os.path.join(relative_folder, name))
            if name.startswith(".") or is_excluded(relative, excludes, os.path.join(folder, name)):
                continue
            if wanted is not None and Path(name).suffix.lower() not in wanted:
                continue
            yield Path(folder) / name


def _skip_dir(folder: str, name: str, relative_folder: str, excludes: Sequence[str]) -> bool:
    if name.startswith(".") or name in SKIPPED_DIR_NAMES:
        return True
    return is_excluded(os.path.normpath(os.path.join(relative_folder, name)), excludes, os.path.join(folder, name))


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def hash_or_none(path: str | Path) -> Optional[str]:
    """The content hash, or None when the file cannot be read."""
    try:
        return file_sha256(path)
    except OSError:
        return None


def stat_file(path: str | Path) -> FileStat:
    info = os.stat(path)
    return FileStat(str(path), info.st_size, info.st_mtime)
