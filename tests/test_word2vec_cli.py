"""The word2vec CLI commands with --json, and the saved-model library."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from embedengine.cli import main
from embedengine.errors import UserError
from embedengine.word2vec import WordVectors, library


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1  # exactly one JSON document
    return code, json.loads(out)


@pytest.fixture
def cli_corpus(small_corpus, tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(small_corpus.read_text(encoding="utf-8")[:400_000], encoding="utf-8")
    return path


def test_train_then_query_by_cli(capsys, cli_corpus, tmp_path):
    model = tmp_path / "model.npz"
    code, trained = run_json(capsys, "train", str(cli_corpus), "--out", str(model), "--dim", "24",
                             "--epochs", "2", "--min-count", "3", "--seed", "5")
    assert code == 0 and trained["vocab_size"] > 1000 and trained["dim"] == 24 and model.exists()
    assert trained["final_loss"] < 4.0 and not trained["cancelled"]
    code, similar = run_json(capsys, "similar", str(model), "water", "-n", "4")
    assert code == 0 and len(similar["results"]) == 4 and similar["results"][0]["word"] != "water"
    code, analogy = run_json(capsys, "analogy", str(model), "man", "woman", "king", "--mul")
    assert code == 0 and analogy["method"] == "mul" and len(analogy["results"]) == 5
    code, evaluation = run_json(capsys, "eval", str(model))
    assert code == 0 and evaluation["analogies"]["total"] + evaluation["analogies"]["oov"] == 19544
    assert -1 <= evaluation["pairs"]["spearman"] <= 1
    assert 0 < evaluation["pairs"]["oov_ratio"] < 1  # a fraction, like every other ratio
    code, converted = run_json(capsys, "convert", str(model), str(tmp_path / "model.bin"))
    assert code == 0 and converted["vocab_size"] == trained["vocab_size"]
    code, again = run_json(capsys, "similar", str(tmp_path / "model.bin"), "water", "-n", "4")
    assert [r["word"] for r in again["results"]] == [r["word"] for r in similar["results"]]


def test_cli_errors_are_json_with_exit_code_2(capsys, cli_corpus, tmp_path, trained_word_model):
    path = tmp_path / "m.npz"
    trained_word_model.save(path)
    code, error = run_json(capsys, "similar", str(path), "watre")
    assert code == 2 and error["type"] == "UnknownWordError" and "water" in error["suggestions"]
    code, error = run_json(capsys, "similar", "no-such-model", "water")
    assert code == 2 and "neither a vectors file nor a saved model" in error["error"]
    code, error = run_json(capsys, "train", str(cli_corpus), "--out", "x", "--arch", "softmax", "--min-count", "1",
                           "--epochs", "500")
    assert code == 2 and "hours" in error["error"]


@pytest.fixture
def tiny_model(tmp_path):
    words = ["man", "woman", "king", "queen", "paris", "france", "rome", "italy"]
    vectors = np.random.default_rng(0).standard_normal((len(words), 6)).astype(np.float32)
    path = tmp_path / "tiny.npz"
    WordVectors(words, vectors, np.arange(len(words), 0, -1), {}, "tiny").save(path)
    return path


def test_eval_names_sections_all_out_of_vocabulary_and_gives_oov_ratio_as_a_fraction(capsys, tmp_path, tiny_model):
    analogies = tmp_path / "questions.txt"
    analogies.write_text(": royal\nman woman king queen\nparis france rome italy\n"
                         ": currency\nyen japan euro europe\ndollar usa peso mexico\n", encoding="utf-8")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("man\twoman\t8.3\nking\tqueen\t8.6\nparis\tfrance\t7.1\nyen\tjapan\t6.0\n"
                     "dollar\tusa\t5.2\n", encoding="utf-8")
    options = ("--analogies", str(analogies), "--pairs", str(pairs))
    code, evaluation = run_json(capsys, "eval", str(tiny_model), *options)
    assert code == 0 and evaluation["pairs"]["oov"] == 2 and evaluation["pairs"]["oov_ratio"] == pytest.approx(0.4)
    currency = next(s for s in evaluation["analogies"]["sections"] if s["name"] == "currency")
    assert (currency["total"], currency["oov"]) == (0, 2)

    assert main(["eval", str(tiny_model), *options]) == 0
    text = capsys.readouterr().out
    currency_line = next(line for line in text.splitlines() if line.strip().startswith("currency"))
    assert "all out of vocabulary (2 questions)" in currency_line and "0/0" not in currency_line
    royal_line = next(line for line in text.splitlines() if line.strip().startswith("royal"))
    assert re.search(r"\d+\.\d% \([0-2]/2\)$", royal_line)  # scored sections keep their accuracy
    assert "3 pairs, 40.0% out of vocabulary" in text and "4000" not in text

    unknown = tmp_path / "unknown.txt"
    unknown.write_text(": currency\nyen japan euro europe\n", encoding="utf-8")
    unknown_pairs = tmp_path / "unknown-pairs.txt"
    unknown_pairs.write_text("yen\tjapan\t6.0\ndollar\tusa\t5.2\n", encoding="utf-8")
    assert main(["eval", str(tiny_model), "--analogies", str(unknown), "--pairs", str(unknown_pairs)]) == 0
    text = capsys.readouterr().out
    assert "analogies: all out of vocabulary (1 question)" in text and "0/0" not in text and "0.0%" not in text
    assert "word pairs: all out of vocabulary (2 pairs)" in text and "nan" not in text
    code, evaluation = run_json(capsys, "eval", str(tiny_model), "--analogies", str(unknown),
                                "--pairs", str(unknown_pairs))
    assert code == 0 and evaluation["pairs"]["oov_ratio"] == 1.0 and evaluation["pairs"]["spearman"] is None


def test_scan_and_train_into_library_by_name(capsys, cli_corpus):
    code, summary = run_json(capsys, "scan", str(cli_corpus), "--min-count", "3")
    assert code == 0 and summary["tokens"] > 50_000 and summary["vocab_size"] > 1000
    code, trained = run_json(capsys, "train", str(cli_corpus), "--out", "cli model", "--dim", "16", "--epochs", "1",
                             "--min-count", "3")
    assert code == 0 and [m.name for m in library.list_models()] == ["cli model"]
    code, similar = run_json(capsys, "similar", "cli model", "water", "-n", "3")
    assert code == 0 and len(similar["results"]) == 3


def test_library_save_list_rename_delete(trained_word_model, tmp_path):
    info = library.save_model(trained_word_model, "small english")
    assert (info.name, info.vocab_size, info.dim) == ("small english", len(trained_word_model), 50)
    assert info.settings["architecture"] == "sgns"
    first = library.load_model("small english")
    assert library.load_model("small english") is first  # cached while the file is unchanged
    assert np.array_equal(first.vectors, trained_word_model.vectors)
    library.rename_model("small english", "renamed")
    assert [m.name for m in library.list_models()] == ["renamed"]
    with pytest.raises(UserError, match="No saved word model"):
        library.load_model("small english")
    with pytest.raises(UserError, match="not a usable model name"):
        library.save_model(trained_word_model, "../escape")
    library.delete_model("renamed")
    assert library.list_models() == []


def test_library_import_and_export(trained_word_model, tmp_path):
    text = tmp_path / "external.vec"
    trained_word_model.save_word2vec_format(text)
    info = library.import_vectors(text)
    assert info.name == "external" and info.vocab_size == len(trained_word_model)
    out = library.export_model("external", tmp_path / "out.bin")
    assert library.read_vectors_file(out).words == trained_word_model.words
    with pytest.raises(UserError, match="Unknown output format"):
        library.export_model("external", tmp_path / "out.csv")
    assert library.shipped_eval_file("analogies").exists() and library.shipped_eval_file("pairs").exists()
