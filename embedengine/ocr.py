"""Text inside images (OCR) with the PP-OCRv4 detection and recognition ONNX models that the PyPI package
``rapidocr-onnxruntime`` (Apache-2.0) ships.

Only its two model files are used, run with our own sessions (:func:`embedengine.runtime.make_session`)
and NumPy/Pillow pre- and post-processing: nothing of the package's code (nor OpenCV) is imported.
The files are looked for in ``models_dir()/ocr/`` (where :func:`unpack_wheel` puts them), then in the
installed package (``pip install 'embed-studio[ocr]'``).

:func:`recognise` takes a path, bytes or PIL image and returns an :class:`OcrResult`: the text in reading
order (boxes on one row joined by spaces, rows by newlines) and each line's text, confidence and box.
One image is bounded: refused over ``MAX_PIXELS`` before it is decoded, shrunk to ``MAX_SIDE`` after.
"""

from __future__ import annotations

import importlib.util
import io
import math
import threading
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw

from .errors import UserError
from .image import ImageLoadError, describe_source, load_image
from .runtime import ModelDamagedError, make_session, models_dir
from .safety import open_regular_file

INSTALL_HINT = "pip install 'embed-studio[ocr]'"
MISSING_REASON = f"OCR not installed: {INSTALL_HINT}"
MODEL_FOLDER = "ocr"  # under models_dir()
DET_FILE = "ch_PP-OCRv4_det_infer.onnx"
REC_FILE = "ch_PP-OCRv4_rec_infer.onnx"
PACKAGE_MODULE = "rapidocr_onnxruntime"  # its models/ folder holds both files


@dataclass(frozen=True)
class Wheel:
    """The registry package carrying the models (fetched with ``pip download --no-deps``, checked by sha256)."""
    name: str
    version: str
    filename: str
    sha256: str


WHEEL = Wheel("rapidocr-onnxruntime", "1.4.4", "rapidocr_onnxruntime-1.4.4-py3-none-any.whl",
              "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf")

MAX_PIXELS = 40_000_000  # pixels one image may have before decoding (an A3 page scanned at 300 dpi has 17.4 M)
MAX_SIDE = 2000  # longer side after loading; text this size stays legible to the models
DRAFT_SIDE = 1024  # JPEGs are DCT-scaled while both sides stay at least this
DET_SHORT_SIDE = 736  # detection input: short side brought up to this ...
DET_MAX_SIDE = 2560  # ... unless the long side would pass this
DET_THRESHOLD = 0.3  # text probability that marks a pixel as text
BOX_THRESHOLD = 0.5  # mean probability inside a box to keep it
UNCLIP_RATIO = 1.6  # detected regions are shrunk text: grown back by area × ratio / perimeter
MIN_BOX_SIDE = 3
MAX_BOXES = 1000
JOIN_GAP = 0.3  # boxes of one row closer than this share of their height (or overlapping) are read as one
CROP_MARGIN = 0.2  # share of a line's height added above and below: text filling the crop loses its spaces
REC_HEIGHT = 48
REC_MIN_WIDTH = 320
REC_BATCH = 6
MIN_CONFIDENCE = 0.5  # recognised lines below this mean character probability are dropped

Box = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]


class OcrUnavailable(UserError):
    """The OCR model files are not installed; the hint says how to install them."""

    def __init__(self) -> None:
        super().__init__("Text recognition (OCR) is not installed.", hint=INSTALL_HINT,
                         data={"reason": MISSING_REASON})
        self.reason = MISSING_REASON


@dataclass
class OcrLine:
    text: str
    confidence: float  # mean probability of its characters, 0..1
    box: Box  # corners clockwise from top-left, in the source image's pixels

    def to_dict(self) -> dict:
        return {"text": self.text, "confidence": round(self.confidence, 4), "box": [list(p) for p in self.box]}


@dataclass
class OcrResult:
    text: str
    lines: list[OcrLine] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"text": self.text, "lines": [line.to_dict() for line in self.lines], "seconds": round(self.seconds, 3)}


# -- the model files -----------------------------------------------------------------------------

