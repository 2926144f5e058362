"""The Images tab's result widgets: a grid whose columns follow its width, search results cut at a similarity
threshold the user can move, and duplicate groups with keep suggestions, Move to trash and Undo.

They render result dicts (live or replayed from history) and call back into the tab for anything that runs
the engine; the cut itself is :func:`embedengine.images_index.shown_hits`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from desktop.chat import cards
from desktop.chat.cards import ImageGrid
from embedengine import images_index as engine

SEARCH_THUMB = 130
DUPLICATE_THUMB = 110
SHOW_MORE_STEP = 6  # images "Show more" reveals


def short_name(path: str) -> str:
    return Path(path).name or path


def grid_items(hits: Sequence[dict]) -> list[tuple]:
    """(thumbnail or file, caption, score) of each hit, for an image grid."""
    return [(hit.get("thumbnail") or hit["path"], short_name(hit["path"]), hit["score"]) for hit in hits]


class WheelSafeSlider(QSlider):
    """A slider the mouse wheel moves only once it has focus (clicked or tabbed to): otherwise the wheel
    scrolls the conversation it sits in."""

    def __init__(self, minimum: int, maximum: int, value: int) -> None:
        super().__init__(Qt.Orientation.Horizontal)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setRange(minimum, maximum)
        self.setValue(value)

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class ResponsiveImageGrid(ImageGrid):
    """An :class:`ImageGrid` whose column count follows its width (as many tiles as fit, at least one), so it
    never runs wider than the card; ``set_shown(n)`` shows only the first ``n`` tiles."""

    def __init__(self, items: Sequence[tuple], on_click: Optional[Callable[[int], None]] = None,
                 thumb: int = SEARCH_THUMB) -> None:
        super().__init__(items, on_click, columns=max(1, len(items)), thumb=thumb)
        self.grid = self.layout()
        self.grid.setColumnStretch(max(1, len(items)), 0)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        for tile in self.tiles:  # every picture in a square box: captions of one row line up
            tile.setIcon(_boxed(tile.icon().pixmap(QSize(thumb, thumb)), thumb))
        self.tile_width = thumb
        self._fit_tiles()
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.shown = len(self.tiles)
        self.columns = 0
        self._arrange(5)

    def columns_for(self, width: int) -> int:
        spacing = self.grid.spacing()
        return max(1, (width + spacing) // (self.tile_width + spacing))

    def set_shown(self, count: int) -> None:
        """Show the first ``count`` tiles (the rest stay built, hidden)."""
        self.shown = max(0, min(count, len(self.tiles)))
        self._arrange(self.columns or 5, force=True)

    def set_texts(self, texts: Sequence[str]) -> None:
        """New captions for the tiles; tiles widen to fit them (never narrow, so the grid does not jump)."""
        for tile, text in zip(self.tiles, texts):
            tile.setText(text)
        if self._fit_tiles():
            self._arrange(self.columns_for(self.width()) if self.width() > 1 else self.columns, force=True)

    def _fit_tiles(self) -> bool:
        """Give every tile the width of the widest caption; returns whether that width grew."""
        needed = max([self.tile_width] + [_natural_width(tile) for tile in self.tiles])
        grew = needed > self.tile_width or not self.minimumWidth()
        self.tile_width = needed
        for tile in self.tiles:
            tile.setFixedWidth(needed)
        self.setMinimumWidth(needed)  # explicit: the layout must not demand the width of its row
        return grew

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        self._arrange(self.columns_for(event.size().width()))

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt naming)
        hint = super().sizeHint()
        columns = getattr(self, "columns", 0) or 1
        return QSize(min(hint.width(), columns * (self.tile_width + self.layout().spacing())), hint.height())

    def _arrange(self, columns: int, force: bool = False) -> None:
        if columns == self.columns and not force:
            return
        self.columns = columns
        for tile in self.tiles:
            self.grid.removeWidget(tile)
        for index, tile in enumerate(self.tiles):
            if index < self.shown:
                self.grid.addWidget(tile, index // columns, index % columns)
            tile.setVisible(index < self.shown)
        self.grid.invalidate()
        self.updateGeometry()


def _boxed(picture: QPixmap, size: int) -> QPixmap:
    """``picture`` centred on a transparent ``size``×``size`` square."""
    box = QPixmap(size, size)
    box.fill(Qt.GlobalColor.transparent)
    painter = QPainter(box)
    painter.drawPixmap((size - picture.width()) // 2, (size - picture.height()) // 2, picture)
    painter.end()
    return box


def _natural_width(tile: QWidget) -> int:
    tile.setMinimumWidth(0)
    tile.setMaximumWidth(16_777_215)
    return tile.sizeHint().width()


# ---------------------------------------------------------------------------------------------
# Similar-image results
# ---------------------------------------------------------------------------------------------

class SearchResultsView(QWidget):
    """The hits of an image search in a responsive grid, cut at a similarity threshold.

    ``result`` is an ImageSearchResult dict. A similarity search (one with a query picture) shows the hits at
    or above ``result["min_score"]`` and a slider (and **Show more**) to move the cut;
    ``on_threshold(value)`` hears each change (the tab keeps it as its preference). A label search shows all.
    """

    def __init__(self, result: dict, on_click: Callable[[dict], None],
                 on_threshold: Callable[[float], None] = lambda value: None) -> None:
        super().__init__()
        self.result = result
        self.hits: list[dict] = result["hits"]
        self.on_threshold = on_threshold
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.similarity = bool(result.get("query"))
        self.slider: Optional[WheelSafeSlider] = None
        if self.similarity and self.hits:
            layout.addLayout(self._threshold_row(float(result.get("min_score", 0.0))))
        self.grid = ResponsiveImageGrid(grid_items(self.hits), on_click=lambda i: on_click(self.hits[i]))
        self.empty = cards.label("", "muted", wrap=True)
        layout.addWidget(self.grid)
        layout.addWidget(self.empty)
        self.apply_threshold(self.threshold)

    def _threshold_row(self, threshold: float) -> QHBoxLayout:
        row = QHBoxLayout()
        self.slider = WheelSafeSlider(0, 100, round(threshold * 100))
        self.slider.setObjectName("similaritySlider")
        self.slider.setToolTip("Only images at least this similar are shown; drag left to see more")
        self.slider.valueChanged.connect(self._slider_moved)
        self.threshold_label = cards.label("", "muted")
        self.more_button = QPushButton("Show more")
        self.more_button.setToolTip(f"Lower the threshold to show up to {SHOW_MORE_STEP} more images")
        self.more_button.clicked.connect(self.show_more)
        row.addWidget(QLabel("Similarity ≥"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.threshold_label)
        row.addWidget(self.more_button)
        return row

    @property
    def threshold(self) -> float:
        return self.slider.value() / 100 if self.slider is not None else 0.0

    def shown_hits(self) -> list[dict]:
        return engine.shown_hits(self.hits, self.threshold) if self.similarity else list(self.hits)

    def _slider_moved(self) -> None:
        self.apply_threshold(self.threshold)
        self.on_threshold(self.threshold)

    def apply_threshold(self, threshold: float) -> None:
        """Show the hits at or above ``threshold`` and say how many there are."""
        shown = self.shown_hits()
        self.grid.set_shown(len(shown))
        self.grid.setVisible(bool(shown))
        self.empty.setText(self._empty_text() if not shown else "")
        self.empty.setVisible(not shown)
        if self.slider is not None:
            self.threshold_label.setText(f"{threshold:.2f} · {len(shown)} of {len(self.hits)} shown")
            self.more_button.setEnabled(len(shown) < len(self.hits))
        cards.with_text(self, "\n".join(f"{h['path']}\t{h['score']:.3f}" for h in shown) or self.empty.text())

    def _empty_text(self) -> str:
        if not self.hits and self.result.get("filters"):
            return "No image meets the filters (they are listed above)."
        if not self.hits:
            return "No matching images. Index a folder, or try another label."
        best = self.hits[0]
        return (f"No image is at least {self.threshold:.2f} similar; the closest is {short_name(best['path'])} "
                f"at {best['score']:.2f}. Press Show more or drag the slider left.")

    def show_more(self) -> None:
        """Lower the threshold just enough to show up to SHOW_MORE_STEP more hits."""
        target = min(len(self.shown_hits()) + SHOW_MORE_STEP, len(self.hits))
        if self.slider is not None and target:
            self.slider.setValue(int(self.hits[target - 1]["score"] * 100))  # rounded down: that hit shows


# ---------------------------------------------------------------------------------------------
# Duplicate groups
# ---------------------------------------------------------------------------------------------

def file_facts(hit: dict) -> str:
    """``1024×768 · 340 KB`` and the modification date of a duplicate."""
    size = hit.get("size") or 0  # absent in results saved by older versions
    amount = f" · {size / 1_000_000:.1f} MB" if size >= 1_000_000 else f" · {max(size, 1000) / 1000:.0f} KB"
    modified = time.strftime("%Y-%m-%d %H:%M", time.localtime(hit["modified"])) if hit.get("modified") else ""
    return f"{hit['width']}×{hit['height']}{amount if size else ''}\n{modified}".rstrip()


class DuplicateGroupView(QWidget):
    """One group: thumbnails with sizes and dates, which one to keep (the largest or the newest), and
    **Move to trash** for the others, then **Undo**. ``trash(view, paths)`` and ``restore(view, trashed)``
    run the engine and answer with :meth:`trashed` / :meth:`restored`."""

    RULES = (("largest", "the largest"), ("newest", "the newest"))

    def __init__(self, group: dict, on_click: Callable[[dict], None],
                 trash: Callable[["DuplicateGroupView", list[str]], None],
                 restore: Callable[["DuplicateGroupView", list[dict]], None]) -> None:
        super().__init__()
        self.group = group
        self.hits: list[dict] = group["images"]
        self.trash_request, self.restore_request = trash, restore
        self.in_trash: dict[str, dict] = {}  # path -> its TrashedFile dict (for Undo)
        self.gone = {hit["path"] for hit in self.hits if not os.path.exists(hit["path"])}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(cards.heading(self._title()))
        self.grid = ResponsiveImageGrid(grid_items(self.hits), on_click=lambda i: on_click(self.hits[i]),
                                        thumb=DUPLICATE_THUMB)
        layout.addWidget(self.grid)
        layout.addLayout(self._keep_row())
        self.status = cards.label("", "muted", wrap=True)
        self.status.hide()
        layout.addWidget(self.status)
        self.choose(self.rule)

    def _title(self) -> str:
        low, high = f"{self.group['min_similarity']:.3f}", f"{self.group['max_similarity']:.3f}"
        title = f"{len(self.hits)} images · similarity {low if low == high else f'{low}–{high}'}"
        exact = len(self.group.get("exact", []))
        return title + (f" · {exact} identical files" if exact else "")

    def _keep_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("Keep"))
        self.rule_buttons: dict[str, QRadioButton] = {}
        self.rules = QButtonGroup(self)
        keep = self.group.get("keep") or {"largest": self.hits[0]["path"]}
        same = len(set(keep.values())) == 1
        for rule, words in self.RULES:
            if rule not in keep or (same and rule != "largest"):
                continue
            words = "the largest and newest" if same and len(keep) > 1 else words
            button = QRadioButton(f"{words} ({short_name(keep[rule])})")
            button.setObjectName(f"keep_{rule}")
            button.toggled.connect(lambda on, r=rule: on and self.choose(r))
            self.rules.addButton(button)
            self.rule_buttons[rule] = button
            row.addWidget(button)
        row.addStretch(1)
        self.trash_button = QPushButton()
        self.trash_button.setObjectName("trashButton")
        self.trash_button.setToolTip("Move the other files to the system trash (Undo puts them back)")
        self.trash_button.clicked.connect(self.move_to_trash)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setObjectName("undoTrash")
        self.undo_button.setToolTip("Put the files back from the trash and index them again")
        self.undo_button.clicked.connect(self.undo)
        self.undo_button.hide()
        row.addWidget(self.trash_button)
        row.addWidget(self.undo_button)
        self.rule = "largest"
        self.rule_buttons["largest"].setChecked(True)
        return row

    @property
    def kept(self) -> str:
        return (self.group.get("keep") or {}).get(self.rule, self.hits[0]["path"])

    def others(self) -> list[str]:
        """The files Move to trash takes: all but the kept one, and none already gone."""
        return [hit["path"] for hit in self.hits
                if hit["path"] != self.kept and hit["path"] not in self.gone and hit["path"] not in self.in_trash]

    def choose(self, rule: str) -> None:
        """Keep the member ``rule`` names; mark the tiles and update the button."""
        self.rule = rule
        self.grid.set_texts([self._caption(hit) for hit in self.hits])
        for tile, hit in zip(self.grid.tiles, self.hits):
            tile.setEnabled(hit["path"] not in self.gone and hit["path"] not in self.in_trash)
        count = len(self.others())
        self.trash_button.setText(f"Move {count} other{'s' if count != 1 else ''} to trash" if count else
                                  "Nothing to move")
        self.trash_button.setEnabled(count > 0)
        cards.with_text(self, self._title() + "\n" + "\n".join(
            f"{'keep' if h['path'] == self.kept else '    '} {h['path']}" for h in self.hits))

    def _caption(self, hit: dict) -> str:
        name = short_name(hit["path"])
        name = name if len(name) <= 20 else name[:19] + "…"
        if hit["path"] in self.in_trash:
            state = "in the trash"
        elif hit["path"] in self.gone:
            state = "no longer there"
        else:
            state = "✓ keep" if hit["path"] == self.kept else f"to trash · {hit['score']:.3f}"
        return f"{name}\n{file_facts(hit)}\n{state}"

    def move_to_trash(self) -> None:
        paths = self.others()
        if paths:
            self.trash_button.setEnabled(False)
            self.trash_request(self, paths)

    def trashed(self, report: dict) -> None:
        """The engine moved files to the trash (a TrashReport dict)."""
        for record in report["trashed"]:
            self.in_trash[record["original"]] = record
        lines = [f"Moved {len(report['trashed'])} file(s) to the system trash; "
                 f"collection '{report['collection']}' no longer lists them."]
        lines += [f"Not moved: {short_name(path)} ({reason})" for path, reason in report["failed"]]
        undoable = bool(report["trashed"]) and all(r["trashed"] for r in report["trashed"])
        if report["trashed"] and not undoable:
            lines.append("Restore them from the system trash if you change your mind.")
        self._say("\n".join(lines))
        self.undo_button.setVisible(undoable)
        self.undo_button.setEnabled(True)
        self.choose(self.rule)

    def undo(self) -> None:
        self.undo_button.setEnabled(False)
        self.restore_request(self, list(self.in_trash.values()))

    def restored(self, report: dict) -> None:
        """The engine put files back and indexed them (a RestoreReport dict)."""
        for path in report["restored"]:
            self.in_trash.pop(path, None)
        lines = [f"Restored {len(report['restored'])} file(s) and indexed them again."]
        lines += [f"Not restored: {short_name(path)} ({reason})" for path, reason in report["failed"]]
        self._say("\n".join(lines))
        self.undo_button.setVisible(bool(self.in_trash))
        self.undo_button.setEnabled(True)
        self.choose(self.rule)

    def failed(self, message: str) -> None:
        self._say(message)
        self.undo_button.setEnabled(True)
        self.choose(self.rule)

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.status.show()


class DuplicatesView(QWidget):
    """Duplicate groups with a threshold slider; moving it asks ``recompute(threshold, view)``."""

    def __init__(self, result: dict, recompute: Callable[[float, "DuplicatesView"], None],
                 on_click: Callable[[dict], None], trash: Callable[[DuplicateGroupView, list[str]], None],
                 restore: Callable[[DuplicateGroupView, list[dict]], None]) -> None:
        super().__init__()
        self.recompute = recompute
        self.group_actions = (on_click, trash, restore)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.slider = WheelSafeSlider(int(engine.MIN_DUPLICATE_THRESHOLD * 100), 100, round(result["threshold"] * 100))
        self.slider.setObjectName("duplicateSlider")
        self.slider_label = QLabel()
        row.addWidget(QLabel("Similarity threshold"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.slider_label)
        layout.addLayout(row)
        self.groups_box = QVBoxLayout()
        self.groups_box.setSpacing(14)
        layout.addLayout(self.groups_box)
        self._debounce = QTimer(self, singleShot=True, interval=250)
        self._debounce.timeout.connect(lambda: self.recompute(self.threshold, self))
        self.slider.valueChanged.connect(self._slider_moved)
        self.show_result(result)

    @property
    def threshold(self) -> float:
        return self.slider.value() / 100

    def _slider_moved(self) -> None:
        self.slider_label.setText(f"{self.threshold:.2f}")
        self._debounce.start()

    def groups(self) -> list[DuplicateGroupView]:
        return self.findChildren(DuplicateGroupView)

    def show_result(self, result: dict) -> None:
        """Replace the groups with those of ``result`` (a DuplicatesResult dict)."""
        self.result = result
        self.slider_label.setText(f"{result['threshold']:.2f}")
        while self.groups_box.count():
            widget = self.groups_box.takeAt(0).widget()
            if widget is not None:
                widget.setParent(None)
                widget.deleteLater()
        groups = result["groups"]
        summary = (f"{len(groups)} group(s) of duplicates among {result['images']} images in "
                   f"'{result['collection']}' at similarity ≥ {result['threshold']:.2f} (or identical files)")
        if groups:
            summary += ". Suggested: keep the largest of each group; the others can go to the trash (undoable)."
        self.groups_box.addWidget(cards.text(summary))
        for group in groups:
            self.groups_box.addWidget(DuplicateGroupView(group, *self.group_actions))
        cards.with_text(self, summary + "\n" + "\n".join(
            " | ".join(h["path"] for h in g["images"]) for g in groups))


def if_alive(method: Callable, *args: Any) -> None:
    """Call a widget's method unless Qt already deleted the widget (its card was cleared)."""
    try:
        method(*args)
    except RuntimeError:
        pass
