"""Text inside images (embedengine.ocr): real PP-OCRv4 models on text rendered with a system font.

The models come from the registry package ``rapidocr-onnxruntime`` (its wheel fetched with
``pip download --no-deps`` into the package cache, checked by sha256, and the two ONNX files unpacked into
``models_dir()/ocr``) unless they are installed already; no OpenCV, nothing of the package's code.

The image generator and :func:`character_accuracy` are shared with ``benchmarks/ocr.py``.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from embedengine import ocr, runtime

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_CACHE = runtime.cache_dir() / "packages"  # resolved before any test isolates the home
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "/Library/Fonts", "/System/Library/Fonts",
             "C:/Windows/Fonts")
FONT_FILES = ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "NimbusSans-Regular.otf", "Arial.ttf", "arial.ttf",
              "NotoSans-Regular.ttf", "DejaVuSerif.ttf", "FreeSans.ttf")
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please send the signed contract before Friday.",
    "Our train leaves platform nine at half past seven.",
    "Fresh bread and warm coffee every morning.",
    "The museum is closed on public holidays.",
    "Keep this receipt as proof of purchase.",
    "Water the tomatoes twice a week in summer.",
    "The library opens at nine and closes at six.",
    "Turn left at the bakery, then walk straight on.",
    "Bring a warm jacket for the mountain hike.",
    "Meeting notes from the quarterly planning session.",
    "Parking is free for visitors after six o'clock.",
    "Store the medicine in a cool and dry place.",
    "The concert was moved to the larger hall.",
    "Remember to back up your files every week.",
)


# -- images with known text (also used by benchmarks/ocr.py) ---------------------------------------

def find_font_file() -> Optional[Path]:
    """A TrueType/OpenType sans font of the system, or None."""
    for folder in map(Path, FONT_DIRS):
        if folder.is_dir():
            for name in FONT_FILES:
                found = next(folder.rglob(name), None)
                if found:
                    return found
    return None


def text_font(size: int) -> ImageFont.FreeTypeFont:
    path = find_font_file()
    return ImageFont.truetype(str(path), size) if path else ImageFont.load_default(size=size)


def render_text(lines: list[str], style: str = "clean", size: int = 30, seed: int = 0) -> Image.Image:
    """``lines`` drawn left-aligned: ``clean`` black on white, ``photo`` white with a dark outline over
    a demo photo, ``rotated`` black on white turned by 2–5 degrees."""
    font = text_font(size)
    rng = random.Random(seed)
    spacing = int(size * 1.6)
    width = max(int(font.getlength(line)) for line in lines) + 2 * size
    height = spacing * len(lines) + 2 * size
    if style == "photo":
        image = _photo_background(width, height, rng)
        fill, stroke = (255, 255, 255), (20, 20, 20)
    else:
        image, fill, stroke = Image.new("RGB", (width, height), "white"), (15, 15, 15), None
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((size, size + row * spacing), line, font=font, fill=fill,
                  stroke_width=max(2, size // 12) if stroke else 0, stroke_fill=stroke)
    if style == "rotated":
        angle = rng.choice((-1, 1)) * rng.uniform(2, 5)
        image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor="white")
    return image


def _photo_background(width: int, height: int, rng: random.Random) -> Image.Image:
    """A crop of one of the shipped demo photos, softened a little, at the wanted size."""
    photos = sorted(p for p in (ROOT / "resources" / "images").iterdir() if p.suffix.lower() in (".jpg", ".png"))
    with Image.open(rng.choice(photos)) as photo:
        photo = photo.convert("RGB")
    scale = max(width / photo.width, height / photo.height)
    if scale > 1:
        photo = photo.resize((int(photo.width * scale) + 1, int(photo.height * scale) + 1))
    left, top = rng.randint(0, photo.width - width), rng.randint(0, photo.height - height)
    return photo.crop((left, top, left + width, top + height)).filter(ImageFilter.GaussianBlur(1))


def character_accuracy(expected: str, recognised: str) -> float:
    """1 − edit distance / length, on texts with runs of whitespace made one space."""
    a, b = " ".join(expected.split()), " ".join(recognised.split())
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, start=1):
        current = [i]
        for j, other in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other)))
        previous = current
    return max(0.0, 1.0 - previous[-1] / max(1, len(a)))


def ensure_models() -> Path:
    """The OCR model folder; when absent, the package's wheel is fetched (no dependencies) and unpacked."""
    folder = ocr.model_folder()
    if folder is not None:
        return folder
    sys.path.insert(0, str(ROOT))
    from models.fetch import RegistryPackage, obtain

    wheel = ocr.WHEEL
    package = RegistryPackage("pypi", wheel.name, wheel.version, wheel.filename, wheel.sha256)
    return ocr.unpack_wheel(obtain(package, PACKAGE_CACHE), runtime.models_dir() / ocr.MODEL_FOLDER)


# -- tests ----------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def ocr_models() -> ocr.OcrModels:
    return ocr.OcrModels(ensure_models())


def test_accuracy_clean_text(ocr_models):
    lines = list(SENTENCES[:4])
    result = ocr.recognise(render_text(lines, "clean"), ocr_models)
    assert character_accuracy("\n".join(lines), result.text) >= 0.9, result.text
    assert len(result.lines) >= len(lines)
    assert all(0.5 <= line.confidence <= 1 for line in result.lines)
