"""A user's own image–text (CLIP-style) ONNX model: text → image and image → image search.

Embed Studio builds no CLIP model (no registry package carries one); a user brings an OpenCLIP-style ONNX
export in the folder layout of Immich's model repositories (``immich-app/ViT-B-32__openai`` on Hugging
Face; read by ``immich_ml/models/clip/`` in github:immich-app/immich)::

    <model>/config.json                   open_clip model config: embed_dim, text_cfg.context_length
    <model>/visual/model.onnx             image float [N, 3, S, S] (normalised) → embedding [N, D]
    <model>/visual/preprocess_cfg.json    size, mean, std, interpolation, resize_mode
    <model>/textual/model.onnx            text int [N, L] (token ids) → embedding [N, D]
    <model>/textual/tokenizer.json        a Hugging Face ``tokenizers`` file
    <model>/textual/tokenizer_config.json pad_token (optional here; Immich's exports have it)

Immich exports a batch of one (the first axis fixed at 1); such models run one item per call. An M-CLIP
text encoder (inputs ``input_ids`` and ``attention_mask``) and a visual model that takes uint8 RGB
[N, S, S, 3] (normalising inside the graph) work too.

:meth:`ClipModel.open` checks every file, the inputs' and outputs' shapes, and runs a self-test; any problem
is one :class:`ClipModelError` naming the file. ``models add-clip DIR`` (``models/clip_tools.py``) records
a checked folder in the models folder's ``manifest.json`` under ``clip_models``; :func:`registered_models`
and :func:`get_clip_model` are the engine's side of that record. In an image collection the vectors of a
model named ``NAME`` are the method ``clip:NAME`` (:func:`clip_method`).
"""

from __future__ import annotations

import json
import os
import string
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np
from PIL import Image

from .encoders import Encoder
from .errors import UserError
from .image import ImageLoadError, ImageOutcome, ImageOutcomeEncoder, as_image_list, decode_image, describe_source
from .linalg import normalise
from .manifest import file_sha256, read_manifest
from .runtime import (
    ModelDamagedError,
    ModelMissingError,
    choose_providers,
    default_threads,
    first_line,
    make_session,
    models_dir,
    provider_preference,
)
from .tasks import CancelToken, Progress, ProgressCallback, RateMeter, checkpoint, emit
from .text import TextBatch

CONFIG = "config.json"
VISUAL_MODEL = "visual/model.onnx"
PREPROCESS = "visual/preprocess_cfg.json"
TEXTUAL_MODEL = "textual/model.onnx"
TOKENIZER = "textual/tokenizer.json"
TOKENIZER_CONFIG = "textual/tokenizer_config.json"  # optional: pad token
REQUIRED_FILES = (CONFIG, VISUAL_MODEL, PREPROCESS, TEXTUAL_MODEL, TOKENIZER)
MANIFEST_KEY = "clip_models"  # the manifest's table of added models
METHOD_PREFIX = "clip:"
DEFAULT_CONTEXT_LENGTH = 77  # open_clip's (and Immich's) default
DEFAULT_BATCH_SIZE = 16
SELF_TEST_TEXT = "a photo of a dog on a beach"
LAYOUT_HINT = ("A CLIP model folder holds config.json, visual/model.onnx, visual/preprocess_cfg.json, "
               "textual/model.onnx and textual/tokenizer.json: the layout of Immich's model repositories "
               "(e.g. immich-app/ViT-B-32__openai on Hugging Face). The models must be ONNX.")
RESIZE_MODES = ("shortest", "squash", "longest")
_RESAMPLING = {method.name.lower(): method for method in Image.Resampling}
_ONNX_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
               "tensor(uint8)": np.uint8, "tensor(int32)": np.int32, "tensor(int64)": np.int64}
_PUNCTUATION = str.maketrans("", "", string.punctuation)


class ClipModelError(UserError):
    """A CLIP model folder (or one of its files) cannot be used; ``path`` names the file."""

    def __init__(self, message: str, path: Path | str, hint: str = LAYOUT_HINT) -> None:
        super().__init__(message, hint=hint, data={"path": str(path)})
        self.path = Path(path)


