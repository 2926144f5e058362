"""Preferences dialog: ONNX provider, threads, fast int8 mode and theme (stored through AppContext)."""

from __future__ import annotations

import os
from typing import Optional

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.context import AppContext

PROVIDERS = (("auto", "Automatic (GPU when available)"), ("cpu", "CPU only"))
THEMES = (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark"))


def _combo(choices: tuple[tuple[str, str], ...], current: str) -> QComboBox:
    combo = QComboBox()
    for value, label in choices:
        combo.addItem(label, value)
    combo.setCurrentIndex(max(0, combo.findData(current)))
    return combo


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
        form = QFormLayout()
        form.addRow("Run models on", self.provider)
        form.addRow("Threads", self.threads)
        form.addRow("", self.fast_int8)
        form.addRow("Theme", self.theme)
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
        super().accept()
