"""Train tab: choose a corpus, preview it, train word2vec live, evaluate, save; manage saved models.

All work runs in ``ctx.tasks`` workers (the UI thread only renders progress, ≤ 20 updates a second).
On a first launch (empty model library) the tab trains the demo model from the shipped corpus; while it
trains, ``ctx.pending_word_model`` names it so Explore holds questions until it is active.

Saving is explicit: **Save model…** asks for a name (the suggested one filled in), saves the trained model
and makes it active. The conversation below is a log (runs, evaluations, library operations), so its cards
have no Re-run. Its input takes a file or folder path (typed, pasted or dropped on it) to add to the
corpus, as a drop on the tab does, or ``save NAME`` to save the trained model under NAME; anything else
gets a hint.
The Saved models list marks the active model.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QSize, Qt, QTimer, QUrl
from PySide6.QtGui import QFont, QIcon, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from desktop import plots
from desktop.chat import ChatView, cards
from desktop.context import describe_word_model, vector_file_filter
from desktop.hands import accept_copy, local_paths
from desktop.workers import describe_error
from embedengine import demo
from embedengine.errors import UserError
from embedengine.tasks import Progress
from embedengine.word2vec import TrainConfig, library, scan_corpus, train
from embedengine.word2vec.evaluate import analogy_score, pairs_score

ARCHITECTURES = (
    ("sgns", "Skip-gram, negative sampling"),
    ("softmax", "Skip-gram, full softmax"),
    ("cbow", "CBOW (continuous bag of words)"),
)


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    """One numeric training parameter: its TrainConfig field, label, range and tooltip."""

    key: str
    label: str
    minimum: float
    maximum: float
    tooltip: str
    decimals: int = 0  # 0 = integer spin box


PARAMS = (
    ParamSpec("dim", "Dimensions", 2, 1000, "Length of each word vector. 100–300 is typical; larger needs more text."),
    ParamSpec("window", "Window", 1, 50, "How many words either side count as context."),
    ParamSpec("negative", "Negative samples", 0, 50, "Noise words per true pair (negative sampling and CBOW); 5–20."),
    ParamSpec("min_count", "Min count", 1, 100_000, "Words seen fewer times than this are dropped from the vocabulary."),
    ParamSpec("sample", "Subsampling", 0, 0.1, "Frequent words are randomly skipped above this frequency (gensim 1e-3).", 6),
    ParamSpec("epochs", "Epochs", 1, 200, "Passes over the corpus."),
    ParamSpec("alpha", "Learning rate", 0.0001, 1, "Starting learning rate, decaying linearly to min_alpha.", 4),
    ParamSpec("seed", "Seed", 0, 2**31 - 1, "Random seed: the same seed, data and settings give the same model."),
)
ACTIVE_MARK_SIZE = 14  # px: the check mark beside the active saved model
INPUT_HELP = ("Type or paste a file or folder path to add it to the corpus (or drop it here), or "
              "**save NAME** to save the trained model; **Save model…** asks for the name.")


def format_count(value: float) -> str:
    return f"{value:,.0f}"


class TrainTab(QWidget):
    """Corpus and parameters on the left, the training conversation on the right."""

    title = "Train"

    def __init__(self, ctx, parent: Optional[QWidget] = None, start_demo: Optional[bool] = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.train_handle = None
        self.preview_handle = None
        self.pending_result = None  # TrainResult waiting to be saved
        self.suggested_name = ""  # offered by Save model… for the pending result
        self.last_epoch = 0
        self.setAcceptDrops(True)
        self.chat = TrainLog(ctx, tab="train", renderer=self.render,
                             placeholder="A file or folder path to add to the corpus  ·  save NAME",
                             welcome="Drop text files or folders here, check the preview, then **Start**.")
        self.chat.submitted.connect(self._on_chat_text)
        self.chat.input.accept_path_drops(True)
        self.chat.input.paths_dropped.connect(self.add_to_corpus)
        self._build()
        self.save_dialog = self._save_dialog()
        self.preview_timer = QTimer(self, singleShot=True, interval=300, timeout=self.preview_corpus)
        self._restore_settings()
        self._set_running(False)
        if start_demo if start_demo is not None else ctx.demo_wanted:
            QTimer.singleShot(0, self.start_demo_if_needed)

    # -- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        left = QWidget()
        column = QVBoxLayout(left)
        column.addWidget(self._corpus_group())
        column.addWidget(self._params_group())
        self.models = ModelsPanel(self.ctx, self.chat)
        column.addWidget(self.models)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(left)
        scroll.setMinimumWidth(left.sizeHint().width() + scroll.verticalScrollBar().sizeHint().width())
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self._run_group())
        right.addWidget(self.chat)
        right.setStretchFactor(1, 1)
        right.setSizes([430, 370])
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([scroll.minimumWidth(), 1000])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def _corpus_group(self) -> QGroupBox:
        group = QGroupBox("Corpus")
        layout = QVBoxLayout(group)
        self.corpus_list = QListWidget()
        self.corpus_list.setToolTip("Text files and folders to train on — drop them anywhere on this tab")
        self.corpus_list.setMaximumHeight(110)
        row, _ = button_row(
            ("Add files…", "Choose text files", self._choose_files),
            ("Add folder…", "Choose a folder of text files", self._choose_folder),
            ("Remove", "Remove the selected entries", self._remove_selected),
            ("Clear", "Remove every entry", self.clear_corpus),
        )
        self.preview_label = QLabel("No corpus yet: add or drop text files.")
        self.preview_label.setWordWrap(True)
        self.skipped_label = QLabel()
        self.skipped_label.setObjectName("muted")
        self.skipped_label.setWordWrap(True)
        for item in (self.corpus_list, row, self.preview_label, self.skipped_label):
            layout.addLayout(item) if isinstance(item, QHBoxLayout) else layout.addWidget(item)
        return group

    def _params_group(self) -> QGroupBox:
        group = QGroupBox("Parameters (gensim defaults)")
        form = QFormLayout(group)
        self.architecture = QComboBox()
        for key, label in ARCHITECTURES:
            self.architecture.addItem(label, key)
        self.architecture.setToolTip("Skip-gram predicts context from a word; CBOW a word from its context.")
        form.addRow("Architecture", self.architecture)
        defaults = TrainConfig()
        self.param_boxes: dict[str, QSpinBox | QDoubleSpinBox] = {}
        for spec in PARAMS:
            box = _spin_box(spec, getattr(defaults, spec.key))
            form.addRow(spec.label, box)
            self.param_boxes[spec.key] = box
        self.param_boxes["min_count"].valueChanged.connect(self._schedule_preview)
        return group

    def _run_group(self) -> QGroupBox:
        group = QGroupBox("Training")
        layout = QVBoxLayout(group)
        row, (self.start_button, self.pause_button, self.cancel_button, self.save_button) = button_row(
            ("Start", "Train on the corpus with these settings", self.start_training),
            ("Pause", "Pause or resume training", self.toggle_pause),
            ("Cancel", "Stop now and keep the partly trained model", self.cancel_training),
            ("Save model…", "Save the trained model under a name and make it active", self.ask_save_name),
        )
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.progress_label = QLabel("Idle")
        self.progress_label.setObjectName("muted")
        self.loss_plot = plots.LinePlot(title="Training loss", x_label="words processed", y_label="loss")
        self.loss_plot.setMinimumHeight(160)
        for item in (row, self.progress_bar, self.progress_label, self.loss_plot):
            layout.addLayout(item) if isinstance(item, QHBoxLayout) else layout.addWidget(item)
        return group

    def _save_dialog(self) -> QInputDialog:
        dialog = QInputDialog(self)
        dialog.setObjectName("saveModelDialog")
        dialog.setWindowTitle("Save model")
        dialog.setLabelText("Save the trained model as:")
        dialog.textValueSelected.connect(lambda name: self.save_trained(name.strip()))
        return dialog

    def shutdown(self) -> None:
        """Called by the main window before it closes: stop timers and running work."""
        self.preview_timer.stop()
        for handle in (self.preview_handle, self.train_handle):
            if handle is not None:
                handle.cancel()

    # -- corpus -----------------------------------------------------------------------------------
    def corpus_paths(self) -> list[str]:
        return [self.corpus_list.item(i).text() for i in range(self.corpus_list.count())]

    def add_paths(self, paths: list[str]) -> None:
        """Add files/folders (duplicates ignored) and refresh the preview."""
        known = set(self.corpus_paths())
        for path in paths:
            if path and path not in known:
                self.corpus_list.addItem(path)
                known.add(path)
        self._schedule_preview()

    def clear_corpus(self) -> None:
        self.corpus_list.clear()
        self._schedule_preview()

    def _remove_selected(self) -> None:
        for item in self.corpus_list.selectedItems():
            self.corpus_list.takeItem(self.corpus_list.row(item))
        self._schedule_preview()

    def _choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Text files to train on", "", "Text (*.txt *.text *.md);;All files (*)")
        self.add_paths(files)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of text files")
        self.add_paths([folder] if folder else [])

    def add_to_corpus(self, paths: list) -> None:
        """Files or folders dropped on the tab or its input, or typed: add them and say so in the log."""
        self.add_paths([str(path) for path in paths])
        self.chat.add_note("Added " + ", ".join(f"**{path}**" for path in paths) + " to the corpus.")

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if local_paths(event.mimeData()):
            accept_copy(event)

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if local_paths(event.mimeData()):
            accept_copy(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = local_paths(event.mimeData())
        if paths:
            accept_copy(event)
            self.add_to_corpus(paths)

    def _schedule_preview(self) -> None:
        self._save_settings()
        self.preview_timer.start()

    def preview_corpus(self) -> None:
        """Scan the corpus in a worker: files, tokens, vocabulary at min_count, skipped files."""
        if self.preview_handle is not None:
            self.preview_handle.cancel()
        paths = self.corpus_paths()
        if not paths:
            self.preview_label.setText("No corpus yet: add or drop text files.")
            self.skipped_label.clear()
            return
        self.preview_label.setText("Reading the corpus…")
        min_count = self.param_boxes["min_count"].value()
        try:
            self.preview_handle = self.ctx.tasks.run(
                scan_corpus, paths, min_count=min_count, on_result=self._show_preview,
                on_error=self._show_preview_error, label="corpus preview",
            )
        except RuntimeError:  # the app is closing: a preview is no longer wanted
            self.preview_handle = None

    def _show_preview(self, summary) -> None:
        self.preview_label.setText(
            f"{len(summary.files)} file(s) · {format_count(summary.tokens)} tokens · "
            f"{format_count(summary.unique_words)} distinct words · vocabulary {format_count(summary.vocab_size)} "
            f"at min_count {self.param_boxes['min_count'].value()}"
        )
        notes = [f"Skipped {Path(p).name}: {reason}" for p, reason in summary.skipped] + list(summary.warnings)
        self.skipped_label.setText("\n".join(notes))

    def _show_preview_error(self, error: BaseException) -> None:
        message, hint = describe_error(error)
        self.preview_label.setText(message)
        self.skipped_label.setText(hint)

    # -- training ---------------------------------------------------------------------------------
    def current_config(self) -> TrainConfig:
        values = {key: box.value() for key, box in self.param_boxes.items()}
        return TrainConfig(architecture=self.architecture.currentData(), **values)

    def start_training(self) -> None:
        paths = self.corpus_paths()
        if not paths:
            self.chat.add_answer("error", {"error": "There is nothing to train on yet.",
                                           "hint": "Add or drop text files or folders first."}, save=False)
            return
        config = self.current_config()
        self._save_settings()
        self.chat.add_note(f"Training **{self.architecture.currentText()}** on {len(paths)} path(s): "
                           f"dim {config.dim}, window {config.window}, {config.epochs} epochs.")
        self._run_training(train, paths, config, on_result=self._on_trained, label="train word2vec")

    def start_demo_if_needed(self) -> None:
        """First launch: train the demo model in the background (pending in ctx), then make it active."""
        if self.train_handle is not None or not demo.needs_demo():
            return
        self.chat.add_note("First start: training a demo model on the King James Bible so Explore works "
                           "right away (usually well under a minute). You can cancel it.")
        self._run_training(demo.ensure_demo_model, on_result=self._on_demo_ready, label="demo model")
        self.ctx.set_pending_word_model(demo.DEMO_MODEL_NAME)
        stopped = lambda *_: self.ctx.end_pending_word_model(demo.DEMO_MODEL_NAME)  # noqa: E731
        self.train_handle.failed.connect(stopped)
        self.train_handle.cancelled.connect(stopped)

    def _run_training(self, fn, *args, on_result, label: str) -> None:
        self.loss_plot.clear_data()
        self.last_epoch = 0
        self.train_handle = self.ctx.tasks.run(
            fn, *args, on_result=on_result, on_error=self._on_train_error, on_progress=self._on_progress,
            on_cancel=self._on_cancelled, label=label,
        )
        self.train_handle.done.connect(lambda: self._set_running(False))
        self._set_running(True)

    def toggle_pause(self) -> None:
        handle = self.train_handle
        if handle is None:
            return
        if handle.state == "paused":
            handle.resume()
            self.pause_button.setText("Pause")
            self.progress_label.setText("Resumed")
        else:
            handle.pause()
            self.pause_button.setText("Resume")
            self.progress_label.setText("Paused")

    def cancel_training(self) -> None:
        if self.train_handle is not None:
            self.train_handle.cancel()
            self.progress_label.setText("Cancelling…")

    def _set_running(self, running: bool) -> None:
        if not running:
            self.train_handle = None
            self.pause_button.setText("Pause")
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.cancel_button.setEnabled(running)
        self.save_button.setEnabled(not running and self.pending_result is not None)

    def _on_progress(self, progress: Progress) -> None:
        if self.train_handle is not None and self.train_handle.state == "paused":
            return
        if progress.fraction is not None:
            self.progress_bar.setValue(int(progress.fraction * 1000))
        self.progress_label.setText(cards.describe_progress(progress))
        loss = progress.extra.get("loss")
        if progress.stage == "train" and loss is not None:
            self.loss_plot.append(progress.done, loss)
        epoch = int(progress.extra.get("epoch") or 0)
        if epoch > self.last_epoch > 0:
            loss_text = f" · loss {loss:.4f}" if loss is not None else ""
            self.chat.add_note(f"Epoch {self.last_epoch} done{loss_text} · {progress.rate or 0:,.0f} words/s")
        self.last_epoch = max(self.last_epoch, epoch)

    def _on_trained(self, result) -> None:
        self.pending_result = result
        self.progress_bar.setValue(self.progress_bar.value() if result.cancelled else 1000)
        self.progress_label.setText("Cancelled — partial model kept" if result.cancelled else "Finished")
        self.chat.add_answer("training", training_summary(result), query="training run")
        self.suggested_name = suggested_name(result)
        self.chat.add_note("Keep it with **Save model…**. Evaluating…")
        self.ctx.tasks.run(evaluate_vectors, result.vectors, on_result=self._on_evaluated,
                           on_error=lambda error: self.chat.add_pending_answer("evaluation").fail(error),
                           label="evaluate")

    def _on_evaluated(self, evaluation: dict) -> None:
        if self.pending_result is not None:
            self.pending_result.vectors.evaluation = evaluation
        self.chat.add_answer("evaluation", evaluation, query="evaluation")

    def _on_train_error(self, error: BaseException) -> None:
        self.progress_label.setText("Failed")
        self.chat.add_pending_answer("training").fail(error)

    def _on_demo_ready(self, outcome) -> None:
        self.progress_bar.setValue(1000)
        self.progress_label.setText("Demo model ready")
        self.ctx.word_models_changed.emit()
        self.chat.add_note(f"Demo model **{outcome.info.name}** is ready ({outcome.info.vocab_size:,} words) "
                           "and active — try the Explore tab.")
        self.models.load_model(outcome.info.name)

    def _on_cancelled(self) -> None:
        self.progress_label.setText("Cancelled")

    # -- saving and the models list -----------------------------------------------------------------
    def _on_chat_text(self, text: str) -> None:
        """The log's input: a path joins the corpus, ``save NAME`` saves the trained model, else a hint."""
        text = text.strip()
        verb, _, name = text.partition(" ")
        path = typed_path(text)
        if verb.lower() == "save" and name.strip():
            self.save_trained(name.strip())
        elif path is not None:
            self.add_to_corpus([path])
        elif text.lower() == "help":
            self.chat.add_note(INPUT_HELP)
        else:
            self.chat.add_pending_answer().fail(UserError(f"“{text}” is not a file or folder here.", hint=INPUT_HELP))

    def ask_save_name(self) -> None:
        """Save model…: ask for a name (the suggested one filled in); OK saves under it."""
        self.save_dialog.setTextValue(self.suggested_name)
        self.save_dialog.open()

    def save_trained(self, name: str) -> None:
        """Save the last trained model under ``name`` and make it active."""
        card = self.chat.add_pending_answer(f"save “{name}”")
        if self.pending_result is None:
            card.fail("There is no trained model to save yet.", hint="Train one first with Start.")
            return
        vectors = self.pending_result.vectors
        handle = card.run_task("saved", _save_model, vectors, name)
        handle.finished.connect(lambda saved: self._after_save(saved["name"], vectors))

    def _after_save(self, name: str, vectors) -> None:
        self.pending_result = None
        self.suggested_name = ""
        self.save_button.setEnabled(False)
        self.ctx.word_models_changed.emit()
        vectors.name = name
        self.ctx.set_word_model(name, vectors)

    # -- rendering ----------------------------------------------------------------------------------
    def render(self, kind: str, result: Any):
        if kind == "training":
            return render_training(result)
        if kind == "evaluation":
            return render_evaluation(result)
        if kind in ("saved", "library"):
            return cards.markdown(result.get("message", "Done.") if isinstance(result, dict) else "Done.")
        return cards.text(str(result))

    # -- settings -----------------------------------------------------------------------------------
    def _save_settings(self) -> None:
        settings = self.ctx.settings
        settings.setValue("train/corpus", self.corpus_paths())
        settings.setValue("train/architecture", self.architecture.currentData())
        for key, box in self.param_boxes.items():
            settings.setValue(f"train/{key}", box.value())

    def _restore_settings(self) -> None:
        settings = self.ctx.settings
        corpus = settings.value("train/corpus", [])
        for path in [corpus] if isinstance(corpus, str) else list(corpus or []):
            self.corpus_list.addItem(str(path))
        index = self.architecture.findData(settings.value("train/architecture", "sgns"))
        self.architecture.setCurrentIndex(max(0, index))
        for key, box in self.param_boxes.items():
            stored = settings.value(f"train/{key}")
            if stored is not None:
                box.blockSignals(True)  # restoring must not save half-restored values
                box.setValue(float(stored) if isinstance(box, QDoubleSpinBox) else int(float(stored)))
                box.blockSignals(False)
        self.architecture.currentIndexChanged.connect(self._save_settings)
        for box in self.param_boxes.values():
            box.valueChanged.connect(self._save_settings)
        if self.corpus_list.count():
            QTimer.singleShot(0, self.preview_corpus)


