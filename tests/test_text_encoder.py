"""TextEncoder on the built MiniLM models: parity with sentence-transformers, batching, truncation, cancel, CLI."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from embedengine.cli import main as cli_main
from embedengine.explore import BANK_SENTENCES
from embedengine.tasks import CancelToken, Cancelled
from embedengine.text import CPU_BATCH_TOKENS, TextEncoder, get_text_encoder, plan_batches

MIXED = [
    "a",
    "",
    "The quick brown fox jumps over the lazy dog near the riverbank at dawn.",
    "short one",
    " ".join(["semantic search finds passages by meaning rather than by exact words"] * 12),
    "Café au lait, s'il vous plaît — 🙂",
    "Numbers 1 2 3 and symbols #$% also count as tokens in the vocabulary of the model.",
    "ok",
]


@pytest.fixture(scope="module")
def fp32(models_dir) -> TextEncoder:
    return TextEncoder("fp32", threads=2)


@pytest.fixture(scope="module")
def int8(models_dir) -> TextEncoder:
    return TextEncoder("int8", threads=2)


@pytest.fixture(scope="module")
def reference(fixtures_dir):
    with np.load(fixtures_dir / "minilm_reference.npz") as data:
        return [str(s) for s in data["sentences"]], data["embeddings"]


@pytest.fixture(scope="module")
def fp32_fixture_vectors(fp32, reference):
    return fp32.encode(reference[0])


def test_fp32_matches_sentence_transformers(fp32, reference, fp32_fixture_vectors):
    sentences, expected = reference
    assert fp32_fixture_vectors.shape == (30, 384) and fp32_fixture_vectors.dtype == np.float32
    assert np.abs(fp32_fixture_vectors - expected).max() <= 1e-5
    assert max(fp32.count_tokens(s) for s in sentences) > 256  # the fixture really exercises truncation


def test_int8_stays_close_to_fp32(int8, reference, fp32_fixture_vectors):
    vectors = int8.encode(reference[0])
    cosines = np.sum(vectors * fp32_fixture_vectors, axis=1)
    assert cosines.min() >= 0.97
    assert cosines.mean() >= 0.99


def test_vectors_are_unit_length_and_in_input_order(fp32):
    one_by_one = np.stack([fp32.encode([text])[0] for text in MIXED])
    np.testing.assert_allclose(np.linalg.norm(one_by_one, axis=1), 1.0, atol=1e-5)
    for batch_size in (1, 3, 32):
        np.testing.assert_allclose(fp32.encode(MIXED, batch_size=batch_size), one_by_one, atol=2e-6)
    permutation = np.random.default_rng(3).permutation(len(MIXED))
    shuffled = fp32.encode([MIXED[i] for i in permutation], batch_size=2)
    np.testing.assert_allclose(shuffled, one_by_one[permutation], atol=2e-6)


def test_long_texts_on_cpu_run_in_cache_sized_calls(fp32):
    texts = [" ".join(["river bank"] * words) for words in (120, 100, 90, 60, 8)]
    if fp32.provider_label != "CPU":
        pytest.skip("the small token budget is for CPU sessions")
    assert fp32.batch_tokens == CPU_BATCH_TOKENS
    lengths = [len(ids) for ids in fp32.tokenize(texts)]
    batches = plan_batches(lengths, 32, fp32.batch_tokens)
    assert len(batches) > 2 and all(len(b) == 1 or max(lengths[i] for i in b) * len(b) <= CPU_BATCH_TOKENS
                                    for b in batches)
    one_by_one = np.stack([fp32.encode([text])[0] for text in texts])
    np.testing.assert_allclose(fp32.encode(texts, batch_size=32), one_by_one, atol=2e-6)


def test_cpu_lanes_encode_batches_in_parallel_with_the_same_result(fp32, models_dir):
    if fp32.provider_label != "CPU":
        pytest.skip("lanes are the CPU execution plan")
    texts = [" ".join(["lanes of work"] * (i % 40 + 1)) for i in range(60)]
    single = TextEncoder("fp32", threads=1)
    expected = single.encode(texts, batch_size=4)
    assert single.lanes == 1 and fp32.lanes == 2
    reports = []
    got = fp32.encode(texts, batch_size=4, progress=lambda p: reports.append((p.done, threading.get_ident())))
    np.testing.assert_allclose(got, expected, atol=2e-6)
    assert [done for done, _ in reports] == sorted(done for done, _ in reports) and reports[-1][0] == 60
    assert {thread for _, thread in reports} == {threading.get_ident()}  # progress stays on the caller's thread


def test_truncation_keeps_the_first_256_tokens(fp32):
    words = ["river", "bank", "money", "loan", "boat", "water", "green", "house"]
    assert all(fp32.count_tokens(w) == 3 for w in words)  # each word is one token (+ [CLS], [SEP])
    head = " ".join(words[i % len(words)] for i in range(254))
    long_text = head + " " + " ".join(["zebra"] * 300)
    assert fp32.count_tokens(head) == 256 and fp32.count_tokens(long_text) > 500
    head_vector, long_vector = fp32.encode([head, long_text])
    np.testing.assert_allclose(long_vector, head_vector, atol=1e-6)


def test_empty_input_and_empty_string(fp32):
    empty = fp32.encode([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32
    vector = fp32.encode([""])[0]
    assert np.isfinite(vector).all() and abs(np.linalg.norm(vector) - 1) < 1e-5
    with pytest.raises(TypeError):
        fp32.encode("not a list")


def test_progress_reaches_total_and_cancel_stops_mid_encode(fp32):
    texts = [f"sentence number {i} about topic {i % 7}" for i in range(40)]
    reports = []
    fp32.encode(texts, batch_size=8, progress=reports.append)
    assert [r.done for r in reports] == sorted(r.done for r in reports)
    assert reports[-1].done == reports[-1].total == 40 and reports[-1].unit == "texts"
    assert reports[-1].eta_s == 0 and reports[0].eta_s > 0 and reports[-1].extra["tokens"] > 40 * 3

    token, seen = CancelToken(), []

    def cancel_after_first_batch(progress):
        seen.append(progress.done)
        token.cancel()

    with pytest.raises(Cancelled):
        fp32.encode(texts, batch_size=8, progress=cancel_after_first_batch, cancel=token)
    assert seen == [8]


@pytest.mark.parametrize("batch_size,max_tokens", [(1, 10_000), (4, 10_000), (32, 40), (32, 8192)])
def test_plan_batches_respects_limits(batch_size, max_tokens):
    lengths = list(np.random.default_rng(batch_size).integers(2, 257, 60))
    batches = plan_batches(lengths, batch_size, max_tokens)
    assert sorted(np.concatenate(batches).tolist()) == list(range(60))
    for batch in batches:
        widths = [lengths[i] for i in batch]
        assert len(batch) <= batch_size
        assert len(batch) == 1 or max(widths) * len(batch) <= max_tokens
        assert 2 * min(widths) >= max(widths)


def test_shared_encoder_is_one_instance_across_threads(models_dir):
    found = []
    threads = [threading.Thread(target=lambda: found.append(get_text_encoder("fp32"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(encoder) for encoder in found}) == 1
    assert get_text_encoder("int8") is not found[0]
    assert found[0].provider_label == "CPU"
    with pytest.raises(ValueError):
        TextEncoder("fp16")


def test_cli_bank_json_shows_river_and_money_senses(models_dir, capsys):
    assert cli_main(["encode", "text", "--bank", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [item["text"] for item in result["texts"]] == list(BANK_SENTENCES)
    sim = np.array(result["similarity"])
    assert sim.shape == (4, 4) and np.allclose(np.diag(sim), 1, atol=1e-3)
    money = [i for i, text in enumerate(BANK_SENTENCES) if "river" not in text]
    river = [i for i, text in enumerate(BANK_SENTENCES) if "river" in text]
    cross = sim[np.ix_(money, river)].max()
    assert sim[river[0], river[1]] > cross  # the river sentences resemble each other more than the money ones
    assert sim[money[0], money[1]] > cross


def test_cli_text_errors_are_json(tmp_path, models_dir, capsys):
    assert cli_main(["encode", "text", "--json"]) == 2
    assert "no text" in json.loads(capsys.readouterr().out)["error"]
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9\n".encode("latin-1"))
    assert cli_main(["encode", "text", "--file", str(latin1), "--json"]) == 2
    assert "UTF-8" in json.loads(capsys.readouterr().out)["error"]


def test_cli_file_and_int8(tmp_path, models_dir, capsys):
    lines = tmp_path / "lines.txt"
    lines.write_text("first line\n\n  second line  \n", encoding="utf-8")
    assert cli_main(["encode", "text", "extra", "--file", str(lines), "--int8", "--vectors", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "minilm-int8"
    assert [item["text"] for item in result["texts"]] == ["extra", "first line", "second line"]
    assert all(len(item["vector"]) == 384 and item["tokens"] >= 3 for item in result["texts"])


def test_cli_image_labels_and_bad_file(tmp_path, fixtures_dir, capsys):
    from PIL import Image

    with np.load(fixtures_dir / "resnet50_tfjs_reference.npz") as data:
        names, pixels = list(data["names"]), data["inputs_rgb_u8_nhwc"]
    cat = tmp_path / "chelsea.png"
    Image.fromarray(pixels[names.index("chelsea")]).save(cat)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not really a jpeg")
    assert cli_main(["encode", "image", str(cat), str(broken), "--top", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    good, bad = result["images"]
    assert good["labels"][0]["label"] == "Egyptian cat" and len(good["labels"]) == 3
    assert good["norm"] > 0 and good["width"] == 224
    assert bad["error"] and result["failed"] == 1


def test_concurrent_encodes_agree(fp32):
    texts = [f"thread safety check number {i}" for i in range(12)]
    expected = fp32.encode(texts)
    results = [None] * 3

    def work(slot):
        results[slot] = fp32.encode(texts, batch_size=5)

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        np.testing.assert_allclose(result, expected, atol=2e-6)
