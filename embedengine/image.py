"""Images to vectors with the ResNet50 ONNX model: robust loading, preprocessing and batched encoding.

``load_image`` turns a path, bytes or PIL image into an upright RGB picture (or one clear
:class:`ImageLoadError`); ``preprocess`` makes the model's 224×224 input; :class:`ImageEncoder`
decodes in a thread pool and runs ONNX Runtime in its own thread, so decoding, inference and the
caller's work on finished images overlap.

HEIC/HEIF (``pillow-heif``) and camera RAW files (``rawpy``) decode when those optional extras are
installed; otherwise such files are refused with the reason naming the extra to install.

The encoder has the shape of :class:`embedengine.encoders.Encoder`: ``encode`` returns all vectors,
``iter_encode`` yields one :class:`ImageOutcome` per image (vectors, or the error that kept it out).
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import os
import sys
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .encoders import Encoder
from .errors import UserError
from .linalg import top_k
from .manifest import read_labels, verified_model_path
from .runtime import (
    choose_providers,
    default_threads,
    make_session,
    provider_preference,
    session_provider_label,
)
from .safety import NotRegularFile, open_regular_file
from .tasks import CancelToken, Cancelled, Progress, ProgressCallback, RateMeter, checkpoint, emit

MODEL_FILE = "resnet50.onnx"
LABELS_FILE = "labels.json"
RESIZE_SHORT_SIDE = 256
CROP_SIZE = 224
# JPEG draft (DCT-scaled) decoding never goes below this short side: the embedding then stays within
# cosine 0.999 of a full decode (tests/test_image_encoder.py proves it on the demo photos).
FAITHFUL_DRAFT_SIDE = 2 * CROP_SIZE
WIDE_GREY_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})  # > 8 bits per pixel
ORIENTATION_TAG = 0x0112
DECODE_NICENESS = 5  # decoder threads run this much nicer than inference (Linux)
SWAPS_AXES = frozenset({5, 6, 7, 8})  # EXIF orientations that turn the picture by 90°
DEFAULT_BATCH_SIZE = 16  # images per inference call
PIPELINE_DEPTH = 3  # batches between decoding and the caller: one decoding, one in the model, one handed over
MAX_ASPECT_RATIO = 50  # long side / short side beyond this is a strip or a line, not a picture: refused

Box = tuple[float, float, float, float]  # left, top, right, bottom


@dataclass(frozen=True)
class OptionalDecoder:
    """A file format read through an optional extra of the ``embed-studio`` package."""

    name: str
    module: str
    extra: str
    extensions: frozenset[str]

    @property
    def installed(self) -> bool:
        """Whether the decoder's package can be imported (checked without importing it)."""
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):  # ValueError: blocked in sys.modules
            return False

    @property
    def missing_reason(self) -> str:
        return f"{self.name} needs: pip install 'embed-studio[{self.extra}]'"

    def load(self, name: str) -> Any:
        """The imported package, or :class:`ImageLoadError` saying which extra to install."""
        try:
            return importlib.import_module(self.module)
        except ImportError as error:
            raise ImageLoadError(name, self.missing_reason,
                                 hint=f"Reading {self.name} files needs the optional package {self.module} "
                                      f"({error}).") from None


HEIC = OptionalDecoder("HEIC", "pillow_heif", "heic", frozenset({".heic", ".heif"}))
RAW = OptionalDecoder("RAW", "rawpy", "raw", frozenset({".cr2", ".nef", ".arw", ".dng", ".rw2", ".orf"}))
OPTIONAL_DECODERS = (HEIC, RAW)
BUILTIN_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
# What this installation decodes; KNOWN_IMAGE_EXTENSIONS adds the formats whose extra is missing
# (worth listing, to skip them with the reason).
IMAGE_EXTENSIONS: frozenset[str] = BUILTIN_EXTENSIONS.union(*(d.extensions for d in OPTIONAL_DECODERS if d.installed))
KNOWN_IMAGE_EXTENSIONS: frozenset[str] = BUILTIN_EXTENSIONS.union(*(d.extensions for d in OPTIONAL_DECODERS))
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})

_REASON_HINTS = {
    "empty file": "The file has 0 bytes; it may still be downloading or was not saved properly.",
    "not an image": "Its contents are not in a picture format Embed Studio reads "
                    "(JPEG, PNG, WebP, BMP, GIF, TIFF; HEIC and RAW with the optional extras).",
    "corrupt or truncated": "The picture data is damaged or cut short; open it in an image viewer "
                            "and save it again, or fetch a fresh copy.",
    "too large (decompression bomb)": "Its pixel count exceeds Pillow's safety limit "
                                      "(PIL.Image.MAX_IMAGE_PIXELS), which guards against decompression bombs.",
}


