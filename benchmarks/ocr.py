"""OCR benchmark: images/s and character accuracy of :mod:`embedengine.ocr` on generated images.

``--images`` (default 30) images of 2–4 sentences rendered with a system font (the generator of
``tests/test_ocr.py``), a third each: black on white, white with a dark outline over a demo photo,
and black on white turned by 2–5 degrees. Each image is recognised once after a warm-up, one at a time
as the Documents index does; character accuracy is 1 − edit distance / length (whitespace runs made one).

The models are fetched like the tests do when absent (the ``rapidocr-onnxruntime`` wheel, no dependencies).

Run: ``nice -n 10 .venv/bin/python benchmarks/ocr.py [--images 30]``. Prints one JSON line and writes
the section "ocr" of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._results import markdown_table, write_section  # noqa: E402
from embedengine import ocr, runtime  # noqa: E402
from tests.test_ocr import SENTENCES, character_accuracy, ensure_models, find_font_file, render_text  # noqa: E402

STYLES = ("clean", "photo", "rotated")


def samples(count: int, seed: int = 1) -> list[tuple[str, str, object]]:
    """(style, expected text, image) for ``count`` images: styles in turn, 2–4 sentences, 22–36 px text."""
    rng = random.Random(seed)
    out = []
    for index in range(count):
        lines = rng.sample(SENTENCES, rng.randint(2, 4))
        style = STYLES[index % len(STYLES)]
        out.append((style, "\n".join(lines), render_text(lines, style, size=rng.randint(22, 36), seed=index)))
    return out


def measure(count: int = 30) -> dict:
    """Images/s and character accuracy (mean and lowest, overall and per style) on ``count`` images."""
    models = ocr.OcrModels(ensure_models())
    images = samples(count)
    ocr.recognise(images[0][2], models)  # warm-up: the first run of each session allocates
    accuracy: dict[str, list[float]] = {style: [] for style in STYLES}
    seconds = []
    started = time.perf_counter()
    for style, expected, image in images:
        result = ocr.recognise(image, models)
        seconds.append(result.seconds)
        accuracy[style].append(character_accuracy(expected, result.text))
    elapsed = time.perf_counter() - started
    every = [a for values in accuracy.values() for a in values]
    return {
        "benchmark": "ocr", "images": count, "images_per_s": round(count / elapsed, 2),
        "median_s": round(statistics.median(seconds), 3),
        "megapixels_mean": round(statistics.mean(img.width * img.height for _, _, img in images) / 1e6, 3),
        "accuracy": round(statistics.mean(every), 4), "accuracy_min": round(min(every), 4),
        "per_style": {style: {"accuracy": round(statistics.mean(v), 4), "min": round(min(v), 4)}
                      for style, v in accuracy.items()},
        "threads": runtime.default_threads(), "font": str(find_font_file() or "Pillow's default"),
    }


def report(result: dict, load_before: float, load_after: float) -> str:
    rows = [[style, f"{v['accuracy']:.1%}", f"{v['min']:.1%}"] for style, v in result["per_style"].items()]
    rows.append(["all", f"{result['accuracy']:.1%}", f"{result['accuracy_min']:.1%}"])
    return (
        f"{result['images']} generated images (2–4 sentences, 22–36 px text, {result['megapixels_mean']:.2f} MP on "
        f"average; font {Path(result['font']).name}), PP-OCRv4 detection + recognition from rapidocr-onnxruntime "
        f"1.4.4 run by `embedengine.ocr`, one image at a time with {result['threads']} threads.\n\n"
        f"**{result['images_per_s']:.2f} images/s** (median {result['median_s']:.2f} s an image).\n\n"
        + markdown_table(["style", "character accuracy (mean)", "lowest"], rows)
        + f"\n\nLoad average (uptime) {load_before:.1f} at the start and {load_after:.1f} at the end, on "
          f"{os.cpu_count()} cores shared with other work. Most errors left are letters misread where a photo's "
          f"texture runs through the text."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    result = measure(args.images)
    load_after = os.getloadavg()[0]
    result["load"] = [round(load_before, 2), round(load_after, 2)]
    print(json.dumps(result))
    write_section("ocr", report(result, load_before, load_after))


if __name__ == "__main__":
    main()