class TrainLog(ChatView):
    """The Train conversation: a log of runs, evaluations and library operations, not of questions.

    Its cards have no Re-run: a card's title ("evaluation", "training run", "save “x”", …) is not a question,
    and re-submitting it to the input (paths and ``save NAME``) would at best add nothing, at worst save.
    """

    def add_pending_answer(self, query: Optional[str] = None, payload: Any = None):
        card = super().add_pending_answer(query, payload)  # every card (answers, notes, replayed history)
        rerun = card.actions.get("Re-run")
        if rerun is not None:
            rerun.hide()
        return card


class ModelsPanel(QGroupBox):
    """The user's saved word models: load (make active), rename, delete, export, import.

    Library operations run off the UI thread and are reported as cards in the Train conversation. The list
    refreshes on ``ctx.word_models_changed`` (also emitted by File → Open vectors and by saving here).
    """

    def __init__(self, ctx, chat: ChatView) -> None:
        super().__init__("Saved models")
        self.ctx = ctx
        self.chat = chat
        layout = QVBoxLayout(self)
        self.list = QListWidget()
        self.list.setMaximumHeight(140)
        self.list.setIconSize(QSize(ACTIVE_MARK_SIZE, ACTIVE_MARK_SIZE))
        self.list.itemDoubleClicked.connect(lambda item: self.load_model(item.data(Qt.ItemDataRole.UserRole)))
        row, self.buttons = button_row(
            ("Load", "Make the selected model active (Explore uses it)", lambda: self._with_selected(self.load_model)),
            ("Rename…", "Rename the selected model", self._ask_rename),
            ("Delete", "Delete the selected model", self._ask_delete),
            ("Export…", "Save as word2vec text (.txt) or binary (.bin)", self._ask_export),
            ("Import…", "Add pre-trained vectors (word2vec text/binary, GloVe)", self._ask_import),
        )
        layout.addWidget(self.list)
        layout.addLayout(row)
        ctx.word_models_changed.connect(self.refresh)
        ctx.word_model_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """List the saved models; the active one in bold with a check mark ("active" to screen readers)."""
        selected = self.selected()
        self.list.clear()
        for info in library.list_models():
            item = QListWidgetItem(describe_word_model(info.name, info.vocab_size, info.dim))
            item.setData(Qt.ItemDataRole.UserRole, info.name)
            item.setToolTip(model_tooltip(info))
            mark_active(item, info.name == self.ctx.word_model_name)
            self.list.addItem(item)
            if info.name == selected:
                self.list.setCurrentItem(item)

    def names(self) -> list[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def selected(self) -> str:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else ""

    def _with_selected(self, action) -> None:
        name = self.selected()
        if name:
            action(name)

    def load_model(self, name: str) -> None:
        self.ctx.load_word_model(name, on_loaded=lambda v: self.chat.add_note(f"Model **{name}** is active."),
                                 on_error=self._show_error)

    def _show_error(self, error: BaseException) -> None:
        self.chat.add_pending_answer("load model").fail(error)

    def rename_model(self, old: str, new: str) -> None:
        self._library_task(f"rename “{old}” → “{new}”", library.rename_model, old, new)

    def delete_model(self, name: str) -> None:
        if name == self.ctx.word_model_name:
            self.ctx.set_word_model("", None)
        self._library_task(f"delete “{name}”", library.delete_model, name)

    def export_model(self, name: str, path: str) -> None:
        self._library_task(f"export “{name}”", library.export_model, name, path, changes_library=False)

    def import_file(self, path: str, name: Optional[str] = None) -> None:
        self._library_task(f"import {Path(path).name}", library.import_vectors, path, name)

    def _library_task(self, query: str, fn, *args, changes_library: bool = True) -> None:
        """Run a library operation off the UI thread; report it in the log; then announce the change."""
        card = self.chat.add_pending_answer(query)
        handle = card.run_task("library", _library_call, fn, *args)
        if changes_library:
            handle.done.connect(self.ctx.word_models_changed)

    def _ask_rename(self) -> None:
        old = self.selected()
        new, ok = QInputDialog.getText(self, "Rename model", "New name:", text=old) if old else ("", False)
        if ok and new.strip() and new.strip() != old:
            self.rename_model(old, new.strip())

    def _ask_delete(self) -> None:
        name = self.selected()
        if name and QMessageBox.question(self, "Delete model", f"Delete “{name}”?") == QMessageBox.StandardButton.Yes:
            self.delete_model(name)

    def _ask_export(self) -> None:
        name = self.selected()
        if not name:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export vectors", f"{name}.txt",
                                              "word2vec text (*.txt);;word2vec binary (*.bin)")
        if path:
            self.export_model(name, path)

    def _ask_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import pre-trained vectors", "", vector_file_filter())
        if path:
            self.import_file(path)