def model_folder() -> Optional[Path]:
    """The folder holding both model files: ``models_dir()/ocr``, else the installed package's; None if neither."""
    candidates = [models_dir() / MODEL_FOLDER]
    try:
        spec = importlib.util.find_spec(PACKAGE_MODULE)  # locates the package without importing it (nor OpenCV)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "models")
    return next((folder for folder in candidates if (folder / DET_FILE).is_file() and (folder / REC_FILE).is_file()),
                None)


def available() -> bool:
    return model_folder() is not None


def unpack_wheel(wheel: Path, out_dir: Path) -> Path:
    """Copy the two model files out of the package's wheel into ``out_dir``; returns ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        for name in (DET_FILE, REC_FILE):
            member = f"{PACKAGE_MODULE}/models/{name}"
            partial = out_dir / f"{name}.partial"
            partial.write_bytes(archive.read(member))
            partial.replace(out_dir / name)
    return out_dir


class OcrModels:
    """The two ONNX Runtime sessions and the recogniser's alphabet (from the model's metadata)."""

    def __init__(self, folder: Path, threads: Optional[int] = None) -> None:
        self.folder = folder
        self.det = make_session(folder / DET_FILE, threads=threads)
        self.rec = make_session(folder / REC_FILE, threads=threads)
        alphabet = self.rec.get_modelmeta().custom_metadata_map.get("character", "")
        if not alphabet:
            raise ModelDamagedError(f"{folder / REC_FILE} has no character list in its metadata", folder / REC_FILE,
                                    hint=f"install it again: {INSTALL_HINT}")
        self.characters = ["<blank>"] + alphabet.splitlines() + [" "]  # CTC: index 0 is the blank


_models: Optional[OcrModels] = None
_models_lock = threading.Lock()


def get_models() -> OcrModels:
    """The loaded models (once per process), or :class:`OcrUnavailable`."""
    global _models
    with _models_lock:
        folder = model_folder()
        if folder is None:
            raise OcrUnavailable()
        if _models is None or _models.folder != folder:
            _models = OcrModels(folder)
        return _models


# -- the one call --------------------------------------------------------------------------------

def recognise(source: str | Path | bytes | Image.Image, models: Optional[OcrModels] = None) -> OcrResult:
    """The text in one image (a path, its bytes or a PIL image).

    Raises :class:`OcrUnavailable` without the models and :class:`~embedengine.image.ImageLoadError`
    for an image that cannot be read or has more than ``MAX_PIXELS`` pixels."""
    models = models or get_models()
    started = time.perf_counter()
    image = load_for_ocr(source)
    rows = detect(models, image)
    read = iter(read_lines(models, image, [box for row in rows for box in row]))
    rows_read = [[OcrLine(*next(read), box) for box in row] for row in rows]
    kept = [[line for line in row if line.text.strip() and line.confidence >= MIN_CONFIDENCE] for row in rows_read]
    text = "\n".join(" ".join(line.text.strip() for line in row) for row in kept if row)
    return OcrResult(text, [line for row in kept for line in row], time.perf_counter() - started)


def load_for_ocr(source: Any) -> Image.Image:
    """Upright RGB with its longer side at most ``MAX_SIDE``; over ``MAX_PIXELS`` refused before decoding."""
    width, height = _declared_size(source)
    if width * height > MAX_PIXELS:
        raise ImageLoadError(describe_source(source), f"too large for OCR ({width}×{height} pixels; "
                                                      f"the limit is {MAX_PIXELS / 1e6:g} million)")
    image = load_image(source, draft_side=DRAFT_SIDE)
    scale = MAX_SIDE / max(image.size)
    if scale < 1:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.LANCZOS)
    return image


def _declared_size(source: Any) -> tuple[int, int]:
    """Width and height from the header alone; (0, 0) when it cannot be read (loading then says why)."""
    if isinstance(source, Image.Image):
        return source.size
    try:
        is_bytes = isinstance(source, (bytes, bytearray, memoryview))
        stream = io.BytesIO(bytes(source)) if is_bytes else open_regular_file(source)
        with stream, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                return image.size
    except Exception:  # noqa: BLE001 - any failure is reported by load_image with its reason
        return 0, 0


# -- detection (DB: differentiable binarisation) --------------------------------------------------

def detect(models: OcrModels, image: Image.Image) -> list[list[Box]]:
    """Rows of text boxes in reading order, in the image's pixels."""
    tensor = detection_input(image)
    probability = models.det.run(None, {models.det.get_inputs()[0].name: tensor})[0][0, 0]
    boxes = boxes_from_probability(probability, image.width, image.height)
    return reading_order(boxes)


