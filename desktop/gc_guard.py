"""Python's cyclic garbage collector, run on the GUI thread only.

Left automatic, a collection starts in whichever thread happens to allocate: a worker thread can
then destroy leftover Qt widgets (pyqtgraph keeps many in reference cycles), and PySide waits for
the GIL inside Qt's locks while the GUI thread waits for those locks: the app freezes. Seen in the
test suite, a worker reading an analogy file collected an old menu while the GUI thread resized a
plot. The guard turns automatic collection off and runs the same generational collections from a
GUI-thread timer.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 250


class GarbageCollectionGuard(QObject):
    """Collect garbage from a GUI-thread timer, by the interpreter's own generation thresholds."""

    def __init__(self, parent: QObject, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect)
        self._timer.start(interval_ms)
        gc.disable()

    def collect(self) -> int:
        """Run the generation automatic collection would have run by now (if any); objects freed."""
        generation = due_generation(gc.get_count(), gc.get_threshold())
        return gc.collect(generation) if generation is not None else 0

    def uninstall(self) -> None:
        """Back to automatic collection."""
        self._timer.stop()
        gc.enable()


def due_generation(counts: tuple[int, int, int], thresholds: tuple[int, int, int]) -> int | None:
    """The oldest generation whose count passed its threshold, if the youngest one did."""
    if counts[0] <= thresholds[0]:
        return None
    generation = 0
    for older in (1, 2):
        if counts[older] > thresholds[older]:
            generation = older
    return generation


def install(app: QObject) -> GarbageCollectionGuard:
    """The app's guard, made once."""
    existing = app.findChild(GarbageCollectionGuard)
    return existing if existing is not None else GarbageCollectionGuard(app)
