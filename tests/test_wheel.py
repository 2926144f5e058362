"""The wheel is complete: built, installed with its dependencies into a throw-away venv, and run from a
folder outside the checkout, it finds its demo corpus, demo photos, evaluation sets and icons.

The resources ship as the package ``embedstudio_resources`` (the repository's ``resources/``, mapped in
pyproject.toml) and are found with ``importlib.resources``. The slow part (wheel, venv, install: about
30 s, pip's own cache makes the install repeatable offline once it has run) is one module fixture.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from embedengine import runtime

ROOT = Path(__file__).resolve().parents[1]
CODE_PACKAGES = ("embedengine", "desktop", "models")
RESOURCES_PACKAGE = "embedstudio_resources"
BIN = "Scripts" if sys.platform == "win32" else "bin"
# What a missing icon or resource looks like in the output of the app or a command
MISSING_MARKERS = ("Cannot open file", "does not exist", "is missing", "Cannot read", "No such file", "Traceback")

# Opens the real window offscreen exactly as `embedstudio` does, lets it run, reports what it shows.
# argv: seconds to wait at most, then "demo" (first-launch demos on, waits for them) or "no-demo".
GUI_CHECK = textwrap.dedent('''
    import json, sys, time
    from PySide6.QtWidgets import QApplication
    from desktop.app import create_main_window
    from desktop.controllers.documents import demo_corpus
    from embedengine import demo, images_index, runtime

    wait, mode = float(sys.argv[1]), sys.argv[2]
    started = time.monotonic()
    window = create_main_window([] if mode == "demo" else ["--no-demo"])
    window.show()
    window.tabs.setCurrentIndex(3)  # the Images tab indexes the demo photos when first shown
    app = QApplication.instance()
    deadline = started + wait
    while time.monotonic() < deadline:
        app.processEvents()
        if time.monotonic() - started > 1.0 and not window.ctx.tasks.active():
            break
        time.sleep(0.02)
    tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    report = {
        "tabs": tabs,
        "null_icons": [tabs[i] for i in range(len(tabs)) if window.tabs.tabIcon(i).isNull()],
        "window_icon_null": window.windowIcon().isNull(),
        "still_running": [handle.label for handle in window.ctx.tasks.active()],
        "train_status": window.tabs.widget(0).progress_label.text(),
        "resources": str(runtime.resources_dir()),
        "demo_corpus": [str(p) for p in demo.corpus_files()],
        "documents_demo": demo_corpus(),
        "demo_photos": str(images_index.demo_folder()),
        "seconds": round(time.monotonic() - started, 1),
    }
    window.close()
    print("GUI-REPORT " + json.dumps(report), flush=True)
''')


def clean_env(**changes: str | None) -> dict[str, str]:
    """The test's environment without anything that would import the checkout, plus ``changes``
    (None removes a variable)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.setdefault("EMBEDSTUDIO_THREADS", "2")
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_checked(command, *, env, cwd, timeout=300) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)
    assert done.returncode == 0, f"{command} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def run_json(command, *, env, cwd, timeout=300) -> dict:
    """Run a command that prints one JSON document; nothing on stderr may say a file is missing."""
    done = run_checked(command, env=env, cwd=cwd, timeout=timeout)
    assert not any(marker in done.stderr for marker in MISSING_MARKERS), done.stderr[-3000:]
    return json.loads(done.stdout)


def run_gui(python, *, env, cwd, wait: float, mode: str) -> dict:
    """Run :data:`GUI_CHECK` offscreen; its report, after checking that its output names no missing file."""
    done = run_checked([python, "-c", GUI_CHECK, str(wait), mode], env={**env, "QT_QPA_PLATFORM": "offscreen"},
                       cwd=cwd, timeout=wait + 120)
    output = done.stdout + done.stderr
    assert not any(marker in output for marker in MISSING_MARKERS), output[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("GUI-REPORT "))
    report = json.loads(line.removeprefix("GUI-REPORT "))
    assert report["tabs"] == ["Train", "Explore", "Documents", "Images"], report
    assert report["null_icons"] == [] and not report["window_icon_null"], report
    return report


