"""Queries, evaluation (checked by hand and against gensim), file formats and gensim interop."""

from __future__ import annotations

import time

import numpy as np
import pytest

from embedengine.errors import UserError
from embedengine.word2vec import UnknownWordError, WordVectors, shipped_eval_file
from embedengine.word2vec.evaluate import rank_with_ties, spearman

HAND_WORDS = ["man", "woman", "king", "queen", "paris", "france", "rome", "italy", "apple"]
HAND_VECTORS = [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [1, 0, 1, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 1, 0],
                [0, 0, 0, 1, 1], [0, 0, 0, 1, 0.05], [0, 0, 0, 2, 1], [0, 0, 0, 0, 1]]


@pytest.fixture
def hand_vectors() -> WordVectors:
    return WordVectors(HAND_WORDS, np.array(HAND_VECTORS, dtype=np.float32), np.arange(9, 0, -1),
                       {"note": "hand made"}, "hand")


def test_queries_on_hand_made_vectors(hand_vectors):
    assert hand_vectors.similarity("king", "queen") == pytest.approx(0.5)
    # unit(woman) + unit(king) - unit(man) = (-0.293, 1, 0.707); its cosine with queen is 1.207 / 1.259
    assert hand_vectors.most_similar(positive=["woman", "king"], negative=["man"], topn=1)[0] == \
        ("queen", pytest.approx(1.2071 / 1.2593, abs=1e-4))
    assert hand_vectors.most_similar_cosmul(positive=["woman", "king"], negative=["man"], topn=1)[0][0] == "queen"
    assert hand_vectors.most_similar("King", topn=2)[0][0] in {"man", "queen"}  # case-insensitive lookup
    assert hand_vectors.doesnt_match(["man", "king", "queen", "apple"]) == "apple"
    ranked = hand_vectors.odd_one_out(["man", "king", "queen", "apple"])
    assert [w for w, _ in ranked][0] == "apple" and ranked[0][1] <= ranked[-1][1]
    nearest = hand_vectors.most_similar_to_vector(np.array([0, 0, 0, 2, 1.01]), topn=2, exclude=["italy"])
    assert nearest[0][0] == "france"
    assert hand_vectors["queen"].shape == (5,) and hand_vectors[["man", "woman"]].shape == (2, 5)


def test_unknown_word_names_it_and_suggests(trained_word_model):
    with pytest.raises(UnknownWordError) as raised:
        trained_word_model.most_similar("watre")
    error = raised.value
    assert error.word == "watre" and "water" in error.suggestions
    assert str(error).startswith("'watre' is not in the vocabulary — did you mean '") and "'water'" in str(error)
    assert error.to_dict()["suggestions"] == error.suggestions
    with pytest.raises(UnknownWordError, match=r"'qzxv' is not in the vocabulary\.$"):
        trained_word_model.similarity("qzxv", "water")


def test_query_speed_at_70k_words():
    rng = np.random.default_rng(0)
    vectors = WordVectors([f"w{i}" for i in range(70_000)], rng.normal(size=(70_000, 100)).astype(np.float32))
    vectors.most_similar("w1")  # builds the normalised matrix once
    started = time.perf_counter()
    for i in range(20):
        vectors.most_similar(f"w{i}", topn=10)
    assert (time.perf_counter() - started) / 20 < 0.05  # goal < 5 ms; generous here for a shared CI machine


def test_analogy_evaluation_checked_by_hand(hand_vectors, tmp_path):
    questions = tmp_path / "questions.txt"
    questions.write_text(": royal\nman woman king queen\nking queen man apple\n"
                         ": capitals\nParis France Rome Italy\nman woman prince princess\n")
    result = hand_vectors.evaluate_analogies(questions)
    # b - a + c: woman-man+king = queen (right); queen-king+man is nearest woman, not apple (wrong);
    # france-paris+rome is nearest italy (right); the prince question is out of vocabulary.
    assert (result.correct, result.total, result.oov) == (2, 3, 1)
    assert result.accuracy == pytest.approx(2 / 3)
    assert [(s["name"], s["correct"], s["total"]) for s in result.sections] == [("royal", 1, 2), ("capitals", 1, 1)]
    restricted = hand_vectors.evaluate_analogies(questions, restrict_vocab=4)  # only man woman king queen
    assert (restricted.correct, restricted.total, restricted.oov) == (1, 1, 3)


