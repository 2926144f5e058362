"""Card builders: small widgets that make up an answer card's body.

Every builder returns a ``QWidget`` whose ``copy_text`` attribute is its plain-text form (used by
"Copy as text"). Compose several with :func:`stack`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from embedengine.results import format_duration, format_removed
from embedengine.collections.report import FolderRemoved
from embedengine.tasks import Progress

RankedItem = tuple  # (label, score, detail) — detail optional
ImageItem = tuple  # (QPixmap | path | PIL.Image | bytes, caption, score | None)


def with_text(widget: QWidget, text: str) -> QWidget:
    """Attach the plain-text form used by "Copy as text"."""
    widget.copy_text = text
    return widget


def widget_text(widget: QWidget) -> str:
    return getattr(widget, "copy_text", "")


def label(content: str, name: str = "", wrap: bool = False, selectable: bool = False) -> QLabel:
    """A plain-text QLabel with an optional style name (``#muted``, ``#score``…), wrapping, selection."""
    widget = QLabel(content)
    widget.setTextFormat(Qt.TextFormat.PlainText)
    if name:
        widget.setObjectName(name)
    widget.setWordWrap(wrap)
    if selectable:
        widget.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return with_text(widget, content)


def _column(parent: Optional[QWidget] = None, spacing: int = 6) -> tuple[QWidget, QVBoxLayout]:
    box = QWidget(parent)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(spacing)
    return box, layout


def stack(*widgets: QWidget, title: str = "") -> QWidget:
    """Widgets one under the other, with an optional bold title."""
    box, layout = _column()
    texts = []
    if title:
        layout.addWidget(heading(title))
        texts.append(title)
    for widget in widgets:
        layout.addWidget(widget)
        texts.append(widget_text(widget))
    return with_text(box, "\n".join(t for t in texts if t))


def heading(content: str) -> QLabel:
    return label(content, "cardHeading", wrap=True)


def text(content: str, selectable: bool = True) -> QLabel:
    """Plain text, wrapped."""
    return label(content, wrap=True, selectable=selectable)


def markdown(content: str) -> QLabel:
    """Markdown (CommonMark + GitHub tables), wrapped, links open in the browser."""
    widget = QLabel()
    widget.setTextFormat(Qt.TextFormat.MarkdownText)
    widget.setText(content)
    widget.setWordWrap(True)
    widget.setOpenExternalLinks(True)
    widget.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
    return with_text(widget, content)


def error(message: str, hint: str = "") -> QWidget:
    """A friendly error: what went wrong and, below it, how to fix it."""
    frame = QFrame()
    frame.setObjectName("errorCard")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(12, 10, 12, 10)
    title = label(message, "errorMessage", wrap=True, selectable=True)
    layout.addWidget(title)
    if hint:
        layout.addWidget(label(hint, "errorHint", wrap=True, selectable=True))
    frame.message_label = title
    return with_text(frame, f"{message}\n{hint}".strip())


def folder_list(folders: Sequence[str], on_remove: Callable[[str], None], unavailable: Sequence[str] = (),
                unavailable_note: str = "(unavailable)") -> QWidget:
    """A collection's folders, one per row, each with a Remove button (``on_remove(folder)``); those in
    ``unavailable`` (an unplugged drive) are greyed and followed by ``unavailable_note``."""
    box = QWidget()
    grid = QGridLayout(box)
    grid.setContentsMargins(0, 0, 0, 0)
    grid.setColumnStretch(2, 1)  # the buttons stay beside their folders
    lines = []
    for row, folder in enumerate(folders):
        absent = folder in unavailable
        lines.append(f"{folder}  {unavailable_note}" if absent else folder)
        grid.addWidget(label(lines[-1], "muted" if absent else "", selectable=True), row, 0)
        button = QPushButton("Remove")
        button.setObjectName("removeFolder")
        button.setProperty("folder", folder)
        button.setToolTip(f"Take {folder} out of this collection (the files themselves stay)")
        button.clicked.connect(lambda _checked=False, f=folder: on_remove(f))
        grid.addWidget(button, row, 1)
    if not folders:
        grid.addWidget(label("No folders yet.", "muted"), 0, 0)
    return with_text(box, "\n".join(lines) or "No folders yet.")


def folder_removed(result: dict) -> QLabel:
    """The answer to a folder removal (a :class:`~embedengine.collections.report.FolderRemoved` as JSON)."""
    return text(format_removed(FolderRemoved(**result)))


class ScoreBar(QWidget):
    """A thin horizontal bar showing a fraction in [0, 1] in the palette's highlight colour."""

    def __init__(self, fraction: float, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.fraction = max(0.0, min(1.0, float(fraction)))
        self.setMinimumWidth(60)
        self.setFixedHeight(8)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(140, 8)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        rect = self.rect()
        track = self.palette().color(self.palette().ColorRole.Mid)
        track.setAlpha(70)
        painter.setBrush(track)
        painter.drawRoundedRect(rect, 4, 4)
        if self.fraction > 0:
            painter.setBrush(self.palette().color(self.palette().ColorRole.Highlight))
            filled = rect.adjusted(0, 0, -int(rect.width() * (1 - self.fraction)), 0)
            painter.drawRoundedRect(filled, 4, 4)


def score_fractions(scores: Sequence[float]) -> list[float]:
    """Bar lengths: scores already in [-1, 1] (cosines) are shown as is, others relative to the max."""
    if not scores:
        return []
    top = max(abs(s) for s in scores)
    scale = 1.0 if top <= 1.0 else top
    return [max(0.0, s / scale) for s in scores]


class RankedList(QWidget):
    """Rows of label · score bar · score · detail. Clicking a label emits ``clicked(label)``."""

    clicked = Signal(str)

    def __init__(self, items: Sequence[RankedItem], on_click: Optional[Callable[[str], None]] = None) -> None:
        super().__init__()
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(4)
        grid.setColumnStretch(2, 1)
        rows = [_ranked_row(item) for item in items]
        fractions = score_fractions([score for _, score, _ in rows])
        self.labels: list[QWidget] = []
        for row, ((word, score, detail), fraction) in enumerate(zip(rows, fractions)):
            self._add_row(grid, row, word, score, detail, fraction, clickable=on_click is not None)
        if on_click is not None:
            self.clicked.connect(on_click)
        lines = [f"{i + 1}. {word}\t{score:.4f}" + (f"\t{detail}" if detail else "") for i, (word, score, detail) in enumerate(rows)]
        with_text(self, "\n".join(lines))

    def _add_row(self, grid: QGridLayout, row: int, word: str, score: float, detail: str, fraction: float, clickable: bool) -> None:
        grid.addWidget(label(f"{row + 1}.", "rank"), row, 0, Qt.AlignmentFlag.AlignRight)
        if clickable:
            widget = QPushButton(word)
            widget.setObjectName("linkButton")
            widget.setCursor(Qt.CursorShape.PointingHandCursor)
            widget.setToolTip(f"Ask about “{word}”")
            widget.clicked.connect(lambda _=False, text=word: self.clicked.emit(text))
        else:
            widget = label(word, selectable=True)
        self.labels.append(widget)
        grid.addWidget(widget, row, 1)
        grid.addWidget(ScoreBar(fraction), row, 2)
        grid.addWidget(label(f"{score:.3f}", "score"), row, 3, Qt.AlignmentFlag.AlignRight)
        if detail:
            grid.addWidget(label(detail, "muted", wrap=True), row, 4)


def _ranked_row(item: RankedItem) -> tuple[str, float, str]:
    word, score = item[0], item[1]
    detail = item[2] if len(item) > 2 and item[2] is not None else ""
    return str(word), float(score), str(detail)


def ranked_list(items: Sequence[RankedItem], on_click: Optional[Callable[[str], None]] = None) -> RankedList:
    """Ranked results with score bars; ``on_click(label)`` makes labels clickable (follow-up queries)."""
    return RankedList(items, on_click)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], max_height: int = 360) -> QTableWidget:
    """A read-only table sized to its contents (scrolls beyond ``max_height``)."""
    widget = QTableWidget(len(rows), len(headers))
    widget.setHorizontalHeaderLabels([str(h) for h in headers])
    widget.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    widget.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    widget.verticalHeader().setVisible(False)
    widget.setAlternatingRowColors(True)
    widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # no focus frame on a cell; "Copy" copies the table
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            widget.setItem(r, c, QTableWidgetItem(_cell(value)))
    header = widget.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    widget.resizeRowsToContents()
    height = header.sizeHint().height() + sum(widget.rowHeight(r) for r in range(len(rows))) + 4
    widget.setFixedHeight(min(max_height, height))
    lines = ["\t".join(map(str, headers))] + ["\t".join(_cell(v) for v in row) for row in rows]
    return with_text(widget, "\n".join(lines))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def plot_widget(plot: QWidget, height: int = 260, caption: str = "") -> QWidget:
    """Embed a plot (see :mod:`desktop.plots`) in a card at a fixed height."""
    plot.setMinimumHeight(height)
    plot.setMaximumHeight(height)
    return stack(plot, text(caption)) if caption else plot


