"""pyqtgraph plots for cards and tabs, coloured from the current theme (desktop.style).

Each builder returns a ``pg.PlotWidget`` with a ``copy_text`` attribute (its data as text).
"""

from __future__ import annotations

import weakref
from typing import Callable, Optional, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor

from desktop import style

SERIES_LIGHT = ("#3d6fe0", "#e0793d", "#2f9e6e", "#b0499b", "#8a6d3b")
SERIES_DARK = ("#6b93f5", "#f5a06b", "#5cc596", "#d97cc6", "#c8a96e")
_live_plots: "weakref.WeakSet[pg.PlotWidget]" = weakref.WeakSet()  # re-coloured when the theme changes


def colors() -> dict:
    """Theme colours for plots: background, foreground, accent, muted, grid and a list of series colours."""
    theme = style.current()
    return {
        "background": theme.card,
        "foreground": theme.text,
        "accent": theme.accent,
        "muted": theme.muted,
        "grid": theme.border,
        "series": list(SERIES_DARK if theme.dark else SERIES_LIGHT),
    }


def _plot(title: str = "", x_label: str = "", y_label: str = "", interactive: bool = True) -> pg.PlotWidget:
    plot = pg.PlotWidget(background=colors()["background"])
    _style(plot, title, x_label, y_label, interactive)
    plot.copy_text = ""
    return plot


def on_theme(plot: pg.PlotWidget, paint: Callable[[dict], None]) -> None:
    """Colour part of ``plot`` now with ``paint(colors())``, and again after every theme change (:func:`retheme`).

    Every colour a plot takes from the theme is set through here, so a theme switch recolours it all."""
    plot.painters.append(paint)
    paint(colors())


def _style(plot: pg.PlotWidget, title: str, x_label: str, y_label: str, interactive: bool) -> None:
    """Theme colours for title, axes and grid; ``interactive=False`` freezes pan/zoom (small card plots).

    The wheel zooms an interactive plot only once it was clicked or with Ctrl held (``desktop.hands``)."""
    plot.painters = []
    _live_plots.add(plot)
    item = plot.getPlotItem()
    on_theme(plot, lambda c: _colour_frame(plot, c))
    if title:
        on_theme(plot, lambda c: item.setTitle(title, color=c["foreground"], size="10pt"))
    for side, label in (("bottom", x_label), ("left", y_label)):
        if label:
            on_theme(plot, lambda c, axis=item.getAxis(side), label=label: axis.setLabel(label, color=c["muted"]))
    item.showGrid(x=True, y=True, alpha=0.25)
    if not interactive:
        plot.setMouseEnabled(x=False, y=False)
        plot.setMenuEnabled(False)
        item.hideButtons()


def _colour_frame(plot: pg.PlotWidget, c: dict) -> None:
    """Background, axis lines and tick labels."""
    plot.setBackground(c["background"])
    for side in ("bottom", "left"):
        axis = plot.getPlotItem().getAxis(side)
        axis.setPen(pg.mkPen(c["grid"]))
        axis.setTextPen(pg.mkPen(c["muted"]))


def retheme() -> None:
    """Re-colour every plot alive (after a theme change): everything its builder coloured with :func:`on_theme`."""
    c = colors()
    for plot in list(_live_plots):
        try:
            for paint in plot.painters:
                paint(c)
        except RuntimeError:  # its C++ side is already gone
            _live_plots.discard(plot)


class LinePlot(pg.PlotWidget):
    """A live line plot (e.g. loss per step): ``append(x, y, series)`` adds a point and redraws."""

    def __init__(self, title: str = "", x_label: str = "", y_label: str = "", parent=None) -> None:
        c = colors()
        super().__init__(parent=parent, background=c["background"])
        _style(self, title, x_label, y_label, interactive=True)
        self.plotItem.addLegend(offset=(-10, 10), labelTextColor=c["muted"])
        self.series: dict[str, tuple[list[float], list[float], pg.PlotDataItem]] = {}

    def _series(self, name: str):
        if name not in self.series:
            palette = colors()["series"]
            pen = pg.mkPen(palette[len(self.series) % len(palette)], width=2)
            curve = self.plotItem.plot([], [], pen=pen, name=name)
            self.series[name] = ([], [], curve)
        return self.series[name]

    def append(self, x: float, y: float, series: str = "loss") -> None:
        xs, ys, curve = self._series(series)
        xs.append(float(x))
        ys.append(float(y))
        curve.setData(xs, ys)

    def set_data(self, xs: Sequence[float], ys: Sequence[float], series: str = "loss") -> None:
        old_xs, old_ys, curve = self._series(series)
        old_xs[:] = [float(v) for v in xs]
        old_ys[:] = [float(v) for v in ys]
        curve.setData(old_xs, old_ys)

    def clear_data(self) -> None:
        for xs, ys, curve in self.series.values():
            xs.clear()
            ys.clear()
            curve.setData([], [])

    @property
    def copy_text(self) -> str:
        return "\n".join(f"{name}: " + ", ".join(f"({x:g}, {y:.4g})" for x, y in zip(xs, ys)) for name, (xs, ys, _) in self.series.items())


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str = "", y_label: str = "", y_range: Optional[tuple[float, float]] = None) -> pg.PlotWidget:
    """Vertical bars with their value printed above each bar (e.g. accuracy per analogy section)."""
    c = colors()
    plot = _plot(title, "", y_label, interactive=False)
    xs = np.arange(len(values))
    plot.addItem(pg.BarGraphItem(x=xs, height=list(values), width=0.6, brush=c["accent"], pen=pg.mkPen(None)))
    plot.getPlotItem().getAxis("bottom").setTicks([[(i, _short(label, 14)) for i, label in enumerate(labels)]])
    top = max([float(v) for v in values] + [0.0])
    for x, value in zip(xs, values):
        label = pg.TextItem(f"{value:.2f}", color=c["foreground"], anchor=(0.5, 1.0))
        label.setPos(float(x), float(value))
        plot.addItem(label)
    plot.setXRange(-0.6, len(values) - 0.4, padding=0)
    if y_range is not None:
        plot.setYRange(*y_range, padding=0.08)
    else:
        plot.setYRange(min(0.0, min(values, default=0.0)), top * 1.15 or 1.0, padding=0)
    plot.copy_text = "\n".join(f"{label}\t{value:.4g}" for label, value in zip(labels, values))
    return plot