def detection_input(image: Image.Image) -> np.ndarray:
    """1×3×H×W BGR in [-1, 1], sides multiples of 32: short side brought to ``DET_SHORT_SIDE`` (long ≤ ``DET_MAX_SIDE``)."""
    width, height = image.size
    scale = max(1.0, DET_SHORT_SIDE / min(width, height))
    scale = min(scale, DET_MAX_SIDE / max(width, height))
    size = (max(32, round(width * scale / 32) * 32), max(32, round(height * scale / 32) * 32))
    pixels = np.asarray(image.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)[:, :, ::-1]
    return np.ascontiguousarray(((pixels / 127.5) - 1.0).transpose(2, 0, 1)[None])


def boxes_from_probability(probability: np.ndarray, width: int, height: int) -> list[np.ndarray]:
    """Rotated text boxes (4×2 corners, clockwise from top-left) in a ``width``×``height`` image."""
    mask = dilate(probability > DET_THRESHOLD)
    scale = np.array([width / probability.shape[1], height / probability.shape[0]])
    boxes = []
    for points in components(mask)[:MAX_BOXES]:
        rect = min_area_rect(points)
        if rect is None or min(rect[1]) < MIN_BOX_SIDE:
            continue
        if polygon_mean(probability, corners(rect)) < BOX_THRESHOLD:
            continue
        (cx, cy), (w, h), angle = rect
        grow = w * h * UNCLIP_RATIO / (2 * (w + h))
        if min(w, h) + 2 * grow < MIN_BOX_SIDE + 2:
            continue
        box = corners(((cx, cy), (w + 2 * grow, h + 2 * grow), angle)) * scale
        box = np.clip(np.round(box), 0, [width - 1, height - 1])
        if np.linalg.norm(box[0] - box[1]) > MIN_BOX_SIDE and np.linalg.norm(box[0] - box[3]) > MIN_BOX_SIDE:
            boxes.append(box)
    return boxes


def dilate(mask: np.ndarray) -> np.ndarray:
    """2×2 dilation (each pixel also takes its upper, left and upper-left neighbours)."""
    out = mask.copy()
    out[1:, :] |= mask[:-1, :]
    out[:, 1:] |= mask[:, :-1]
    out[1:, 1:] |= mask[:-1, :-1]
    return out


def components(mask: np.ndarray) -> list[np.ndarray]:
    """8-connected regions of ``mask``, each as the (x, y) ends of its horizontal runs, largest first.

    Runs of each row are found with NumPy; runs of adjacent rows that touch are joined (union–find)."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    steps = np.diff(padded, axis=1)
    rows, starts = np.nonzero(steps == 1)
    _, stops = np.nonzero(steps == -1)
    ends = stops - 1  # inclusive
    if rows.size == 0:
        return []
    stride = mask.shape[1] + 2
    start_keys, end_keys = rows * stride + starts, rows * stride + ends
    # runs of row y + 1 touching run i: end ≥ start_i − 1 and start ≤ end_i + 1 (a contiguous range)
    first = np.searchsorted(end_keys, (rows + 1) * stride + starts - 1, side="left")
    last = np.searchsorted(start_keys, (rows + 1) * stride + ends + 1, side="right")
    parent = list(range(rows.size))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in np.nonzero(last > first)[0].tolist():
        for j in range(int(first[i]), int(last[i])):
            a, b = root(i), root(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    labels = np.array([root(i) for i in range(rows.size)])
    order = np.argsort(labels, kind="stable")
    groups = np.split(order, np.nonzero(np.diff(labels[order]))[0] + 1)
    groups.sort(key=lambda g: -int((ends[g] - starts[g] + 1).sum()))
    return [np.concatenate([np.stack([starts[g], rows[g]], 1), np.stack([ends[g], rows[g]], 1)]).astype(np.float64)
            for g in groups]


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Andrew's monotone chain: hull corners counter-clockwise (y up), no repeats."""
    unique = np.unique(points, axis=0)  # sorted by x, then y
    if len(unique) < 3:
        return unique

    def half(sequence) -> list:
        chain: list = []
        for p in sequence:
            while len(chain) >= 2 and _cross(chain[-2], chain[-1], p) <= 0:
                chain.pop()
            chain.append(p)
        return chain

    lower, upper = half(unique), half(unique[::-1])
    return np.array(lower[:-1] + upper[:-1])


