"""A tiny OpenCLIP-style model in Immich's folder layout, built here (tests/test_clip.py explains what it means).

The visual encoder averages the normalised pixels per channel and maps (R, G, B) onto three orthonormal
directions of an 8-d space; the text encoder sums token vectors, and the words ``red``, ``green`` and ``blue``
are those three directions. So the text ``red`` scores an image by its mean normalised red over the length of
its mean colour vector (:func:`expected_colour_scores`). The visual model has Immich's fixed batch of one.

:func:`models_folder_with_built_models` makes a models folder of its own for a test that adds a CLIP model
(``models add-clip`` writes the folder's manifest) and still needs the built ResNet50 and MiniLM.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

SIDE = 32
DIM = 8
CONTEXT = 16
MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP's, as in Immich's preprocess_cfg.json
STD = (0.26862954, 0.26130258, 0.27577711)
COLOURS = ("red", "green", "blue")
WORDS = ("a", "photo", "of", "dog", "on", "beach", "the", "picture")
SPECIAL = ("<|startoftext|>", "<|endoftext|>", "[UNK]")


def directions(seed: int = 7) -> np.ndarray:
    """Three orthonormal rows in DIM dimensions: where R, G and B (and the colour words) point."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(DIM, DIM)))
    return q[:, :3].T.astype(np.float32)


def build_visual(path: Path, side: int = SIDE, batch: int | str = 1, dim: int = DIM) -> None:
    from onnx import TensorProto, helper, numpy_helper

    colour_map = numpy_helper.from_array(directions()[:, :dim] if dim <= DIM else
                                         np.pad(directions(), ((0, 0), (0, dim - DIM))), "colour_map")
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["means"], axis=1),
         helper.make_node("MatMul", ["means", "colour_map"], ["raw"]),
         helper.make_node("LpNormalization", ["raw"], ["embedding"], axis=-1, p=2)],
        "tiny_clip_visual",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, side, side])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [batch, dim])],
        [colour_map])
    _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def build_textual(path: Path, vocab: dict[str, int], context: int = CONTEXT) -> None:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    table = rng.normal(scale=0.05, size=(len(vocab), DIM)).astype(np.float32)
    for token in SPECIAL[:2]:
        table[vocab[token]] = 0.0  # start, end and padding add nothing
    for row, colour in enumerate(COLOURS):
        table[vocab[colour]] = directions()[row]
    graph = helper.make_graph(
        [helper.make_node("Gather", ["token_table", "text"], ["tokens"], axis=0),
         helper.make_node("ReduceSum", ["tokens", "sequence_axis"], ["raw"], keepdims=0),
         helper.make_node("LpNormalization", ["raw"], ["embedding"], axis=-1, p=2)],
        "tiny_clip_textual",
        [helper.make_tensor_value_info("text", TensorProto.INT32, ["batch", context])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", DIM])],
        [numpy_helper.from_array(table, "token_table"), numpy_helper.from_array(np.array([1], np.int64),
                                                                                "sequence_axis")])
    _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def _save(model, path: Path) -> None:
    import onnx

    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def build_tokenizer(path: Path) -> dict[str, int]:
    """A CLIP-like word-level tokenizer (lower-cased, start/end tokens around the words)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = {token: i for i, token in enumerate(SPECIAL + COLOURS + WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", vocab["<|startoftext|>"]), ("<|endoftext|>", vocab["<|endoftext|>"])])
    path.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(path))
    return vocab


def build_tiny_clip(folder: Path) -> Path:
    """The whole model folder, laid out as Immich's Hugging Face repositories are."""
    vocab = build_tokenizer(folder / "textual" / "tokenizer.json")
    (folder / "textual" / "tokenizer_config.json").write_text(json.dumps({"pad_token": "<|endoftext|>"}))
    build_textual(folder / "textual" / "model.onnx", vocab)
    build_visual(folder / "visual" / "model.onnx")
    (folder / "visual" / "preprocess_cfg.json").write_text(json.dumps(
        {"size": [SIDE, SIDE], "mode": "RGB", "mean": MEAN, "std": STD, "interpolation": "bicubic",
         "resize_mode": "shortest", "fill_color": 0}))
    (folder / "config.json").write_text(json.dumps(
        {"embed_dim": DIM, "vision_cfg": {"image_size": SIDE}, "text_cfg": {"context_length": CONTEXT,
                                                                           "vocab_size": len(vocab)}}))
    return folder


def expected_colour_scores(image: Image.Image, colour: int) -> float:
    """What the text ``COLOURS[colour]`` should score an image: computed here from its pixels (short side to
    SIDE, centre crop, normalise, channel means), not by the engine."""
    image = image.convert("RGB")
    scale = SIDE / min(image.size)
    image = image.resize((max(SIDE, int(image.width * scale)), max(SIDE, int(image.height * scale))),
                         Image.Resampling.BICUBIC)
    left, top = (image.width - SIDE) // 2, (image.height - SIDE) // 2
    pixels = np.asarray(image.crop((left, top, left + SIDE, top + SIDE)), np.float64) / 255.0
    means = ((pixels - MEAN) / STD).reshape(-1, 3).mean(axis=0)
    return float(means[colour] / np.linalg.norm(means))


def models_folder_with_built_models(built: Path, folder: Path) -> Path:
    """``folder`` linking every file of the built models folder ``built``, with a copy of its manifest (which
    ``models add-clip`` may then change without touching the real one)."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in built.iterdir():
        if entry.name == "manifest.json":
            shutil.copy2(entry, folder / entry.name)
        else:
            (folder / entry.name).symlink_to(entry)
    return folder
