"""The main window as a person uses it: tabs, shortcuts, menus, preferences, persistence, closing."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPalette
from PySide6.QtWidgets import QApplication, QLabel

from desktop import plots, style
from desktop.about import AboutDialog
from desktop.app import MainWindow, PlaceholderTab, load_tab
from desktop.chat import ChatView
from desktop.preferences import PreferencesDialog
from embedengine.tasks import checkpoint
from embedengine.word2vec import WordVectors


def tab_titles(window: MainWindow) -> list[str]:
    return [window.tabs.tabText(i) for i in range(window.tabs.count())]


def press(qtbot, window: MainWindow, key, modifier=Qt.KeyboardModifier.ControlModifier) -> None:
    window.activateWindow()
    qtbot.keyClick(window, key, modifier)


def test_window_opens_with_four_tabs(main_window):
    assert tab_titles(main_window) == ["Train", "Explore", "Documents", "Images"]
    assert main_window.windowTitle() == "Embed Studio"
    assert main_window.model_label.text() == "No word model loaded"
    assert main_window.provider_label.text().startswith("ONNX: ")


def test_ctrl_number_switches_tabs(main_window, qtbot):
    for key, index in ((Qt.Key.Key_3, 2), (Qt.Key.Key_1, 0), (Qt.Key.Key_4, 3), (Qt.Key.Key_2, 1)):
        press(qtbot, main_window, key)
        assert main_window.tabs.currentIndex() == index


def test_ctrl_l_and_ctrl_k_go_to_the_current_tabs_chat(main_window, qtbot):
    chat_tab = ChatView(main_window.ctx, "shell-test")
    chat_tab.chat = chat_tab  # a tab exposes its ChatView as `chat`
    index = main_window.tabs.addTab(chat_tab, "Chat")
    main_window.tabs.setCurrentIndex(index)
    chat_tab.add_answer("text", {"text": "hello"}, query="hi")
    press(qtbot, main_window, Qt.Key.Key_L)
    qtbot.waitUntil(chat_tab.input.hasFocus, timeout=2000)
    press(qtbot, main_window, Qt.Key.Key_K)
    assert chat_tab.cards() == []
    assert main_window.ctx.history.entries("shell-test") == []


def test_geometry_tab_and_settings_persist_across_a_restart(main_window, qtbot):
    main_window.resize(781, 643)  # fits the offscreen 800x800 screen
    main_window.tabs.setCurrentIndex(2)
    main_window.ctx.set_pref("engine/fast_int8", True)
    main_window.ctx.set_pref("engine/threads", 3)
    main_window.close()

    again = MainWindow()
    qtbot.addWidget(again)
    again.show()
    qtbot.waitExposed(again)
    assert (again.width(), again.height()) == (781, 643)
    assert again.tabs.currentIndex() == 2
    assert again.ctx.pref("engine/fast_int8") is True and again.ctx.text_variant == "int8"
    assert again.ctx.pref("engine/threads") == 3
    assert again.provider_label.text().endswith("int8")
    again.close()


def test_preferences_dialog_applies_to_the_engine(main_window, qtbot):
    dialog = PreferencesDialog(main_window.ctx, main_window)
    qtbot.addWidget(dialog)
    dialog.threads.setValue(2)
    dialog.provider.setCurrentIndex(dialog.provider.findData("cpu"))
    dialog.fast_int8.setChecked(True)
    dialog.accept()
    assert os.environ["EMBEDSTUDIO_THREADS"] == "2"
    assert os.environ["EMBEDSTUDIO_PROVIDER"] == "cpu"
    assert main_window.provider_label.text() == "ONNX: CPU · int8"


def test_dark_theme_preference_changes_the_palette_and_plots(main_window, qtbot):
    chart = plots.bar_chart(["a", "b"], [0.5, 0.25])
    qtbot.addWidget(chart)
    dialog = PreferencesDialog(main_window.ctx, main_window)
    qtbot.addWidget(dialog)
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.accept()
    window_colour = QApplication.instance().palette().color(QPalette.ColorRole.Window)
    assert window_colour.lightness() < 60 and style.current().dark
    assert chart.backgroundBrush().color().name() == style.DARK.card
    main_window.ctx.set_pref("ui/theme", "light")
    assert QApplication.instance().palette().color(QPalette.ColorRole.Window).lightness() > 200


def test_about_lists_versions_and_model_licences(qtbot, qapp):
    import onnxruntime

    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    text = "\n".join(getattr(w, "copy_text", "") for w in dialog.children())
    assert f"ONNX Runtime\t{onnxruntime.__version__}" in text
    assert "Apache-2.0" in text and "MIT" in text and "ImageNet" in text


def test_missing_tab_module_shows_a_placeholder(ctx):
    tab = load_tab("no_such_tab", "NoSuchTab", "Nothing", "Does nothing yet.", ctx)
    assert isinstance(tab, PlaceholderTab)
    assert any("not installed" in label.text() for label in tab.findChildren(QLabel))


def test_status_bar_follows_the_active_word_model_and_tasks(main_window, qtbot):
    vectors = WordVectors(["king", "queen"], np.eye(2, dtype=np.float32))
    main_window.ctx.set_word_model("bible-demo", vectors)
    assert main_window.model_label.text() == "Word model: bible-demo"
    gate = threading.Event()
    handle = main_window.ctx.tasks.run(gate.wait, 5, label="waiting")
    qtbot.waitUntil(main_window.task_bar.isVisible, timeout=2000)
    assert main_window.task_label.text() == "waiting…"
    gate.set()
    qtbot.waitUntil(lambda: handle.state == "finished", timeout=5000)
    assert not main_window.task_bar.isVisible()


def test_open_vectors_imports_and_activates_a_model(main_window, qtbot, tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("3 2\nking 0.9 0.1\nqueen 0.8 0.2\napple -0.5 0.9\n", encoding="utf-8")
    main_window.open_vectors_file(str(path))
    qtbot.waitUntil(lambda: main_window.ctx.word_model is not None, timeout=10000)
    assert "king" in main_window.ctx.word_model and len(main_window.ctx.word_model) == 3
    assert main_window.model_label.text() == f"Word model: {main_window.ctx.word_model_name}"


def test_closing_cancels_running_tasks(main_window, qtbot):
    def endless(cancel=None):
        while True:
            checkpoint(cancel)
            time.sleep(0.01)

    handle = main_window.ctx.tasks.run(endless)
    qtbot.wait(50)
    started = time.perf_counter()
    main_window.close()
    assert time.perf_counter() - started < 2.0
    assert handle.token.cancelled
    assert main_window.ctx.tasks.pool.activeThreadCount() == 0


def test_screenshot_tool_saves_the_window_at_the_requested_size(tmp_path, isolated_home):
    out = tmp_path / "shot.png"
    tool = Path(__file__).resolve().parents[2] / "tools" / "screenshot.py"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "EMBEDSTUDIO_DEMO": "0"}
    done = subprocess.run([sys.executable, str(tool), "--tab", "documents", "--size", "1024x700", "--settle", "0.2",
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1024, 700)