class ImageLoadError(UserError):
    """One image could not be used; ``path`` names it and ``reason`` says why in a few words."""

    def __init__(self, path: str, reason: str, hint: str = "") -> None:
        self.path = path
        self.reason = reason
        hint = hint or _REASON_HINTS.get(reason, "Check that the file exists and that you may read it.")
        super().__init__(f"Cannot use image {path}: {reason}", hint=hint, data={"path": path, "reason": reason})

    def __reduce__(self):
        return type(self), (self.path, self.reason, self.hint)


# --------------------------------------------------------------------------- loading

def describe_source(source: Any) -> str:
    """How an image source is named in messages."""
    if isinstance(source, (str, Path)):
        return str(source)
    if isinstance(source, Image.Image):
        return source.filename if getattr(source, "filename", "") else f"<{source.mode} image {source.width}×{source.height}>"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    return repr(source)


@dataclass(frozen=True)
class Decoded:
    """One decoded picture.

    ``image`` is upright RGB; ``size`` the whole picture's upright width × height; ``content`` the
    region of ``image`` that shows the whole picture: its own bounds, except after JPEG draft
    decoding, where the last row or column of reduced blocks is partly padding.
    """

    image: Image.Image
    size: tuple[int, int]
    content: Box


def load_image(source: str | Path | Image.Image | bytes, draft_side: int = FAITHFUL_DRAFT_SIDE) -> Image.Image:
    """An upright RGB image: EXIF orientation applied, any mode converted, alpha composited on white.

    JPEGs are decoded at reduced size (Pillow draft mode) when their short side stays ≥ ``draft_side``
    (0: always the full size). Raises :class:`ImageLoadError` naming the source.
    """
    return decode_image(source, draft_side).image


def decode_image(source: Any, draft_side: int = FAITHFUL_DRAFT_SIDE) -> Decoded:
    """:func:`load_image` with the picture's full size and the region that shows it (for :func:`preprocess`)."""
    name = describe_source(source)
    if isinstance(source, np.ndarray):
        source = _array_to_image(source, name)
    if isinstance(source, Image.Image):
        return _whole(_finish(source, name), _upright_size(source))
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageLoadError(name, "empty file")
        return _decode(io.BytesIO(bytes(source)), name, draft_side)
    if isinstance(source, (str, Path)):
        return _load_file(Path(source), name, draft_side)
    raise ImageLoadError(name, "not an image", hint="Pass a file path, bytes or a PIL image.")


def _whole(image: Image.Image, size: tuple[int, int]) -> Decoded:
    return Decoded(image, size, (0.0, 0.0, float(image.width), float(image.height)))


def _array_to_image(array: np.ndarray, name: str) -> Image.Image:
    try:
        return Image.fromarray(np.ascontiguousarray(array))
    except (TypeError, ValueError) as error:
        raise ImageLoadError(name, "not an image", hint=f"The array cannot be read as a picture: {error}") from error


def _load_file(path: Path, name: str, draft_side: int) -> Decoded:
    """Decode a regular file (a FIFO or device would block: refused); RAW files by their extension."""
    try:
        handle = open_regular_file(path)
    except NotRegularFile as error:
        raise ImageLoadError(name, error.reason, hint=error.hint) from error
    except OSError as error:
        raise ImageLoadError(name, f"unreadable: {error.strerror or error}") from error
    with handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise ImageLoadError(name, "empty file")
        if path.suffix.lower() in RAW.extensions:
            return _decode_raw(handle, name)
        return _decode(handle, name, draft_side)


def _decode(stream, name: str, draft_side: int) -> Decoded:
    """Open, bomb-check, verify checksums (PNG), draft and fully decode one image stream."""
    image = _open(stream, name)
    if image.format == "PNG":  # PNG chunks carry CRCs; damaged pixel data may otherwise decode silently
        try:
            image.verify()
        except Exception as error:
            raise ImageLoadError(name, "corrupt or truncated") from error
        stream.seek(0)
        image = _open(stream, name)
    size, orientation = _upright_size(image), _orientation(image)
    content: Box = (0.0, 0.0, float(image.width), float(image.height))
    if image.format == "JPEG" and draft_side:
        drafted = image.draft("RGB", (draft_side, draft_side))  # DCT scaling: both sides stay ≥ draft_side
        content = drafted[1] if drafted else content
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageLoadError(name, "too large (decompression bomb)") from error
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError) as error:
        raise ImageLoadError(name, "corrupt or truncated") from error
    content = _oriented_box(content, image.size, orientation)
    return Decoded(_finish(image, name), size, content)


