"""Preferences dialog: ONNX provider, threads, fast int8 mode and theme (stored through AppContext), and the
image–text (CLIP) models the user added, with the one the Images tab uses for typed text."""

from __future__ import annotations

import os
from typing import Optional

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.context import AppContext
from desktop.controllers.images import CLIP_MODEL_KEY
from desktop.workers import describe_error
from embedengine.clip import registered_models
from models.clip_tools import add_clip

PROVIDERS = (("auto", "Automatic (GPU when available)"), ("cpu", "CPU only"))
THEMES = (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark"))


def _combo(choices: tuple[tuple[str, str], ...], current: str) -> QComboBox:
    combo = QComboBox()
    for value, label in choices:
        combo.addItem(label, value)
    combo.setCurrentIndex(max(0, combo.findData(current)))
    return combo


class ClipModels(QWidget):
    """The added CLIP models in a picker (the Images tab's, for typed text) and **Add model folder…**, which
    checks and records a folder (``models add-clip``) off the UI thread."""

    NONE = "None: typed text searches the ImageNet labels"

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.task = None  # the latest Add model folder… check
        self.picker = QComboBox()
        self.picker.setObjectName("clipModel")
        self.picker.setToolTip("Typed text in the Images tab is matched to the photos by this model")
        self.add_button = QPushButton("Add model folder…")
        self.add_button.setToolTip("An OpenCLIP ONNX export in the layout of Immich's model repositories")
        self.add_button.clicked.connect(self.pick_folder)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.picker, 1)
        row.addWidget(self.add_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self.fill(str(ctx.settings.value(CLIP_MODEL_KEY, "") or ""))

    def fill(self, selected: str) -> None:
        """List the added models (name, width, image side) and select ``selected`` when it is one of them."""
        self.picker.clear()
        self.picker.addItem(self.NONE, "")
        for name, record in sorted(registered_models().items()):
            self.picker.addItem(f"{name} · {record.get('dim')}-d, {record.get('image_size')} px", name)
        self.picker.setCurrentIndex(max(0, self.picker.findData(selected)))

    def selected(self) -> str:
        return self.picker.currentData() or ""

    def pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A CLIP model folder (ONNX, Immich's layout)")
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str) -> None:
        """Check the model in ``folder`` (files, shapes, a self-test) and record it; the picker then selects it."""
        self.add_button.setEnabled(False)
        self.status.setText(f"Checking {folder}…")
        self.task = self.ctx.tasks.run(add_clip, folder, label="add CLIP model", on_result=self._added,
                                       on_error=self._failed)

    def _added(self, info: dict) -> None:
        self.add_button.setEnabled(True)
        self.fill(info["added"])
        model = info["model"]
        self.status.setText(f"Added {info['added']}: {model['dim']}-d vectors, {model['image_size']} px pictures, "
                            "self-test passed. Re-index an image collection to search it by text.")

    def _failed(self, error: BaseException) -> None:
        self.add_button.setEnabled(True)
        message, hint = describe_error(error)
        self.status.setText(f"Not added: {message}" + (f"\n{hint}" if hint else ""))


class PreferencesDialog(QDialog):
    """Edits the ``engine/*`` and ``ui/theme`` preferences; applied on OK."""

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(520)
        self.provider = _combo(PROVIDERS, ctx.pref("engine/provider"))
        self.provider.setToolTip("Where ONNX models run. A GPU is used only when ONNX Runtime supports it here.")
        self.threads = QSpinBox()
        self.threads.setRange(0, max(1, os.cpu_count() or 1) * 2)
        self.threads.setSpecialValueText("Automatic")
        self.threads.setValue(ctx.pref("engine/threads"))
        self.threads.setToolTip("CPU threads per model; Automatic uses every core.")
        self.fast_int8 = QCheckBox("Fast mode (int8 MiniLM)")
        self.fast_int8.setToolTip("Documents and sentences use the 8-bit MiniLM: about twice as fast, nearly the same results.")
        self.fast_int8.setChecked(ctx.pref("engine/fast_int8"))
        self.theme = _combo(THEMES, ctx.pref("ui/theme"))
        self.clip_models = ClipModels(ctx)
        form = QFormLayout()
        form.addRow("Run models on", self.provider)
        form.addRow("Threads", self.threads)
        form.addRow("", self.fast_int8)
        form.addRow("Theme", self.theme)
        form.addRow("Image–text model", self.clip_models)
        note = QLabel(f"Currently running on: {ctx.provider_label}. Engine changes apply to models loaded afterwards.")
        note.setObjectName("muted")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def values(self) -> dict:
        return {
            "engine/provider": self.provider.currentData(),
            "engine/threads": self.threads.value(),
            "engine/fast_int8": self.fast_int8.isChecked(),
            "ui/theme": self.theme.currentData(),
        }

    def accept(self) -> None:
        for key, value in self.values().items():
            self.ctx.set_pref(key, value)
        self.ctx.settings.setValue(CLIP_MODEL_KEY, self.clip_models.selected())
        super().accept()
