"""pyqtgraph plots for cards and tabs, coloured from the current theme (desktop.style).

Each builder returns a ``pg.PlotWidget`` with a ``copy_text`` attribute (its data as text).
"""

from __future__ import annotations

import weakref
from typing import Callable, Optional, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QFontMetrics

from desktop import style

SERIES_LIGHT = ("#3d6fe0", "#e0793d", "#2f9e6e", "#b0499b", "#8a6d3b")
SERIES_DARK = ("#6b93f5", "#f5a06b", "#5cc596", "#d97cc6", "#c8a96e")
_live_plots: "weakref.WeakSet[pg.PlotWidget]" = weakref.WeakSet()  # re-coloured when the theme changes
BAR_ROW_PX = 20  # a bar chart's height per bar that keeps every label readable


def colors() -> dict:
    """Theme colours for plots: background, foreground, accent, accent_text (on accent), muted, grid and a list
    of series colours."""
    theme = style.current()
    return {
        "background": theme.card,
        "foreground": theme.text,
        "accent": theme.accent,
        "accent_text": theme.accent_text,
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
    plot.theme_painters.append(paint)
    paint(colors())


def _style(plot: pg.PlotWidget, title: str, x_label: str, y_label: str, interactive: bool) -> None:
    """Theme colours for title, axes and grid; ``interactive=False`` freezes pan/zoom (small card plots).

    The wheel zooms an interactive plot only once it was clicked or with Ctrl held (``desktop.hands``)."""
    plot.theme_painters = []
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
            for paint in plot.theme_painters:
                paint(c)
        except RuntimeError:  # its C++ side is already gone
            _live_plots.discard(plot)


def compact_number(value: float) -> str:
    """Axis ticks a person reads at a glance: 1.5M, 200k, 950, 0.25 (never 1e+06)."""
    magnitude = abs(value)
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


class CompactAxis(pg.AxisItem):
    """An axis whose tick labels use :func:`compact_number`."""

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph naming)
        return [compact_number(value * scale) for value in values]


class LinePlot(pg.PlotWidget):
    """A live line plot (e.g. loss per step): ``append(x, y, series)`` adds a point and redraws."""

    def __init__(self, title: str = "", x_label: str = "", y_label: str = "", parent=None) -> None:
        super().__init__(parent=parent, background=colors()["background"],
                         axisItems={"bottom": CompactAxis("bottom")})
        _style(self, title, x_label, y_label, interactive=True)
        legend = self.plotItem.addLegend(offset=(-10, 10))
        on_theme(self, lambda c: legend.setLabelTextColor(c["muted"]))
        self.series: dict[str, tuple[list[float], list[float], pg.PlotDataItem]] = {}

    def _series(self, name: str):
        if name not in self.series:
            curve = self.plotItem.plot([], [], name=name)
            number = len(self.series)
            on_theme(self, lambda c: curve.setPen(pg.mkPen(c["series"][number % len(c["series"])], width=2)))
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
    """Horizontal bars, first label at the top (e.g. accuracy per analogy section): the labels on the left axis,
    each value printed after its bar (the range keeps room for it at any width). ``y_label`` is the values'
    unit, printed after each value (e.g. "%"); ``y_range`` their range (default: 0 to the largest)."""
    values = [float(v) for v in values]
    low, high = y_range if y_range is not None else (min([0.0, *values]), max([0.0, *values]) or 1.0)
    plot = _plot(title, interactive=False)
    item = plot.getPlotItem()
    rows = np.arange(len(values))
    bars = pg.BarGraphItem(x0=0, y=rows, width=values, height=0.6, pen=pg.mkPen(None))
    on_theme(plot, lambda c: bars.setOpts(brush=c["accent"]))
    plot.addItem(bars)
    texts = [f"{_number(value)} {y_label}".strip() for value in values]
    for row, value, words in zip(rows, values, texts):
        text = pg.TextItem(words, anchor=(0, 0.5))
        text.setPos(value, float(row))
        on_theme(plot, lambda c, text=text: text.setColor(c["foreground"]))
        plot.addItem(text)
    item.invertY(True)
    metrics = QFontMetrics(plot.font())
    ticks = [_short(label, 28) for label in labels]
    item.getAxis("left").setTicks([list(enumerate(ticks))])
    item.getAxis("left").setWidth(max([metrics.horizontalAdvance(t) for t in ticks] + [0]) + 14)
    item.hideAxis("bottom")  # the values are written on the bars
    item.showGrid(x=False, y=False)
    plot.setYRange(-0.6, len(values) - 0.4, padding=0)
    _keep_room_right(plot, low, high, max([metrics.horizontalAdvance(t) for t in texts] + [0]) + 16)
    plot.copy_text = "\n".join(f"{label}\t{value:.4g}" for label, value in zip(labels, values))
    return plot


