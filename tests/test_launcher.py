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


NO_DISPLAY = {"DISPLAY": None, "WAYLAND_DISPLAY": None, "QT_QPA_PLATFORM": None}


def test_without_a_display_the_app_says_so_points_at_the_cli_and_exits_0(tmp_path):
    """Exit status 0, so `make run` on a machine with no display ends after the message, not in `Error 3`."""
    no_models = str(tmp_path / "empty")
    done = run_embedstudio([], {**NO_DISPLAY, "EMBEDSTUDIO_MODELS": no_models})
    assert done.returncode == 0, done.stderr
    assert "needs a display" in done.stderr and "embedstudio --help" in done.stderr
    assert "Building" not in done.stderr  # models are built only once a window can open
    assert not (tmp_path / "empty").exists()


def test_python_m_desktop_without_a_display_exits_0():
    env = {k: v for k, v in os.environ.items() if k not in NO_DISPLAY}
    done = subprocess.run([sys.executable, "-m", "desktop", "--demo"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "needs a display" in done.stderr and "xvfb-run" in done.stderr


def test_models_build_from_an_empty_folder_names_every_missing_file_without_downloading(tmp_path, monkeypatch,
                                                                                         capsys):
    from models import fetch
    from models.cli import main as cli_main

    def no_download(*args, **kwargs):
        raise AssertionError("models build --from must not download")

    monkeypatch.setattr(fetch, "_download", no_download)
    monkeypatch.setattr(subprocess, "run", no_download)
    monkeypatch.setenv("EMBEDSTUDIO_MODELS", str(tmp_path / "models"))  # nothing built yet
    monkeypatch.setenv("EMBEDSTUDIO_CACHE", str(tmp_path / "cache"))
    empty = tmp_path / "downloads"
    empty.mkdir()
    assert cli_main(["models", "build", "--from", str(empty), "--json"]) == 2
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1  # one JSON document
    error = json.loads(out)
    wanted = [fetch.MINILM_PACKAGE, fetch.RESNET_PACKAGE, fetch.WORDNET_PACKAGE, fetch.OCR_PACKAGE]
    assert error["missing"] == [package.filename for package in wanted]
    for package in wanted:  # each named, with its checksum and how to fetch it
        assert package.filename in error["error"] and package.sha256 in error["error"]
        assert package.how_to_fetch() in error["error"]
    assert str(empty) in error["hint"]
    assert not (tmp_path / "models").exists() and not (tmp_path / "cache").exists()  # nothing built or fetched

    assert cli_main(["models", "build", "--from", str(empty), "--only", "resnet50", "--json"]) == 2
    error = json.loads(capsys.readouterr().out)
    assert error["missing"] == [fetch.RESNET_PACKAGE.filename]


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
    assert launcher.missing_models() == ["minilm", "resnet50", "int8-scores", "label-meanings", "ocr"]
