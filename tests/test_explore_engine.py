"""The Explore grammar and its answers, against a real trained word model and the real MiniLM."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embedengine import explore
from embedengine.errors import UserError
from embedengine.explore import (
    AnalogyQuery,
    HelpQuery,
    NeighboursQuery,
    OddOneOutQuery,
    SentencesQuery,
    SimilarityQuery,
    parse_query,
)
from embedengine.word2vec import UnknownWordError

# ----------------------------------------------------------------------------- grammar


@pytest.mark.parametrize(
    "text, expected",
    [
        ("cat", NeighboursQuery("cat")),
        ("  cat  ", NeighboursQuery("cat")),
        ("cat, dog", SimilarityQuery("cat", "dog")),
        ("cat ~ dog", SimilarityQuery("cat", "dog")),
        ("cat dog", SimilarityQuery("cat", "dog")),
        ("king - man + woman", AnalogyQuery(["king", "woman"], ["man"])),
        ("king-man+woman", AnalogyQuery(["king", "woman"], ["man"])),
        ("man : king :: woman : ?", AnalogyQuery(["king", "woman"], ["man"])),
        ("man:king::woman:", AnalogyQuery(["king", "woman"], ["man"])),
        ("odd: breakfast lunch dinner car", OddOneOutQuery(["breakfast", "lunch", "dinner", "car"])),
        ("ODD: a, b, c", OddOneOutQuery(["a", "b", "c"])),
        ("help", HelpQuery()),
        ("sentences: one here\ntwo there", SentencesQuery(["one here", "two there"])),
        ("sentences: one here | two there | three", SentencesQuery(["one here", "two there", "three"])),
        ("sentences:", SentencesQuery(list(explore.BANK_SENTENCES))),
    ],
)
def test_parse_query_reads_every_form(text, expected):
    assert parse_query(text) == expected


def test_analogy_method_travels_with_the_query():
    query = parse_query("king - man + woman", analogy_method="mul")
    assert query.method == "mul" and query.expression == "king + woman - man"


@pytest.mark.parametrize(
    "text, hint_part",
    [
        ("", "king - man + woman"),
        ("!!!", "help"),
        ("a b c", "odd: a b c"),
        ("- king", "starting with a word"),
        ("king +", "+ and -"),
        ("a ~ b ~ c", "exactly two"),
        ("odd: a b", "breakfast"),
        ("sentences: only one", "one sentence per line"),
        ("a : b :: c", "man : king :: woman : ?"),
    ],
)
def test_nonsense_gets_a_message_with_a_hint(text, hint_part):
    with pytest.raises(UserError) as caught:
        parse_query(text)
    assert str(caught.value)
    assert hint_part in caught.value.hint or hint_part in str(caught.value)


def test_pca_2d_centres_and_orders_axes():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(12, 6)) * np.array([5.0, 2.0, 0.5, 0.1, 0.1, 0.1])
    coords, explained = explore.pca_2d(data)
    assert coords.shape == (12, 2)
    assert np.allclose(coords.mean(axis=0), 0, atol=1e-9)
    assert coords[:, 0].var() >= coords[:, 1].var()
    assert 0 < explained[1] <= explained[0] and sum(explained) <= 1 + 1e-9
    # the two axes are uncorrelated, as principal components must be
    assert abs(np.corrcoef(coords.T)[0, 1]) < 1e-6


def test_pca_2d_handles_a_single_point():
    coords, explained = explore.pca_2d(np.ones((1, 4)))
    assert coords.tolist() == [[0.0, 0.0]] and explained == (0.0, 0.0)


# ----------------------------------------------------------------------------- answers


@pytest.fixture(scope="module")
def vectors(trained_word_model):
    return trained_word_model


@pytest.fixture(scope="module")
def frequent(vectors):
    """A few frequent words of the test model, so tests never depend on one corpus's vocabulary."""
    return [w for w in vectors.words[:60] if len(w) > 3][:6]


def test_neighbours_match_the_model_and_carry_map_and_lesson(vectors, frequent):
    word = frequent[0]
    result = explore.ask(word, vectors, topn=5)
    expected = vectors.most_similar(positive=[word], topn=5)
    assert result.kind == "neighbours" and result.word == word
    assert [w for w, _ in result.neighbours] == [w for w, _ in expected]
    scores = [s for _, s in result.neighbours]
    assert scores == sorted(scores, reverse=True) and word not in dict(result.neighbours)
    roles = {p.word: p.role for p in result.map.points}
    assert roles[word] == "query" and len(result.map.points) == 6
    assert all(roles[w] == "neighbour" for w, _ in result.neighbours)


