"""Train tab used as a person would: drop files, preview, start/pause/resume/cancel, save, manage models."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLineEdit

from desktop.context import DEMO_ENV, AppContext
from desktop.tabs.train import TrainTab, evaluate_vectors
from embedengine import demo
from embedengine.word2vec import TrainConfig, library, scan_corpus

EXCERPT_LINES = 2500  # ~75k words of the shipped corpus
STALL_S = 1.0
MAX_HEARTBEAT_GAP_S = 0.100


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    """A folder with a real text excerpt and a binary file the preview must skip."""
    folder = tmp_path_factory.mktemp("train-corpus")
    lines = demo.corpus_files()[0].read_text(encoding="utf-8").splitlines()[:EXCERPT_LINES]
    (folder / "genesis.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "picture.bin").write_bytes(b"\x89PNG\x00\x00binary")
    return folder


@pytest.fixture
def tab(qtbot, ctx):
    widget = TrainTab(ctx, start_demo=False)
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    return widget




def set_params(tab, **values) -> None:
    for key, value in values.items():
        tab.param_boxes[key].setValue(value)


def start(qtbot, tab, corpus_dir, drop_files, **params) -> None:
    drop_files(tab, [corpus_dir])
    set_params(tab, **params)
    qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
    assert tab.train_handle is not None


def save_with_dialog(qtbot, tab, name: str) -> str:
    """Click Save model…, type ``name`` over the suggested one in the dialog and press Enter; return the suggestion."""
    qtbot.mouseClick(tab.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(tab.save_dialog.isVisible, timeout=5_000)
    line = tab.save_dialog.findChild(QLineEdit)
    suggested = line.text()
    line.selectAll()
    qtbot.keyClicks(line, name)
    qtbot.keyClick(line, Qt.Key.Key_Return)
    assert not tab.save_dialog.isVisible()
    return suggested


def words_done(tab) -> float:
    progress = tab.train_handle.last_progress if tab.train_handle else None
    return progress.done if progress is not None and progress.stage == "train" else 0.0


def test_dropped_folder_is_listed_and_previewed(qtbot, tab, corpus_dir, drop_files):
    drop_files(tab, [corpus_dir])
    assert tab.corpus_paths() == [str(corpus_dir)]
    summary = scan_corpus([corpus_dir], min_count=5)
    qtbot.waitUntil(lambda: "tokens" in tab.preview_label.text(), timeout=30_000)
    text = tab.preview_label.text()
    assert f"{summary.tokens:,} tokens" in text and f"vocabulary {summary.vocab_size:,}" in text
    assert "picture.bin" in tab.skipped_label.text()

    tab.param_boxes["min_count"].setValue(20)
    fewer = scan_corpus([corpus_dir], min_count=20).vocab_size
    qtbot.waitUntil(lambda: f"vocabulary {fewer:,} at min_count 20" in tab.preview_label.text(), timeout=30_000)


def test_folder_dropped_on_the_log_input_joins_the_corpus(qtbot, tab, corpus_dir, drop_files):
    """A drop on the input box itself (the child under the cursor) adds the folder; no file:// text is pasted."""
    drop_files(tab.chat.input, [corpus_dir])
    assert tab.corpus_paths() == [str(corpus_dir)] and tab.chat.input.text() == ""
    assert str(corpus_dir) in tab.chat.cards()[-1].as_text()
    qtbot.waitUntil(lambda: "tokens" in tab.preview_label.text(), timeout=30_000)
    drop_files(tab.corpus_list.viewport(), [corpus_dir / "genesis.txt"])  # the list: the tab takes it
    assert tab.corpus_paths() == [str(corpus_dir), str(corpus_dir / "genesis.txt")]


def test_parameters_default_to_gensim_and_explain_themselves(tab):
    defaults = TrainConfig()
    assert tab.current_config() == TrainConfig(architecture="sgns", **{k: getattr(defaults, k) for k in tab.param_boxes})
    assert all(box.toolTip() for box in tab.param_boxes.values()) and tab.architecture.toolTip()


