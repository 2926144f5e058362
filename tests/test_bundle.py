"""The one-folder bundle (``make bundle``): built with PyInstaller from a clean build venv, it opens its
main window offscreen, runs the command line, and carries a valid .desktop file, icon and AppStream
metainfo. Models are not bundled; the bundle uses the models already built for the tests.

The build takes one to two minutes (a venv with the runtime dependencies, then PyInstaller): one module
fixture, shared by the checks below. Sizes and start-up times are printed (``pytest -s``) for the notes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from configparser import ConfigParser
from pathlib import Path

import pytest

from embedengine import runtime

ROOT = Path(__file__).resolve().parents[1]
APP_ID = "io.github.embedstudio.EmbedStudio"
MISSING_MARKERS = ("Cannot open file", "does not exist", "is missing", "No such file", "Traceback")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> dict:
    """``packaging/build_bundle.py`` run into a temporary dist folder; its JSON report."""
    work = tmp_path_factory.mktemp("bundle")
    done = subprocess.run([sys.executable, ROOT / "packaging" / "build_bundle.py", "--dist", work / "dist",
                           "--venv", work / "venv"], capture_output=True, text=True, timeout=1500,
                          env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\nbundle: {report['size_mb']} MB, built in {report['seconds']} s")
    return report


def run_bundle(executable: str, *args: str, home: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """The bundle's executable with an empty home and the tests' models, offscreen, outside the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "EMBEDSTUDIO_RESOURCES")}
    env.update(QT_QPA_PLATFORM="offscreen", EMBEDSTUDIO_HOME=str(home), EMBEDSTUDIO_MODELS=str(runtime.models_dir()),
               EMBEDSTUDIO_THREADS="2")
    done = subprocess.run([executable, *args], capture_output=True, text=True, env=env, cwd=home, timeout=timeout)
    assert done.returncode == 0, f"{args} exited {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert not any(marker in done.stdout + done.stderr for marker in MISSING_MARKERS), done.stderr[-2000:]
    return done


def test_bundle_opens_its_main_window_offscreen(bundle, tmp_path):
    started = time.monotonic()
    done = run_bundle(bundle["executable"], "--self-check", home=tmp_path)
    wall = time.monotonic() - started
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["shown"] and report["frozen"], report
    assert report["window"] == "Embed Studio"
    assert report["tabs"] == ["Train", "Explore", "Documents", "Images"]
    print(f"\nbundle start-up: window after {report['seconds_to_window']} s in the app, process ran {wall:.1f} s")


def test_bundle_runs_the_command_line_with_its_own_resources(bundle, tmp_path):
    executable = bundle["executable"]
    info = json.loads(run_bundle(executable, "models", "info", "--json", home=tmp_path).stdout)
    assert all(check["ok"] for check in info["verification"].values()), info["verification"]
    demo_photos = Path(bundle["bundle"]) / "_internal" / "embedstudio_resources" / "images"
    indexed = json.loads(run_bundle(executable, "images", "index", str(demo_photos), "--json", home=tmp_path).stdout)
    assert indexed["items"] >= 10 and indexed["skipped"] == [], indexed
    assert not (Path(bundle["bundle"]) / "_internal" / "gensim").exists(), "test packages stay out of the bundle"


def test_bundle_has_a_valid_desktop_entry_icon_and_metainfo(bundle):
    share = Path(bundle["bundle"]) / "share"
    entry_file = share / "applications" / f"{APP_ID}.desktop"
    entry = ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(entry_file, encoding="utf-8")
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application" and desktop["Exec"].split()[0] == Path(bundle["executable"]).name
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / f"{desktop['Icon']}.svg").is_file()
    metainfo_file = share / "metainfo" / f"{APP_ID}.metainfo.xml"
    component = ElementTree.parse(metainfo_file).getroot()
    assert component.findtext("id") == APP_ID
    assert component.find("launchable").text == entry_file.name
    for validator, args in (("desktop-file-validate", [entry_file]),
                            ("appstreamcli", ["validate", "--no-net", metainfo_file])):
        if shutil.which(validator):  # the freedesktop validators, where installed
            done = subprocess.run([validator, *map(str, args)], capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr
