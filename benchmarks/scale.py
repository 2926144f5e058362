"""Scale benchmark: the ANN search of large collections (embedengine/collections/search.py and ann.py).

Synthetic clustered unit vectors (about 100 per cluster, each a cluster centre plus noise of norm 0.35, so
a point's ten nearest neighbours have cosines near 0.9 and are hard to tell apart) are written through the
engine's own write path (``CollectionStore.write_batch``: files of 100 items in 10 folders, float16 rows and
SQLite rows as an index run writes them). Then, each phase in its own process so that its peak RSS is its
own: the ANN index is built (``VectorSearcher.prepare``, as an index run does), and the collection is opened
and searched with held-out points of the same clusters: p50/p99 latency of ``VectorSearcher.nearest`` and
recall@10 against exact search, without and with a folder filter (one folder of ten).

10M is projected from the two measured sizes (build time and latency growing with log N, sizes linearly)
and marked as a projection.

Run::

    nice .venv/bin/python benchmarks/scale.py --sizes 100000 1000000 --image 100000
    nice .venv/bin/python benchmarks/scale.py --crossover        # exact vs int8 vs ANN latency by size
    nice .venv/bin/python benchmarks/scale.py --libraries 100000 # usearch / hnswlib / faiss / voyager

Each writes its part of the section "Scale" of benchmarks/RESULTS.md (and prints JSON lines). Collections are
written under ``--work`` (default: a temporary folder, deleted afterwards).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._results import RESULTS, markdown_table, write_section  # noqa: E402
from embedengine.collections import ann, search  # noqa: E402
from embedengine.store import CollectionStore, FileEntry  # noqa: E402

METHOD = "vectors"
ITEMS_PER_FILE = 100
FOLDERS = 10
WRITE_CHUNK = 20_000  # rows per write_batch (one transaction)
QUERIES = 200
K = 10
NOISE = 0.35  # norm of a point's offset from its cluster centre
PROJECTED = 10_000_000


# -- synthetic data ------------------------------------------------------------------------------

def centres(rows: int, dim: int, seed: int = 0) -> np.ndarray:
    generator = np.random.default_rng(seed)
    found = generator.standard_normal((max(rows // 100, 10), dim)).astype(np.float32)
    return found / np.linalg.norm(found, axis=1, keepdims=True)


def clustered(points: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` unit vectors near random ``points`` (cluster centres)."""
    generator = np.random.default_rng(seed)
    dim = points.shape[1]
    rows = points[generator.integers(0, len(points), count)]
    rows = rows + NOISE * generator.standard_normal((count, dim)).astype(np.float32) / np.sqrt(dim)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# -- phases (each run in its own process) ------------------------------------------------------------

