"""Qt-free controllers: each collection tab's state (the selected collection, the open collection) and the
grammar of its commands, so tab logic is tested without a display. No PySide6 here (tests/test_layers.py).

- ``collection`` — :class:`CollectionController` (selection, lazy opening, closing on switch, leases for
  worker threads, where user folders go) and :class:`Command`
- ``documents`` / ``images`` — each tab's controller with its ``parse(text, payload) -> Command``
"""

from .collection import CollectionController, Command, Settings

__all__ = ["CollectionController", "Command", "Settings"]