def _decode_raw(stream, name: str) -> Decoded:
    """A camera RAW file developed by LibRaw (``rawpy``): as-shot white balance, sRGB, half size for speed."""
    rawpy = RAW.load(name)
    try:
        with rawpy.imread(stream) as raw:
            full = (raw.sizes.width, raw.sizes.height)
            pixels = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
    except (rawpy.LibRawError, OSError, ValueError, MemoryError) as error:
        raise ImageLoadError(name, "corrupt or truncated", hint=f"LibRaw could not develop it: {error}") from error
    image = Image.fromarray(pixels)
    upright = full if (image.width >= image.height) == (full[0] >= full[1]) else full[::-1]
    return _whole(image, upright)


def _open(stream, name: str) -> Image.Image:
    """``Image.open`` (header only) with its failures turned into :class:`ImageLoadError`."""
    _register_heif_opener()
    try:
        image = Image.open(stream)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageLoadError(name, "too large (decompression bomb)") from error
    except UnidentifiedImageError as error:
        if _is_heif(stream, name):
            HEIC.load(name)  # raises with the extra to install; installed but unreadable falls through
        raise ImageLoadError(name, "not an image") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageLoadError(name, "corrupt or truncated") from error
    _check_pixel_limit(image, name)
    _check_aspect_ratio(image, name)
    return image


_HEIF_REGISTERED = threading.Event()


def _register_heif_opener() -> None:
    """Let Pillow open HEIC/HEIF files when ``pillow-heif`` is installed (once per process)."""
    if not _HEIF_REGISTERED.is_set():
        if HEIC.installed:
            try:
                importlib.import_module(HEIC.module).register_heif_opener()
            except Exception:  # a broken install: HEIC files are then refused with the install hint
                pass
        _HEIF_REGISTERED.set()


def _is_heif(stream, name: str) -> bool:
    """An ISO media file with a HEIF brand, or a file named .heic/.heif."""
    try:
        stream.seek(0)
        header = stream.read(12)
    except (OSError, ValueError):
        header = b""
    return (header[4:8] == b"ftyp" and header[8:12] in HEIF_BRANDS) or Path(name).suffix.lower() in HEIC.extensions


def _check_pixel_limit(image: Image.Image, name: str) -> None:
    """Treat images over ``MAX_IMAGE_PIXELS`` as errors (Pillow itself only warns below 2× the limit)."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit and image.width * image.height > limit:
        raise ImageLoadError(
            name, "too large (decompression bomb)",
            hint=f"It has {image.width}×{image.height} pixels, more than the {limit:,} pixel safety limit.",
        )


def _check_aspect_ratio(image: Image.Image, name: str) -> None:
    """Refuse, before decoding, a long side over ``MAX_ASPECT_RATIO`` times the short side."""
    width, height = image.size
    if max(width, height) > MAX_ASPECT_RATIO * max(1, min(width, height)):
        raise ImageLoadError(name, f"extreme aspect ratio ({width}×{height}; the limit is {MAX_ASPECT_RATIO}:1)",
                             hint="One side is so much longer than the other that it is a strip or a line, "
                                  "not a picture.")


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1: upright), 1 when the EXIF data is malformed."""
    try:
        return int(image.getexif().get(ORIENTATION_TAG, 1))
    except Exception:  # malformed EXIF: the picture itself is still usable
        return 1


def _upright_size(image: Image.Image) -> tuple[int, int]:
    return (image.height, image.width) if _orientation(image) in SWAPS_AXES else (image.width, image.height)


def _oriented_box(box: Box, size: tuple[int, int], orientation: int) -> Box:
    """Where ``box`` of an image of ``size`` lands after the EXIF ``orientation`` is applied
    (as :func:`PIL.ImageOps.exif_transpose` does it)."""
    (left, top, right, bottom), (width, height) = box, size
    return {
        2: (width - right, top, width - left, bottom),  # mirrored
        3: (width - right, height - bottom, width - left, height - top),  # turned 180°
        4: (left, height - bottom, right, height - top),  # flipped
        5: (top, left, bottom, right),  # transposed
        6: (height - bottom, left, height - top, right),  # turned 90° clockwise
        7: (height - bottom, width - right, height - top, width - left),  # transversed
        8: (top, width - right, bottom, width - left),  # turned 90° anticlockwise
    }.get(orientation, box)


