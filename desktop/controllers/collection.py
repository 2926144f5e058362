"""The state a collection tab keeps, without Qt: which collection is selected, the open collection, and where
user folders go.

The selected name is persisted as ``<tab>/collection`` in the settings (``QSettings`` or any object with
``value(key, default)`` / ``setValue(key, value)``). The collection itself is opened on first use and closed
when another one is selected; engine calls take it with :meth:`CollectionController.using` (normally on a
worker thread), so a switch during a call closes the previous collection only once that call is over.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Iterator, Optional, Protocol, Sequence

from embedengine.collections.base import Collection
from embedengine.collections.report import CollectionStatus, FolderRemoved, IndexReport
from embedengine.errors import UserError
from embedengine.store import check_name

NO_FOLDERS_HINT = "drop a folder on this tab or press Add folder…"


class Settings(Protocol):
    """What the controller needs of ``QSettings`` (tests pass a dict-backed fake)."""

    def value(self, key: str, default: Any = None) -> Any: ...

    def setValue(self, key: str, value: Any) -> None: ...  # noqa: N802 (QSettings naming)


@dataclass
class Command:
    """What a typed query (and the payload of its message) asks for: an ``action`` and its arguments."""

    action: str
    args: dict = field(default_factory=dict)


def error_command(message: str, hint: str = "") -> Command:
    """A query that cannot be run: the tab shows ``message`` and ``hint`` as an error card."""
    return Command("error", {"message": message, "hint": hint})


class CollectionController:
    """Selection, lazy opening and closing of one kind's collections for a tab.

    Class attributes a kind's controller sets:
    ``tab`` (settings prefix), ``first_name`` (selected when nothing exists yet; default: the kind's
    default), ``protected`` (collections user folders never go into), ``create_on_open`` (whether
    opening a missing collection creates it), ``needs_folders`` (engine methods that refuse a
    collection without folders, with a hint to add one).
    """

    tab: ClassVar[str] = ""
    first_name: ClassVar[Optional[str]] = None
    protected: ClassVar[frozenset[str]] = frozenset()
    create_on_open: ClassVar[bool] = True
    needs_folders: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, kind: type[Collection], settings: Settings) -> None:
        self.kind = kind
        self.settings = settings
        self._lock = threading.RLock()
        self._open: dict[str, Collection] = {}  # the selected collection (once used) and those calls still use
        self._users: dict[str, int] = {}  # name -> engine calls using it now
        self._closing = False  # close() was called: close the selected one too once its calls end
        self._selected = self._first_selection()

    @property
    def settings_key(self) -> str:
        return f"{self.tab or self.kind.kind}/collection"

    def _first_selection(self) -> str:
        existing = self.kind.names()
        saved = str(self.settings.value(self.settings_key, "") or "")
        if saved in existing:
            return saved
        return existing[0] if existing else (self.first_name or self.kind.default_name)

    # -- selection -----------------------------------------------------------------------------

    @property
    def selected(self) -> str:
        """The selected collection's name."""
        return self._selected

    def names(self) -> list[str]:
        """The collections of this kind on disk, plus the selected one (which may not exist yet)."""
        names = self.kind.names()
        return names if self._selected in names else sorted(names + [self._selected])

    def select(self, name: str) -> bool:
        """Select ``name`` (a valid collection name, or :class:`UserError`); closes the previous collection.

        Returns whether the selection changed."""
        name = check_name(name)
        with self._lock:
            if name == self._selected:
                return False
            previous, self._selected = self._selected, name
            self._close_if_unused(previous)
        self.settings.setValue(self.settings_key, name)
        return True

    def folder_target(self, name: Optional[str] = None) -> str:
        """The collection user folders go into: ``name`` (default: the selected one), unless it is protected
        (images: the demo), then the kind's default collection."""
        name = name or self._selected
        return self.kind.default_name if name in self.protected else name

    def index_target(self, name: Optional[str], folders: Sequence[str]) -> str:
        """The collection an index run goes to: new ``folders`` go where :meth:`folder_target` says; a re-index
        (no folders) runs on ``name`` itself (default: the selected one), the demo included."""
        return self.folder_target(name) if folders else (name or self._selected)

    # -- the open collection -------------------------------------------------------------------

    def current(self, create: Optional[bool] = None) -> Collection:
        """The selected collection, opened on first use (a missing one is created when ``create``, which
        defaults to ``create_on_open``; otherwise :class:`UserError`)."""
        with self._lock:
            self._closing = False
            return self._opened(self._selected, create)

    def _opened(self, name: str, create: Optional[bool]) -> Collection:
        """``name`` open, sharing the connection calls already use (call with the lock held).

        One connection per collection: SQLite keeps the descriptor of a connection closed while another one
        of this process has the same file open (WAL mode holds a lock), so a second one would linger."""
        if name not in self._open:
            self._open[name] = self.kind.open(name, create=self.create_on_open if create is None else create)
        return self._open[name]

    @contextmanager
    def using(self, name: Optional[str] = None, create: Optional[bool] = None) -> Iterator[Collection]:
        """The selected collection (or the one named ``name``) for one engine call, on any thread.

        The selected one stays open afterwards; any other is closed when its last call ends, as is a
        collection deselected while a call uses it."""
        with self._lock:
            name = name or self._selected
            collection = self._opened(name, create)
            self._users[name] = self._users.get(name, 0) + 1
        try:
            yield collection
        finally:
            with self._lock:
                self._users[name] -= 1
                self._close_if_unused(name)

    def _close_if_unused(self, name: str) -> None:
        """Close ``name`` unless it is selected (and the tab open) or calls still use it (lock held)."""
        keep = name == self._selected and not self._closing
        if keep or self._users.get(name) or name not in self._open:
            return
        self._users.pop(name, None)
        self._open.pop(name).close()

    def close(self) -> None:
        """Close the open collections (the tab is closing), those in use once their calls end; a later
        call opens the selected one again."""
        with self._lock:
            self._closing = True
            for name in list(self._open):
                self._close_if_unused(name)

    # -- engine calls (for a worker thread) ----------------------------------------------------

    def call(self, method: str, *args: Any, collection: Optional[str] = None, **kwargs: Any) -> Any:
        """``method(*args, **kwargs)`` of the selected collection (or ``collection``)."""
        with self.using(collection) as opened:
            if method in self.needs_folders and not opened.roots():
                raise UserError(f"collection '{opened.name}' has no folders yet", hint=NO_FOLDERS_HINT)
            return getattr(opened, method)(*args, **kwargs)

    def index(self, folders: Iterable[str] = (), collection: Optional[str] = None, progress=None, cancel=None,
              **options: Any) -> IndexReport:
        """Add ``folders`` to the collection (created if missing) and bring its index up to date."""
        with self.using(collection, create=True) as opened:
            return opened.index(list(folders), progress=progress, cancel=cancel, **options)

    def status(self, collection: Optional[str] = None) -> CollectionStatus:
        return self.call("status", collection=collection)

    def remove_folder(self, folder: str, collection: Optional[str] = None) -> FolderRemoved:
        return self.call("remove_folder", folder, collection=collection)

    def set_excludes(self, patterns: Iterable[str], collection: Optional[str] = None) -> list[str]:
        """Save the exclude patterns (the next index run applies them; a single small write, fine on the UI
        thread, so a Re-index pressed right after sees them); returns them as saved."""
        with self.using(collection, create=True) as opened:
            opened.set_excludes(patterns)
            return opened.excludes()

    # -- the commands every collection tab shares ----------------------------------------------

    def parse_payload(self, payload: Any) -> Optional[Command]:
        """The command a message's payload carries (a drop, a Remove button), or None.

        ``{"index": [folders], "collection": name}`` and ``{"remove": folder, "collection": name}``."""
        if not isinstance(payload, dict):
            return None
        name = payload.get("collection") or None
        if "index" in payload:
            folders = [str(f) for f in payload["index"]]
            return Command("index", {"folders": folders, "collection": self.index_target(name, folders)})
        if payload.get("remove"):
            return Command("remove", {"folder": str(payload["remove"]), "collection": name})
        return None