def test_start_pause_resume_cancel_keeps_partial_model(qtbot, tab, corpus_dir, drop_files):
    start(qtbot, tab, corpus_dir, drop_files, epochs=200, dim=20)
    qtbot.waitUntil(lambda: words_done(tab) > 0, timeout=30_000)
    assert tab.pause_button.isEnabled() and not tab.start_button.isEnabled()

    qtbot.mouseClick(tab.pause_button, Qt.MouseButton.LeftButton)
    assert tab.pause_button.text() == "Resume"
    qtbot.wait(600)  # let reports already in flight arrive
    paused_at = words_done(tab)
    qtbot.wait(1000)
    assert words_done(tab) == paused_at, "training advanced while paused"

    qtbot.mouseClick(tab.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: words_done(tab) > paused_at, timeout=30_000)
    assert len(tab.loss_plot.series["loss"][0]) > 0  # the live loss curve has points

    qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.pending_result is not None, timeout=10_000)
    result = tab.pending_result
    assert result.cancelled and 0 < result.epochs_done < 200
    assert np.isfinite(result.vectors.vectors).all()
    assert tab.start_button.isEnabled() and tab.save_button.isEnabled()
    kinds = [c.kind for c in tab.chat.cards()]
    assert "training" in kinds

    assert save_with_dialog(qtbot, tab, "partial run").endswith("-partial")
    qtbot.waitUntil(lambda: "partial run" in tab.models.names(), timeout=10_000)
    assert tab.ctx.word_model_name == "partial run" and tab.ctx.word_model is result.vectors


def test_ui_stays_responsive_while_training(qtbot, tab, corpus_dir, drop_files):
    gaps, last = [], [time.perf_counter()]

    def beat():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    start(qtbot, tab, corpus_dir, drop_files, epochs=200, dim=50)
    qtbot.waitUntil(lambda: words_done(tab) > 0, timeout=30_000)
    heartbeat = QTimer(interval=10, timeout=beat)
    last[0] = time.perf_counter()
    heartbeat.start()
    qtbot.wait(3000)
    heartbeat.stop()
    advanced = words_done(tab)
    tab.cancel_training()
    qtbot.waitUntil(lambda: tab.train_handle is None, timeout=10_000)
    assert advanced > 0 and len(gaps) > 100
    # 98 % of the beats on time; the worst under a second: a busy machine may not schedule this process for a
    # few hundred ms, while work on the UI thread (an epoch, a loss plot of every step) blocks it for seconds
    typical = sorted(gaps)[int(0.98 * len(gaps))]
    assert typical < MAX_HEARTBEAT_GAP_S, f"UI thread blocked for {typical * 1000:.0f} ms (98th percentile)"
    assert max(gaps) < STALL_S, f"UI thread blocked for {max(gaps) * 1000:.0f} ms"


def test_finished_training_is_evaluated_and_saved_by_name(qtbot, tab, corpus_dir, drop_files):
    start(qtbot, tab, corpus_dir, drop_files, epochs=1, dim=20)
    qtbot.waitUntil(lambda: any(c.kind == "evaluation" for c in tab.chat.cards()), timeout=60_000)
    result = tab.pending_result
    assert not result.cancelled and result.epochs_done == pytest.approx(1.0)
    evaluation = next(c for c in tab.chat.cards() if c.kind == "evaluation").result_json
    expected = result.vectors.evaluate_analogies(library.shipped_eval_file("analogies"))
    assert evaluation["analogies"]["total"] == expected.total
    assert evaluation["analogies"]["correct"] == expected.correct

    qtbot.keyClicks(tab.chat.input, "genesis model")  # a name typed in the log's input no longer saves
    qtbot.keyClick(tab.chat.input, Qt.Key.Key_Return)
    hint = tab.chat.cards()[-1]
    assert hint.kind == "error" and "save NAME" in hint.as_text() and "Save model…" in hint.as_text()
    assert library.list_models() == [] and tab.save_button.isEnabled()

    qtbot.keyClicks(tab.chat.input, "save genesis model")  # the explicit verb does
    qtbot.keyClick(tab.chat.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "genesis model" in tab.models.names(), timeout=10_000)
    saved = library.load_model("genesis model")
    assert saved.evaluation["analogies"]["correct"] == expected.correct
    assert tab.ctx.word_model_name == "genesis model"
    assert not tab.save_button.isEnabled()  # saved: nothing left to save