def _finish(image: Image.Image, name: str) -> Image.Image:
    """EXIF orientation applied, then RGB."""
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # malformed EXIF must not cost the user the picture
        pass
    try:
        return to_rgb(image)
    except (OSError, ValueError) as error:
        raise ImageLoadError(name, "corrupt or truncated") from error


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB; transparent parts become white."""
    if image.mode == "RGB":
        return image
    if image.mode in WIDE_GREY_MODES:
        return _wide_to_rgb(image)
    if image.mode == "LAB":
        return _lab_to_rgb(image)
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode in ("P", "L", "RGB") and "transparency" in image.info
    )


def _wide_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit int or float greyscale scaled to 8 bits (65535 → 255; floats in 0..1 → 0..255)."""
    values = np.asarray(image, dtype=np.float64)
    grey = np.clip(np.rint(values * (255.0 / _full_scale(image.mode, values))), 0, 255).astype(np.uint8)
    return Image.fromarray(grey, "L").convert("RGB")


def _full_scale(mode: str, values: np.ndarray) -> float:
    """The value that means white: 16-bit modes 65535; otherwise guessed from the brightest pixel."""
    brightest = float(np.nanmax(values, initial=0))
    if mode.startswith("I;16") or brightest > 255:
        return 65535.0
    return 1.0 if mode == "F" and brightest <= 1.0 else 255.0


def _lab_to_rgb(image: Image.Image) -> Image.Image:
    from PIL import ImageCms

    transform = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB")
    return ImageCms.applyTransform(image, transform)


def preprocess(image: Image.Image, content: Optional[Box] = None) -> np.ndarray:
    """uint8 [224, 224, 3]: short side resized to 256 (bilinear), then the centre 224×224.

    ``content`` is the region of ``image`` showing the whole picture (:attr:`Decoded.content`; default:
    all of it), so a draft-decoded JPEG is cropped exactly where its full decode would be. Only the
    source region under the crop is resized (``resize(box=...)``, the same pixels): a 1×10000 strip
    would otherwise become a 256×2,560,000 intermediate image (2 GB).
    """
    image = to_rgb(image)
    box = _crop_box(content or (0.0, 0.0, float(image.width), float(image.height)))
    return np.asarray(image.resize((CROP_SIZE, CROP_SIZE), Image.Resampling.BILINEAR, box=box), dtype=np.uint8)


def _crop_box(content: Box) -> Box:
    """The part of ``content`` that becomes the centre crop after the resize."""
    left, top, right, bottom = content
    width, height = right - left, bottom - top
    scale = RESIZE_SHORT_SIDE / min(width, height)
    resized = (max(CROP_SIZE, round(width * scale)), max(CROP_SIZE, round(height * scale)))
    x_scale, y_scale = resized[0] / width, resized[1] / height
    crop_left, crop_top = (resized[0] - CROP_SIZE) // 2, (resized[1] - CROP_SIZE) // 2
    return (left + crop_left / x_scale, top + crop_top / y_scale,
            left + (crop_left + CROP_SIZE) / x_scale, top + (crop_top + CROP_SIZE) / y_scale)


def make_thumbnail(image: Image.Image, size: int = 256) -> Image.Image:
    """A copy that fits in ``size``×``size``, aspect kept (never enlarged)."""
    scale = min(1.0, size / image.width, size / image.height)
    fitted = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(fitted, Image.Resampling.BILINEAR, reducing_gap=2.0)  # like Image.thumbnail, without a copy


# --------------------------------------------------------------------------- encoding

@dataclass
class ImageOutcome:
    """One input image's result: vectors, or the error that kept it out."""

    index: int
    source: object
    embedding: Optional[np.ndarray]
    probs: Optional[np.ndarray]
    error: Optional[ImageLoadError]
    width: int
    height: int
    thumbnail: Optional[Image.Image]

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Prepared:
    """Decoder output for one image, waiting for the model."""

    pixels: Optional[np.ndarray]
    error: Optional[ImageLoadError]
    size: tuple[int, int]
    thumbnail: Optional[Image.Image]


def _run_options():
    import onnxruntime

    return onnxruntime.RunOptions()


