"""Images benchmark: end-to-end indexing images/s vs model-only images/s, and search latency at 100k images.

Indexing: about 200 real photo files made from the shipped demo photos and the six reference photos,
each in twelve versions (as is, mirrored, cropped, rotated, greyscale, smaller WebP, PNG, and JPEGs
enlarged ×2–×4, which take the draft decoding path). *Model-only* feeds the same images, already
preprocessed, to ONNX Runtime; *end to end* is :meth:`ImageCollection.index` on the folder (what
``images index`` runs) — walking, hashing, decoding, thumbnails, labels and SQLite commits included.
The two alternate ``--rounds`` times in the same process; the ratio is best end to end over best
model-only, with each round's own ratio and the load average (as ``uptime`` shows it) beside it.
Target: ≥ 85 %.

Search: a collection holding ``--vectors`` synthetic non-negative unit vectors (like ResNet50 features),
timed after the query image is encoded (the issue's "< 50 ms at 100k"), against the exact float32 search
measured in the same loop, with the share of identical top-10 results.

Run: ``.venv/bin/python benchmarks/images.py [--vectors 100000] [--rounds 3] [--only indexing|search]``.
Writes the section "images" of benchmarks/RESULTS.md (with ``--only``, the other part stays as it was).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if __name__ == "__main__":  # say what is missing before loading, building or training anything
    from benchmarks.check_inputs import exit_if_missing

    exit_if_missing("images")

from embedengine import runtime  # noqa: E402

os.environ["EMBEDSTUDIO_MODELS"] = str(runtime.models_dir())
os.environ.setdefault("EMBEDSTUDIO_CACHE", str(runtime.cache_dir()))  # the fetched packages stay usable
os.environ["EMBEDSTUDIO_HOME"] = tempfile.mkdtemp(prefix="embedstudio-images-bench-")

from benchmarks._results import RESULTS, markdown_table, write_section  # noqa: E402
from embedengine.image import decode_image, get_image_encoder, preprocess  # noqa: E402
from embedengine.images_index import METHOD, ImageCollection, demo_folder  # noqa: E402
from embedengine.linalg import normalise  # noqa: E402
from embedengine.store import FileEntry  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "resnet50_tfjs_reference.npz"  # shipped with the tests
TARGET = 0.85
BATCH = 16


def make_photos(folder: Path) -> list[Path]:
    """Twelve real files from each demo and reference photo (about 200): mixed formats, sizes and contents."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = {p.stem: Image.open(p) for p in sorted(demo_folder().iterdir()) if p.suffix != ".md"}
    if FIXTURE.exists():
        data = np.load(FIXTURE)
        sources.update({f"ref-{n}": Image.fromarray(px) for n, px in zip(data["names"], data["inputs_rgb_u8_nhwc"])})
    for stem, image in sources.items():
        for name, version in versions(image.convert("RGB")).items():
            options = {"quality": 85} if name.endswith(".webp") else {"quality": 90} if name.endswith(".jpg") else {}
            version.save(folder / f"{stem}-{name}", **options)
    return sorted(folder.iterdir())


