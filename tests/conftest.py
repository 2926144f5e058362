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