def _terminate_on_cancel(cancel: CancelToken, options, finished: threading.Event, poll_s: float = 0.05) -> None:
    """Until ``finished``, turn a cancel request into ONNX Runtime's terminate flag."""
    while not finished.wait(poll_s):
        if cancel.cancelled:
            options.terminate = True
            return


def _lower_thread_priority() -> None:
    """Decoder threads yield to inference threads (Linux: per-thread niceness; elsewhere a no-op).

    ONNX Runtime's intra-op threads meet at barriers, so a decoder pre-empting one of them stalls
    all of them; at lower priority decoding fills the idle moments instead.
    """
    if sys.platform.startswith("linux") and DECODE_NICENESS:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), DECODE_NICENESS)
        except (OSError, AttributeError):
            pass


def _prepare(source: Any, thumbnail_size: Optional[int]) -> _Prepared:
    """Decode + preprocess (+ thumbnail) one image; runs in the decoder pool."""
    try:
        decoded = decode_image(source, max(FAITHFUL_DRAFT_SIDE, thumbnail_size or 0))
        thumbnail = make_thumbnail(decoded.image, thumbnail_size) if thumbnail_size else None
        return _Prepared(preprocess(decoded.image, decoded.content), None, decoded.size, thumbnail)
    except ImageLoadError as error:
        return _Prepared(None, error, (0, 0), None)
    except Exception as error:  # an unexpected decoder failure still only costs this one image
        return _Prepared(None, ImageLoadError(describe_source(source), "corrupt or truncated",
                                              hint=f"The decoder failed: {error}"), (0, 0), None)


def as_image_list(sources: Any) -> list:
    """The sources as a list; a single path, bytes, PIL image or HxW(xC) array counts as one source."""
    single_array = isinstance(sources, np.ndarray) and sources.ndim < 4
    if single_array or isinstance(sources, (str, Path, bytes, bytearray, Image.Image)):
        return [sources]
    return list(sources)


class ImageOutcomeEncoder(Encoder):
    """An encoder of pictures whose ``iter_encode`` yields :class:`ImageOutcome` (ResNet50, CLIP's visual side)."""

    def as_items(self, sources: Any) -> list:
        return as_image_list(sources)

    def placed(self, outcome: ImageOutcome) -> tuple[int, np.ndarray]:
        """Raises :class:`ImageLoadError` for an image that cannot be used (``encode`` stops there)."""
        if outcome.error is not None:
            raise outcome.error
        return outcome.index, outcome.embedding


