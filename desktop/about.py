"""About dialog: versions of the runtime pieces and the models' sources and licences."""

from __future__ import annotations

import platform
from typing import Optional

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QVBoxLayout, QWidget

from desktop.chat import cards
from embedengine import __version__ as engine_version
from embedengine import runtime
from embedengine.errors import UserError
from embedengine.manifest import read_manifest

# What the models are and under which terms their weights are used (stated, not read from the files).
KNOWN_MODELS = {
    "minilm": (
        "all-MiniLM-L6-v2 sentence encoder (sentence-transformers / Microsoft MiniLM)",
        "Apache-2.0",
    ),
    "resnet50": (
        "ResNet50 image classifier, Keras ImageNet weights (TensorFlow.js export)",
        "Keras code MIT; weights trained on ImageNet — subject to the ImageNet terms of access",
    ),
}


def versions() -> list[tuple[str, str]]:
    """(component, version) for the about box and bug reports."""
    rows = [("Embed Studio", engine_version), ("Python", platform.python_version()), ("Qt", qVersion()), ("PySide6", pyside_version)]
    for name, module in (("ONNX Runtime", "onnxruntime"), ("NumPy", "numpy"), ("pyqtgraph", "pyqtgraph"),
                         ("tokenizers", "tokenizers"), ("Pillow", "PIL")):
        try:
            rows.append((name, __import__(module).__version__))
        except ImportError:
            rows.append((name, "not installed"))
    return rows


def model_rows() -> list[tuple[str, str, str, str]]:
    """(model, description, licence, source package) merging manifest.json with the known licences."""
    try:
        manifest = read_manifest()["models"]
    except UserError:  # a damaged manifest: `embedstudio models info` says what is wrong
        manifest = {}
    rows = []
    for key, (description, licence) in KNOWN_MODELS.items():
        source = manifest.get(key, {}).get("source", {})
        package = f"{source.get('registry', '')}: {source.get('package', '')}" if source else "not built yet"
        rows.append((key, description, licence, package))
    return rows


def models_markdown() -> str:
    """One bullet per model: what it is, its licence and the package it was built from."""
    lines = ["**Models**", ""]
    for key, description, licence, package in model_rows():
        lines += [f"**{key}** — {description}  \nLicence: {licence}  \nBuilt from: `{package}`", ""]
    return "\n".join(lines)


class AboutDialog(QDialog):
    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Embed Studio")
        self.setMinimumWidth(720)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(cards.heading("Embed Studio"))
        layout.addWidget(cards.text("Train word vectors, explore them, search documents by meaning and find similar "
                                    "images — offline, on your own machine."))
        layout.addWidget(cards.table(("Component", "Version"), versions()))
        layout.addWidget(cards.markdown(models_markdown()))
        layout.addWidget(cards.text(f"Models folder: {runtime.models_dir()}\nData folder: {runtime.data_home()}"))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