def mark_active(item: QListWidgetItem, active: bool) -> None:
    """Show whether a saved-models entry is the active model: bold with a check mark, said in its tooltip."""
    if not active:
        blank = QPixmap(ACTIVE_MARK_SIZE, ACTIVE_MARK_SIZE)
        blank.fill(Qt.GlobalColor.transparent)
        item.setIcon(QIcon(blank))  # keeps the names aligned with the marked one
        return
    font = QFont(item.font())
    font.setBold(True)
    item.setFont(font)
    item.setIcon(QApplication.style().standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton))
    item.setToolTip(f"Active: Explore answers with it\n{item.toolTip()}")
    item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{item.text()} (active)")


def button_row(*specs: tuple[str, str, Any]) -> tuple[QHBoxLayout, list[QPushButton]]:
    """A row of push buttons from (text, tooltip, slot) triples."""
    row, buttons = QHBoxLayout(), []
    for text, tip, slot in specs:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        row.addWidget(button)
        buttons.append(button)
    return row, buttons


def typed_path(text: str) -> Optional[Path]:
    """The existing file or folder a typed or pasted text names (quotes and ``file://`` allowed), else None."""
    text = text.strip().strip("\"'")
    if text.startswith("file:"):
        text = QUrl(text).toLocalFile()
    path = Path(text).expanduser() if text else None
    return path if path is not None and path.exists() else None


