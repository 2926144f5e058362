"""Text and image encoders share one shape: encode / iter_encode, progress, cancel, pause, preferences."""

from __future__ import annotations

import inspect
import threading
import time

import numpy as np
import pytest
from PIL import Image

from embedengine.encoders import Encoder
from embedengine.image import ImageEncoder, ImageOutcome, get_image_encoder
from embedengine.tasks import CancelToken, Cancelled
from embedengine.text import TextBatch, TextEncoder, get_text_encoder

PAUSE_S = 0.6


@pytest.fixture(scope="module")
def text_case(models_dir):
    texts = [f"sentence number {i} about topic {i % 7} and its neighbours" for i in range(40)]
    return TextEncoder("fp32", threads=2), texts, 8


@pytest.fixture(scope="module")
def image_case(models_dir, fixtures_dir):
    with np.load(fixtures_dir / "resnet50_tfjs_reference.npz") as data:
        images = [Image.fromarray(array) for array in data["inputs_rgb_u8_nhwc"]]
    return ImageEncoder(providers=["CPUExecutionProvider"], threads=2), images, 2


@pytest.fixture(params=["text", "image"])
def case(request):
    return request.getfixturevalue(f"{request.param}_case")


def gathered(encoder, results) -> np.ndarray:
    """iter_encode's results as one [n, dim] array in input order."""
    rows = {}
    for result in results:
        if isinstance(result, TextBatch):
            rows.update(zip(result.indices.tolist(), result.vectors))
        else:
            assert isinstance(result, ImageOutcome) and result.ok
            rows[result.index] = result.embedding
    return np.stack([rows[i] for i in range(len(rows))]) if rows else np.zeros((0, encoder.dim), np.float32)


def run_in_thread(work):
    """Start ``work`` on a thread; returns (thread, box) where box gets "result" or "error"."""
    box: dict = {}

    def target():
        try:
            box["result"] = work()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def test_both_encoders_have_the_same_signature(text_case, image_case):
    for encoder in (text_case[0], image_case[0]):
        assert isinstance(encoder, Encoder) and encoder.dim > 0
        for method in (encoder.encode, encoder.iter_encode):
            parameters = inspect.signature(method).parameters
            assert all(parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
                       for name in ("progress", "cancel", "batch_size"))
            assert parameters["progress"].default is None and parameters["cancel"].default is None


