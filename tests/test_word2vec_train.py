"""Training on real English: neighbours, each architecture learns, reproducibility, cancel/pause/resume."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from embedengine.errors import UserError
from embedengine.tasks import CancelToken
from embedengine.word2vec import TrainConfig, scan_corpus, train

COLOURS = {"blue", "yellow", "green", "black", "white", "purple", "brown", "pink", "scarlet", "orange", "color",
           "colour", "dark", "bright", "violet", "crimson"}
RELATED = [("red", "blue"), ("water", "liquid"), ("king", "prince"), ("linux", "unix"), ("mother", "father"),
           ("green", "yellow"), ("sea", "ocean"), ("man", "woman"), ("day", "night"), ("north", "south"),
           ("leaf", "leaves"), ("small", "large"), ("plant", "plants"), ("god", "lord"), ("one", "two")]


@pytest.fixture(scope="session")
def slice_corpus(small_corpus, tmp_path_factory) -> Path:
    """The first ~300 KB of the small corpus, for runs that must be quick."""
    path = tmp_path_factory.mktemp("slice") / "slice.txt"
    path.write_text(small_corpus.read_text(encoding="utf-8")[:300_000], encoding="utf-8")
    return path


def related_rank(vectors) -> float:
    """Mean fraction of the vocabulary closer to a than its related word b (0.5 for random pairs)."""
    pairs = [(a, b) for a, b in RELATED if a in vectors and b in vectors]
    assert len(pairs) >= 8, pairs
    return float(np.mean([np.mean(vectors.normed @ vectors.get_vector(a, norm=True) > vectors.similarity(a, b))
                          for a, b in pairs]))


def test_sgns_recovers_sensible_neighbours(trained_word_model):
    # "scarlet", not "red": in the KJV test corpus "red" is mostly the Red Sea, while scarlet goes with blue and purple
    neighbours = {word for word, _ in trained_word_model.most_similar("scarlet", topn=10)}
    assert neighbours & COLOURS, neighbours
    assert related_rank(trained_word_model) < 0.15


@pytest.mark.parametrize("architecture", ["sgns", "cbow"])
def test_negative_sampling_architectures_learn(small_corpus, architecture):
    result = train([small_corpus], TrainConfig(architecture=architecture, dim=40, epochs=2, seed=3))
    first, last = result.loss_history[0][1], result.loss_history[-1][1]
    assert first == pytest.approx(6 * np.log(2), abs=0.05)  # untrained: every score is 0
    assert last < 0.8 * first
    assert related_rank(result.vectors) < 0.25
    assert not result.cancelled and result.epochs_done == pytest.approx(2.0)
    assert result.words_per_s > 0 and result.raw_words_per_s >= result.words_per_s


def test_full_softmax_learns(slice_corpus):
    result = train([slice_corpus], TrainConfig(architecture="softmax", dim=30, epochs=2, max_vocab=800,
                                               min_count=3))
    first, last = result.loss_history[0][1], result.loss_history[-1][1]
    assert first == pytest.approx(np.log(800), abs=0.05)  # uniform over the vocabulary at the start
    assert last < first - 0.2


def test_softmax_refuses_large_vocabulary(small_corpus):
    # The KJV test corpus has ~8,800 distinct words (under the 30,000-word limit), so ask for enough epochs that
    # the estimate is well over an hour (~1.9 h): a softmax that slow is refused before it starts.
    with pytest.raises(UserError, match="hours"):
        train([small_corpus], TrainConfig(architecture="softmax", min_count=1, epochs=50))


def test_same_seed_same_vectors(slice_corpus):
    config = TrainConfig(dim=20, epochs=1, min_count=3, seed=7)
    first, second = train([slice_corpus], config).vectors, train([slice_corpus], config).vectors
    other = train([slice_corpus], TrainConfig(dim=20, epochs=1, min_count=3, seed=8)).vectors
    assert first.words == second.words
    assert np.array_equal(first.vectors, second.vectors)
    assert not np.array_equal(first.vectors, other.vectors)


def test_progress_reports_contract_fields(slice_corpus):
    reports = []
    train([slice_corpus], TrainConfig(dim=20, epochs=2, min_count=3), progress=reports.append)
    training = [r for r in reports if r.stage == "train"]
    assert training and training[-1].done == pytest.approx(training[-1].total)
    assert {"epoch", "epochs", "loss", "alpha"} <= set(training[-1].extra)
    assert training[-1].extra["epoch"] == 2 and training[-1].unit == "words"


def test_cancel_returns_partial_model_quickly(small_corpus):
    token, seen = CancelToken(), {}

    def progress(report):
        if report.stage == "train" and report.done > 0 and "at" not in seen:
            seen["at"] = time.perf_counter()
            token.cancel()

    result = train([small_corpus], TrainConfig(dim=40, epochs=5), progress=progress, cancel=token)
    assert time.perf_counter() - seen["at"] < 1.0
    assert result.cancelled and 0 < result.epochs_done < 5
    assert len(result.vectors) > 1000 and np.isfinite(result.vectors.vectors).all()
    assert result.vectors.most_similar("the", topn=3)


def test_pause_blocks_and_resume_finishes(slice_corpus):
    token, reports, outcome = CancelToken(), [], {}
    config = TrainConfig(dim=20, epochs=40, min_count=3)
    worker = threading.Thread(target=lambda: outcome.setdefault(
        "result", train([slice_corpus], config, progress=reports.append, cancel=token)))
    worker.start()
    deadline = time.time() + 30
    while not any(r.stage == "train" and r.done > 0 for r in reports) and time.time() < deadline:
        time.sleep(0.01)
    token.pause()
    time.sleep(0.3)
    paused_count = len(reports)
    time.sleep(0.5)
    assert len(reports) == paused_count  # nothing trained while paused
    token.resume()
    worker.join(60)
    result = outcome["result"]
    assert not result.cancelled and result.epochs_done == pytest.approx(40)


def test_checkpoint_resume_completes_the_run(slice_corpus, tmp_path):
    checkpoint = tmp_path / "run.ckpt.npz"
    config = TrainConfig(dim=20, epochs=30, min_count=3)
    token = CancelToken()

    def progress(report):
        if report.stage == "train" and (report.fraction or 0) > 0.3:
            token.cancel()

    partial = train([slice_corpus], config, progress=progress, cancel=token, checkpoint_path=checkpoint)
    assert partial.cancelled and checkpoint.exists()
    resumed = train([slice_corpus], config, checkpoint_path=checkpoint, resume=True)
    assert 0.3 * 30 < resumed.resumed_from < 30
    assert not resumed.cancelled and resumed.epochs_done == pytest.approx(30)
    assert not checkpoint.exists()  # removed once the run is complete
    assert resumed.loss_history[-1][1] < resumed.loss_history[0][1]


def test_checkpoint_of_other_settings_is_refused(slice_corpus, tmp_path):
    checkpoint = tmp_path / "run.ckpt.npz"
    token = CancelToken()
    train([slice_corpus], TrainConfig(dim=20, epochs=20, min_count=3), cancel=token, checkpoint_path=checkpoint,
          progress=lambda report: token.cancel() if report.stage == "train" else None)
    with pytest.raises(UserError, match="another corpus or other settings"):
        train([slice_corpus], TrainConfig(dim=24, epochs=20, min_count=3), checkpoint_path=checkpoint, resume=True)


def test_scan_reports_skips_and_warnings(tmp_path, slice_corpus):
    (tmp_path / "data.bin").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "latin1.txt").write_bytes("café naïve déjà vu ".encode("latin-1") * 50)
    summary = scan_corpus([tmp_path, slice_corpus, tmp_path / "missing.txt"], min_count=3)
    reasons = dict(summary.skipped)
    assert reasons[str(tmp_path / "data.bin")].startswith("binary")
    assert reasons[str(tmp_path / "empty.txt")] == "empty file"
    assert reasons[str(tmp_path / "missing.txt")] == "not found"
    assert any("latin1.txt" in w and "undecodable" in w for w in summary.warnings)
    assert summary.tokens > 40_000 and summary.vocab_size < summary.unique_words


def test_tokeniser_keeps_inner_apostrophes_and_optional_digits():
    from embedengine.word2vec.corpus import tokenize

    assert tokenize("Don't STOP 'quoted' rock'n'roll 42x") == ["don't", "stop", "quoted", "rock'n'roll", "x"]
    assert tokenize("route 66 in 1999", keep_digits=True) == ["route", "66", "in", "1999"]


def test_no_usable_input_is_a_clear_error(tmp_path):
    (tmp_path / "a.txt").write_text("just a few words here")
    with pytest.raises(UserError, match="No word occurs at least 5 times"):
        train([tmp_path / "a.txt"], TrainConfig())
    with pytest.raises(UserError, match="No readable text files"):
        train([tmp_path / "nothing-here.txt"], TrainConfig())
    with pytest.raises(UserError, match="architecture must be one of"):
        train([tmp_path / "a.txt"], TrainConfig(architecture="glove"))


def test_checkpoint_is_written_during_training(slice_corpus, tmp_path, monkeypatch):
    import importlib

    monkeypatch.setattr(importlib.import_module("embedengine.word2vec.train"), "CHECKPOINT_EVERY_S", 0.0)
    checkpoint, seen = tmp_path / "periodic.npz", []
    token = CancelToken()

    def progress(report):
        if report.stage == "train" and checkpoint.exists():
            seen.append(report.done)
            token.cancel()

    train([slice_corpus], TrainConfig(dim=20, epochs=30, min_count=3), progress=progress, cancel=token,
          checkpoint_path=checkpoint)
    assert seen and seen[0] < 30 * 40_000  # a checkpoint existed well before the end