def versions(image: Image.Image) -> dict[str, Image.Image]:
    """File name suffix → picture: what a photo folder holds besides the original."""
    width, height = image.size
    bigger = {f"x{k}.jpg": image.resize((width * k, height * k), Image.Resampling.BICUBIC) for k in (2, 3, 4)}
    return {"as-is.jpg": image, "mirror.png": ImageOps.mirror(image),
            "small.webp": image.resize((max(1, width * 3 // 5), max(1, height * 3 // 5))),
            "rotated.jpg": image.transpose(Image.Transpose.ROTATE_90),
            "grey.jpg": ImageOps.grayscale(image), "brighter.jpg": ImageOps.autocontrast(image, cutoff=2),
            "crop-left.jpg": image.crop((0, 0, width * 4 // 5, height * 4 // 5)).resize((width * 2, height * 2)),
            "crop-right.jpg": image.crop((width // 5, height // 5, width, height)).resize((width * 3 // 2,
                                                                                          height * 3 // 2)),
            "crop-centre.png": image.crop((width // 6, height // 6, width * 5 // 6, height * 5 // 6)),
            **bigger}


class Rate:
    """Images per second of wall-clock time and per CPU-second of this process (all its threads)."""

    def __enter__(self) -> "Rate":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def per_s(self, images: int) -> tuple[float, float]:
        return images / self.wall, images / self.cpu


def model_only_rate(pixels: np.ndarray) -> tuple[float, float]:
    encoder = get_image_encoder()
    with Rate() as rate:
        for start in range(0, len(pixels), BATCH):
            encoder.run_model(pixels[start:start + BATCH])
    return rate.per_s(len(pixels))


def end_to_end_rate(folder: Path, name: str) -> tuple[float, float, int]:
    with Rate() as rate, ImageCollection(name, create=True) as collection:
        report = collection.index([folder], batch_size=BATCH)
    return *rate.per_s(report.items_added), report.items_added


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, as ``uptime`` prints them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def indexing_rows(rounds: int) -> tuple[list[list], list[list], float]:
    folder = Path(tempfile.mkdtemp(prefix="photos-"))
    paths = make_photos(folder)
    pixels = np.stack([preprocess(d.image, d.content) for d in map(decode_image, paths)])
    get_image_encoder().run_model(pixels[:BATCH])  # warm-up
    model, e2e, round_rows, count = [], [], [], 0
    for round_number in range(1, rounds + 1):
        load = load_average()
        model_rate, model_cpu_rate = model_only_rate(pixels)
        rate, cpu_rate, count = end_to_end_rate(folder, f"bench-{round_number}")
        model.append(model_rate)
        e2e.append(rate)
        round_rows.append([round_number, f"{model_rate:.1f}", f"{rate:.1f}", f"{rate / model_rate:.0%}",
                           f"{model_cpu_rate:.2f} / {cpu_rate:.2f} = {cpu_rate / model_cpu_rate:.0%}", load])
    shutil.rmtree(folder, ignore_errors=True)
    if count != len(paths):
        raise RuntimeError(f"only {count} of {len(paths)} benchmark photos were indexed")
    ratio = max(e2e) / max(model)
    rows = [["model only (preprocessed arrays → ONNX)", len(paths), f"{max(model):.1f}", ""],
            ["end to end (`ImageCollection.index`, as `images index`)", count, f"{max(e2e):.1f}",
             f"{ratio:.0%} {'✅' if ratio >= TARGET else '❌'} (target ≥ {TARGET:.0%})"]]
    return rows, round_rows, ratio


def synthetic_collection(n: int, dim: int = 2048, chunk: int = 10_000) -> ImageCollection:
    """A collection of ``n`` random unit vectors, each with 5 random ImageNet labels, written like an index run."""
    rng = np.random.default_rng(0)
    labels = get_image_encoder().labels
    collection = ImageCollection("latency", create=True)
    for start in range(0, n, chunk):
        count = min(chunk, n - start)
        vectors = normalise(np.abs(rng.standard_normal((count, dim), dtype=np.float32)))
        entries = [FileEntry(f"/synthetic/{start + i:07d}.jpg", 1, 0.0, None, payloads=[random_payload(rng, labels)])
                   for i in range(count)]
        collection.store.write_batch(entries, {METHOD: vectors})
    return collection


def random_payload(rng: np.random.Generator, labels: list[str]) -> dict:
    probabilities = np.sort(rng.dirichlet(np.ones(5)))[::-1]
    names = rng.choice(len(labels), 5, replace=False)
    return {"width": 640, "height": 480, "thumb": "",
            "labels": [[labels[i], round(float(p), 4)] for i, p in zip(names, probabilities)]}


def timed_ms(fn, *args, **kwargs) -> float:
    started = time.perf_counter()
    fn(*args, **kwargs)
    return (time.perf_counter() - started) * 1000


def latency_rows(n: int, queries: int = 50) -> tuple[list[list], float]:
    built = synthetic_collection(n)
    rng = np.random.default_rng(1)
    probes = normalise(np.abs(rng.standard_normal((queries, 2048), dtype=np.float32)))
    near = built.store.matrix(METHOD).rows_as_float32(rng.integers(0, n, queries))
    probes = normalise(probes + near)  # near some images
    prepare_ms = timed_ms(built.searcher.prepare, METHOD)  # what the end of an index run does
    built.close()
    collection = ImageCollection("latency")  # as after a restart
    first_ms = timed_ms(collection.search_vector, probes[0], k=10)
    timings, exact_timings, agree = [], [], 0
    for probe in probes:  # interleaved with the exact float32 search, so both see the same machine load
        timings.append(timed_ms(collection.search_vector, probe, k=10))
        exact_timings.append(timed_ms(collection.store.search, METHOD, probe, 10))
        fast = {i for i, _ in collection.nearest(METHOD, probe, 10)}
        agree += len(fast & {i for i, _ in collection.store.search(METHOD, probe, 10)})
    first_label_ms = timed_ms(collection.search_vector, probes[0], k=10, label_filter="cat")
    label_timings = [timed_ms(collection.search_vector, probe, k=10, label_filter="cat") for probe in probes]
    matched = len(collection.label_matches("cat"))
    collection.close()
    median, exact_median = statistics.median(timings), statistics.median(exact_timings)
    rows = [[f"{n:,}", "building the int8 copy (once, at the end of an index run)", f"{prepare_ms:.0f}", ""],
            [f"{n:,}", "first search after opening the collection (reads the vectors and the int8 copy)",
             f"{first_ms:.0f}", ""],
            [f"{n:,}", f"top-10 search (int8 first pass + exact re-scoring), median of {queries}", f"{median:.1f}",
             f"{'✅' if median < 50 else '❌'} (target < 50 ms)"],
            [f"{n:,}", "top-10 search, p95", f"{percentile(timings, 95):.1f}", ""],
            [f"{n:,}", "peer: exact float32 search over all vectors (`CollectionStore.search`), median",
             f"{exact_median:.1f}", f"{exact_median / median:.1f}× slower; same top-10: {agree / (10 * queries):.1%}"],
            [f"{n:,}", "first search with label filter “cat” (builds the label index once)", f"{first_label_ms:.0f}", ""],
            [f"{n:,}", f"top-10 search with label filter “cat” ({matched:,} images match), median",
             f"{statistics.median(label_timings):.1f}", ""]]
    return rows, median


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[int(q / 100 * (len(values) - 1))]


PARTS = {"indexing": "### Indexing", "search": "### Search latency"}


def load_note(before: str) -> str:
    return (f"Load average (1, 5, 15 min, as `uptime` shows it) {before} before and {load_average()} after, on "
            f"{os.cpu_count()} cores; this process at niceness {os.nice(0)}. A load above the core count means other "
            f"processes shared the cores: then the absolute rates are pessimistic and the ratio is noisier.")


def indexing_markdown(rounds: int) -> tuple[str, float]:
    before = load_average()
    index_rows, round_rows, ratio = indexing_rows(rounds)
    threads = os.environ.get("EMBEDSTUDIO_THREADS", "auto")
    return "\n\n".join([
        PARTS["indexing"], f"_Measured {time.strftime('%Y-%m-%d')}._ {load_note(before)}",
        f"{BATCH} images per batch, ONNX Runtime threads: {threads}; {rounds} rounds, model only and end to end "
        f"alternating:",
        markdown_table(["pipeline", "images", "images/s (best round)", "end to end vs model only"], index_rows),
        markdown_table(["round", "model only images/s", "end to end images/s", "ratio",
                        "images per CPU-s: model only / end to end", "load average before"], round_rows),
        "Per CPU-second (all of this process's threads) the ratio counts the extra work end to end (decoding, "
        "thumbnails, hashing, writes) whatever else runs; images/s also shows whether both cores were kept busy.",
    ]), ratio


def search_markdown(vectors: int) -> tuple[str, float]:
    before = load_average()
    search_rows, median = latency_rows(vectors)
    return "\n\n".join([
        PARTS["search"], f"_Measured {time.strftime('%Y-%m-%d')}._ {load_note(before)}",
        "After the query image is encoded (`ImageCollection.search_vector`, synthetic vectors):",
        markdown_table(["images", "what", "ms", "goal"], search_rows),
    ]), median


def previous_parts() -> dict[str, str]:
    """The parts of RESULTS.md's images section as they stand (``--only`` keeps the other one)."""
    text = RESULTS.read_text() if RESULTS.exists() else ""
    section = re.search(r"^## images\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    parts = {}
    for name, heading in PARTS.items():
        found = section and re.search(rf"^{re.escape(heading)}\n.*?(?=^### |\Z)", section.group(1), re.S | re.M)
        if found:
            parts[name] = found.group(0).strip()
    return parts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=sorted(PARTS), help="measure one part; the other one is kept as it stands")
    args = parser.parse_args(argv)
    parts = previous_parts()
    if args.only != "search":
        parts["indexing"], ratio = indexing_markdown(args.rounds)
        print(f"end to end / model only: {ratio:.0%}")
    if args.only != "indexing":
        parts["search"], median = search_markdown(args.vectors)
        print(f"median search {median:.1f} ms")
    markdown = "\n\n".join(parts[name] for name in PARTS if name in parts)
    write_section("images", markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