def scatter_map(
    points: np.ndarray,
    labels: Sequence[str],
    highlight: Sequence[str] = (),
    tooltips: Optional[Sequence[str]] = None,
    title: str = "",
    on_click: Optional[Callable[[str], None]] = None,
) -> pg.PlotWidget:
    """A 2-D map of labelled points (e.g. a PCA of word vectors): hover for tooltips, wheel to zoom.

    Points whose label is in ``highlight`` are drawn larger in the accent colour. ``on_click(label)``
    is called when a point is clicked.
    """
    c = colors()
    plot = _plot(title)
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    marked = set(highlight)
    tips = list(tooltips) if tooltips is not None else list(labels)
    spots = [
        {
            "pos": (x, y),
            "data": tip,
            "size": 12 if label in marked else 8,
            "brush": pg.mkBrush(c["accent"] if label in marked else c["muted"]),
            "pen": pg.mkPen(None),
        }
        for (x, y), label, tip in zip(points, labels, tips)
    ]
    scatter = pg.ScatterPlotItem(hoverable=True, tip=lambda x, y, data: str(data), hoverSize=14)
    scatter.addPoints(spots)
    plot.addItem(scatter)
    for (x, y), label in zip(points, labels):
        text = pg.TextItem(label, color=c["foreground"] if label in marked else c["muted"], anchor=(0.5, 1.3))
        text.setPos(float(x), float(y))
        plot.addItem(text)
    if on_click is not None:
        lookup = {tip: label for label, tip in zip(labels, tips)}
        scatter.sigClicked.connect(lambda _item, clicked, _ev: clicked and on_click(lookup.get(clicked[0].data(), "")))
    plot.getPlotItem().getViewBox().setDefaultPadding(0.12)  # room for the labels of edge points
    plot.getPlotItem().hideAxis("bottom")
    plot.getPlotItem().hideAxis("left")
    plot.getPlotItem().showGrid(x=False, y=False)
    plot.copy_text = "\n".join(f"{label}\t{x:.3f}\t{y:.3f}" for (x, y), label in zip(points, labels))
    return plot


def heatmap(
    matrix: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Optional[Sequence[str]] = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
    title: str = "",
) -> pg.PlotWidget:
    """A matrix as coloured cells with the value written in each (e.g. sentence similarities)."""
    c = colors()
    matrix = np.asarray(matrix, dtype=float)
    cols = list(col_labels) if col_labels is not None else list(row_labels)
    plot = _plot(title, interactive=False)
    low, high = value_range
    cmap = pg.ColorMap([0.0, 0.5, 1.0], [QColor("#3b6fd1"), QColor(c["background"]), QColor("#d1543b")])
    image = pg.ImageItem(matrix.T)  # pyqtgraph's default axis order is [x, y]
    image.setLookupTable(cmap.getLookupTable(nPts=256))
    image.setLevels((low, high))
    plot.addItem(image)
    plot.getPlotItem().invertY(True)
    plot.getPlotItem().showGrid(x=False, y=False)
    for r in range(matrix.shape[0]):
        for col in range(matrix.shape[1]):
            value = matrix[r, col]
            strong = abs((value - (low + high) / 2) / ((high - low) / 2 or 1)) > 0.6
            label = pg.TextItem(f"{value:.2f}", color="#ffffff" if strong else c["foreground"], anchor=(0.5, 0.5))
            label.setPos(col + 0.5, r + 0.5)
            plot.addItem(label)
    item = plot.getPlotItem()
    item.getAxis("bottom").setTicks([[(i + 0.5, _short(label, 12)) for i, label in enumerate(cols)]])
    item.getAxis("left").setTicks([[(i + 0.5, _short(label, 24)) for i, label in enumerate(row_labels)]])
    plot.setXRange(0, matrix.shape[1], padding=0)
    plot.setYRange(0, matrix.shape[0], padding=0)
    rows = ["\t" + "\t".join(cols)] + [f"{label}\t" + "\t".join(f"{v:.3f}" for v in row) for label, row in zip(row_labels, matrix)]
    plot.copy_text = "\n".join(rows)
    return plot


def _short(text: str, width: int) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"