def to_pixmap(source: Any, size: int = 0) -> QPixmap:
    """QPixmap from a QPixmap, a file path, PNG/JPEG bytes or a PIL image; scaled to fit ``size`` if given."""
    if isinstance(source, QPixmap):
        pixmap = source
    elif isinstance(source, (str, Path)):
        pixmap = QPixmap(str(source))
    elif isinstance(source, (bytes, bytearray)):
        pixmap = QPixmap()
        pixmap.loadFromData(bytes(source))
    else:  # PIL image
        buffer = io.BytesIO()
        source.save(buffer, format="PNG")
        pixmap = QPixmap()
        pixmap.loadFromData(buffer.getvalue())
    if size and not pixmap.isNull():
        pixmap = pixmap.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return pixmap


class ImageGrid(QWidget):
    """Thumbnails with caption and score; clicking one emits ``clicked(index)``."""

    clicked = Signal(int)

    def __init__(self, items: Sequence[ImageItem], on_click: Optional[Callable[[int], None]] = None, columns: int = 5, thumb: int = 150) -> None:
        super().__init__()
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(10)
        self.tiles: list[QToolButton] = []
        for index, item in enumerate(items):
            tile = self._tile(index, item, thumb)
            grid.addWidget(tile, index // columns, index % columns, Qt.AlignmentFlag.AlignTop)
            self.tiles.append(tile)
        grid.setColumnStretch(columns, 1)
        if on_click is not None:
            self.clicked.connect(on_click)
        with_text(self, "\n".join(_image_caption(item) for item in items))

    def _tile(self, index: int, item: ImageItem, thumb: int) -> QToolButton:
        tile = QToolButton()
        tile.setObjectName("imageTile")
        tile.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        tile.setIcon(to_pixmap(item[0], thumb))
        tile.setIconSize(QSize(thumb, thumb))
        tile.setText(_image_caption(item, width=22))
        tile.setToolTip(_image_caption(item))
        tile.setCursor(Qt.CursorShape.PointingHandCursor)
        tile.clicked.connect(lambda _=False, i=index: self.clicked.emit(i))
        return tile


def _image_caption(item: ImageItem, width: int = 0) -> str:
    caption = str(item[1]) if len(item) > 1 and item[1] is not None else ""
    if width and len(caption) > width:
        caption = caption[: width - 1] + "…"
    score = item[2] if len(item) > 2 else None
    return f"{caption}\n{score:.3f}" if score is not None else caption


def image_grid(items: Sequence[ImageItem], on_click: Optional[Callable[[int], None]] = None, columns: int = 5, thumb: int = 150) -> ImageGrid:
    """Thumbnail grid; ``on_click(index)`` receives the clicked item's index."""
    return ImageGrid(items, on_click, columns, thumb)


class Expander(QWidget):
    """A "▸ title" toggle that shows or hides ``content`` (collapsed by default)."""

    def __init__(self, title: str, content: QWidget, expanded: bool = False) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = title
        self.button = QToolButton()
        self.button.setObjectName("expander")
        self.button.setCheckable(True)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.toggled.connect(self.set_expanded)
        self.content = content
        layout.addWidget(self.button)
        layout.addWidget(content)
        self.button.setChecked(expanded)
        self.set_expanded(expanded)
        with_text(self, f"{title}\n{widget_text(content)}")

    def set_expanded(self, expanded: bool) -> None:
        self.button.setText(("▾ " if expanded else "▸ ") + self.title)
        self.content.setVisible(expanded)


def expander(title: str, content: QWidget, expanded: bool = False) -> Expander:
    return Expander(title, content, expanded)


class ProgressCard(QWidget):
    """Progress bar with stage, rate and ETA, plus Pause/Resume and Cancel buttons bound to a task."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy until the first report with a total
        self.bar.setTextVisible(False)
        self.pause_button = QPushButton("Pause")
        self.cancel_button = QPushButton("Cancel")
        for button in (self.pause_button, self.cancel_button):
            button.setEnabled(False)
            row.addWidget(button)
        row.insertWidget(0, self.bar, 1)
        self.label = label("Working…", "muted")
        layout.addLayout(row)
        layout.addWidget(self.label)
        self.handle = None
        self.pause_button.clicked.connect(self._toggle_pause)
        self.cancel_button.clicked.connect(self._cancel)

    def attach(self, handle) -> None:
        """Bind to a :class:`desktop.workers.TaskHandle`: its progress updates the card, buttons control it."""
        self.handle = handle
        handle.progressed.connect(self.update_progress)
        self.cancel_button.setEnabled(handle.cancellable)
        self.pause_button.setEnabled(handle.cancellable)

    def update_progress(self, progress: Progress) -> None:
        fraction = progress.fraction
        if fraction is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(fraction * 1000))
        self.label.setText(describe_progress(progress))

    def _toggle_pause(self) -> None:
        if self.handle is None:
            return
        if self.handle.state == "paused":
            self.handle.resume()
            self.pause_button.setText("Pause")
        else:
            self.handle.pause()
            self.pause_button.setText("Resume")

    def _cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.label.setText("Cancelling…")
            self.cancel_button.setEnabled(False)
            self.pause_button.setEnabled(False)


def describe_progress(progress: Progress) -> str:
    """One line: "train 42% · 120,000 words/s · ETA 00:12 · epoch 2/5"."""
    parts = [progress.message or progress.stage]
    if progress.fraction is not None:
        parts.append(f"{progress.fraction:.0%}")
    elif progress.done:
        parts.append(f"{progress.done:,.0f} {progress.unit}")
    if progress.rate:
        parts.append(f"{progress.rate:,.0f} {progress.unit}/s")
    if progress.eta_s is not None:
        parts.append(f"ETA {format_duration(progress.eta_s)}")
    epoch = progress.extra.get("epoch")
    if epoch is not None and progress.extra.get("epochs"):
        parts.append(f"epoch {epoch}/{progress.extra['epochs']}")
    return " · ".join(parts)