def _spin_box(spec: ParamSpec, default: float) -> QSpinBox | QDoubleSpinBox:
    box = QDoubleSpinBox() if spec.decimals else QSpinBox()
    if spec.decimals:
        box.setDecimals(spec.decimals)
        box.setSingleStep(10 ** -spec.decimals * 10)
    box.setRange(spec.minimum, spec.maximum)
    box.setValue(default)
    box.setToolTip(f"{spec.tooltip} Default: {default:g}.")
    return box


def _save_model(vectors, name: str) -> dict:
    info = library.save_model(vectors, name)
    return {"message": f"Saved **{info.name}** ({info.vocab_size:,} words, {info.dim}d) — now active.",
            "name": info.name, "info": info}


def _library_call(fn, *args) -> dict:
    outcome = fn(*args)
    name = getattr(outcome, "name", None) or (Path(outcome).name if isinstance(outcome, (str, Path)) else "")
    return {"message": f"Done{': ' + name if name else ''}."}


def evaluate_vectors(vectors) -> dict:
    """Analogy accuracy per section and word-pair correlation on the shipped evaluation sets."""
    analogies = vectors.evaluate_analogies(library.shipped_eval_file("analogies"))
    pairs = vectors.evaluate_pairs(library.shipped_eval_file("pairs"))
    return {"analogies": dataclasses.asdict(analogies), "pairs": dataclasses.asdict(pairs)}