# --------------------------------------------------------------------------- the folder's files

def check_layout(folder: Path | str) -> Path:
    """The folder, resolved, when it holds every required file; else :class:`ClipModelError` naming the first missing."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ClipModelError(f"{folder} is not a folder", folder)
    for relative in REQUIRED_FILES:
        if not (folder / relative).is_file():
            raise ClipModelError(f"{folder} is not a CLIP model folder: {relative} is missing", folder / relative)
    return folder.resolve()


def read_json(path: Path) -> dict:
    """A JSON object from ``path``, or :class:`ClipModelError` naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ClipModelError(f"{path} cannot be read as JSON ({first_line(error)})", path) from error
    if not isinstance(data, dict):
        raise ClipModelError(f"{path} is not a JSON object", path)
    return data


@dataclass(frozen=True)
class Preprocess:
    """How a picture becomes the visual model's input (``visual/preprocess_cfg.json``, open_clip's fields)."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"  # shortest: resize + centre crop; squash: resize to S×S; longest: fit + pad
    fill_color: int = 0

    @classmethod
    def from_file(cls, path: Path) -> "Preprocess":
        data = read_json(path)
        try:
            size = data["size"]
            size = int(size[0] if isinstance(size, (list, tuple)) else size)
            mean, std = _triple(data["mean"]), _triple(data["std"])
            fill = data.get("fill_color") or 0
            fill = int(fill[0] if isinstance(fill, (list, tuple)) else fill)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise ClipModelError(f"{path} needs size, mean and std (three numbers each for mean and std): "
                                 f"{first_line(error)}", path) from error
        config = cls(size, mean, std, str(data.get("interpolation", "bicubic")).lower(),
                     str(data.get("resize_mode", "shortest")), fill)
        problem = config.problem()
        if problem:
            raise ClipModelError(f"{path}: {problem}", path)
        return config

    def problem(self) -> Optional[str]:
        if not 8 <= self.size <= 4096:
            return f"size {self.size} is not a picture side"
        if self.interpolation not in _RESAMPLING:
            return f"interpolation {self.interpolation!r} is not one of {', '.join(sorted(_RESAMPLING))}"
        if self.resize_mode not in RESIZE_MODES:
            return f"resize_mode {self.resize_mode!r} is not one of {', '.join(RESIZE_MODES)}"
        if any(s <= 0 for s in self.std):
            return "std must be positive"
        return None

    def resized(self, image: Image.Image) -> Image.Image:
        """The S×S RGB picture the model sees (open_clip's transform, as Immich applies it)."""
        image = image if image.mode == "RGB" else image.convert("RGB")
        size, resample = self.size, _RESAMPLING[self.interpolation]
        width, height = image.size
        if self.resize_mode == "squash":
            return image.resize((size, size), resample)
        if self.resize_mode == "longest":
            scale = size / max(width, height)
            inner = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), resample)
            canvas = Image.new("RGB", (size, size), (self.fill_color,) * 3)
            canvas.paste(inner, ((size - inner.width) // 2, (size - inner.height) // 2))
            return canvas
        scale = size / min(width, height)
        image = image.resize((max(size, int(width * scale)), max(size, int(height * scale))), resample)
        left, top = int(image.width / 2 - size / 2), int(image.height / 2 - size / 2)
        return image.crop((left, top, left + size, top + size))

    def normalised(self, image: Image.Image) -> np.ndarray:
        """float32 [3, S, S]: (pixel / 255 − mean) / std per channel."""
        pixels = np.asarray(self.resized(image), dtype=np.float32) / 255.0
        pixels = (pixels - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(pixels.transpose(2, 0, 1))

    def rgb(self, image: Image.Image) -> np.ndarray:
        """uint8 [S, S, 3] for a visual model that normalises inside its graph."""
        return np.asarray(self.resized(image), dtype=np.uint8)


def _triple(value: Any) -> tuple[float, float, float]:
    values = [float(v) for v in (value if isinstance(value, (list, tuple)) else [value] * 3)]
    if len(values) != 3:
        raise ValueError(f"expected 3 numbers, got {len(values)}")
    return values[0], values[1], values[2]


@dataclass(frozen=True)
class Port:
    """One input or output of a session: name, numpy dtype and shape (an int for a fixed axis, else None)."""

    name: str
    dtype: Any
    shape: tuple[Optional[int], ...]

    @classmethod
    def of(cls, node) -> "Port":
        shape = tuple(d if isinstance(d, int) and d > 0 else None for d in (node.shape or []))
        return cls(node.name, _ONNX_TYPES.get(node.type), shape)

    @property
    def batch(self) -> Optional[int]:
        """The fixed batch size (Immich's exports: 1), or None when any batch size works."""
        return self.shape[0] if self.shape else None


def _open_session(path: Path, providers: Sequence[str], threads: int):
    try:
        return make_session(path, providers, threads)
    except (ModelDamagedError, ModelMissingError) as error:
        raise ClipModelError(f"{path} cannot be loaded as an ONNX model ({first_line(error.__cause__ or error)})",
                             path) from error


def _embedding_dim(port: Port, path: Path, what: str) -> Optional[int]:
    if len(port.shape) != 2:
        raise ClipModelError(f"{path}: its output {port.name!r} has shape {_shape(port)}, not [N, D] "
                             f"(one {what} embedding per row)", path)
    return port.shape[1]


def _shape(port: Port) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in port.shape) + "]"


# --------------------------------------------------------------------------- the two encoders

def _batches(count: int, batch_size: int, fixed: Optional[int]) -> Iterator[range]:
    """Index ranges of one model call each: the fixed batch size when the model has one."""
    step = fixed or max(1, batch_size)
    for start in range(0, count, step):
        yield range(start, min(count, start + step))


def _run(session, feeds: dict, fixed: Optional[int]) -> np.ndarray:
    """The first output for ``feeds``; a batch smaller than a fixed batch size is padded and cut."""
    rows = next(iter(feeds.values())).shape[0]
    if fixed and rows < fixed:
        feeds = {k: np.concatenate([v, np.repeat(v[-1:], fixed - rows, axis=0)]) for k, v in feeds.items()}
    return np.asarray(session.run(None, feeds)[0], dtype=np.float32)[:rows]


class ClipImageEncoder(ImageOutcomeEncoder):
    """The visual half: images → unit vectors; yields one :class:`~embedengine.image.ImageOutcome` per image
    (``probs`` and ``thumbnail`` are None), decoding in a thread pool one batch ahead of the model."""

    default_batch_size = DEFAULT_BATCH_SIZE

    def __init__(self, session, path: Path, preprocess: Preprocess) -> None:
        self.session, self.path, self.preprocess = session, path, preprocess
        inputs, outputs = [Port.of(n) for n in session.get_inputs()], [Port.of(n) for n in session.get_outputs()]
        if len(inputs) != 1 or not outputs:
            raise ClipModelError(f"{path} has {len(inputs)} inputs and {len(outputs)} outputs; a visual encoder "
                                 "has one image input and an embedding output", path)
        self.input = inputs[0]
        self.takes_rgb = self.input.dtype == np.uint8  # [N, S, S, 3], normalised inside the graph
        self._check_input()
        self.output_dim = _embedding_dim(outputs[0], path, "image")
        self.dim = self.output_dim or 0  # set from the self-test when the output's width is not fixed
        self.decode_workers = max(1, min(8, os.cpu_count() or 1))

    def _check_input(self) -> None:
        port, size = self.input, self.preprocess.size
        expected = (None, size, size, 3) if self.takes_rgb else (None, 3, size, size)
        if port.dtype not in (np.float32, np.float16, np.uint8) or len(port.shape) != 4 or any(
                have is not None and want is not None and have != want for have, want in zip(port.shape, expected)):
            wanted = f"uint8 [N, {size}, {size}, 3]" if self.takes_rgb else f"float [N, 3, {size}, {size}]"
            raise ClipModelError(
                f"{self.path}: its input {port.name!r} has shape {_shape(port)}; with a side of {size} "
                f"({PREPROCESS}) it should be {wanted}", self.path)

    def pixels(self, image: Image.Image) -> np.ndarray:
        """One model input row for an RGB picture."""
        if self.takes_rgb:
            return self.preprocess.rgb(image)
        return self.preprocess.normalised(image).astype(self.input.dtype, copy=False)

    def _prepare(self, source: Any) -> tuple[Optional[np.ndarray], Optional[ImageLoadError], tuple[int, int]]:
        try:
            decoded = decode_image(source, draft_side=2 * self.preprocess.size)
            image = decoded.image.crop(tuple(round(v) for v in decoded.content))  # a draft's padding left out
            return self.pixels(image), None, decoded.size
        except ImageLoadError as error:
            return None, error, (0, 0)
        except Exception as error:  # noqa: BLE001 - one undecodable image costs only that image
            return None, ImageLoadError(describe_source(source), "corrupt or truncated",
                                        hint=f"The decoder failed: {error}"), (0, 0)

    def iter_encode(self, images: Any, *, progress: Optional[ProgressCallback] = None,
                    cancel: Optional[CancelToken] = None, batch_size: Optional[int] = None) -> Iterator[ImageOutcome]:
        items = as_image_list(images)
        meter = RateMeter(len(items))
        batches = list(_batches(len(items), batch_size or self.default_batch_size, self.input.batch))
        with ThreadPoolExecutor(self.decode_workers, "clip-decode") as pool:
            decoding = [self._decode_batch(pool, items, rows) for rows in batches[:1]]
            for number, rows in enumerate(batches):
                if number + 1 < len(batches):  # the next batch decodes while this one runs
                    decoding.append(self._decode_batch(pool, items, batches[number + 1]))
                checkpoint(cancel)
                prepared = [future.result() for future in decoding.pop(0)]
                yield from self._encode_batch(rows, items, prepared)
                emit(progress, Progress(stage="images", done=rows.stop, total=len(items), unit="images",
                                        rate=meter.rate(rows.stop), eta_s=meter.eta(rows.stop)))

    def _decode_batch(self, pool: ThreadPoolExecutor, items: list, rows: range) -> list:
        return [pool.submit(self._prepare, items[i]) for i in rows]

    def _encode_batch(self, rows: range, items: list, prepared: list) -> list[ImageOutcome]:
        good = [pixels for pixels, _, _ in prepared if pixels is not None]
        vectors = normalise(_run(self.session, {self.input.name: np.stack(good)}, self.input.batch)) if good else None
        outcomes, row = [], 0
        for index, (pixels, error, size) in zip(rows, prepared):
            vector = None
            if pixels is not None:
                vector, row = vectors[row], row + 1
            outcomes.append(ImageOutcome(index, items[index], vector, None, error, size[0], size[1], None))
        return outcomes



def clean_text(text: str, canonicalize: bool = False) -> str:
    """Whitespace collapsed; with ``canonicalize`` (a config's ``tokenizer_kwargs.clean``) punctuation dropped
    and lower-cased, as open_clip and Immich do."""
    text = " ".join(str(text).split())
    return text.translate(_PUNCTUATION).lower() if canonicalize else text


class ClipTextEncoder(Encoder):
    """The textual half: texts → unit vectors; yields :class:`~embedengine.text.TextBatch` in input order."""

    default_batch_size = DEFAULT_BATCH_SIZE

    def __init__(self, session, path: Path, tokenizer, context_length: int, canonicalize: bool) -> None:
        self.session, self.path, self.tokenizer = session, path, tokenizer
        self.context_length, self.canonicalize = context_length, canonicalize
        inputs, outputs = [Port.of(n) for n in session.get_inputs()], [Port.of(n) for n in session.get_outputs()]
        names = {port.name: port for port in inputs}
        self.ids = names.get("input_ids") or (inputs[0] if inputs else None)
        self.mask = names.get("attention_mask")
        if self.ids is None or len(inputs) != 1 + (self.mask is not None) or not outputs:
            raise ClipModelError(f"{path} has inputs {sorted(names)}; a text encoder takes one input of token ids "
                                 "(or input_ids and attention_mask)", path)
        for port in filter(None, (self.ids, self.mask)):
            length = port.shape[1] if len(port.shape) == 2 else -1
            if port.dtype not in (np.int32, np.int64) or length not in (None, context_length):
                raise ClipModelError(f"{path}: its input {port.name!r} is {_shape(port)}; with a context length "
                                     f"of {context_length} ({CONFIG}: text_cfg.context_length) it should be "
                                     f"int [N, {context_length}]", path)
        self.output_dim = _embedding_dim(outputs[0], path, "text")
        self.dim = self.output_dim or 0

    def feeds(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        encodings = self.tokenizer.encode_batch([clean_text(t, self.canonicalize) for t in texts])
        feeds = {self.ids.name: np.array([e.ids for e in encodings], dtype=self.ids.dtype)}
        if self.mask is not None:
            feeds[self.mask.name] = np.array([e.attention_mask for e in encodings], dtype=self.mask.dtype)
        return feeds

    def iter_encode(self, texts: Any, *, progress: Optional[ProgressCallback] = None,
                    cancel: Optional[CancelToken] = None, batch_size: Optional[int] = None) -> Iterator[TextBatch]:
        items = self.as_items(texts)
        meter = RateMeter(len(items))
        for rows in _batches(len(items), batch_size or self.default_batch_size, self.ids.batch):
            checkpoint(cancel)
            vectors = normalise(_run(self.session, self.feeds([items[i] for i in rows]), self.ids.batch))
            emit(progress, Progress(stage="texts", done=rows.stop, total=len(items), unit="texts",
                                    rate=meter.rate(rows.stop), eta_s=meter.eta(rows.stop)))
            yield TextBatch(np.arange(rows.start, rows.stop, dtype=np.int64), vectors)

    def as_items(self, texts: Any) -> list[str]:
        items = [texts] if isinstance(texts, str) else list(texts)
        if not all(isinstance(t, str) for t in items):
            raise UserError("a CLIP text encoder encodes strings", hint="pass a text or a list of texts")
        return items

    def placed(self, result: TextBatch) -> tuple[np.ndarray, np.ndarray]:
        return result.indices, result.vectors


def load_tokenizer(folder: Path, context_length: int):
    """``textual/tokenizer.json`` padded and truncated to ``context_length`` with the model's pad token."""
    from tokenizers import Tokenizer

    path = folder / TOKENIZER
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # noqa: BLE001 - the Rust side raises plain Exception for any bad file
        raise ClipModelError(f"{path} cannot be loaded as a tokenizer ({first_line(error)})", path) from error
    pad_token = _pad_token(folder, tokenizer)
    pad_id = tokenizer.token_to_id(pad_token) if pad_token is not None else None
    if pad_token is not None and pad_id is None:
        raise ClipModelError(f"{folder / TOKENIZER_CONFIG}: its pad_token {pad_token!r} is not in {TOKENIZER}",
                             folder / TOKENIZER_CONFIG)
    tokenizer.enable_padding(length=context_length, pad_id=pad_id or 0, pad_token=pad_token or "[PAD]")
    tokenizer.enable_truncation(max_length=context_length)
    return tokenizer


def _pad_token(folder: Path, tokenizer) -> Optional[str]:
    """The pad token: tokenizer_config.json's (Immich's exports), else the tokenizer's own, else open_clip's."""
    if (folder / TOKENIZER_CONFIG).is_file():
        token = read_json(folder / TOKENIZER_CONFIG).get("pad_token")
        token = token.get("content") if isinstance(token, dict) else token
        if isinstance(token, str):
            return token
    if tokenizer.padding and tokenizer.padding.get("pad_token"):
        return tokenizer.padding["pad_token"]
    return "<|endoftext|>" if tokenizer.token_to_id("<|endoftext|>") is not None else None


# --------------------------------------------------------------------------- the model

def self_test_image(size: int = 96) -> Image.Image:
    """A picture generated for the self-test (colour gradients, not square: the crop is exercised)."""
    y, x = np.mgrid[0:size, 0:size + size // 3].astype(np.float32)
    rgb = np.stack([x / x.max(), y / y.max(), 1 - (x + y) / (x.max() + y.max())], axis=-1)
    return Image.fromarray((rgb * 255).astype(np.uint8), "RGB")


class ClipModel:
    """An image–text model opened from its folder: two encoders into one space of ``dim`` unit vectors."""

    def __init__(self, folder: Path, name: str, images: ClipImageEncoder, texts: ClipTextEncoder,
                 config: dict, providers: list[str], threads: int) -> None:
        self.folder, self.name, self.images, self.texts = folder, name, images, texts
        self.config, self.providers, self.threads = config, providers, threads
        self.self_test_result: dict = {}

    @classmethod
    def open(cls, folder: Path | str, name: Optional[str] = None, *, providers: Optional[Sequence[str]] = None,
             threads: Optional[int] = None, self_test: bool = True) -> "ClipModel":
        """Check and load the model in ``folder`` (see the module docstring); :class:`ClipModelError` naming
        the file when it is not a usable model. ``self_test`` encodes a generated picture and a text."""
        folder = check_layout(folder)
        config = read_json(folder / CONFIG)
        text_cfg = config.get("text_cfg") if isinstance(config.get("text_cfg"), dict) else {}
        context_length = _positive_int(text_cfg.get("context_length", DEFAULT_CONTEXT_LENGTH),
                                       folder / CONFIG, "text_cfg.context_length")
        canonicalize = (text_cfg.get("tokenizer_kwargs") or {}).get("clean") == "canonicalize"
        preprocess = Preprocess.from_file(folder / PREPROCESS)
        providers = list(providers) if providers else choose_providers(provider_preference())
        threads = max(1, int(threads)) if threads else default_threads()
        images = ClipImageEncoder(_open_session(folder / VISUAL_MODEL, providers, threads),
                                  folder / VISUAL_MODEL, preprocess)
        texts = ClipTextEncoder(_open_session(folder / TEXTUAL_MODEL, providers, threads), folder / TEXTUAL_MODEL,
                                load_tokenizer(folder, context_length), context_length, canonicalize)
        model = cls(folder, name or folder.name, images, texts, config, providers, threads)
        model._check_dims()
        if self_test or not model.dim:  # an output of open width: the self-test measures it
            model.self_test()
        return model

    def _check_dims(self) -> None:
        declared = self.config.get("embed_dim")
        if declared is not None:
            declared = _positive_int(declared, self.folder / CONFIG, "embed_dim")
        for encoder in (self.images, self.texts):
            if declared and encoder.output_dim and encoder.output_dim != declared:
                raise ClipModelError(f"{encoder.path} gives {encoder.output_dim}-d embeddings but {CONFIG} says "
                                     f"embed_dim {declared}", encoder.path)
        widths = {e.output_dim for e in (self.images, self.texts) if e.output_dim} | ({declared} if declared else set())
        if len(widths) > 1:
            raise ClipModelError(f"{self.images.path} gives {self.images.output_dim}-d embeddings and "
                                 f"{self.texts.path} {self.texts.output_dim}-d: they are not one model",
                                 self.texts.path)
        self.images.dim = self.texts.dim = widths.pop() if widths else 0

    @property
    def dim(self) -> int:
        return self.images.dim

    @property
    def method(self) -> str:
        """The vector method of this model in an image collection: ``clip:<name>``."""
        return clip_method(self.name)

    @property
    def image_size(self) -> int:
        return self.images.preprocess.size

    @property
    def context_length(self) -> int:
        return self.texts.context_length

    def self_test(self) -> dict:
        """Encode a generated picture and a text: both finite, unit length, the same width; else
        :class:`ClipModelError` naming the model file. Returns timings (ms) and the width."""
        timings = {}
        for key, encoder, item in (("image", self.images, self_test_image()), ("text", self.texts, SELF_TEST_TEXT)):
            started = time.perf_counter()
            try:
                raw = next(iter(encoder.iter_encode([item], batch_size=1)))
                vector = encoder.placed(raw)[1]
            except UserError:
                raise
            except Exception as error:  # noqa: BLE001 - ONNX Runtime's own errors: the model does not run
                raise ClipModelError(f"{encoder.path} failed the self-test ({first_line(error)})",
                                     encoder.path) from error
            vector = np.asarray(vector, dtype=np.float32).reshape(-1)
            if not np.all(np.isfinite(vector)) or not 0.99 < float(np.linalg.norm(vector)) < 1.01:
                raise ClipModelError(f"{encoder.path} failed the self-test: its {key} embedding is not finite "
                                     "or is all zeros", encoder.path)
            if encoder.dim and vector.size != encoder.dim:
                raise ClipModelError(f"{encoder.path} failed the self-test: a {vector.size}-d {key} embedding, "
                                     f"expected {encoder.dim}", encoder.path)
            encoder.dim = vector.size
            timings[f"{key}_ms"] = round((time.perf_counter() - started) * 1000, 1)
        if self.images.dim != self.texts.dim:
            raise ClipModelError(f"{self.texts.path} gives {self.texts.dim}-d embeddings and {self.images.path} "
                                 f"{self.images.dim}-d: they are not one model", self.texts.path)
        self.self_test_result = {"ok": True, "dim": self.dim, **timings}
        return self.self_test_result

    def encode_images(self, images: Any, *, progress: Optional[ProgressCallback] = None,
                      cancel: Optional[CancelToken] = None, batch_size: Optional[int] = None) -> np.ndarray:
        """Unit vectors float32 [n, dim] of images (paths, bytes, PIL images, arrays); an unusable image
        raises :class:`ImageLoadError` (``images.iter_encode`` reports it per image instead)."""
        return self.images.encode(images, progress=progress, cancel=cancel, batch_size=batch_size)

    def encode_image_files(self, paths: Sequence[Any], *, cancel: Optional[CancelToken] = None,
                           batch_size: Optional[int] = None) -> tuple[np.ndarray, dict[int, ImageLoadError]]:
        """Unit vectors [len(paths), dim] with zero rows where an image cannot be used, and those errors by row
        (an index run fills a collection's ``clip:<name>`` vectors with this)."""
        out = np.zeros((len(paths), self.dim), dtype=np.float32)
        errors = {}
        for outcome in self.images.iter_encode(list(paths), cancel=cancel, batch_size=batch_size):
            if outcome.error is not None:
                errors[outcome.index] = outcome.error
            else:
                out[outcome.index] = outcome.embedding
        return out, errors

    def encode_texts(self, texts: Any, *, progress: Optional[ProgressCallback] = None,
                     cancel: Optional[CancelToken] = None, batch_size: Optional[int] = None) -> np.ndarray:
        """Unit vectors float32 [n, dim] of texts (``a dog on a beach``)."""
        return self.texts.encode(texts, progress=progress, cancel=cancel, batch_size=batch_size)

    def describe(self) -> dict:
        """What the app and ``models add-clip`` show about the model."""
        return {"name": self.name, "folder": str(self.folder), "dim": self.dim, "image_size": self.image_size,
                "context_length": self.context_length, "resize_mode": self.images.preprocess.resize_mode,
                "interpolation": self.images.preprocess.interpolation, "method": self.method,
                "visual_input": f"{self.images.input.name} {_shape(self.images.input)}",
                "textual_input": f"{self.texts.ids.name} {_shape(self.texts.ids)}",
                "self_test": self.self_test_result}


def _positive_int(value: Any, path: Path, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ClipModelError(f"{path}: {field} is {value!r}, not a positive whole number", path)
    return value


# --------------------------------------------------------------------------- searching

def text_to_image_scores(model: ClipModel, text: str, image_vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity of ``text`` with each row of ``image_vectors`` (this model's image vectors)."""
    return _scores(model.encode_texts([text])[0], image_vectors, model)


def image_to_image_scores(model: ClipModel, image: Any, image_vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity of a query picture (path, bytes, PIL image, array) with each row of ``image_vectors``."""
    return _scores(model.encode_images([image])[0], image_vectors, model)


def _scores(query: np.ndarray, image_vectors: np.ndarray, model: ClipModel) -> np.ndarray:
    matrix = np.asarray(image_vectors, dtype=np.float32)
    if matrix.size == 0:
        return np.zeros(0, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] != model.dim:
        raise UserError(f"the image vectors are {matrix.shape}, not [n, {model.dim}] of {model.name}",
                        hint=f"index the images with {model.method} first")
    return normalise(matrix) @ query


def clip_method(name: str) -> str:
    """An image collection's vector method for the CLIP model ``name``."""
    return f"{METHOD_PREFIX}{name}"


def clip_name(method: str) -> Optional[str]:
    """The CLIP model name of a vector method (None for other methods such as ``resnet50``)."""
    return method[len(METHOD_PREFIX):] if method.startswith(METHOD_PREFIX) else None


# --------------------------------------------------------------------------- added models (the manifest)

def registered_models(folder: Optional[Path] = None) -> dict[str, dict]:
    """The CLIP models ``models add-clip`` recorded in the models folder's manifest, by name."""
    table = read_manifest(folder).get(MANIFEST_KEY, {})
    return {name: record for name, record in table.items() if isinstance(record, dict)} \
        if isinstance(table, dict) else {}


def record_problem(record: dict) -> Optional[str]:
    """Why the folder of an added model no longer holds the files recorded (missing, changed); None when it does."""
    folder = Path(record.get("folder", ""))
    for relative, recorded in sorted(record.get("files", {}).items()):
        path = folder / relative
        try:
            if not path.is_file():
                return f"{path} is missing"
            if path.stat().st_size != recorded.get("size") or file_sha256(path) != recorded.get("sha256"):
                return f"{path} changed since the model was added"
        except OSError as error:
            return f"{path} cannot be read ({error.strerror or error})"
    return None


def fingerprint(record: dict) -> str:
    """A short identity of an added model's files (store it with a collection's vectors: changed → re-embed)."""
    import hashlib

    digest = hashlib.sha256()
    for relative, recorded in sorted(record.get("files", {}).items()):
        digest.update(f"{relative}:{recorded.get('sha256')}\n".encode())
    return digest.hexdigest()[:16]


def vector_settings(name: str) -> dict:
    """What an image collection stores with its ``clip:<name>`` vectors; a stored fingerprint that differs from
    this one means the model was replaced under the same name: drop the vectors and embed again."""
    record = registered_models().get(name, {})
    return {"model": name, "fingerprint": fingerprint(record), "dim": record.get("dim")}


def open_registered(name: str, *, providers: Optional[Sequence[str]] = None,
                    threads: Optional[int] = None) -> ClipModel:
    """The added model ``name``, its files checked against the hashes recorded when it was added."""
    records = registered_models()
    if name not in records:
        known = ", ".join(sorted(records)) or "none yet"
        raise UserError(f"no CLIP model named {name!r} has been added (added: {known})",
                        hint="add one with `embedstudio models add-clip DIR`")
    record = records[name]
    problem = record_problem(record)
    if problem:
        raise ClipModelError(f"CLIP model {name!r}: {problem}", Path(record.get("folder", "")),
                             hint=f"put the folder back, or add it again: `embedstudio models add-clip DIR "
                                  f"--name {name}`")
    return ClipModel.open(record["folder"], name, providers=providers, threads=threads, self_test=False)


_MODELS: dict[str, tuple[tuple, ClipModel]] = {}
_MODELS_LOCK = threading.Lock()


def get_clip_model(name: str) -> ClipModel:
    """The process-wide model ``name`` for the current provider and threads (re-opened when those or its
    record change), like :func:`embedengine.image.get_image_encoder`."""
    record = registered_models().get(name, {})
    key = (provider_preference(), default_threads(), fingerprint(record), str(models_dir()))
    with _MODELS_LOCK:
        cached = _MODELS.get(name)
        if cached is None or cached[0] != key:
            _MODELS[name] = (key, open_registered(name, providers=choose_providers(key[0]), threads=key[1]))
        return _MODELS[name][1]


__all__ = ["ClipImageEncoder", "ClipModel", "ClipModelError", "ClipTextEncoder", "MANIFEST_KEY", "Preprocess",
           "REQUIRED_FILES", "check_layout", "clean_text", "clip_method", "clip_name", "fingerprint",
           "get_clip_model", "image_to_image_scores", "open_registered", "record_problem", "registered_models",
           "text_to_image_scores", "vector_settings"]
