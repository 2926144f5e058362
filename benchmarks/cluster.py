"""Cluster benchmark: end-to-end throughput of an index run on Ray (embedengine/cluster.py) against the local
index run on the same files, both measured in the same run.

Files: ``--documents`` text files of four KJV verses each (one passage each, MiniLM) and ``--images`` photos
made from the demo photos (mirrored, halved, cropped), each indexed into a fresh collection in a temporary
Embed Studio home. Local: the collection's ``index()`` with ``--cpus`` model threads. Ray: the same call
through :func:`embedengine.cluster.on_cluster`, on a local Ray instance of ``--cpus`` CPUs with ``--concurrency``
actors of ``cpus / concurrency`` CPUs each: once with Ray's start counted (what ``--ray`` costs a user),
once on the instance already running (what a standing cluster costs). The two kinds of run alternate for
``--rounds`` rounds; the medians are reported, with the load average (``uptime``) before and after.

Run: ``nice -n 10 .venv/bin/python benchmarks/cluster.py [--documents 600 --images 220 --rounds 2]``.
Needs ``pip install 'embed-studio[cluster]'``. Prints one JSON line and writes the section "cluster" of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._results import markdown_table, write_section  # noqa: E402
from embedengine import runtime  # noqa: E402


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def documents(folder: Path, count: int) -> Path:
    """``count`` text files of four consecutive KJV verses, taken across the whole book."""
    lines = [line.strip() for line in (runtime.resources_dir() / "corpus" / "kjv.txt").read_text("utf-8").splitlines()
             if len(line.split()) > 6]
    stride = max(1, len(lines) // count)
    folder.mkdir(parents=True)
    for n in range(count):
        (folder / f"part{n:05d}.txt").write_text(" ".join(lines[n * stride:n * stride + 4]), encoding="utf-8")
    return folder


def images(folder: Path, count: int, seed: int = 1) -> Path:
    """``count`` photos: the demo photos, then mirrored, halved and cropped copies of them in turn."""
    from PIL import Image, ImageOps

    from embedengine.images_index import ImageCollection

    rng = random.Random(seed)
    sources = sorted(p for p in (runtime.resources_dir() / "images").iterdir()
                     if p.suffix.lower() in ImageCollection.extensions)
    folder.mkdir(parents=True)
    for n in range(count):
        source = sources[n % len(sources)]
        with Image.open(source) as opened:
            image = opened.convert("RGB")
        variant = n // len(sources) % 3
        if variant == 1:
            image = ImageOps.mirror(image)
        elif variant == 2:
            image = image.resize((max(64, image.width // 2), max(64, image.height // 2)))
        if n >= 3 * len(sources):
            side = rng.uniform(0.6, 0.9)
            w, h = int(image.width * side), int(image.height * side)
            x, y = rng.randint(0, image.width - w), rng.randint(0, image.height - h)
            image = image.crop((x, y, x + w, y + h))
        image.save(folder / f"photo{n:04d}.png")
    return folder


def timed_index(kind, name: str, folder: Path) -> dict:
    started = time.perf_counter()
    with kind(name, create=True) as collection:
        report = collection.index([folder])
    seconds = time.perf_counter() - started
    assert report.files_new and not report.skipped, report.skipped[:3]
    return {"seconds": seconds, "files_per_s": report.files_new / seconds, "items": report.items}


def measure(n_documents: int, n_images: int, cpus: int, concurrency: int, batch_size: int, rounds: int) -> dict:
    """Median seconds and files/s of each way of indexing, per kind (see the module docstring)."""
    from embedengine.cluster import RaySettings, on_cluster, ray_session
    from embedengine.documents import DocumentCollection
    from embedengine.images_index import ImageCollection

    settings = RaySettings(batch_size=batch_size, concurrency=concurrency, cpus_per_actor=max(1, cpus // concurrency),
                           local_cpus=cpus)
    base = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    folders = {kind: make(base / kind, count) for kind, make, count in
               (("documents", documents, n_documents), ("images", images, n_images)) if count}
    kinds = {kind: cls for kind, cls in (("documents", DocumentCollection), ("images", ImageCollection)) if kind in folders}
    runs: dict[str, dict[str, list[dict]]] = {kind: {"local": [], "ray (start counted)": [], "ray (running)": []}
                                              for kind in kinds}
    load_before = load_average()
    for round_ in range(rounds):
        for kind, cls in kinds.items():
            runs[kind]["local"].append(timed_index(cls, f"local{round_}", folders[kind]))
            runs[kind]["ray (start counted)"].append(timed_index(on_cluster(cls, settings), f"ray{round_}", folders[kind]))
            with ray_session(settings):
                runs[kind]["ray (running)"].append(
                    timed_index(on_cluster(cls, settings), f"warm{round_}", folders[kind]))
    result = {"documents": n_documents, "images": n_images, "cpus": cpus, "concurrency": concurrency,
              "batch_size": batch_size, "rounds": rounds, "load_before": load_before, "load_after": load_average(),
              "runs": {}}
    for kind, modes in runs.items():
        files = len(list(folders[kind].iterdir()))
        median = {mode: statistics.median(r["seconds"] for r in rs) for mode, rs in modes.items()}
        result["runs"][kind] = {mode: {"seconds": round(median[mode], 2), "files_per_s": round(files / median[mode], 2),
                                       "of_local": round(median["local"] / median[mode], 2),
                                       "each_s": [round(r["seconds"], 2) for r in modes[mode]]}
                                for mode in modes}
    return result


def markdown(result: dict) -> str:
    rows = [[kind, result[kind], mode, f"{m['seconds']:.1f}", f"{m['files_per_s']:.1f}", f"{m['of_local']:.0%}"]
            for kind, modes in result["runs"].items() for mode, m in modes.items()]
    table = markdown_table(["kind", "files", "run", "seconds", "files/s", "of local"], rows)
    return (f"End-to-end `index()` of the same files, local and on a local Ray instance of {result['cpus']} CPUs "
            f"({result['concurrency']} actors × {max(1, result['cpus'] // result['concurrency'])} CPU, "
            f"{result['batch_size']} files per actor call), alternating, median of {result['rounds']} round(s); "
            f"local runs use {result['cpus']} model threads. Documents: four KJV verses per file (one passage, "
            f"MiniLM); images: demo photos mirrored, halved and cropped (ResNet50, labels, thumbnails). Load average "
            f"(`uptime`) {result['load_before']} before, {result['load_after']} after: the machine was shared, so "
            f"treat the ratios as indicative.\n\n{table}\n\n`ray (start counted)` includes starting Ray and its "
            f"actors (the models load once per actor); `ray (running)` reuses an instance already up, as a standing "
            f"cluster would. Run: `nice -n 10 .venv/bin/python benchmarks/cluster.py`.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=600)
    parser.add_argument("--images", type=int, default=220)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2, help="local Ray CPUs and local model threads")
    parser.add_argument("--concurrency", type=int, default=2, help="Ray actors")
    parser.add_argument("--batch-size", type=int, default=32, help="files per actor call")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    os.environ["EMBEDSTUDIO_MODELS"] = str(runtime.models_dir())  # the built models, whatever the home
    os.environ["EMBEDSTUDIO_HOME"] = tempfile.mkdtemp(prefix="cluster-bench-home-")
    os.environ["EMBEDSTUDIO_THREADS"] = str(args.cpus)
    result = measure(args.documents, args.images, args.cpus, args.concurrency, args.batch_size, args.rounds)
    print(json.dumps(result))
    if not args.no_write:
        write_section("cluster", markdown(result))


if __name__ == "__main__":
    main()