def read_pyproject() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def files_under(folder: Path) -> list[str]:
    """Files under ``folder`` relative to it (POSIX), without bytecode."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


# ---------------------------------------------------------------------------------- fast checks

def test_every_package_on_disk_is_listed_in_pyproject():
    """pyproject.toml lists its packages (resources/ needs a mapping discovery cannot do): a new one must
    be added there, or the wheel ships without it."""
    config = read_pyproject()["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for top in CODE_PACKAGES for p in (ROOT / top).rglob("__init__.py")
               if "__pycache__" not in p.parts}
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert config["package-dir"][RESOURCES_PACKAGE] == "resources"
    folders = {p.name for p in (ROOT / "resources").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert {f"{RESOURCES_PACKAGE}.{name}" for name in folders} <= listed
    assert {f"{RESOURCES_PACKAGE}.{name}" for name in folders} <= set(config["package-data"])


def test_checkout_finds_its_resources_folder_and_the_override_wins(monkeypatch, tmp_path):
    monkeypatch.delenv("EMBEDSTUDIO_RESOURCES", raising=False)
    assert runtime.resources_dir().resolve() == (ROOT / "resources").resolve()
    assert (runtime.resources_dir() / "eval" / "questions-words.txt").is_file()
    monkeypatch.setenv("EMBEDSTUDIO_RESOURCES", str(tmp_path))
    assert runtime.resources_dir() == tmp_path


def test_resources_imported_from_a_zip_are_extracted_once(tmp_path):
    """A zip-imported package (no real folder) still gives a folder, copied out once per process."""
    archive = tmp_path / "packed.zip"
    with zipfile.ZipFile(archive, "w") as packed:
        packed.writestr(f"{RESOURCES_PACKAGE}/__init__.py", "")
        packed.writestr(f"{RESOURCES_PACKAGE}/eval/questions-words.txt", ": family\nboy girl brother sister\n")
        packed.writestr(f"{RESOURCES_PACKAGE}/icons/app.svg", "<svg/>")
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); from embedengine import runtime; "
             "a = runtime.resources_dir(); b = runtime.resources_dir(); "
             "print(a == b, a.is_dir(), (a / 'eval' / 'questions-words.txt').read_text().split()[1], "
             "(a / 'icons' / 'app.svg').read_text(), str(a))")
    done = run_checked([sys.executable, "-c", probe, archive], env=clean_env(EMBEDSTUDIO_RESOURCES=None),
                       cwd=tmp_path)
    same, is_dir, word, svg, folder = done.stdout.split()
    assert (same, is_dir, word, svg) == ("True", "True", "family", "<svg/>")
    assert not Path(folder).exists(), "the extracted copy is removed when the process ends"


# ---------------------------------------------------------------------------------- the wheel

def copy_source(target: Path) -> Path:
    """The checkout without its venv, VCS data, build outputs, tests, docs and benchmarks (pip builds in
    the source tree: a copy keeps build/ out of the checkout and lets two runs build side by side)."""
    skip_top = {"tests", "docs", "benchmarks", "build", "dist", "node_modules", "shared"}

    def ignore(folder: str, names: list[str]) -> set[str]:
        top = Path(folder).resolve() == ROOT
        return {n for n in names if n == "__pycache__" or n.endswith((".egg-info", ".pyc"))
                or (top and (n.startswith(".") or n in skip_top))}

    shutil.copytree(ROOT, target, ignore=ignore)
    return target


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = copy_source(work / "src")
    run_checked([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", work / "dist", "."],
                env=clean_env(), cwd=source, timeout=600)
    (built,) = (work / "dist").glob("embed_studio-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A throw-away venv with the wheel and its dependencies (from pip's cache when it has them)."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    run_checked([sys.executable, "-m", "venv", venv], env=clean_env(), cwd=venv.parent, timeout=300)
    run_checked([venv / BIN / "python", "-m", "pip", "install", "--quiet", wheel], env=clean_env(), cwd=venv.parent,
                timeout=900)
    return venv


@pytest.fixture()
def outside(tmp_path, models_dir) -> dict:
    """A working folder outside the checkout, a fresh Embed Studio home, a fresh HOME; the built models."""
    for name in ("cwd", "home", "user"):
        (tmp_path / name).mkdir()
    env = clean_env(EMBEDSTUDIO_HOME=str(tmp_path / "home"), EMBEDSTUDIO_MODELS=str(models_dir),
                    EMBEDSTUDIO_CACHE=None, EMBEDSTUDIO_RESOURCES=None, HOME=str(tmp_path / "user"))
    return {"cwd": tmp_path / "cwd", "env": env}


def test_wheel_contains_the_code_and_every_resource(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    resources = [name for name in files_under(ROOT / "resources") if name != "__init__.py"]
    assert {"corpus/kjv.txt", "eval/questions-words.txt", "eval/wordsim353.tsv", "icons/app.svg"} <= set(resources)
    missing = [name for name in resources if f"{RESOURCES_PACKAGE}/{name}" not in names]
    assert missing == [], f"resources/ files absent from the wheel: {missing}"
    assert f"{RESOURCES_PACKAGE}/__init__.py" in names and "embedstudio.py" in names
    code = [f"{top}/{name}" for top in CODE_PACKAGES for name in files_under(ROOT / top) if name.endswith(".py")]
    assert [name for name in code if name not in names] == []
    assert not any(name.startswith(("resources/", "tests/", "benchmarks/")) for name in names)


def test_installed_wheel_runs_every_command_from_outside_the_checkout(installed, outside, models_dir):
    python, embedstudio = installed / BIN / "python", installed / BIN / "embedstudio"
    cwd, env = outside["cwd"], outside["env"]
    where = run_checked([python, "-c", "import embedengine, desktop, models, embedstudio, embedstudio_resources as r; "
                         "from embedengine.runtime import resources_dir; "
                         "print(embedengine.__file__, desktop.__file__, models.__file__, r.__file__, resources_dir())"],
                        env=env, cwd=cwd).stdout.split()
    assert all(not Path(path).resolve().is_relative_to(ROOT) for path in where), where
    resources = Path(where[-1])
    assert resources.name == RESOURCES_PACKAGE and resources.resolve().is_relative_to(installed.resolve())

    info = run_json([embedstudio, "models", "info", "--json"], env=env, cwd=cwd)
    assert Path(info["models_dir"]) == models_dir and {"minilm", "resnet50"} <= set(info["models"])

    trained = run_json([embedstudio, "train", resources / "corpus", "--out", "m.npz", "--epochs", "1", "--dim", "20",
                        "--json"], env=env, cwd=cwd)
    assert str(resources / "corpus" / "kjv.txt") in trained["summary"]["files"]
    assert (cwd / "m.npz").is_file()
    scores = run_json([embedstudio, "eval", "m.npz", "--json"], env=env, cwd=cwd)
    assert Path(scores["analogies"]["file"]) == resources / "eval" / "questions-words.txt"
    assert Path(scores["pairs"]["file"]) == resources / "eval" / "wordsim353.tsv"
    assert scores["analogies"]["total"] > 0 and scores["pairs"]["pairs"] > 0

    # the installed corpus folder without the 4 MB Bible (MiniLM over all of it takes minutes on 2 cores)
    indexed = run_json([embedstudio, "docs", "index", resources / "corpus", "--exclude", "kjv.txt", "--json"],
                       env=env, cwd=cwd)
    assert indexed["files_seen"] == 1 and indexed["items"] > 0 and not indexed["skipped"]
    found = run_json([embedstudio, "docs", "search", "public domain King James Bible licence", "--json"],
                     env=env, cwd=cwd)
    assert Path(found["hits"][0]["path"]) == resources / "corpus" / "README.md"

    photos = [p for p in (resources / "images").iterdir() if p.suffix != ".md"]
    indexed = run_json([embedstudio, "images", "index", resources / "images", "--json"], env=env, cwd=cwd)
    assert indexed["items"] == len(photos) >= 10 and not indexed["skipped"]
    similar = run_json([embedstudio, "images", "search", resources / "images" / "rocket.jpg", "--json"],
                       env=env, cwd=cwd)
    assert similar["images"] == len(photos) and similar["query_labels"]
    assert similar["hits"] and all(Path(hit["path"]).parent == resources / "images" for hit in similar["hits"])


def test_installed_app_opens_with_its_icons_and_demo_files(installed, outside):
    report = run_gui(installed / BIN / "python", env=outside["env"], cwd=outside["cwd"], wait=3, mode="no-demo")
    resources = Path(report["resources"])
    assert resources.resolve().is_relative_to(installed.resolve())
    assert [Path(p).name for p in report["demo_corpus"]] == ["kjv.txt"]
    assert Path(report["demo_corpus"][0]).parent == Path(report["documents_demo"]) == resources / "corpus"
    assert Path(report["demo_photos"]) == resources / "images"


def test_pipx_installs_the_wheel_as_an_app(wheel, outside, tmp_path):
    """The README's recommended install: pipx puts `embedstudio` on PATH from a venv of its own."""
    pipx_env = {**outside["env"], "PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin"),
                "PIPX_MAN_DIR": str(tmp_path / "man")}
    run_checked([sys.executable, "-m", "pipx", "install", wheel], env=pipx_env, cwd=outside["cwd"], timeout=900)
    embedstudio = tmp_path / "bin" / "embedstudio"
    assert embedstudio.is_file()
    info = run_json([embedstudio, "models", "info", "--json"], env=outside["env"], cwd=outside["cwd"])
    assert {"minilm", "resnet50"} <= set(info["models"]) and all(c["ok"] for c in info["verification"].values())
    check = run_checked([embedstudio, "--self-check"], env={**outside["env"], "QT_QPA_PLATFORM": "offscreen"},
                        cwd=outside["cwd"])
    assert json.loads(check.stdout.strip().splitlines()[-1])["shown"]
    listed = run_checked([sys.executable, "-m", "pipx", "list", "--short"], env=pipx_env, cwd=outside["cwd"])
    assert listed.stdout.split()[:2] == ["embed-studio", "0.1.0"]