def test_analogies_and_pairs_agree_with_gensim(trained_word_model):
    gensim_models = pytest.importorskip("gensim.models")
    keyed = gensim_models.KeyedVectors(trained_word_model.dim)
    keyed.add_vectors(trained_word_model.words, trained_word_model.vectors)
    analogies, pairs = shipped_eval_file("analogies"), shipped_eval_file("pairs")
    ours = trained_word_model.evaluate_analogies(analogies)
    score, sections = keyed.evaluate_word_analogies(str(analogies), restrict_vocab=30000)
    total = next(s for s in sections if s["section"] == "Total accuracy")
    assert ours.total == len(total["correct"]) + len(total["incorrect"])
    assert ours.correct == pytest.approx(len(total["correct"]), abs=2)  # ties may break differently
    ours_pairs = trained_word_model.evaluate_pairs(pairs)
    pearson, spearman_result, oov = keyed.evaluate_word_pairs(str(pairs))
    assert ours_pairs.spearman == pytest.approx(spearman_result[0], abs=1e-4)
    assert ours_pairs.pearson == pytest.approx(pearson[0], abs=1e-4)
    assert ours_pairs.oov_ratio == pytest.approx(oov / 100, abs=1e-8)  # a fraction; gensim's is a percentage


def test_spearman_with_ties():
    assert rank_with_ties([10, 20, 20, 30]).tolist() == [1, 2.5, 2.5, 4]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4): by hand rho = 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / np.sqrt(4.5 * 5))


@pytest.mark.parametrize("suffix,binary", [(".txt", False), (".bin", True)])
def test_word2vec_format_round_trip_and_gensim_interop(trained_word_model, tmp_path, suffix, binary):
    gensim_models = pytest.importorskip("gensim.models")
    ours = tmp_path / f"ours{suffix}"
    trained_word_model.save_word2vec_format(ours, binary=binary)
    back = WordVectors.load_word2vec_format(ours)
    assert back.words == trained_word_model.words
    np.testing.assert_allclose(back.vectors, trained_word_model.vectors, rtol=1e-6, atol=1e-7)
    keyed = gensim_models.KeyedVectors.load_word2vec_format(str(ours), binary=binary)
    assert keyed.index_to_key == trained_word_model.words
    np.testing.assert_allclose(keyed.vectors, trained_word_model.vectors, rtol=1e-6, atol=1e-7)
    theirs = tmp_path / f"theirs{suffix}"
    keyed.save_word2vec_format(str(theirs), binary=binary)
    loaded = WordVectors.load_word2vec_format(theirs)
    assert loaded.words == keyed.index_to_key
    np.testing.assert_allclose(loaded.vectors, keyed.vectors, rtol=1e-6, atol=1e-7)


def test_native_round_trip_is_exact_and_fast(trained_word_model, tmp_path, monkeypatch):
    monkeypatch.setattr(trained_word_model, "evaluation", {"analogies": 0.1})  # the fixture is shared: restored after
    path = tmp_path / "model.npz"
    trained_word_model.save(path)
    started = time.perf_counter()
    back = WordVectors.load(path)
    assert time.perf_counter() - started < 1.0
    assert back.words == trained_word_model.words and np.array_equal(back.vectors, trained_word_model.vectors)
    assert np.array_equal(back.counts, trained_word_model.counts)
    assert back.settings["dim"] == 50 and back.evaluation == {"analogies": 0.1}
    assert not list(tmp_path.glob(".*tmp"))  # the atomic save left no temporary file


def test_glove_text_without_header(tmp_path):
    path = tmp_path / "glove.6B.3d.txt"
    path.write_text("the 0.1 0.2 0.3\ncat -1 0.5 2e-1\ndog -0.9 0.4 0.25\n")
    vectors = WordVectors.load_word2vec_format(path)
    assert vectors.words == ["the", "cat", "dog"] and vectors.dim == 3
    assert vectors.most_similar("cat", topn=1)[0][0] == "dog"
    assert WordVectors.load_word2vec_format(path, no_header=True).words == ["the", "cat", "dog"]


def test_damaged_files_give_clear_errors(trained_word_model, tmp_path):
    binary, text, native = tmp_path / "v.bin", tmp_path / "v.txt", tmp_path / "v.npz"
    trained_word_model.save_word2vec_format(binary, binary=True)
    trained_word_model.save_word2vec_format(text)
    trained_word_model.save(native)
    for path in (binary, text, native):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(UserError, match="too short|truncated"):
        WordVectors.load_word2vec_format(binary)
    with pytest.raises(UserError, match="truncated|values"):
        WordVectors.load_word2vec_format(text)
    with pytest.raises(UserError, match="Cannot read word vectors"):
        WordVectors.load(native)
    (tmp_path / "huge.bin").write_bytes(b"99999999 300\nabc \x00\x01")
    with pytest.raises(UserError, match="too short"):
        WordVectors.load_word2vec_format(tmp_path / "huge.bin", binary=True)
    (tmp_path / "bad.txt").write_text("2 2\na 0.1 x\nb 0.2 0.3\n")
    with pytest.raises(UserError, match="not a number"):
        WordVectors.load_word2vec_format(tmp_path / "bad.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(UserError, match="empty"):
        WordVectors.load_word2vec_format(tmp_path / "empty.txt")
