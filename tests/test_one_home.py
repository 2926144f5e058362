"""One home: with ``EMBEDSTUDIO_HOME`` set, everything Embed Studio writes goes under it (data, settings,
history, models, the package cache, word2vec's temporary corpus streams); unset, the platform's standard
folders are used (XDG on Linux).

The first-run check points ``HOME`` and ``EMBEDSTUDIO_HOME`` at two empty folders (the XDG variables
removed, so anything written to a default location lands under that ``HOME``), copies the built models into
``EMBEDSTUDIO_HOME/models`` (building them needs the network and minutes), runs a short train, a document
index, an image index and the app with its first-launch demos in subprocesses, then lists ``HOME``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from embedengine import runtime
from test_wheel import MISSING_MARKERS, clean_env, run_gui, run_json

ROOT = Path(__file__).resolve().parents[1]
XDG = ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR")
# What other programs may keep under HOME (nothing appears in this first run): fontconfig's font cache,
# Qt's shader cache and file-dialog state (QFileDialog saves ~/.config/QtProject.conf), pip's and npm's
# download caches (models build).
ALLOWED_UNDER_HOME = (".cache/fontconfig", ".fontconfig", ".cache/qtshadercache", ".config/QtProject.conf",
                      ".cache/pip", ".npm")
CLI = "import sys, embedstudio; sys.exit(embedstudio.main(sys.argv[1:]))"  # `embedstudio`, from this checkout


def link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def written_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir() or not any(p.iterdir()))


# ---------------------------------------------------------------------------------- where paths point

@pytest.fixture()
def bare_env(monkeypatch, tmp_path) -> Path:
    """No Embed Studio or XDG variables; ``HOME`` is an empty folder, returned."""
    for name in ("EMBEDSTUDIO_HOME", "EMBEDSTUDIO_MODELS", "EMBEDSTUDIO_CACHE", *XDG):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("USERPROFILE", str(tmp_path / "user"))
    return tmp_path / "user"


def test_unset_home_uses_the_platform_folders(bare_env, monkeypatch, tmp_path):
    if sys.platform.startswith("linux"):
        assert runtime.data_home() == bare_env / ".local" / "share" / "embedstudio"
        assert runtime.cache_dir() == bare_env / ".cache" / "embedstudio"
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        assert runtime.data_home() == tmp_path / "data" / "embedstudio"
        assert runtime.cache_dir() == tmp_path / "cache" / "embedstudio"
    elif sys.platform == "darwin":
        assert runtime.data_home() == bare_env / "Library" / "Application Support" / "embedstudio"
        assert runtime.cache_dir() == bare_env / "Library" / "Caches" / "embedstudio"
    assert runtime.models_dir() == runtime.data_home() / "models"


def test_embedstudio_home_moves_data_models_and_cache(bare_env, monkeypatch, tmp_path):
    monkeypatch.setenv("EMBEDSTUDIO_HOME", str(tmp_path / "es"))
    assert runtime.data_home() == tmp_path / "es"
    assert runtime.models_dir() == tmp_path / "es" / "models"
    assert runtime.cache_dir() == tmp_path / "es" / "cache"
    monkeypatch.setenv("EMBEDSTUDIO_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("EMBEDSTUDIO_CACHE", str(tmp_path / "cache"))
    assert (runtime.models_dir(), runtime.cache_dir()) == (tmp_path / "models", tmp_path / "cache")


# ---------------------------------------------------------------------------------- a first run

def test_a_first_run_writes_nothing_outside_embedstudio_home(models_dir, tmp_path):
    user, home, cwd, notes = (tmp_path / name for name in ("user", "es", "cwd", "notes"))
    for folder in (user, cwd, notes):
        folder.mkdir()
    shutil.copytree(models_dir, home / "models", copy_function=link_or_copy)
    for name in ("corpus", "eval", "images"):
        shutil.copy(ROOT / "resources" / name / "README.md", notes / f"{name}.md")
    env = clean_env(HOME=str(user), USERPROFILE=str(user), EMBEDSTUDIO_HOME=str(home), EMBEDSTUDIO_MODELS=None,
                    EMBEDSTUDIO_CACHE=None, EMBEDSTUDIO_RESOURCES=None, **dict.fromkeys(XDG))
    resources = ROOT / "resources"

    info = run_json([sys.executable, "-c", CLI, "models", "info", "--json"], env=env, cwd=cwd)
    assert Path(info["models_dir"]) == home / "models" and {"minilm", "resnet50"} <= set(info["models"])
    run_json([sys.executable, "-c", CLI, "train", resources / "corpus", "--out", "m.npz", "--epochs", "1",
              "--dim", "20", "--json"], env=env, cwd=cwd)
    indexed = run_json([sys.executable, "-c", CLI, "docs", "index", notes, "--json"], env=env, cwd=cwd)
    assert indexed["files_seen"] == 3 and indexed["items"] > 0
    indexed = run_json([sys.executable, "-c", CLI, "images", "index", resources / "images", "--json"], env=env, cwd=cwd)
    assert indexed["items"] >= 10
    report = run_gui(sys.executable, env=env, cwd=cwd, wait=120, mode="demo")
    assert report["still_running"] == [] and report["train_status"] == "Demo model ready", report

    under_home = written_under(user)
    print("written under HOME:", under_home or "nothing")
    unexpected = [p for p in under_home if not p.startswith(ALLOWED_UNDER_HOME)]
    assert unexpected == [], f"written outside EMBEDSTUDIO_HOME, under HOME: {unexpected}"
    assert written_under(cwd) == ["m.npz"]  # --out names a file (a name would fill the library: no demo then)

    wrote = set(written_under(home))
    expected = {"settings.ini", "workspaces/default/history.sqlite", "word-models/demo-kjv.npz", "collections/default/index.sqlite",
                "image-collections/photos/index.sqlite", "image-collections/demo/index.sqlite",
                "cache/word2vec"}  # word2vec's temporary corpus streams, removed after each run
    assert expected <= wrote, sorted(expected - wrote)
    assert not any(marker in "\n".join(wrote) for marker in MISSING_MARKERS)


def test_word2vec_temporary_files_follow_the_cache(monkeypatch, tmp_path):
    """Training reads the corpus into a temporary id stream in ``cache_dir()/word2vec``, removed afterwards."""
    from embedengine.word2vec import TrainConfig
    from embedengine.word2vec.train import prepared_corpus

    monkeypatch.delenv("EMBEDSTUDIO_CACHE", raising=False)
    corpus = tmp_path / "text.txt"
    corpus.write_text("the cat sat on the mat " * 50, encoding="utf-8")
    with prepared_corpus([corpus], TrainConfig(min_count=1)) as prepared:
        assert prepared.ids_path.parent == Path(os.environ["EMBEDSTUDIO_HOME"]) / "cache" / "word2vec"
        assert prepared.ids_path.exists()
    assert not prepared.ids_path.exists()
