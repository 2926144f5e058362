"""ResNet50 end-to-end images/s (files → ImageEncoder.iter_encode) vs model-only images/s, same photos.

Model-only feeds already preprocessed arrays straight to ONNX Runtime; end to end also decodes the
files (large JPEGs included), preprocesses and makes no thumbnails. Both run in the same process,
interleaved, best of ``rounds``. Target: end to end ≥ 85 % of model-only.

``benchmarks/encoders.py`` calls :func:`run` and writes the result into RESULTS.md; run this file
alone (``python benchmarks/_image_encoder.py``) to print the table without touching RESULTS.md.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if __name__ == "__main__":  # say what is missing before loading, building or training anything
    from benchmarks.check_inputs import exit_if_missing

    exit_if_missing("image_encoder")

from benchmarks._results import markdown_table  # noqa: E402
from embedengine.image import ImageEncoder, load_image, preprocess  # noqa: E402
from embedengine.runtime import default_threads  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "resnet50_tfjs_reference.npz"  # shipped
TARGET = 0.85


def make_photos(folder: Path, copies: int = 4) -> list[Path]:
    """Real photo files of mixed sizes from the six reference photos: 1600×1200 and 800×600 JPEGs, 224² PNGs."""
    photos = np.load(FIXTURE)["inputs_rgb_u8_nhwc"]
    paths = []
    for copy in range(copies):
        for index, pixels in enumerate(photos):
            image = Image.fromarray(pixels if copy % 2 == 0 else pixels[:, ::-1])
            stem = folder / f"photo{index}-{copy}"
            if copy < copies // 2:
                image.resize((1600, 1200), Image.Resampling.BICUBIC).save(f"{stem}.jpg", quality=90)
                paths.append(Path(f"{stem}.jpg"))
            elif copy == copies // 2:
                image.resize((800, 600), Image.Resampling.BICUBIC).save(f"{stem}.jpg", quality=90)
                paths.append(Path(f"{stem}.jpg"))
            else:
                image.save(f"{stem}.png")
                paths.append(Path(f"{stem}.png"))
    return paths


def model_only_rate(encoder: ImageEncoder, pixels: np.ndarray, batch_size: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(pixels), batch_size):
        encoder.run_model(pixels[start:start + batch_size])
    return len(pixels) / (time.perf_counter() - started)


def end_to_end_rate(encoder: ImageEncoder, paths: list[Path], batch_size: int) -> float:
    started = time.perf_counter()
    done = sum(1 for outcome in encoder.iter_encode(paths, batch_size=batch_size) if outcome.error is None)
    if done != len(paths):
        raise RuntimeError(f"only {done} of {len(paths)} benchmark photos encoded")
    return len(paths) / (time.perf_counter() - started)


def run(copies: int = 4, batch_size: int = 16, rounds: int = 3) -> str:
    """Measure both rates and return the markdown for RESULTS.md."""
    encoder = ImageEncoder()
    with tempfile.TemporaryDirectory(prefix="embedstudio-bench-images-") as tmp:
        paths = make_photos(Path(tmp), copies)
        started = time.perf_counter()
        pixels = np.stack([preprocess(load_image(p)) for p in paths])
        decode_rate = len(paths) / (time.perf_counter() - started)
        encoder.run_model(pixels[:batch_size])  # warm-up
        model_rates, e2e_rates = [], []
        for _ in range(rounds):
            model_rates.append(model_only_rate(encoder, pixels, batch_size))
            e2e_rates.append(end_to_end_rate(encoder, paths, batch_size))
    model, e2e = max(model_rates), max(e2e_rates)
    ratio = e2e / model
    rows = [
        ["model only (preprocessed arrays → ORT)", f"{model:.1f}", "100%"],
        ["end to end (files → decode + preprocess + ORT)", f"{e2e:.1f}", f"{ratio:.0%}"],
        ["decode + preprocess alone (1 thread, no model)", f"{decode_rate:.1f}", "–"],
    ]
    verdict = "met" if ratio >= TARGET else "MISSED"
    return (
        f"{len(paths)} photos ({copies // 2 * 6} JPEG 1600×1200, 6 JPEG 800×600, rest PNG 224×224), batch {batch_size}, "
        f"provider {encoder.provider_label}, {default_threads()} ORT threads, {encoder.decode_workers} decode threads; "
        f"best of {rounds} interleaved rounds.\n\n"
        + markdown_table(["path", "images/s", "of model-only"], rows)
        + f"\n\nTarget end to end ≥ {TARGET:.0%} of model-only: **{verdict}** ({ratio:.1%})."
    )


if __name__ == "__main__":
    print(run())
