"""`embedstudio encode text|image`: embed a few texts or images and show what came out."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from embedengine.errors import UserError
from embedengine.linalg import cosine_matrix
from embedengine.explore import BANK_SENTENCES

from .common import TerminalProgress, add_command

PREVIEW_VALUES = 6


def register(subparsers) -> None:
    encode = subparsers.add_parser("encode", help="embed texts (MiniLM) or images (ResNet50) and compare them")
    sub = encode.add_subparsers(dest="encode_command", metavar="KIND", required=True)
    text = add_command(sub, "text", run_text, "sentence embeddings and their pairwise cosine similarities",
                       format_text=format_text_result)
    text.add_argument("texts", nargs="*", help="texts to embed (quote each one)")
    text.add_argument("--file", type=Path, help="also embed each non-empty line of this UTF-8 file")
    text.add_argument("--bank", action="store_true", help="add the four 'bank' example sentences")
    text.add_argument("--int8", action="store_true", help="use the faster int8 model")
    text.add_argument("--batch-size", type=int, default=32, help="texts per inference batch (default 32)")
    text.add_argument("--vectors", action="store_true", help="include the full vectors in the output")
    image = add_command(sub, "image", run_image, "image embeddings (norm) and top ImageNet labels",
                        format_text=format_image_result)
    image.add_argument("paths", nargs="+", type=Path, help="image files")
    image.add_argument("--top", type=int, default=5, help="labels to show per image (default 5)")
    image.add_argument("--vectors", action="store_true", help="include the full vectors in the output")


# -- text ------------------------------------------------------------------------------------


def gather_texts(args: argparse.Namespace) -> list[str]:
    """Texts from the arguments, ``--file`` and ``--bank``, in that order."""
    texts = list(args.texts)
    if args.file is not None:
        texts += read_lines(args.file)
    if args.bank:
        texts += BANK_SENTENCES
    if not texts:
        raise UserError("no text to encode", hint='Give texts as arguments, e.g. `embedstudio encode text "a cat" '
                        '"a dog"`, or use --file FILE or --bank.')
    return texts


def read_lines(path: Path) -> list[str]:
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path} does not exist", hint="Check the path given to --file.") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text", hint="Save the file as UTF-8, one text per line.") from None
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None
    return [line.strip() for line in content.splitlines() if line.strip()]


def run_text(args: argparse.Namespace) -> dict:
    from embedengine.text import get_text_encoder

    texts = gather_texts(args)
    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    encoder = get_text_encoder("int8" if args.int8 else "fp32")
    bar = TerminalProgress()
    started = time.perf_counter()
    try:
        vectors = encoder.encode(texts, batch_size=args.batch_size, progress=bar)
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    items = []
    for text, vector in zip(texts, vectors):
        tokens = encoder.count_tokens(text)
        item = {"text": text, "tokens": tokens, "truncated": tokens > encoder.max_length,
                "norm": float(np.linalg.norm(vector)), "preview": rounded(vector[:PREVIEW_VALUES])}
        if args.vectors:
            item["vector"] = vector
        items.append(item)
    return {"model": f"minilm-{encoder.variant}", "provider": encoder.provider_label, "dim": encoder.dim,
            "count": len(texts), "seconds": round(seconds, 4), "texts": items,
            "similarity": rounded(np.clip(cosine_matrix(vectors), -1.0, 1.0))}


def rounded(values: np.ndarray, digits: int = 4) -> list:
    """Plain Python floats (float64) rounded for readable JSON."""
    return np.round(values.astype(np.float64), digits).tolist()


def format_text_result(result: dict) -> str:
    lines = [f"{result['count']} text(s) → {result['dim']}-d vectors with {result['model']} on "
             f"{result['provider']} in {result['seconds']:.3f} s"]
    for number, item in enumerate(result["texts"], 1):
        note = "  (truncated to 256 tokens)" if item["truncated"] else ""
        preview = ", ".join(f"{v:+.3f}" for v in item["preview"])
        lines.append(f"[{number}] {shorten(item['text'], 60)!r}  {item['tokens']} tokens{note}")
        lines.append(f"     norm {item['norm']:.4f}  [{preview}, …]")
    if result["count"] > 1:
        lines.append("")
        lines.append("cosine similarity")
        lines += similarity_table(result["similarity"])
    return "\n".join(lines)


def similarity_table(matrix: np.ndarray) -> list[str]:
    size = len(matrix)
    header = "      " + "".join(f"[{j}]".rjust(7) for j in range(1, size + 1))
    rows = [f"[{i}]".ljust(6) + "".join(f"{matrix[i - 1][j]:7.3f}" for j in range(size)) for i in range(1, size + 1)]
    return [header, *rows]


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# -- image -----------------------------------------------------------------------------------


def run_image(args: argparse.Namespace) -> dict:
    from embedengine.image import get_image_encoder

    if args.top < 1:
        raise UserError("--top must be at least 1")
    encoder = get_image_encoder()
    bar = TerminalProgress()
    started = time.perf_counter()
    try:
        items = [image_item(encoder, outcome, args) for outcome in encoder.iter_encode(args.paths, progress=bar)]
    finally:
        bar.close()
    failed = sum(1 for item in items if item["error"])
    if failed == len(items):
        raise UserError("none of the images could be read",
                        hint="; ".join(f"{i['path']}: {i['error']}" for i in items), data={"images": items})
    return {"model": "resnet50", "provider": encoder.provider_label, "dim": encoder.dim, "count": len(items),
            "failed": failed, "seconds": round(time.perf_counter() - started, 4), "images": items}


def image_item(encoder, outcome, args: argparse.Namespace) -> dict:
    item = {"path": str(outcome.source), "width": outcome.width, "height": outcome.height, "error": None}
    if outcome.error is not None:
        item["error"] = outcome.error.reason
        return item
    item["norm"] = float(np.linalg.norm(outcome.embedding))
    item["labels"] = [{"label": label, "probability": round(p, 4)} for label, p in encoder.top_labels(outcome.probs, args.top)]
    if args.vectors:
        item["vector"] = outcome.embedding
    return item


def format_image_result(result: dict) -> str:
    lines = [f"{result['count']} image(s) → {result['dim']}-d vectors with {result['model']} on "
             f"{result['provider']} in {result['seconds']:.3f} s"]
    for item in result["images"]:
        if item["error"]:
            lines.append(f"{item['path']}: skipped ({item['error']})")
            continue
        lines.append(f"{item['path']}  {item['width']}×{item['height']}  vector norm {item['norm']:.2f}")
        lines += [f"    {entry['probability']:6.1%}  {entry['label']}" for entry in item["labels"]]
    return "\n".join(lines)
