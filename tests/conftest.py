"""Common fixtures: the real built models, a throw-away Embed Studio home per test, the reference data.

Everything the tests read ships with the project (``tests/fixtures/``, ``resources/``): the suite runs in
any clone, with no ``../shared`` beside it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from embedengine import runtime

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Resolve the real models folder once, before any test swaps EMBEDSTUDIO_HOME for a temp dir.
BUILT_MODELS = runtime.models_dir()
os.environ.setdefault("EMBEDSTUDIO_THREADS", "2")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets an empty Embed Studio home but the real, already built models."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("EMBEDSTUDIO_HOME", str(home))
    monkeypatch.setenv("EMBEDSTUDIO_MODELS", str(BUILT_MODELS))
    return home


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The built models; `make test` builds them first, so their absence is an error, not a skip."""
    missing = [n for n in ("minilm.onnx", "resnet50.onnx") if not (BUILT_MODELS / n).exists()]
    if missing:
        pytest.fail(f"models not built in {BUILT_MODELS}: {missing}. Run `make models` (make test does).")
    return BUILT_MODELS


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """tests/fixtures: the MiniLM and ResNet50 reference outputs (see its README)."""
    return FIXTURES


# ---- word2vec fixtures (helper C; this section only) ------------------------------------------
SMALL_CORPUS_BYTES = 2_000_000


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    """~2 MB of real English: the first verses of the shipped KJV (resources/corpus/kjv.txt), one verse a line,
    lowercased to runs of a–z (as the big training corpus is), as a UTF-8 text file."""
    source = ROOT / "resources" / "corpus" / "kjv.txt"
    lines, size = [], 0
    with open(source, encoding="utf-8") as handle:
        for line in handle:
            words = re.findall("[a-z]+", line.lower())
            if not words or line.isupper():  # blank lines and book titles ("GENESIS")
                continue
            lines.append(" ".join(words) + "\n")
            size += len(lines[-1])
            if size >= SMALL_CORPUS_BYTES:
                break
    path = tmp_path_factory.mktemp("corpus") / "small_corpus.txt"
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained_word_model(small_corpus):
    """SGNS vectors (dim 50, 3 epochs, seed 1) trained on ``small_corpus`` in a few seconds."""
    from embedengine.word2vec import TrainConfig, train

    return train([small_corpus], TrainConfig(dim=50, epochs=3, seed=1)).vectors
# ---- end of word2vec fixtures ------------------------------------------------------------------
