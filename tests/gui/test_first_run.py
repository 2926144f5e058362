"""The first-run window: absent models are built in front of the user, and a failure lets the app open."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from desktop.first_run import FirstRunDialog
from models.build import build_all


def test_the_window_shows_the_build_and_closes_when_the_models_are_there(qtbot, tmp_path):
    steps = []

    def build(only, progress=None):  # the real builder, into an empty models folder
        return build_all(out_dir=tmp_path, only=only, progress=progress)

    dialog = FirstRunDialog(["int8-scores"], build)
    qtbot.addWidget(dialog)
    dialog.handle.progressed.connect(lambda p: steps.append(p.message))
    dialog.show()
    qtbot.waitUntil(lambda: dialog.handle.state == "finished", timeout=30_000)
    assert dialog.succeeded and dialog.result() == QDialog.DialogCode.Accepted
    assert "building int8-scores" in steps and (tmp_path / "int8-scores.onnx").exists()
    assert dialog.model_labels["int8-scores"].text().startswith("✓")


def test_a_failed_build_says_what_to_do_and_opens_the_app_anyway(qtbot, tmp_path):
    def build(only, progress=None):  # offline: the packages are not in the folder given
        return build_all(out_dir=tmp_path / "models", from_dir=tmp_path, only=only, progress=progress)

    dialog = FirstRunDialog(["minilm"], build)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.handle.state == "failed", timeout=30_000)
    assert not dialog.succeeded and dialog.isVisible() and dialog.open_button.isVisible()
    assert "Could not build the models" in dialog.step.text() and "embedstudio models build" in dialog.step.text()
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted
