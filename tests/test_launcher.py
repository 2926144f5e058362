"""The `embedstudio` command: no arguments opens the app, or explains why it cannot and points at the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run_embedstudio(args: list[str], env_changes: dict[str, str | None]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in env_changes}
    env.update({k: v for k, v in env_changes.items() if v is not None})
    code = "import sys; from embedstudio import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=60)


def test_without_a_display_the_app_says_so_and_points_at_the_cli(tmp_path):
    no_models = str(tmp_path / "empty")
    done = run_embedstudio([], {"DISPLAY": None, "WAYLAND_DISPLAY": None, "QT_QPA_PLATFORM": None,
                                "EMBEDSTUDIO_MODELS": no_models})
    assert done.returncode == 3
    assert "needs a display" in done.stderr and "embedstudio --help" in done.stderr
    assert "Building" not in done.stderr  # models are built only once a window can open


def test_with_a_subcommand_it_runs_the_cli(models_dir):
    done = run_embedstudio(["models", "info", "--json"], {})
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert "minilm" in json.dumps(info) and "resnet50" in json.dumps(info)


def test_python_m_models_runs_the_models_command(models_dir):
    done = subprocess.run([sys.executable, "-m", "models", "info", "--json"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "minilm" in json.loads(done.stdout)["models"]


def test_the_app_builds_absent_models_first_and_nothing_when_they_are_there(models_dir, monkeypatch, tmp_path, capsys):
    import embedstudio as launcher

    monkeypatch.setenv("EMBEDSTUDIO_MODELS", str(models_dir))
    assert launcher.missing_models() == [] and launcher.ensure_models() == []
    assert capsys.readouterr().err == ""  # nothing to do, nothing said
    monkeypatch.setenv("EMBEDSTUDIO_MODELS", str(tmp_path / "empty"))
    assert launcher.missing_models() == ["minilm", "resnet50", "int8-scores"]