class ImageEncoder(ImageOutcomeEncoder):
    """ResNet50 image embeddings (2048-d ``avg_pool``) and ImageNet class probabilities.

    ``providers`` and ``threads`` (ONNX Runtime intra-op threads) default to the preferences at
    construction (``EMBEDSTUDIO_PROVIDER``, ``EMBEDSTUDIO_THREADS``).
    """

    dim: int = 2048
    default_batch_size = DEFAULT_BATCH_SIZE

    def __init__(self, providers: Optional[Sequence[str]] = None, threads: Optional[int] = None) -> None:
        self.providers = list(providers) if providers else choose_providers(provider_preference())
        self.threads = max(1, int(threads)) if threads else default_threads()
        self.session = make_session(verified_model_path(MODEL_FILE), self.providers, self.threads)
        self.labels: list[str] = read_labels(verified_model_path(LABELS_FILE))
        self.provider_label: str = session_provider_label(tuple(self.session.get_providers()))
        self.decode_workers = max(1, os.cpu_count() or 1)

    def run_model(self, pixels: np.ndarray, cancel: Optional[CancelToken] = None) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings and probabilities for a preprocessed uint8 batch [N, 224, 224, 3].

        With ``cancel``, a cancel request aborts the running batch within ~0.1 s (raises ``Cancelled``).
        """
        feeds = {"image": np.ascontiguousarray(pixels, np.uint8)}
        if cancel is None:
            embedding, probs = self.session.run(["embedding", "probs"], feeds)
            return embedding, probs
        options = _run_options()
        finished = threading.Event()
        watcher = threading.Thread(target=_terminate_on_cancel, args=(cancel, options, finished), daemon=True)
        watcher.start()
        try:
            embedding, probs = self.session.run(["embedding", "probs"], feeds, options)
        except Exception:
            if cancel.cancelled:
                raise Cancelled() from None
            raise
        finally:
            finished.set()
            watcher.join()
        return embedding, probs

    def iter_encode(self, sources: Iterable[Any], *, progress: Optional[ProgressCallback] = None,
                    cancel: Optional[CancelToken] = None, batch_size: Optional[int] = None,
                    thumbnail_size: Optional[int] = None) -> Iterator[ImageOutcome]:
        """One :class:`ImageOutcome` per source, in input order; bad files get ``outcome.error``.

        A pipeline keeps both cores busy: a thread pool decodes up to ``PIPELINE_DEPTH`` batches ahead,
        and the model runs in its own thread, so the next batch is being encoded while the caller
        handles this one (saving thumbnails, hashing, writing). ``thumbnail_size`` adds a thumbnail to
        each outcome. As each batch is handed over, ``progress`` gets a report (stage "images", unit
        "images"). ``cancel`` is checked before each batch (paused blocks there, cancelled raises
        :class:`~embedengine.tasks.Cancelled`); a cancel also interrupts the running batch within ~0.1 s.
        """
        items = as_image_list(sources)
        batch_size = max(1, int(batch_size or DEFAULT_BATCH_SIZE))
        meter = RateMeter(len(items))
        starts = deque(range(0, len(items), batch_size))
        decoders = ThreadPoolExecutor(self.decode_workers, "image-decode", initializer=_lower_thread_priority)
        model = ThreadPoolExecutor(1, "image-model")
        in_flight: deque[tuple[int, Future]] = deque()
        try:
            while starts or in_flight:
                while starts and len(in_flight) < PIPELINE_DEPTH:
                    start = starts.popleft()
                    decoding = [decoders.submit(_prepare, s, thumbnail_size) for s in items[start:start + batch_size]]
                    in_flight.append((start, model.submit(self._encode_batch, start, items, decoding, cancel)))
                start, encoding = in_flight.popleft()
                outcomes = encoding.result()
                checkpoint(cancel)
                done = start + len(outcomes)
                emit(progress, Progress(stage="images", done=done, total=len(items), unit="images",
                                        rate=meter.rate(done), eta_s=meter.eta(done)))
                yield from outcomes
        finally:
            for _, encoding in in_flight:
                encoding.cancel()
            decoders.shutdown(wait=True, cancel_futures=True)
            model.shutdown(wait=True, cancel_futures=True)

    def _encode_batch(self, start: int, items: list, decoding: list[Future],
                      cancel: Optional[CancelToken]) -> list[ImageOutcome]:
        """Wait for one batch's decoders, run the model on its good images (in the model thread)."""
        prepared: list[_Prepared] = [future.result() for future in decoding]
        checkpoint(cancel)
        good = [p.pixels for p in prepared if p.pixels is not None]
        embeddings, probs = self.run_model(np.stack(good), cancel) if good else (None, None)
        outcomes, row = [], 0
        for offset, item in enumerate(prepared):
            vector = probability = None
            if item.pixels is not None:
                vector, probability, row = embeddings[row], probs[row], row + 1
            outcomes.append(ImageOutcome(start + offset, items[start + offset], vector, probability,
                                         item.error, item.size[0], item.size[1], item.thumbnail))
        return outcomes

    def top_labels(self, probs: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most probable ImageNet classes of one probability vector."""
        probs = np.asarray(probs).reshape(-1)
        return [(self.labels[i], float(probs[i])) for i in top_k(probs, k)]

    def labels_for(self, images: Iterable[Any], k: int = 5,
                   batch_size: int = DEFAULT_BATCH_SIZE) -> list[list[tuple[str, float]]]:
        """Top-``k`` ImageNet classes for each image; raises :class:`ImageLoadError` like :meth:`encode`."""
        labels = []
        for outcome in self.iter_encode(images, batch_size=batch_size):
            self.placed(outcome)  # raises for an image that cannot be used, as encode does
            labels.append(self.top_labels(outcome.probs, k))
        return labels


_ENCODER: Optional[tuple[tuple[str, int], ImageEncoder]] = None  # (provider preference, threads), encoder
_ENCODER_LOCK = threading.Lock()


def get_image_encoder() -> ImageEncoder:
    """The process-wide encoder for the current preferences, created on first use (thread-safe).

    Cached by (provider preference, threads): when ``EMBEDSTUDIO_PROVIDER`` or ``EMBEDSTUDIO_THREADS``
    changed since it was made, a new encoder is built with the new settings and replaces it
    (whoever still holds the old one may finish with it).
    """
    global _ENCODER
    key = (provider_preference(), default_threads())
    with _ENCODER_LOCK:
        if _ENCODER is None or _ENCODER[0] != key:
            _ENCODER = (key, ImageEncoder(choose_providers(key[0]), key[1]))
        return _ENCODER[1]