def test_lesson_one_hot_is_orthogonal_dense_is_cosine(vectors, frequent):
    lesson = explore.ask(frequent[1], vectors, topn=5).one_hot
    n = len(lesson.words)
    assert np.array_equal(np.array(lesson.one_hot_similarity), np.eye(n))
    dense = np.array(lesson.dense_similarity)
    for i in range(n):
        for j in range(n):
            assert dense[i, j] == pytest.approx(vectors.similarity(lesson.words[i], lesson.words[j]), abs=1e-3)
    assert lesson.vocab_size == len(vectors) and lesson.indices[0] == vectors.key_to_index[lesson.words[0]]


def test_similarity_is_the_models_cosine_and_ignores_case(vectors, frequent):
    a, b = frequent[0], frequent[2]
    result = explore.ask(f"{a.upper()} ~ {b}", vectors)
    assert (result.first, result.second) == (a, b)
    assert result.similarity == pytest.approx(vectors.similarity(a, b), abs=1e-4)
    assert result.verdict == explore.similarity_verdict(result.similarity)
    assert {p.role for p in result.map.points if p.word in (a, b)} == {"query"}


def test_classic_and_arithmetic_analogies_agree(vectors, frequent):
    a, b, c = frequent[:3]
    arithmetic = explore.ask(f"{b} - {a} + {c}", vectors, topn=5)
    classic = explore.ask(f"{a} : {b} :: {c} : ?", vectors, topn=5)
    assert arithmetic.answers == classic.answers
    expected = vectors.most_similar(positive=[b, c], negative=[a], topn=5)
    assert [w for w, _ in arithmetic.answers] == [w for w, _ in expected]
    assert not {a, b, c} & {w for w, _ in arithmetic.answers}
    roles = {p.word: p.role for p in arithmetic.map.points}
    assert roles[a] == "negative" and roles[b] == roles[c] == "positive"
    assert roles[arithmetic.expression] == "target"


def test_cosmul_uses_the_models_3cosmul(vectors, frequent):
    a, b, c = frequent[:3]
    result = explore.ask(f"{b} - {a} + {c}", vectors, topn=5, analogy_method="mul")
    expected = vectors.most_similar(positive=[b, c], negative=[a], topn=5, method="mul")
    assert result.method == "mul" and [w for w, _ in result.answers] == [w for w, _ in expected]


def test_odd_one_out_names_the_least_similar_word(vectors, frequent):
    words = frequent[:4]
    result = explore.ask("odd: " + " ".join(words), vectors)
    assert result.odd == vectors.doesnt_match(words)
    assert result.scores[0][0] == result.odd and sorted(w for w, _ in result.scores) == sorted(words)
    assert [p.role for p in result.map.points].count("odd") == 1


def test_unknown_word_raises_with_suggestions(vectors, frequent):
    misspelt = frequent[0] + frequent[0][-1]
    with pytest.raises(UnknownWordError) as caught:
        explore.ask(f"{misspelt} ~ {frequent[1]}", vectors)
    assert caught.value.word == misspelt and frequent[0] in caught.value.suggestions
    assert frequent[0] in str(caught.value)


def test_word_query_without_a_model_says_how_to_get_one():
    with pytest.raises(UserError) as caught:
        explore.ask("king", None)
    assert "Train" in caught.value.hint


def test_every_result_is_json_serialisable(vectors, frequent):
    a, b, c = frequent[:3]
    for text in (a, f"{a} ~ {b}", f"{a} - {b} + {c}", f"odd: {a} {b} {c}", "help"):
        payload = explore.ask(text, vectors, topn=3).to_dict()
        assert json.loads(json.dumps(payload))["kind"] == payload["kind"]


def test_help_lists_the_whole_grammar():
    result = explore.ask("help")
    assert result.kind == "help"
    assert any("odd:" in syntax for syntax, _, _ in result.entries)
    assert any("::" in syntax for syntax, _, _ in result.entries)


def test_bank_sentences_group_by_meaning(models_dir):
    result = explore.ask("sentences:")
    matrix = np.array(result.matrix)
    assert matrix.shape == (4, 4) and np.allclose(matrix, matrix.T) and np.allclose(np.diag(matrix), 1, atol=1e-3)
    money, river = (0, 2), (1, 3)
    across = max(matrix[0, 1], matrix[0, 3], matrix[2, 1], matrix[2, 3])
    assert matrix[money] > across and matrix[river] > across
    assert set(result.closest_pair[:2]) in ({0, 2}, {1, 3})
    assert set(result.farthest_pair[:2]) not in ({0, 2}, {1, 3})