def _keep_room_right(plot: pg.PlotWidget, low: float, high: float, pixels: int) -> None:
    """Show ``low``..``high`` with ``pixels`` to spare right of ``high`` (for value labels), at any width."""
    view = plot.getPlotItem().getViewBox()

    def fit() -> None:
        width = max(view.width(), 2.0 * pixels)
        plot.setXRange(low, high + (high - low) * pixels / (width - pixels), padding=0)

    view.sigResized.connect(fit)
    fit()


def bar_chart_height(bars: int) -> int:
    """Pixels a :func:`bar_chart` of ``bars`` bars needs to print every label (for ``cards.plot_widget``)."""
    return max(120, 40 + BAR_ROW_PX * bars)


def _number(value: float) -> str:
    return f"{value:.1f}" if abs(value) >= 1 else f"{value:.2f}"


def scatter_map(
    points: np.ndarray,
    labels: Sequence[str],
    highlight: Sequence[str] = (),
    tooltips: Optional[Sequence[str]] = None,
    title: str = "",
    on_click: Optional[Callable[[str], None]] = None,
) -> pg.PlotWidget:
    """A 2-D map of labelled points (e.g. a PCA of word vectors): hover for tooltips, drag to pan.

    Points whose label is in ``highlight`` are drawn larger in the accent colour. ``on_click(label)``
    is called when a point is clicked. The wheel zooms once the map was clicked, or with Ctrl held.
    """
    plot = _plot(title)
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    marked = set(highlight)
    tips = list(tooltips) if tooltips is not None else list(labels)
    spots = [{"pos": (x, y), "data": tip, "size": 12 if label in marked else 8, "pen": pg.mkPen(None)}
             for (x, y), label, tip in zip(points, labels, tips)]
    scatter = pg.ScatterPlotItem(hoverable=True, tip=lambda x, y, data: str(data), hoverSize=14)
    scatter.addPoints(spots)
    role = ["accent" if label in marked else "muted" for label in labels]
    on_theme(plot, lambda c: scatter.setBrush([pg.mkBrush(c[r]) for r in role]))
    plot.addItem(scatter)
    for (x, y), label in zip(points, labels):
        text = pg.TextItem(label, anchor=(0.5, 1.3))
        text.setPos(float(x), float(y))
        text_role = "foreground" if label in marked else "muted"
        on_theme(plot, lambda c, text=text, text_role=text_role: text.setColor(c[text_role]))
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
    matrix = np.asarray(matrix, dtype=float)
    cols = list(col_labels) if col_labels is not None else list(row_labels)
    plot = _plot(title, interactive=False)
    low, high = value_range
    image = pg.ImageItem(matrix.T)  # pyqtgraph's default axis order is [x, y]
    on_theme(plot, lambda c: image.setLookupTable(_diverging(c["background"]).getLookupTable(nPts=256)))
    image.setLevels((low, high))
    plot.addItem(image)
    plot.getPlotItem().invertY(True)
    plot.getPlotItem().showGrid(x=False, y=False)
    for r in range(matrix.shape[0]):
        for col in range(matrix.shape[1]):
            value = matrix[r, col]
            strong = abs((value - (low + high) / 2) / ((high - low) / 2 or 1)) > 0.6
            label = pg.TextItem(f"{value:.2f}", anchor=(0.5, 0.5))
            label.setPos(col + 0.5, r + 0.5)
            if strong:
                label.setColor("#ffffff")  # on a saturated cell, in either theme
            else:
                on_theme(plot, lambda c, label=label: label.setColor(c["foreground"]))
            plot.addItem(label)
    item = plot.getPlotItem()
    item.getAxis("bottom").setTicks([[(i + 0.5, _short(label, 12)) for i, label in enumerate(cols)]])
    item.getAxis("left").setTicks([[(i + 0.5, _short(label, 24)) for i, label in enumerate(row_labels)]])
    plot.setXRange(0, matrix.shape[1], padding=0)
    plot.setYRange(0, matrix.shape[0], padding=0)
    rows = ["\t" + "\t".join(cols)] + [f"{label}\t" + "\t".join(f"{v:.3f}" for v in row) for label, row in zip(row_labels, matrix)]
    plot.copy_text = "\n".join(rows)
    return plot


def _diverging(middle: str) -> pg.ColorMap:
    """Blue (low) through the card colour (middle) to red (high)."""
    return pg.ColorMap([0.0, 0.5, 1.0], [QColor("#3b6fd1"), QColor(middle), QColor("#d1543b")])


def _short(text: str, width: int) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"