def _cross(o, a, b) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def min_area_rect(points: np.ndarray):
    """The smallest rotated rectangle around the points: ((cx, cy), (w, h), angle radians); None if degenerate."""
    hull = convex_hull(points)
    if len(hull) < 3:
        return None
    edges = np.roll(hull, -1, axis=0) - hull
    lengths = np.linalg.norm(edges, axis=1)
    edges, lengths = edges[lengths > 0], lengths[lengths > 0]
    along = edges / lengths[:, None]  # one candidate orientation per hull edge
    across = np.stack([-along[:, 1], along[:, 0]], 1)
    u, v = hull @ along.T, hull @ across.T  # projections: points × orientations
    widths, heights = u.max(0) - u.min(0), v.max(0) - v.min(0)
    best = int(np.argmin(widths * heights))
    mid_u, mid_v = (u[:, best].max() + u[:, best].min()) / 2, (v[:, best].max() + v[:, best].min()) / 2
    centre = mid_u * along[best] + mid_v * across[best]
    angle = math.atan2(along[best][1], along[best][0])
    return (float(centre[0]), float(centre[1])), (float(widths[best]), float(heights[best])), angle


def corners(rect) -> np.ndarray:
    """The rectangle's 4 corners ordered top-left, top-right, bottom-right, bottom-left (image y down)."""
    (cx, cy), (w, h), angle = rect
    a = np.array([math.cos(angle), math.sin(angle)])
    b = np.array([-a[1], a[0]])
    points = np.array([[cx, cy]]) + np.array([s * w / 2 * a + t * h / 2 * b for s, t in
                                              ((-1, -1), (1, -1), (1, 1), (-1, 1))])
    return order_corners(points)


