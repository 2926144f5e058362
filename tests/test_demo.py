"""First-launch demo model: trained from the shipped corpus once, then reused; cancellation saves nothing."""

from __future__ import annotations

import numpy as np
import pytest

from embedengine import demo, explore
from embedengine.tasks import CancelToken, Cancelled
from embedengine.word2vec import TrainConfig, library

EXCERPT_LINES = 3000  # Genesis and most of Exodus: ~90k words, trains in a few seconds


@pytest.fixture(scope="module")
def kjv_excerpt(tmp_path_factory):
    """The first verses of the shipped corpus, as its own file."""
    lines = demo.corpus_files()[0].read_text(encoding="utf-8").splitlines()[:EXCERPT_LINES]
    path = tmp_path_factory.mktemp("demo") / "kjv-excerpt.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def quick_config() -> TrainConfig:
    return TrainConfig(dim=32, epochs=2, min_count=3, seed=1)


def test_shipped_corpus_is_small_public_domain_text():
    files = demo.corpus_files()
    assert [f.name for f in files] == ["kjv.txt"]
    assert 1_000_000 < sum(f.stat().st_size for f in files) < 5_000_000
    readme = (demo.corpus_dir() / "README.md").read_text(encoding="utf-8")
    assert "public domain" in readme and "bible-kjv-text" in readme


def test_demo_settings_are_gensim_sgns():
    config = demo.demo_config()
    assert (config.architecture, config.dim, config.window, config.negative) == ("sgns", 100, 5, 5)
    assert 1 <= config.epochs <= 5


def test_ensure_demo_model_trains_once_then_reuses(kjv_excerpt):
    assert demo.needs_demo() and demo.find_demo_model() is None
    reports = []
    first = demo.ensure_demo_model(progress=reports.append, files=[kjv_excerpt], config=quick_config())
    assert first.trained and first.info.name == demo.DEMO_MODEL_NAME and first.words_per_s > 0
    assert any(p.stage == "train" for p in reports)
    assert not demo.needs_demo()
    assert [info.name for info in library.list_models()] == [demo.DEMO_MODEL_NAME]

    again = demo.ensure_demo_model(files=[kjv_excerpt], config=quick_config())
    assert not again.trained and again.info.path == first.info.path

    vectors = library.load_model(demo.DEMO_MODEL_NAME)
    assert np.isfinite(vectors.vectors).all() and vectors.dim == 32
    answer = explore.ask("god", vectors, topn=5)
    assert len(answer.neighbours) == 5 and answer.word == "god"


def test_cancelled_demo_saves_nothing(kjv_excerpt):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        demo.ensure_demo_model(cancel=token, files=[kjv_excerpt], config=quick_config())
    assert demo.needs_demo() and library.list_models() == []