def test_encode_reports_progress_and_iter_encode_gives_the_same_vectors(case):
    encoder, items, batch_size = case
    reports = []
    vectors = encoder.encode(items, progress=reports.append, batch_size=batch_size)
    assert vectors.shape == (len(items), encoder.dim) and vectors.dtype == np.float32
    assert len(reports) == -(-len(items) // batch_size)
    assert [r.done for r in reports] == sorted(r.done for r in reports)
    assert reports[-1].done == reports[-1].total == len(items) and all(r.rate > 0 for r in reports)
    iter_reports = []
    results = list(encoder.iter_encode(items, progress=iter_reports.append, batch_size=batch_size))
    np.testing.assert_allclose(gathered(encoder, results), vectors, atol=1e-4)
    assert [r.done for r in iter_reports] == [r.done for r in reports]
    assert encoder.encode([]).shape == (0, encoder.dim)


def test_cancel_raises_cancelled_for_both(case):
    encoder, items, batch_size = case
    token, seen = CancelToken(), []

    def cancel_at_first_report(report):
        seen.append(report.done)
        token.cancel()

    with pytest.raises(Cancelled):
        encoder.encode(items, progress=cancel_at_first_report, cancel=token, batch_size=batch_size)
    assert seen == [batch_size]  # the batch after the cancel never reports

    cancelled = CancelToken()
    cancelled.cancel()
    with pytest.raises(Cancelled):
        next(iter(encoder.iter_encode(items, cancel=cancelled, batch_size=batch_size)))


def test_iter_encode_stops_between_batches_when_cancelled(case):
    encoder, items, batch_size = case
    token, handed = CancelToken(), 0
    with pytest.raises(Cancelled):
        for result in encoder.iter_encode(items, cancel=token, batch_size=batch_size):
            handed += len(result.indices) if isinstance(result, TextBatch) else 1
            token.cancel()
    assert handed == batch_size  # the first batch is handed over whole, nothing after it


def test_pause_blocks_at_the_batch_boundary_until_resumed(case):
    encoder, items, batch_size = case
    expected = encoder.encode(items, batch_size=batch_size)
    token, reports = CancelToken(), []

    def pause_at_first_report(report):
        reports.append(report.done)
        if len(reports) == 1:
            token.pause()

    thread, box = run_in_thread(lambda: encoder.encode(items, progress=pause_at_first_report, cancel=token,
                                                       batch_size=batch_size))
    deadline = time.monotonic() + 60
    while not reports and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(PAUSE_S)
    assert thread.is_alive() and reports == [batch_size]  # paused after the first batch
    token.resume()
    thread.join(60)
    assert not thread.is_alive() and "error" not in box
    np.testing.assert_allclose(box["result"], expected, atol=1e-4)
    assert reports[-1] == len(items)


def test_cancel_wakes_a_paused_encoder(case):
    encoder, items, batch_size = case
    token = CancelToken()
    token.pause()
    thread, box = run_in_thread(lambda: encoder.encode(items, cancel=token, batch_size=batch_size))
    time.sleep(PAUSE_S)
    assert thread.is_alive()  # paused before the first batch
    token.cancel()
    thread.join(30)
    assert isinstance(box.get("error"), Cancelled)


# --------------------------------------------------------------------------- preferences

def test_text_encoder_follows_thread_and_provider_preferences(monkeypatch, models_dir):
    from embedengine.documents.methods import MiniLMEncoder

    monkeypatch.setenv("EMBEDSTUDIO_PROVIDER", "cpu")
    monkeypatch.setenv("EMBEDSTUDIO_THREADS", "1")
    first = get_text_encoder("int8")
    assert first is get_text_encoder("int8") and first.threads == 1 and first.lanes == 1
    first.encode(["loaded once with one lane"])
    dense = MiniLMEncoder("int8")
    assert dense.encoder is first

    monkeypatch.setenv("EMBEDSTUDIO_THREADS", "3")
    second = get_text_encoder("int8")
    assert second is not first and second.threads == 3 and second.lanes == 3
    assert dense.encoder is second  # a documents method built earlier follows too
    np.testing.assert_allclose(second.encode(["loaded once with one lane"]), first.encode(["loaded once with one lane"]),
                               atol=1e-6)

    monkeypatch.setenv("EMBEDSTUDIO_PROVIDER", "auto")
    third = get_text_encoder("int8")
    assert third is not second and third.threads == 3


def test_image_encoder_follows_thread_and_provider_preferences(monkeypatch, models_dir):
    monkeypatch.setenv("EMBEDSTUDIO_PROVIDER", "cpu")
    monkeypatch.setenv("EMBEDSTUDIO_THREADS", "1")
    first = get_image_encoder()
    assert first is get_image_encoder() and first.threads == 1
    assert first.session.get_session_options().intra_op_num_threads == 1
    assert first.providers == ["CPUExecutionProvider"]

    monkeypatch.setenv("EMBEDSTUDIO_THREADS", "3")
    second = get_image_encoder()
    assert second is not first and second.threads == 3
    assert second.session.get_session_options().intra_op_num_threads == 3

    monkeypatch.setenv("EMBEDSTUDIO_PROVIDER", "auto")
    assert get_image_encoder() is not second


# --------------------------------------------------------------------------- documents' dense methods

def test_word_average_encoder_has_the_same_encode_shape():
    from embedengine.documents.methods import DenseEncoder, WordAverageEncoder
    from embedengine.word2vec import WordVectors

    vectors = WordVectors(["river", "bank", "money"], np.array([[3, 0], [1, 1], [0, 2]], np.float32))
    encoder = WordAverageEncoder(vectors, "tiny")
    for cls in (DenseEncoder, WordAverageEncoder):
        parameters = inspect.signature(cls.encode).parameters
        assert parameters["progress"].kind is parameters["cancel"].kind is inspect.Parameter.KEYWORD_ONLY
    reports = []
    out = encoder.encode(["river bank", "nothing known", "money money"], progress=reports.append)
    assert out.dtype == np.float32 and out.shape == (3, 2)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), [1, 0, 1], atol=1e-6)  # unknown words: zero row
    assert reports[-1].done == reports[-1].total == 3
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        encoder.encode(["river"], cancel=token)
