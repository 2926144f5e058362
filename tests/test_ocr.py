"""Text inside images (embedengine.ocr): real PP-OCRv4 models on text rendered with a system font.

The models come from the registry package ``rapidocr-onnxruntime`` (its wheel fetched with
``pip download --no-deps`` into the package cache, checked by sha256, and the two ONNX files unpacked into
``models_dir()/ocr``) unless they are installed already; no OpenCV, nothing of the package's code.

The image generator and :func:`character_accuracy` are shared with ``benchmarks/ocr.py``.
"""

from __future__ import annotations

import importlib
import random
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from embedengine import ocr, runtime

ROOT = Path(__file__).resolve().parents[1]
MODELS = runtime.models_dir()
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
    """The OCR model folder that `models build` (run by `make test`) unpacked from the registry wheel."""
    folder = ocr.model_folder()
    if folder is None:
        pytest.fail(f"OCR models not built in {MODELS}: run `make models` (make test does)")
    return folder


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


def test_accuracy_on_a_photo_and_turned_text(ocr_models):
    lines = list(SENTENCES[4:7])
    on_photo = ocr.recognise(render_text(lines, "photo", seed=3), ocr_models)
    turned = ocr.recognise(render_text(lines, "rotated", seed=5), ocr_models)
    assert character_accuracy("\n".join(lines), on_photo.text) >= 0.85, on_photo.text
    assert character_accuracy("\n".join(lines), turned.text) >= 0.9, turned.text
    assert turned.text.count("\n") == len(lines) - 1  # a turned page keeps its lines, in order


def test_boxes_sit_on_their_lines(ocr_models):
    lines, size = list(SENTENCES[7:10]), 30
    result = ocr.recognise(render_text(lines, "clean", size), ocr_models)
    for row, expected in enumerate(lines):
        top = size + row * int(size * 1.6)
        on_row = [line for line in result.lines if top <= sum(y for _, y in line.box) / 4 <= top + size * 1.2]
        assert character_accuracy(expected, " ".join(line.text for line in on_row)) >= 0.9, (expected, on_row)
        left, right = min(line.box[0][0] for line in on_row), max(line.box[1][0] for line in on_row)
        assert abs(left - size) < 10 and abs(right - size - text_font(size).getlength(expected)) < 15


def test_a_blank_image_has_no_text(ocr_models):
    result = ocr.recognise(Image.new("RGB", (640, 480), (200, 210, 220)), ocr_models)
    assert (result.text, result.lines) == ("", []) and result.seconds > 0


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path, ocr_models):
    huge = tmp_path / "huge.png"
    Image.new("1", (10_000, 5_000), 1).save(huge)  # 50 million pixels, a few kB on disk
    with pytest.raises(ocr.ImageLoadError, match="too large for OCR"):
        ocr.recognise(huge, ocr_models)
    big = render_text([SENTENCES[0]], "clean", size=120)  # 3,000+ pixels wide: shrunk to MAX_SIDE
    assert max(ocr.load_for_ocr(big).size) == ocr.MAX_SIDE
    assert character_accuracy(SENTENCES[0], ocr.recognise(big, ocr_models).text) >= 0.9


def test_components_match_a_flood_fill():
    rng = np.random.default_rng(7)
    for _ in range(20):
        mask = rng.random((40, 60)) < 0.35
        found = sorted(_bounds(points) for points in ocr.components(mask))
        assert found == sorted(_flood_fill_bounds(mask))


def _bounds(points: np.ndarray) -> tuple:
    return int(points[:, 0].min()), int(points[:, 1].min()), int(points[:, 0].max()), int(points[:, 1].max())


def _flood_fill_bounds(mask: np.ndarray) -> list[tuple]:
    """Bounding boxes (x0, y0, x1, y1) of the 8-connected regions, by a plain breadth-first fill."""
    seen, regions = np.zeros_like(mask), []
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        queue, xs, ys = [(y0, x0)], [], []
        seen[y0, x0] = True
        while queue:
            y, x = queue.pop()
            xs.append(x), ys.append(y)
            for ny in (y - 1, y, y + 1):
                for nx in (x - 1, x, x + 1):
                    if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        queue.append((ny, nx))
        regions.append((min(xs), min(ys), max(xs), max(ys)))
    return regions


def test_min_area_rect_recovers_a_turned_rectangle():
    angle, (w, h), centre = np.deg2rad(17), (80.0, 20.0), np.array([100.0, 60.0])
    along, across = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
    grid = [centre + u * along + v * across for u in np.linspace(-w / 2, w / 2, 41) for v in np.linspace(-h / 2, h / 2, 11)]
    (cx, cy), sides, found = ocr.min_area_rect(np.array(grid))
    assert np.allclose((cx, cy), centre) and np.allclose(sorted(sides), sorted((w, h)))
    assert np.isclose(abs(np.cos(found - angle)), 1) or np.isclose(abs(np.sin(found - angle)), 1)