def phase_write(folder: Path, rows: int, dim: int) -> dict:
    """Write ``rows`` clustered vectors through CollectionStore.write_batch, a chunk per transaction."""
    points = centres(rows, dim)
    started = time.perf_counter()
    with CollectionStore(folder) as store:
        for begin in range(0, rows, WRITE_CHUNK):
            count = min(WRITE_CHUNK, rows - begin)
            files = [FileEntry(f"/synthetic/folder{(begin // ITEMS_PER_FILE + f) % FOLDERS}/file{begin // ITEMS_PER_FILE + f}.txt",
                               1, 1.0, payloads=[{"ordinal": i} for i in range(ITEMS_PER_FILE)])
                     for f in range(count // ITEMS_PER_FILE)]
            store.write_batch(files, {METHOD: clustered(points, count, seed=1 + begin)})
    np.save(folder / "queries.npy", clustered(points, QUERIES, seed=10**9))
    return {"write_s": time.perf_counter() - started, "write_rss_mb": peak_rss_mb()}


def phase_build(folder: Path) -> dict:
    """Build the ANN index as an index run's last step does."""
    with CollectionStore(folder) as store:
        searcher = search.VectorSearcher(store)
        started = time.perf_counter()
        assert searcher.prepare(METHOD), "the ANN index was not built"
        seconds = time.perf_counter() - started
    index_bytes = sum(p.stat().st_size for p in (folder / ann.FOLDER).glob("*.usearch"))
    vector_bytes = sum(p.stat().st_size for p in (folder / "vectors").glob("*.f16"))
    return {"build_s": seconds, "build_rss_mb": peak_rss_mb(), "index_mb": index_bytes / 1e6,
            "vectors_mb": vector_bytes / 1e6, "sqlite_mb": (folder / "index.sqlite").stat().st_size / 1e6}


def phase_search(folder: Path) -> dict:
    """Open, search (latency, RSS), then exact search for recall (after the RSS is read)."""
    queries = np.load(folder / "queries.npy")
    started = time.perf_counter()
    store = CollectionStore(folder)
    searcher = search.VectorSearcher(store)
    matrix = store.matrix(METHOD)
    assert searcher.ann_index(matrix, wait=False) is not None, "no ANN index on disk"
    open_s = time.perf_counter() - started
    folder_filter = store.item_ids_for_paths(lambda path: f"/folder0/" in path)
    out = {"open_s": open_s}
    for name, allowed in (("all", None), ("filter", folder_filter)):
        latencies, found = [], []
        for query in queries:
            began = time.perf_counter()
            found.append([item for item, _ in searcher.nearest(METHOD, query, K, allowed)])
            latencies.append(time.perf_counter() - began)
        out[f"{name}_p50_ms"] = float(np.percentile(latencies, 50) * 1000)
        out[f"{name}_p99_ms"] = float(np.percentile(latencies, 99) * 1000)
        out[f"{name}_found"] = found
    out["search_rss_mb"] = peak_rss_mb()
    mask = matrix.live_mask()
    for name, allowed in (("all", None), ("filter", folder_filter)):
        usable = mask if allowed is None else mask & np.isin(matrix.row_items, allowed)
        truth = exact_top_k(matrix, usable, queries)
        hits = [len(set(best) & set(f)) / K for best, f in zip(truth, out.pop(f"{name}_found"))]
        out[f"{name}_recall"] = float(np.mean(hits))
    store.close()
    return out


def exact_top_k(matrix, usable: np.ndarray, queries: np.ndarray, chunk: int = 65_536) -> list[list[int]]:
    """Exact top-K item ids of every query among ``usable`` rows, all queries per chunk of rows."""
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, matrix.rows, chunk):
        scores = queries @ np.asarray(matrix.stored[start:start + chunk], dtype=np.float32).T
        scores[:, ~usable[start:start + chunk]] = -np.inf
        rows = np.broadcast_to(np.arange(start, start + scores.shape[1]), scores.shape)
        scores, rows = np.hstack([best_scores, scores]), np.hstack([best_rows, rows])
        keep = np.argsort(-scores, axis=1, kind="stable")[:, :K]
        best_scores, best_rows = np.take_along_axis(scores, keep, 1), np.take_along_axis(rows, keep, 1)
    return [[int(matrix.row_items[r]) for r in rows] for rows in best_rows]


PHASES = {"write": phase_write, "build": phase_build, "search": phase_search}


def run_phase(name: str, folder: Path, *args) -> dict:
    """One phase in a fresh process: its peak RSS is its own."""
    command = [sys.executable, __file__, "--phase", name, str(folder), *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"phase {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(rows: int, dim: int, work: Path, keep: bool = False) -> dict:
    folder = work / f"scale-{rows}x{dim}"
    shutil.rmtree(folder, ignore_errors=True)
    result = {"rows": rows, "dim": dim}
    for name, args in (("write", (rows, dim)), ("build", ()), ("search", ())):
        result.update(run_phase(name, folder, *args))
        print(json.dumps(result), flush=True)
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def project(small: dict, large: dict, rows: int = PROJECTED) -> dict:
    """Extrapolate to ``rows``: build time ∝ N log N, latency and recall linear in log N, sizes, RSS and
    opening (it reads each row's item id) linear in N."""
    n1, n2 = small["rows"], large["rows"]
    along = math.log(rows / n2) / math.log(n2 / n1)
    out = {"rows": rows, "dim": large["dim"], "projected": True}
    out["build_s"] = large["build_s"] * rows / n2 * math.log(rows) / math.log(n2)
    for key in ("index_mb", "vectors_mb", "build_rss_mb", "search_rss_mb", "open_s"):
        out[key] = small[key] + (large[key] - small[key]) * (rows - n1) / (n2 - n1)
    for key in ("all_p50_ms", "all_p99_ms", "filter_p50_ms", "filter_p99_ms"):
        out[key] = large[key] + max(0.0, large[key] - small[key]) * along
    for key in ("all_recall", "filter_recall"):
        out[key] = max(0.0, large[key] + min(0.0, large[key] - small[key]) * along)
    return out


def scale_table(results: list[dict]) -> str:
    headers = ["vectors", "build", "index on disk", "vectors on disk", "build peak RSS", "open",
               "search peak RSS", "p50 / p99", "recall@10", "filtered p50 / p99", "filtered recall@10"]
    rows = []
    for r in results:
        mark = " (projected)" if r.get("projected") else f" ({r['note']})" if r.get("note") else ""
        rows.append([f"{r['rows']:,} × {r['dim']}{mark}", f"{r['build_s']:.0f} s", f"{r['index_mb']:.0f} MB",
                     f"{r['vectors_mb']:.0f} MB", f"{r['build_rss_mb']:.0f} MB", f"{r['open_s'] * 1000:.0f} ms",
                     f"{r['search_rss_mb']:.0f} MB", f"{r['all_p50_ms']:.2f} / {r['all_p99_ms']:.1f} ms",
                     f"{r['all_recall']:.3f}", f"{r['filter_p50_ms']:.2f} / {r['filter_p99_ms']:.1f} ms",
                     f"{r['filter_recall']:.3f}"])
    return markdown_table(headers, rows)


def sizes_markdown(text: list[dict], images: list[dict]) -> str:
    """The table of measured sizes, with 1M and 10M projected from the two largest text sizes when larger."""
    projected = [project(text[-2], text[-1], rows) for rows in (1_000_000, PROJECTED)
                 if len(text) >= 2 and rows > text[-1]["rows"]]
    return ("Synthetic clustered collections written through `CollectionStore.write_batch`, ANN index built by "
            "`VectorSearcher.prepare`, 200 held-out queries, k = 10; the filter keeps one folder of ten. Peak "
            "RSS: of the build process, and of the search process before the exact searches that measure "
            "recall. Rows marked *projected* are extrapolated from the two largest measured sizes (build time "
            "∝ N log N, latency and recall linear in log N, sizes, RSS and opening linear in N), not measured.\n\n"
            + scale_table(text + projected + images))


# -- where the ANN starts to pay (the ANN_MIN threshold) -----------------------------------------------

def crossover(sizes: list[int], dim: int, work: Path) -> list[dict]:
    """Per-query latency of exact float32, the int8 first pass and the ANN with re-scoring, by set size."""
    results = []
    for rows in sizes:
        folder = work / f"crossover-{rows}"
        shutil.rmtree(folder, ignore_errors=True)
        phase_write(folder, rows, dim)
        queries = np.load(folder / "queries.npy")[:100]
        with CollectionStore(folder) as store:
            exact = timed(lambda q: store.search(METHOD, q, K), queries)
            ranked = {q.tobytes(): {i for i, _ in store.search(METHOD, q, K)} for q in queries}
            line = {"rows": rows, "exact_ms": exact}
            for name, ann_min, fast_min in (("int8", 10**12, 0), ("ann", 0, 10**12)):
                search.ANN_MIN, search.FAST_SEARCH_MIN = ann_min, fast_min
                searcher = search.VectorSearcher(store)
                if not searcher.prepare(METHOD):
                    continue
                line[f"{name}_ms"] = timed(lambda q: searcher.nearest(METHOD, q, K), queries)
                line[f"{name}_recall"] = float(np.mean(
                    [len({i for i, _ in searcher.nearest(METHOD, q, K)} & ranked[q.tobytes()]) / K for q in queries]))
        shutil.rmtree(folder, ignore_errors=True)
        print(json.dumps(line), flush=True)
        results.append(line)
    return results


def timed(function, queries: np.ndarray) -> float:
    """Median milliseconds of ``function(query)`` after one warm-up call."""
    function(queries[0])
    latencies = []
    for query in queries:
        began = time.perf_counter()
        function(query)
        latencies.append(time.perf_counter() - began)
    return float(np.median(latencies) * 1000)


# -- the libraries compared ------------------------------------------------------------------------------

def compare_libraries(rows: int, dim: int, work: Path) -> list[dict]:
    """HNSW (M 16, efConstruction 128, ef 64) of usearch, hnswlib, faiss and voyager (those installed):
    build (2 threads), size, open (view/mmap where offered), latency and recall@10 (with exact re-scoring of
    50 candidates for 8-bit stores)."""
    points = centres(rows, dim)
    data, queries = clustered(points, rows, seed=1), clustered(points, QUERIES, seed=10**9)
    truth = [set(np.argsort(-(data @ q))[:K]) for q in queries]
    path = str(work / "library.index")

    def measured(name: str, build, open_index, query, rescore: bool) -> dict:
        began = time.perf_counter()
        build()
        built = time.perf_counter() - began
        began = time.perf_counter()
        index = open_index()
        opened = time.perf_counter() - began
        latencies, recall = [], []
        for q, best in zip(queries, truth):
            began = time.perf_counter()
            keys = np.asarray(query(index, q, 50 if rescore else K), dtype=np.int64)
            latencies.append(time.perf_counter() - began)
            if rescore:
                keys = keys[np.argsort(-(data[keys].astype(np.float16).astype(np.float32) @ q))[:K]]
            recall.append(len(set(keys[:K].tolist()) & best) / K)
        line = {"library": name, "build_s": built, "size_mb": os.path.getsize(path) / 1e6, "open_ms": opened * 1000,
                "p50_ms": float(np.percentile(latencies, 50) * 1000), "recall": float(np.mean(recall))}
        print(json.dumps(line), flush=True)
        return line

    out = []
    try:
        from usearch.index import Index
        for dtype in ("f32", "i8"):
            def build(dtype=dtype):
                index = Index(ndim=dim, metric="ip", dtype=dtype, connectivity=16, expansion_add=128,
                              expansion_search=64)
                index.add(np.arange(rows), data, threads=2)
                index.save(path)
            out.append(measured(f"usearch {dtype} (view)", build, lambda: Index.restore(path, view=True),
                                lambda index, q, k: index.search(q, k, threads=1).keys, dtype == "i8"))
    except ImportError:
        pass
    try:
        import hnswlib

        def build_hnswlib():
            index = hnswlib.Index(space="ip", dim=dim)
            index.init_index(max_elements=rows, ef_construction=128, M=16)
            index.add_items(data, np.arange(rows), num_threads=2)
            index.save_index(path)

        def open_hnswlib():
            index = hnswlib.Index(space="ip", dim=dim)
            index.load_index(path)
            index.set_ef(64)
            return index
        out.append(measured("hnswlib f32 (load)", build_hnswlib, open_hnswlib,
                            lambda index, q, k: index.knn_query(q, k, num_threads=1)[0][0], False))
    except ImportError:
        pass
    try:
        import faiss
        faiss.omp_set_num_threads(2)
        for kind in ("f32", "sq8"):
            def build_faiss(kind=kind):
                index = (faiss.IndexHNSWFlat(dim, 16, faiss.METRIC_INNER_PRODUCT) if kind == "f32" else
                         faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, 16, faiss.METRIC_INNER_PRODUCT))
                index.hnsw.efConstruction = 128
                if kind == "sq8":
                    index.train(data)
                index.add(data)
                faiss.write_index(index, path)

            def open_faiss():
                index = faiss.read_index(path, faiss.IO_FLAG_MMAP)
                index.hnsw.efSearch = 64
                return index
            out.append(measured(f"faiss {kind} (mmap)", build_faiss, open_faiss,
                                lambda index, q, k: index.search(q[None], k)[1][0], kind == "sq8"))
    except ImportError:
        pass
    try:
        import voyager
        for kind in ("Float32", "E4M3"):
            def build_voyager(kind=kind):
                index = voyager.Index(voyager.Space.InnerProduct, num_dimensions=dim, M=16, ef_construction=128,
                                      storage_data_type=getattr(voyager.StorageDataType, kind))
                index.add_items(data, np.arange(rows), num_threads=2)
                index.save(path)
            out.append(measured(f"voyager {kind} (load)", build_voyager, lambda: voyager.Index.load(path),
                                lambda index, q, k: index.query(q, k, query_ef=64)[0], kind != "Float32"))
    except ImportError:
        pass
    Path(path).unlink(missing_ok=True)
    return out


# -- RESULTS.md ------------------------------------------------------------------------------------

def save(part: str, markdown: str) -> None:
    """Keep the section "Scale" as three parts (libraries, crossover, sizes), each replaced by its own run."""
    existing = _section_parts()
    existing[part] = markdown.strip()
    order = [p for p in ("libraries", "crossover", "sizes") if p in existing]
    write_section("Scale", "\n\n".join(f"<!-- {p} -->\n{existing[p]}" for p in order)
                  + f"\n\n_Load average when run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
                    f"(shared with other work)._")


def _section_parts() -> dict[str, str]:
    text = RESULTS.read_text() if RESULTS.exists() else ""
    if "## Scale\n" not in text:
        return {}
    body = text.split("## Scale\n", 1)[1].split("\n## ", 1)[0]
    parts = {}
    for chunk in body.split("<!-- ")[1:]:
        name, content = chunk.split(" -->\n", 1)
        parts[name] = content.split("\n\n_Load average")[0].strip()
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000], help="384-d set sizes")
    parser.add_argument("--image", type=int, nargs="*", default=[100_000], help="2048-d set sizes")
    parser.add_argument("--crossover", action="store_true", help="exact vs int8 vs ANN latency by size")
    parser.add_argument("--libraries", type=int, metavar="ROWS", help="compare the ANN libraries at ROWS × 384")
    parser.add_argument("--work", type=Path, help="where collections are written (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the collections (search again: --phase search DIR)")
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        name, folder, *rest = args.phase
        print(json.dumps(PHASES[name](Path(folder), *map(int, rest))))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="embedstudio-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.libraries:
        lines = compare_libraries(args.libraries, 384, work)
        save("libraries", f"ANN libraries at {args.libraries:,} × 384 clustered vectors (HNSW M 16, efConstruction "
             "128, ef 64; 8-bit stores re-score 50 candidates exactly):\n\n" + markdown_table(
                 ["library", "build", "size on disk", "open", "p50", "recall@10"],
                 [[r["library"], f"{r['build_s']:.0f} s", f"{r['size_mb']:.0f} MB", f"{r['open_ms']:.0f} ms",
                   f"{r['p50_ms']:.2f} ms", f"{r['recall']:.3f}"] for r in lines]))
    elif args.crossover:
        lines = crossover([2_000, 5_000, 10_000, 20_000, 50_000], 384, work)
        save("crossover", "Per-query latency by set size (384-d; median of 100 queries), the choice of `ANN_MIN`:\n\n"
             + markdown_table(["vectors", "exact float32", "int8 first pass", "ANN + exact re-scoring", "ANN recall@10"],
                              [[f"{r['rows']:,}", f"{r['exact_ms']:.2f} ms", f"{r.get('int8_ms', float('nan')):.2f} ms",
                                f"{r['ann_ms']:.2f} ms", f"{r['ann_recall']:.3f}"] for r in lines]))
    else:
        text = [measure(rows, 384, work, args.keep) for rows in sorted(args.sizes)]
        images = [measure(rows, 2048, work, args.keep) for rows in sorted(args.image)]
        save("sizes", sizes_markdown(text, images))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