def order_corners(points: np.ndarray) -> np.ndarray:
    """Top-left, top-right, bottom-right, bottom-left: the two leftmost points are the left side."""
    by_x = points[np.argsort(points[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    top_left, bottom_left = left[np.argsort(left[:, 1], kind="stable")]
    top_right, bottom_right = right[np.argsort(right[:, 1], kind="stable")]
    return np.array([top_left, top_right, bottom_right, bottom_left], dtype=np.float64)


def polygon_mean(values: np.ndarray, polygon: np.ndarray) -> float:
    """Mean of ``values`` inside the polygon (rasterised within its bounding box)."""
    height, width = values.shape
    x0, y0 = np.clip(np.floor(polygon.min(0)).astype(int), 0, [width - 1, height - 1])
    x1, y1 = np.clip(np.ceil(polygon.max(0)).astype(int), 0, [width - 1, height - 1])
    mask = Image.new("L", (x1 - x0 + 1, y1 - y0 + 1), 0)
    ImageDraw.Draw(mask).polygon([(x - x0, y - y0) for x, y in polygon], fill=1)
    inside = np.asarray(mask, dtype=bool)
    window = values[y0:y1 + 1, x0:x1 + 1]
    return float(window[inside].mean()) if inside.any() else 0.0


def reading_order(boxes: Sequence[np.ndarray]) -> list[list[Box]]:
    """Boxes grouped into rows, read top to bottom and left to right in the frame of the text's median
    slope (so a slightly turned page keeps its lines); pieces of one line that touch become one box."""
    if not len(boxes):
        return []
    stacked = np.array(boxes, dtype=np.float64)
    along = stacked[:, 1] - stacked[:, 0]
    angle = float(np.median(np.arctan2(along[:, 1], along[:, 0])))
    turn = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
    upright = stacked @ turn.T  # corners as (forward, down) with the slope removed
    low, high = upright.min(axis=1), upright.max(axis=1)
    centre, height = (low + high) / 2, high[:, 1] - low[:, 1]
    rows: list[list[int]] = []
    for i in np.argsort(centre[:, 1], kind="stable").tolist():
        if rows and abs(centre[i, 1] - centre[rows[-1], 1].mean()) < min(height[i], height[rows[-1]].min()) / 2:
            rows[-1].append(i)
        else:
            rows.append([i])
    ordered = []
    for row in rows:
        spans: list[list[np.ndarray]] = []  # [low, high] of each box after joining
        for i in sorted(row, key=lambda i: low[i, 0]):
            if spans and low[i, 0] - spans[-1][1][0] < JOIN_GAP * min(height[i], spans[-1][1][1] - spans[-1][0][1]):
                spans[-1] = [np.minimum(spans[-1][0], low[i]), np.maximum(spans[-1][1], high[i])]
            else:
                spans.append([low[i], high[i]])
        ordered.append([_as_box(_rectangle(lo, hi) @ turn) for lo, hi in spans])
    return ordered


def _rectangle(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return np.array([[low[0], low[1]], [high[0], low[1]], [high[0], high[1]], [low[0], high[1]]])


def _as_box(corners_: np.ndarray) -> Box:
    return tuple((round(float(x), 1), round(float(y), 1)) for x, y in corners_)  # type: ignore[return-value]


# -- recognition (CTC) --------------------------------------------------------------------------------

def crop_line(image: Image.Image, box: Box) -> Image.Image:
    """The box straightened into an upright rectangle with a margin above and below (boxes are in the page's
    frame, so a tall narrow one is a short word such as "1" or "I", not vertical text: never turned)."""
    tl, tr, br, bl = (np.array(p) for p in box)
    width = max(1, int(max(np.linalg.norm(tl - tr), np.linalg.norm(bl - br))))
    height = max(1, int(max(np.linalg.norm(tl - bl), np.linalg.norm(tr - br))))
    quad = (*tl, *bl, *br, *tr)  # Pillow's QUAD: upper left, lower left, lower right, upper right
    crop = image.transform((width, height), Image.Transform.QUAD, quad, Image.Resampling.BICUBIC)
    return pad_vertically(crop, round(crop.height * CROP_MARGIN))


def pad_vertically(crop: Image.Image, margin: int) -> Image.Image:
    """``margin`` rows added above and below, repeating the edge rows (background around the text)."""
    if margin <= 0:
        return crop
    pixels = np.asarray(crop)
    return Image.fromarray(np.concatenate([np.repeat(pixels[:1], margin, 0), pixels,
                                           np.repeat(pixels[-1:], margin, 0)]))


def read_lines(models: OcrModels, image: Image.Image, boxes: Sequence[Box]) -> list[tuple[str, float]]:
    """(text, confidence) of each box, recognised in batches of similar width."""
    crops = [crop_line(image, box) for box in boxes]
    ratios = [crop.width / crop.height for crop in crops]
    order = np.argsort(ratios, kind="stable")
    results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
    name = models.rec.get_inputs()[0].name
    for start in range(0, len(order), REC_BATCH):
        batch = order[start:start + REC_BATCH]
        width = int(REC_HEIGHT * max(REC_MIN_WIDTH / REC_HEIGHT, max(ratios[i] for i in batch)))
        tensor = np.stack([recognition_input(crops[i], width) for i in batch])
        probabilities = models.rec.run(None, {name: tensor})[0]
        for i, row in zip(batch, probabilities):
            results[i] = ctc_decode(row, models.characters)
    return results


def recognition_input(crop: Image.Image, width: int) -> np.ndarray:
    """3×48×width BGR in [-1, 1]: the crop at height 48, its width kept in proportion, zeros to the right."""
    resized_width = min(width, math.ceil(REC_HEIGHT * crop.width / crop.height))
    pixels = np.asarray(crop.resize((resized_width, REC_HEIGHT), Image.Resampling.BILINEAR), dtype=np.float32)
    out = np.zeros((3, REC_HEIGHT, width), dtype=np.float32)
    out[:, :, :resized_width] = ((pixels[:, :, ::-1] / 127.5) - 1.0).transpose(2, 0, 1)
    return out


def ctc_decode(probabilities: np.ndarray, characters: Sequence[str]) -> tuple[str, float]:
    """Best path: repeats merged, blanks dropped; confidence = mean probability of the kept steps."""
    best = probabilities.argmax(axis=1)
    keep = np.ones(len(best), dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    keep &= best != 0
    if not keep.any():
        return "", 0.0
    text = "".join(characters[i] for i in best[keep] if i < len(characters))
    return text, float(probabilities.max(axis=1)[keep].mean())