# -- Documents: images and image-only PDFs become passages ------------------------------------------

def test_documents_index_finds_text_in_pictures(tmp_path, models_dir, ocr_models):
    from embedengine.documents import DocumentCollection

    folder = tmp_path / "scans"
    folder.mkdir()
    render_text(["Invoice for the garden shed repairs", "Total due: 480 euros by March"]).save(folder / "note.png")
    render_text(["Minutes of the allotment society", "The compost heap moves north"]).save(folder / "scan.pdf")
    first = render_text(["Page one talks about lighthouses"])
    first.save(folder / "pages.tif", save_all=True, append_images=[render_text(["Page two is about submarines"])])
    (folder / "plain.txt").write_text("A plain note about bicycles and rain.")
    with DocumentCollection("pictures", create=True) as collection:
        report = collection.index([folder])
        assert report.skipped == [] and report.files_new == 4
        hits = {query: collection.search(query, "bm25", k=1).hits[0] for query in
                ("garden shed invoice", "compost heap", "submarines", "lighthouses")}
        semantic = collection.search("money owed for fixing the shed", k=1).hits[0]
    assert Path(hits["garden shed invoice"].path).name == "note.png" and "480 euros" in hits["garden shed invoice"].text
    assert (Path(hits["compost heap"].path).name, hits["compost heap"].page) == ("scan.pdf", 1)
    assert (Path(hits["submarines"].path).name, hits["submarines"].page) == ("pages.tif", 2)
    assert (Path(hits["lighthouses"].path).name, hits["lighthouses"].page) == ("pages.tif", 1)
    assert Path(semantic.path).name == "note.png"


def test_without_the_models_pictures_are_skipped_with_the_install_hint(tmp_path, monkeypatch):
    from embedengine.collections.files import FileStat
    from embedengine.documents.extract import ExtractError, extract
    from embedengine.documents.index import read_entry

    monkeypatch.setenv("EMBEDSTUDIO_MODELS", str(tmp_path / "no-models"))
    monkeypatch.setattr(ocr, "PACKAGE_MODULE", "no_such_ocr_package")  # as if the extra were not installed
    picture = tmp_path / "note.png"
    render_text([SENTENCES[0]]).save(picture)
    entry = read_entry(FileStat(str(picture), picture.stat().st_size, picture.stat().st_mtime))
    assert (entry.status, entry.reason) == ("skipped", "OCR not installed: pip install 'embed-studio[ocr]'")
    render_text([SENTENCES[1]]).save(tmp_path / "scan.pdf")
    with pytest.raises(ExtractError, match=r"no text layer \(scanned PDF\?\); OCR not installed: pip install"):
        extract(tmp_path / "scan.pdf")
    with pytest.raises(ocr.OcrUnavailable) as raised:
        ocr.recognise(picture)
    assert raised.value.hint == ocr.INSTALL_HINT


def test_a_picture_that_is_not_an_image_is_skipped_with_its_reason(tmp_path, ocr_models):
    from embedengine.documents.extract import ExtractError, extract

    (tmp_path / "fake.png").write_bytes(b"this is not a picture at all")
    with pytest.raises(ExtractError, match="not an image"):
        extract(tmp_path / "fake.png")


def test_recognition_time_is_bounded_per_file(tmp_path, ocr_models, monkeypatch):
    extraction = importlib.import_module("embedengine.documents.extract")  # the module, not its function

    render_text([SENTENCES[2]]).save(tmp_path / "note.png")
    assert "platform nine" in extraction.extract(tmp_path / "note.png").pages[0].text
    monkeypatch.setattr(extraction, "OCR_TIME_LIMIT_S", 0.0)
    with pytest.raises(extraction.ExtractError, match=r"text recognition \(OCR\) took too long"):
        extraction.extract(tmp_path / "note.png")


def test_pictures_skipped_for_want_of_ocr_are_read_once_the_models_are_built(tmp_path, ocr_models, monkeypatch):
    """`models build` after an index run without OCR: the next run reads the skipped pictures, unchanged as they are."""
    from embedengine.documents.index import DocumentCollection

    folder = tmp_path / "scans"
    folder.mkdir()
    render_text([SENTENCES[0]]).save(folder / "note.png")
    real_models = runtime.models_dir()
    monkeypatch.setenv("EMBEDSTUDIO_MODELS", str(tmp_path / "no-models"))
    monkeypatch.setattr(ocr, "PACKAGE_MODULE", "no_such_ocr_package")
    with DocumentCollection("scans", create=True) as collection:
        first = collection.index([str(folder)], methods=["bm25"])
    assert [s.reason for s in first.skipped] == [ocr.MISSING_REASON]
    monkeypatch.setenv("EMBEDSTUDIO_MODELS", str(real_models))  # the models are built now
    with DocumentCollection("scans") as collection:
        second = collection.index(methods=["bm25"])
        assert second.skipped == [] and collection.status().items >= 1
