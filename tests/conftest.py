"""Shared fixtures: the real built models, a throw-away Embed Studio home per test, shared/ data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from embedengine import runtime

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

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
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is absent (it sits beside the project in CI and developer checkouts)")
    return SHARED


@pytest.fixture(scope="session")
def fixtures_dir(shared_dir) -> Path:
    return shared_dir / "fixtures"


# ---- word2vec fixtures (helper C; this section only) ------------------------------------------
SMALL_CORPUS_BYTES = 2_000_000


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory, shared_dir) -> Path:
    """~2 MB of real English (the first lines of shared/data/corpus_mix.txt.xz) as a UTF-8 text file."""
    import lzma

    source = shared_dir / "data" / "corpus_mix.txt.xz"
    if not source.exists():
        pytest.skip(f"{source} is absent")
    lines, size = [], 0
    with lzma.open(source, "rt", encoding="utf-8") as handle:
        for line in handle:
            lines.append(line)
            size += len(line)
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
