"""The interactive map of a whole space (words, passages, photos) in a chat card.

:class:`MapView` shows a saved :class:`embedengine.maps.SpaceMap`: one pyqtgraph scatter per colour group
(fast with 100K points), pan by dragging, zoom with the wheel once the map was clicked or with Ctrl held
(the app-wide rule of :mod:`desktop.hands`, which every pyqtgraph view gets), hover shows the item (word,
passage's first line and file, photo thumbnail), a click emits the item (``item_clicked``), Shift+drag draws
a lasso whose items are emitted as ``selection_made``; ``highlight(ids)`` marks a query's results. Photo maps
show thumbnails instead of dots once zoomed in to a few dozen photos. The lookups (hover grid, lasso polygon)
are the engine's (:class:`~embedengine.maps.GridIndex`, :func:`~embedengine.maps.points_in_polygon`).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QComboBox, QGraphicsItem, QGraphicsPixmapItem, QHBoxLayout, QLabel, QVBoxLayout,
                               QWidget)

from desktop import plots
from desktop.chat import cards
from embedengine import maps
from embedengine.errors import UserError

# Categorical colours (Tableau-like), light and dark variants; the last group ("other") is drawn muted.
GROUP_LIGHT = ("#3d6fe0", "#e0793d", "#2f9e6e", "#c23b4f", "#8a5cc2", "#8a6d3b", "#d467b5", "#5f8f1f",
               "#1f9fb5", "#c9a227", "#6b7a99", "#a35c2f")
GROUP_DARK = ("#6b93f5", "#f5a06b", "#5cc596", "#ef6f82", "#b18cf0", "#c8a96e", "#ef93d3", "#9ccc5a",
              "#5fd0e0", "#ecc94b", "#a3b1cc", "#d98c5c")
DOT_PX = 5
HIGHLIGHT_PX = 11
HOVER_PX = 8  # the cursor picks a point within this many pixels
HIGHLIGHT_LABELS = 12  # highlighted points labelled by name
THUMBS_MAX = 40  # photo thumbnails replace dots when at most this many photos are in view
THUMB_PX = 64
MAP_HEIGHT = 460
LAYOUT_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP", "imported": "imported"}


def group_colours(dark: bool) -> tuple[str, ...]:
    return GROUP_DARK if dark else GROUP_LIGHT


class LassoViewBox(pg.ViewBox):
    """A ViewBox where Shift+drag draws a lasso (``on_lasso(polygon)`` in data coordinates); other drags pan."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.on_lasso = lambda polygon: None
        self.lasso_points: list[tuple[float, float]] = []
        self.lasso_curve = pg.PlotCurveItem()
        self.lasso_curve.setZValue(50)
        self.addItem(self.lasso_curve, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 (pyqtgraph naming)
        shift = bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if not (shift and ev.button() == Qt.MouseButton.LeftButton) and not self.lasso_points:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            start = self.mapToView(ev.buttonDownPos())
            self.lasso_points = [(start.x(), start.y())]
        point = self.mapToView(ev.pos())
        self.lasso_points.append((point.x(), point.y()))
        closed = np.array(self.lasso_points + self.lasso_points[:1])
        self.lasso_curve.setData(closed[:, 0], closed[:, 1])
        if ev.isFinish():
            polygon, self.lasso_points = np.array(self.lasso_points), []
            self.lasso_curve.setData([], [])
            self.on_lasso(polygon)


class MapView(QWidget):
    """A saved map, drawn and explorable (see the module docstring)."""

    item_clicked = Signal(dict)  # {"row", "id", "label", "detail", "thumb"}
    selection_made = Signal(list)  # [{"row", "id", "label", "detail", "thumb"}, ...]

    def __init__(self, space_map: maps.SpaceMap, layouts: Optional[dict[str, str]] = None,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("mapView")
        self.map = space_map
        self.layouts = layouts or {}  # layout method -> saved map file (for the Layout picker)
        self.highlighted = np.zeros(0, dtype=np.int64)
        self.hover_row = -1
        self.points_image = pg.ImageItem(axisOrder="col-major")
        self.points_image.setZValue(1)
        self.thumb_items: dict[int, QGraphicsPixmapItem] = {}
        self.viewbox = LassoViewBox()
        self.viewbox.on_lasso = self._lasso_done
        self.plot = pg.PlotWidget(viewBox=self.viewbox)
        self.plot.setObjectName("mapPlot")
        plots._style(self.plot, "", "", "", interactive=True)  # themed like every plot (recoloured on a switch)
        item = self.plot.getPlotItem()
        for side in ("bottom", "left"):
            item.hideAxis(side)
        item.showGrid(x=False, y=False)
        item.hideButtons()
        self.viewbox.setAspectLocked(True)
        self.viewbox.addItem(self.points_image, ignoreBounds=True)
        self.bounds = pg.ScatterPlotItem(size=0, pen=None, brush=None)  # invisible: gives autoRange the extent
        self.viewbox.addItem(self.bounds)
        self.highlight_scatter = pg.ScatterPlotItem(size=HIGHLIGHT_PX, pxMode=True)
        self.highlight_scatter.setZValue(20)
        self.hover_scatter = pg.ScatterPlotItem(size=HIGHLIGHT_PX + 3, pxMode=True)
        self.hover_scatter.setZValue(30)
        self.highlight_texts: list[pg.TextItem] = []
        self.hover = QLabel(self.plot)  # floats over the plot, next to the cursor
        self.hover.setObjectName("mapHover")
        self.hover.setTextFormat(Qt.TextFormat.RichText)
        self.hover.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hover.hide()
        self.colour_box = QComboBox()
        self.colour_box.setObjectName("mapColourBy")
        self.colour_box.setToolTip("Colour the points by")
        self.layout_box = QComboBox()
        self.layout_box.setObjectName("mapLayout")
        self.layout_box.setToolTip("The layout shown (each is saved: switching is instant)")
        self.legend = QLabel()
        self.legend.setObjectName("mapLegend")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.summary = cards.label("", "muted")
        self._build_layout()
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._mouse_clicked)
        self.viewbox.sigRangeChanged.connect(lambda *_: (self._redraw(), self._update_thumbnails()))
        self.viewbox.sigResized.connect(lambda *_: self._redraw())
        plots.on_theme(self.plot, lambda c: self._recolour(c))
        self.show_map(space_map)

    def _build_layout(self) -> None:
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(cards.label("Colour by", "muted"))
        bar.addWidget(self.colour_box)
        bar.addWidget(cards.label("Layout", "muted"))
        bar.addWidget(self.layout_box)
        bar.addStretch(1)
        bar.addWidget(self.summary)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(bar)
        column.addWidget(self.plot)
        column.addWidget(self.legend)
        column.addWidget(cards.label("Drag to pan · click the map, then the wheel zooms (or Ctrl+wheel) · "
                                     "hover to read · click a point for its neighbours · Shift+drag to select",
                                     "muted", wrap=True))
        self.plot.setMinimumHeight(MAP_HEIGHT)
        self.colour_box.currentIndexChanged.connect(lambda _: self._draw_points())
        self.layout_box.activated.connect(lambda _: self._switch_layout(self.layout_box.currentData()))

    # -- showing a map ----------------------------------------------------------------------------
    def show_map(self, space_map: maps.SpaceMap) -> None:
        self.map = space_map
        self.grid = maps.GridIndex(space_map.coords)
        low, high = space_map.coords.min(axis=0), space_map.coords.max(axis=0)
        self.bounds.setData(x=[low[0], high[0]], y=[low[1], high[1]])
        current = self.colour_box.currentText()
        self.colour_box.blockSignals(True)
        self.colour_box.clear()
        self.colour_box.addItems(list(space_map.groups))
        preferred = [current, "folder", "label", "cluster"]
        self.colour_box.setCurrentIndex(next((self.colour_box.findText(p) for p in preferred
                                              if self.colour_box.findText(p) >= 0), 0))
        self.colour_box.blockSignals(False)
        self.layout_box.clear()
        for method, path in {space_map.method: "", **self.layouts}.items():
            self.layout_box.addItem(LAYOUT_NAMES.get(method, method), method)
        self.layout_box.setCurrentIndex(self.layout_box.findData(space_map.method))
        self.layout_box.setEnabled(self.layout_box.count() > 1)
        self.summary.setText(f"{len(space_map):,} {_noun(space_map.kind)} · {LAYOUT_NAMES.get(space_map.method, space_map.method)}")
        self._draw_points()
        self.highlight(self.map.ids[self.highlighted] if len(self.highlighted) else [])
        self.plot.autoRange(padding=0.04)
        self.copy_text = f"{space_map.kind} map of {space_map.name} ({space_map.method}, {len(space_map):,} points)"

    def _switch_layout(self, method: str) -> None:
        path = self.layouts.get(method)
        if path and method != self.map.method:
            highlighted = self.map.ids[self.highlighted] if len(self.highlighted) else []
            self.highlighted = np.zeros(0, dtype=np.int64)
            self.show_map(maps.SpaceMap.load(path))
            self.highlight(highlighted)

    def colour_groups(self) -> tuple[np.ndarray, list[str]]:
        """The chosen colouring: each point's group code and the group names."""
        return self.map.groups[self.colour_box.currentText()]

    def _draw_points(self) -> None:
        """Order the points for drawing ("other" underneath) and redraw."""
        codes, names = self.colour_groups()
        self.draw_order = np.argsort(np.where(np.array(names)[codes] == "other", -1, 0), kind="stable")
        self.draw_codes = codes[self.draw_order].astype(np.int64)
        self.draw_coords = self.map.coords[self.draw_order]
        for extra in (self.highlight_scatter, self.hover_scatter):
            if extra.scene() is None:
                self.viewbox.addItem(extra)
        self._recolour(plots.colors())
        self._update_thumbnails()

    def _redraw(self) -> None:
        """The points as one image of the view (the engine's raster: fast for 100K points and more)."""
        if not hasattr(self, "draw_codes"):
            return
        (x0, x1), (y0, y1) = self.viewbox.viewRange()
        width, height = int(self.viewbox.width()), int(self.viewbox.height())
        if width < 2 or height < 2:
            return
        image = maps.raster(self.draw_coords, self.draw_codes, (x0, x1), (y0, y1), width, height, DOT_PX)
        self.points_image.setImage(image.T[:, ::-1], levels=(0, 255), autoLevels=False)
        self.points_image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))

    def _recolour(self, c: dict) -> None:
        palette = group_colours(QColor(c["background"]).lightness() < 128)
        names = self.colour_groups()[1] if self.colour_box.count() else []
        lut = np.zeros((256, 4), dtype=np.uint8)  # code 0: no point (transparent)
        swatches = []
        for group, name in enumerate(names):
            colour = c["muted"] if name == "other" else palette[group % len(palette)]
            q = QColor(colour)
            lut[group + 1] = (q.red(), q.green(), q.blue(), 255)
            swatches.append(f"<span style='color:{colour}'>●</span>&nbsp;{html.escape(name)}")
        self.points_image.setLookupTable(lut)
        self._redraw()
        self.legend.setText(" &nbsp; ".join(swatches))
        self.legend.setStyleSheet(f"color: {c['foreground']}")
        self.highlight_scatter.setPen(pg.mkPen(c["foreground"], width=2))
        self.highlight_scatter.setBrush(pg.mkBrush(c["accent"]))
        self.hover_scatter.setPen(pg.mkPen(c["accent"], width=2))
        self.hover_scatter.setBrush(pg.mkBrush(None))
        for text in self.highlight_texts:
            text.setColor(c["foreground"])
        self.hover.setStyleSheet(f"background: {c['background']}; color: {c['foreground']}; "
                                 f"border: 1px solid {c['grid']}; border-radius: 6px; padding: 6px;")

    def pixel_colour(self, row: int) -> int:
        """The group code drawn at a map row's centre (-1 none): what the person sees there."""
        at = self.viewbox.mapViewToScene(QPointF(*map(float, self.map.coords[row])))
        local = self.points_image.mapFromScene(at)
        image = self.points_image.image
        x, y = int(local.x()), int(local.y())
        if image is None or not (0 <= x < image.shape[0] and 0 <= y < image.shape[1]):
            return -1
        return int(image[x, y]) - 1

    # -- highlighting a query's results -------------------------------------------------------------
    def highlight(self, item_ids: Sequence) -> int:
        """Mark these items (a query's results, best first); returns how many are on the map."""
        rows = self.map.rows_of(list(item_ids))
        self.highlighted = rows
        self.highlight_scatter.setData(x=self.map.coords[rows, 0], y=self.map.coords[rows, 1])
        for text in self.highlight_texts:
            self.viewbox.removeItem(text)
        self.highlight_texts = []
        for row in rows[:HIGHLIGHT_LABELS]:
            text = pg.TextItem(_short(self.map.labels[row]), anchor=(0.5, 1.4), color=plots.colors()["foreground"])
            text.setPos(float(self.map.coords[row, 0]), float(self.map.coords[row, 1]))
            text.setZValue(25)
            self.viewbox.addItem(text)
            self.highlight_texts.append(text)
        return len(rows)

    # -- hover, click, lasso ------------------------------------------------------------------------
    def row_at(self, scene_pos: QPointF) -> int:
        """The map row under a scene position (within :data:`HOVER_PX` pixels), -1 when none."""
        if not self.viewbox.sceneBoundingRect().contains(scene_pos):
            return -1
        point = self.viewbox.mapSceneToView(scene_pos)
        width, height = self.viewbox.viewPixelSize()
        return self.grid.nearest(point.x(), point.y(), HOVER_PX * width, HOVER_PX * height)

    def item(self, row: int) -> dict:
        thumb = self.map.thumbs[row] if row < len(self.map.thumbs) else ""
        item_id = self.map.ids[row]
        return {"row": int(row), "id": item_id.item() if hasattr(item_id, "item") else item_id,
                "label": self.map.labels[row], "detail": self.map.details[row], "thumb": thumb}

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        if self.viewbox.lasso_points:
            return
        row = self.row_at(scene_pos)
        self.hover_row = row
        if row < 0:
            self.hover.hide()
            self.hover_scatter.setData([], [])
            return
        self.hover_scatter.setData(x=[self.map.coords[row, 0]], y=[self.map.coords[row, 1]])
        self.hover.setText(self.hover_html(row))
        self.hover.adjustSize()
        at = self.plot.mapFromScene(scene_pos)
        x = at.x() + 14 if at.x() + 14 + self.hover.width() < self.plot.width() else at.x() - 14 - self.hover.width()
        y = min(max(0, at.y() + 14), max(0, self.plot.height() - self.hover.height()))
        self.hover.move(int(max(0, x)), int(y))
        self.hover.show()
        self.hover.raise_()

    def hover_html(self, row: int) -> str:
        item = self.item(row)
        image = ""
        if item["thumb"] and Path(item["thumb"]).exists():
            image = f"<img src='{html.escape(Path(item['thumb']).as_uri())}' height='96'><br>"
        group, names = self.colour_groups()
        where = f"{self.colour_box.currentText()}: {names[group[row]]}"
        return (f"{image}<b>{html.escape(item['label'])}</b><br>{html.escape(item['detail'])}"
                f"<br><span style='opacity:0.7'>{html.escape(where)}</span>")

    def _mouse_clicked(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or ev.double():
            return
        row = self.row_at(ev.scenePos())
        if row >= 0:
            ev.accept()
            self.item_clicked.emit(self.item(row))

    def _lasso_done(self, polygon: np.ndarray) -> None:
        rows = maps.points_in_polygon(self.map.coords, polygon)
        if len(rows):
            self.selection_made.emit([self.item(int(row)) for row in rows])

    # -- photo thumbnails when zoomed in -------------------------------------------------------------
    def visible_rows(self) -> np.ndarray:
        (x0, x1), (y0, y1) = self.viewbox.viewRange()
        coords = self.map.coords
        return np.flatnonzero((coords[:, 0] >= x0) & (coords[:, 0] <= x1) & (coords[:, 1] >= y0) & (coords[:, 1] <= y1))

    def _update_thumbnails(self) -> None:
        if not any(self.map.thumbs):
            return
        rows = self.visible_rows()
        shown = set(rows.tolist()) if len(rows) <= THUMBS_MAX else set()
        for row, item in self.thumb_items.items():
            item.setVisible(row in shown)
        for row in shown - set(self.thumb_items):
            pixmap = cards.to_pixmap(self.map.thumbs[row], THUMB_PX) if self.map.thumbs[row] else None
            if pixmap is None or pixmap.isNull():
                continue
            item = QGraphicsPixmapItem(pixmap)
            item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            item.setOffset(-pixmap.width() / 2, -pixmap.height() / 2)
            item.setPos(float(self.map.coords[row, 0]), float(self.map.coords[row, 1]))
            item.setZValue(10)
            self.viewbox.addItem(item, ignoreBounds=True)
            self.thumb_items[row] = item

    def thumbnails_shown(self) -> int:
        return sum(item.isVisible() for item in self.thumb_items.values())


def _short(label: str, chars: int = 28) -> str:
    return label if len(label) <= chars else label[:chars - 1] + "…"


def _noun(kind: str) -> str:
    return {"words": "words", "documents": "passages", "images": "photos"}.get(kind, "items")


# -- the chat answers --------------------------------------------------------------------------------

def run_map(card, kind: str, name: str, method: str, vector_method: Optional[str] = None, vectors=None,
            source: str = "") -> None:
    """Answer ``map`` in ``card``: asked for ``auto`` with t-SNE/UMAP installed, the PCA map shows at once
    and the non-linear layout replaces it in the same card when ready (a saved one reopens instantly);
    only the final map is saved to history (the PCA one when the layout fails or is cancelled)."""
    if method != "auto" or maps.resolve_method("auto") == "pca":
        card.run_task("map", maps.build_map, kind, name, method, vector_method, vectors, source=source)
        return
    first = card.run_task("map", maps.build_map, kind, name, "pca", vector_method, vectors, source=source,
                          save=False)
    first.finished.connect(lambda _result: _refine_map(card, kind, name, vector_method, vectors, source))


def _refine_map(card, kind: str, name: str, vector_method: Optional[str], vectors, source: str) -> None:
    view = card.view
    layout = LAYOUT_NAMES.get(maps.resolve_method("auto"), "non-linear")
    view.notify(f"PCA map shown; the {layout} layout of {name} follows")
    view.ctx.tasks.run(maps.build_map, kind, name, "auto", vector_method, vectors, label=f"{layout} map of {name}",
                       on_result=lambda result: card.finish("map", result, source=source),
                       on_error=lambda error: (view.save(card), view.notify(f"The {layout} layout failed: {error}")),
                       on_cancel=lambda: view.save(card))


def map_command(text: str) -> str:
    """``map`` / ``map tsne`` / ``map pca`` …: the layout method asked for ("auto" by default), else ""."""
    words = text.strip().lower().split()
    if not words or words[0] != "map" or len(words) > 2:
        return ""
    if len(words) == 1:
        return "auto"
    return words[1] if words[1] in maps.METHODS else ""


def map_summary_text(result: dict) -> str:
    """One line about what was done: laid out, reopened or updated (and how long it took)."""
    method = LAYOUT_NAMES.get(result["method"], result["method"])
    if result.get("laid_out"):
        how = f"laid out by {method} in {result['seconds']:.1f} s"
    elif result.get("reused"):
        how = f"the saved {method} map, reopened"
    else:
        how = (f"the saved {method} map, updated: {result['placed']:,} new placed among their neighbours, "
               f"{result['removed']:,} removed")
    return f"Map of **{result['points']:,}** {_noun(result['kind'])} of *{result['name']}* — {how}."


def map_answer(result: dict, on_click, on_select) -> list[QWidget]:
    """A ``map`` answer's widgets (from its saved JSON, so history replays it): summary and the view."""
    try:
        space_map = maps.SpaceMap.load(result["file"])
    except UserError as error:
        return [cards.markdown(map_summary_text(result)), cards.error(str(error), error.hint)]
    view = MapView(space_map, maps.saved_layouts(result["file"]))
    view.item_clicked.connect(on_click)
    view.selection_made.connect(lambda items: on_select(view, items))
    return [cards.markdown(map_summary_text(result)), view]


def selection_result(view: MapView, items: list[dict], source_file: str = "") -> dict:
    """A lasso selection as a saved answer: the map it came from and its items."""
    return {"map": source_file, "kind": view.map.kind, "name": view.map.name, "count": len(items),
            "items": [{"id": item["id"], "label": item["label"], "detail": item["detail"]} for item in items]}


def selection_answer(result: dict, on_click=None) -> list[QWidget]:
    """A ``map_selection`` answer: the selected items as a table (Copy and JSON export them)."""
    rows = [(item["label"], item["detail"]) for item in result["items"]]
    head = cards.markdown(f"**{result['count']:,}** {_noun(result['kind'])} selected on the map of *{result['name']}*")
    table = cards.table(["Item", "Detail"], rows, max_height=300)
    table.copy_text = "\n".join(f"{label}\t{detail}" for label, detail in rows)
    if on_click is not None:
        table.cellDoubleClicked.connect(lambda r, _c: on_click(result["items"][r]))
    return [head, table]


class LiveMaps:
    """The map views a tab shows now, so a query's results can be highlighted on the maps of its space."""

    def __init__(self) -> None:
        self.views: list[MapView] = []

    def add(self, widgets: list[QWidget]) -> list[QWidget]:
        self.views += [w for w in widgets if isinstance(w, MapView)]
        return widgets

    def alive(self) -> list[MapView]:
        self.views = [view for view in self.views if shiboken6.isValid(view)]
        return self.views

    def highlight(self, name: str, item_ids: Sequence) -> None:
        """Mark ``item_ids`` on every live map of the space ``name``."""
        for view in self.alive():
            if view.map.name == name:
                view.highlight(item_ids)