def test_log_input_adds_a_typed_or_pasted_path_to_the_corpus(qtbot, tab, corpus_dir):
    qtbot.keyClicks(tab.chat.input, f"file://{corpus_dir}")  # as pasted from a file manager
    qtbot.keyClick(tab.chat.input, Qt.Key.Key_Return)
    assert tab.corpus_paths() == [str(corpus_dir)]
    note = tab.chat.cards()[-1].as_text()
    assert note.startswith("Added") and str(corpus_dir) in note and "corpus" in note
    qtbot.waitUntil(lambda: "tokens" in tab.preview_label.text(), timeout=30_000)

    qtbot.keyClicks(tab.chat.input, "no such folder")
    qtbot.keyClick(tab.chat.input, Qt.Key.Key_Return)
    assert tab.chat.cards()[-1].kind == "error" and tab.corpus_paths() == [str(corpus_dir)]


def test_saved_models_list_marks_the_active_model(qtbot, tab, trained_word_model):
    library.save_model(trained_word_model, "first")
    library.save_model(trained_word_model, "second")
    tab.ctx.word_models_changed.emit()

    def marked() -> list[str]:
        items = [tab.models.list.item(i) for i in range(tab.models.list.count())]
        return [item.data(Qt.ItemDataRole.UserRole) for item in items
                if item.font().bold() and item.toolTip().startswith("Active")]

    assert marked() == []
    for name in ("first", "second"):
        tab.models.list.setCurrentRow(tab.models.names().index(name))
        qtbot.mouseClick(tab.models.buttons[0], Qt.MouseButton.LeftButton)  # Load
        qtbot.waitUntil(lambda: marked() == [name], timeout=10_000)


def test_models_list_export_import_rename_delete_load(qtbot, tab, tmp_path, trained_word_model):
    library.save_model(trained_word_model, "base")
    tab.models.refresh()
    assert tab.models.names() == ["base"]

    exported = tmp_path / "base.txt"
    tab.models.export_model("base", str(exported))
    qtbot.waitUntil(lambda: exported.exists() and tab.chat.cards()[-1].kind == "library", timeout=30_000)
    tab.models.import_file(str(exported), "imported")
    qtbot.waitUntil(lambda: "imported" in tab.models.names(), timeout=30_000)
    imported = library.load_model("imported")
    assert imported.words == trained_word_model.words
    assert np.allclose(imported.vectors, trained_word_model.vectors, atol=1e-4)

    tab.models.rename_model("imported", "renamed")
    qtbot.waitUntil(lambda: "renamed" in tab.models.names() and "imported" not in tab.models.names(), timeout=10_000)
    tab.models.list.setCurrentRow(tab.models.names().index("renamed"))
    qtbot.mouseClick(tab.models.buttons[0], Qt.MouseButton.LeftButton)  # Load
    qtbot.waitUntil(lambda: tab.ctx.word_model_name == "renamed", timeout=10_000)
    assert len(tab.ctx.word_model) == len(trained_word_model)

    tab.models.delete_model("renamed")
    qtbot.waitUntil(lambda: tab.models.names() == ["base"], timeout=10_000)
    assert tab.ctx.word_model is None


