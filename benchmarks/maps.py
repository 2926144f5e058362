"""Maps: layout time, layout quality, view repaint rate and hover lookup time → RESULTS.md ("Maps").

    python benchmarks/maps.py --points 100000 --quality 10000 --methods pca tsne umap --write

* **Quality** on real vectors: ``--quality`` KJV verses (the shipped corpus) encoded by MiniLM (int8), laid out
  by each method: trustworthiness (k = 10; cosine in the original space) and the fraction of each point's 10
  nearest on the map that are among its 50 nearest by cosine (:mod:`embedengine.maps`).
* **Time** of a ``--points`` × 384 layout: unit vectors from 200 Gaussian clusters (their structure matters
  little to the time); ``--methods`` picks the layouts (t-SNE and UMAP need the ``maps`` extra).
* **View**: a ``--points`` map in :class:`desktop.map_view.MapView` at 1280×800 offscreen: repaints per second
  while panning (each frame a pan step, then a synchronous repaint of the viewport) and the hover lookup
  (the point under the cursor) per call.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._results import markdown_table, write_section  # noqa: E402
from embedengine import maps  # noqa: E402


def clustered(n: int, dim: int = 384, clusters: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, clusters, n)] + 0.8 * rng.normal(size=(n, dim)).astype(np.float32)
    return maps._unit(vectors)


def kjv_vectors(n: int) -> np.ndarray:
    from embedengine.demo import corpus_files
    from embedengine.text import get_text_encoder

    verses = []
    for path in corpus_files():
        for line in path.read_text(encoding="utf-8").splitlines():
            if len(line.split()) >= 6 and not line.isupper():
                verses.append(line.strip())
    step = max(1, len(verses) // n)
    return maps._unit(get_text_encoder("int8").encode(verses[::step][:n]))


def layout_seconds(vectors: np.ndarray, method: str) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    coords, _, _ = maps.compute_layout(vectors, method)
    return coords, time.perf_counter() - started


def quality_rows(n: int, methods: list[str]) -> list[list]:
    vectors = kjv_vectors(n)
    rows = []
    for method in methods:
        coords, seconds = layout_seconds(vectors, method)
        rows.append([method, f"{len(vectors):,}", f"{maps.trustworthiness(vectors, coords, 10):.3f}",
                     f"{maps.neighbour_agreement(vectors, coords, 10, 50):.3f}", f"{seconds:.1f} s"])
        print(rows[-1], flush=True)
    return rows


def time_rows(n: int, methods: list[str]) -> list[list]:
    vectors = clustered(n)
    rows = []
    for method in methods:
        _, seconds = layout_seconds(vectors, method)
        rows.append([method, f"{n:,} × {vectors.shape[1]}", f"{seconds:.1f} s"])
        print(rows[-1], flush=True)
    return rows


def view_rows(n: int) -> list[list]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    from desktop.map_view import MapView

    app = QApplication.instance() or QApplication([])
    rng = np.random.default_rng(1)
    coords = np.concatenate([rng.normal(c, 0.6, size=(n // 50, 2)) for c in rng.normal(0, 8, size=(50, 2))])
    coords = coords.astype(np.float32)
    count = len(coords)
    ids = np.arange(count, dtype=np.int64)
    codes = rng.integers(0, 10, count).astype(np.int32)
    space_map = maps.SpaceMap("documents", "bench", "minilm", "tsne", {}, ids, coords, [f"passage {i}" for i in ids],
                              [""] * count, [""] * count, {"cluster": (codes, [f"c{i}" for i in range(10)])},
                              np.zeros(384, np.float32), np.zeros((2, 384), np.float32))
    view = MapView(space_map)
    view.resize(1280, 800)
    view.show()
    app.processEvents()
    viewport = view.plot.viewport()
    frames, started = 60, time.perf_counter()
    for frame in range(frames):
        view.viewbox.translateBy(x=0.05 * (1 if frame % 20 < 10 else -1))
        viewport.repaint()
    fps = frames / (time.perf_counter() - started)
    started = time.perf_counter()
    for frame in range(20):
        view.viewbox.scaleBy(s=(0.9, 0.9) if frame < 10 else (1 / 0.9, 1 / 0.9))
        viewport.repaint()
    zoom_fps = 20 / (time.perf_counter() - started)
    rect = view.viewbox.sceneBoundingRect()
    positions = [QPointF(rect.left() + rect.width() * x, rect.top() + rect.height() * y) for x, y in rng.random((500, 2))]
    started = time.perf_counter()
    found = sum(view.row_at(p) >= 0 for p in positions)
    hover_ms = (time.perf_counter() - started) / len(positions) * 1000
    print(f"pan {fps:.1f} fps, zoom {zoom_fps:.1f} fps, hover {hover_ms:.3f} ms ({found} hits)", flush=True)
    return [[f"{count:,}", f"{fps:.0f}", f"{zoom_fps:.0f}", f"{hover_ms:.2f} ms"]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--quality", type=int, default=10_000)
    parser.add_argument("--methods", nargs="+", default=["pca", "tsne"], choices=["pca", "tsne", "umap"])
    parser.add_argument("--skip", nargs="*", default=[], choices=["quality", "time", "view"])
    parser.add_argument("--write", action="store_true", help="write the Maps section of RESULTS.md")
    args = parser.parse_args(argv)
    parts = []
    if "quality" not in args.skip:
        parts.append("Quality (KJV verses, MiniLM int8 vectors; k = 10; higher is better):\n\n" + markdown_table(
            ["method", "points", "trustworthiness", "10-NN on map among 50-NN", "layout time"],
            quality_rows(args.quality, args.methods)))
    if "time" not in args.skip:
        parts.append("Layout time (200 Gaussian clusters on the unit sphere):\n\n" + markdown_table(
            ["method", "points", "time"], time_rows(args.points, args.methods)))
    if "view" not in args.skip:
        parts.append("View (MapView 1280×800 offscreen, synchronous repaints):\n\n" + markdown_table(
            ["points", "pan frames/s", "zoom frames/s", "hover lookup"], view_rows(args.points)))
    if args.write:
        write_section("Maps", "\n\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