def training_summary(result) -> dict:
    summary = result.summary
    return {
        "cancelled": result.cancelled,
        "epochs_done": round(float(result.epochs_done), 2),
        "seconds": round(float(result.seconds), 1),
        "words_per_s": round(float(result.words_per_s)),
        "vocab_size": len(result.vectors),
        "dim": result.vectors.dim,
        "tokens": summary.tokens,
        "files": len(summary.files),
        "loss_history": [[int(x), float(y)] for x, y in result.loss_history],
    }


def suggested_name(result) -> str:
    files = result.summary.files
    stem = Path(files[0]).stem if files else "model"
    settings = result.vectors.settings
    return f"{stem}-{settings.get('architecture', 'w2v')}-{result.vectors.dim}d" + ("-partial" if result.cancelled else "")


def model_tooltip(info) -> str:
    settings = info.settings or {}
    parts = [f"created {info.created}"]
    if settings.get("architecture"):
        parts.append(f"{settings['architecture']} · window {settings.get('window')} · {settings.get('epochs')} epochs")
    accuracy = (info.evaluation or {}).get("analogies", {}).get("accuracy")
    if accuracy is not None:
        parts.append(f"analogy accuracy {accuracy:.1%}")
    return "\n".join(parts)


def render_training(result: dict) -> list[QWidget]:
    state = "Cancelled — partial model" if result["cancelled"] else "Training finished"
    rows = [
        ["Epochs", result["epochs_done"]],
        ["Time", f"{result['seconds']} s"],
        ["Speed", f"{result['words_per_s']:,} words/s"],
        ["Vocabulary", f"{result['vocab_size']:,} words × {result['dim']}"],
        ["Corpus", f"{result['tokens']:,} tokens in {result['files']} file(s)"],
    ]
    widgets = [cards.heading(state), cards.table(["Measure", "Value"], rows, max_height=200)]
    history = result.get("loss_history") or []
    if history:
        plot = plots.LinePlot(title="Loss", x_label="words processed", y_label="loss")
        plot.set_data([x for x, _ in history], [y for _, y in history])
        widgets.append(cards.plot_widget(plot, height=200))
    return widgets


def render_evaluation(result: dict) -> list[QWidget]:
    """The scores in words (never "0/0": sections with every question unknown say so) and a chart of the
    sections that could be scored."""
    analogies, pairs = result["analogies"], result["pairs"]
    scored = [s for s in analogies.get("sections", []) if s.get("total")]
    unscored = [s["name"] for s in analogies.get("sections", []) if not s.get("total")]
    text = f"**Analogies**: {analogy_score(analogies)} · **Word pairs**: {pairs_score(pairs)}"
    if scored and unscored:
        text += f"\n\nNot scored (every question out of vocabulary): {', '.join(unscored)}"
    widgets = [cards.markdown(text)]
    if scored:
        chart = plots.bar_chart([s["name"] for s in scored], [100 * s["accuracy"] for s in scored],
                                title="Analogy accuracy per section", y_label="%", y_range=(0, 100))
        widgets.append(cards.plot_widget(chart, height=plots.bar_chart_height(len(scored))))
    return widgets