def test_restart_restores_corpus_parameters_and_log(qtbot, tab, corpus_dir, drop_files):
    drop_files(tab, [corpus_dir])
    set_params(tab, dim=64, window=3, sample=0.0001)
    tab.architecture.setCurrentIndex(tab.architecture.findData("cbow"))
    tab.save_trained("nothing yet")  # no model: an error card, saved to history
    tab.shutdown()  # as the main window does on close
    tab.ctx.shutdown()

    restarted = AppContext()
    again = TrainTab(restarted, start_demo=False)
    qtbot.addWidget(again)
    again.show()
    assert again.corpus_paths() == [str(corpus_dir)]
    config = again.current_config()
    assert (config.architecture, config.dim, config.window, config.sample) == ("cbow", 64, 3, 0.0001)
    qtbot.waitUntil(lambda: any(c.kind == "error" for c in again.chat.cards()))
    again.shutdown()
    restarted.shutdown()


def test_log_cards_offer_no_rerun_that_would_save_a_model(qtbot, tab, trained_word_model):
    """Re-run on the "evaluation" card used to re-submit its title, i.e. save a model called "evaluation"."""
    tab._on_evaluated(evaluate_vectors(trained_word_model))  # the card a finished training run ends with
    tab.save_trained("nothing yet")  # no model: an error card, saved to history
    logged = [c for c in tab.chat.cards() if c.query]
    assert [c.query for c in logged] == ["evaluation", "save “nothing yet”"]
    for card in logged:
        assert card.actions["Re-run"].isHidden(), card.query
        assert not card.actions["Copy"].isHidden() and not card.actions["JSON"].isHidden()
    tab.shutdown()
    tab.ctx.shutdown()

    restarted = AppContext()  # the log replayed after a restart has no Re-run either
    again = TrainTab(restarted, start_demo=False)
    qtbot.addWidget(again)
    again.show()
    replayed = [c for c in again.chat.cards() if c.query]
    assert [c.kind for c in replayed] == ["evaluation", "error"]
    assert all(c.actions["Re-run"].isHidden() for c in replayed)
    assert library.list_models() == []
    again.shutdown()
    restarted.shutdown()


def test_first_launch_trains_demo_and_activates_it(qtbot, ctx, corpus_dir, monkeypatch):
    monkeypatch.setattr(demo, "corpus_dir", lambda: corpus_dir)  # a shorter excerpt of the shipped corpus
    monkeypatch.setattr(demo, "demo_config", lambda: TrainConfig(dim=20, epochs=1, seed=1))
    monkeypatch.delenv(DEMO_ENV, raising=False)
    assert ctx.demo_wanted
    widget = TrainTab(ctx)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: widget.train_handle is not None, timeout=5_000)
    assert "First start" in widget.chat.cards()[-1].as_text()
    qtbot.waitUntil(lambda: ctx.word_model_name == demo.DEMO_MODEL_NAME, timeout=60_000)
    assert widget.models.names() == [demo.DEMO_MODEL_NAME] and widget.progress_bar.value() == 1000

    second = TrainTab(ctx)  # the library is no longer empty: nothing to train
    qtbot.addWidget(second)
    qtbot.wait(50)
    assert second.train_handle is None


def test_no_demo_flag_turns_the_demo_off(ctx, monkeypatch):
    monkeypatch.delenv(DEMO_ENV, raising=False)
    ctx.launch_args = ["--no-demo"]
    assert not ctx.demo_wanted
    monkeypatch.setenv(DEMO_ENV, "0")
    ctx.launch_args = []
    assert not ctx.demo_wanted


def test_evaluation_card_says_all_out_of_vocabulary_instead_of_zero_over_zero(qtbot, tab):
    """A model none of whose words are in the evaluation sets (here: made-up words) used to show 0.0% (0/0)."""
    import numpy as np

    from embedengine.word2vec.vectors import WordVectors

    words = [f"zqx{i}" for i in range(50)]
    vectors = WordVectors(words, np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32))
    tab._on_evaluated(evaluate_vectors(vectors))
    card = next(c for c in tab.chat.cards() if c.kind == "evaluation")
    text = card.as_text()
    assert "all out of vocabulary" in text and "0/0" not in text and "0.0%" not in text, text
    tab.shutdown()
