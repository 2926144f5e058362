"""Build the one-folder bundle ``dist/EmbedStudio/`` (``make bundle``).

PyInstaller runs in a venv of its own (``build/bundle-venv``) holding only the app's runtime dependencies,
so nothing from the development environment (test or benchmark packages) ends up in the bundle. Models
are not bundled. Prints one JSON line: the folder, its size in MB and the build time.

    python packaging/build_bundle.py [--dist DIR] [--venv DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_ID = "io.github.embedstudio.EmbedStudio"
PYINSTALLER = "pyinstaller==6.22.3"
BIN = "Scripts" if sys.platform == "win32" else "bin"


def ensure_venv(folder: Path) -> Path:
    """A venv at ``folder`` with PyInstaller and the app's runtime dependencies; its Python."""
    python = folder / BIN / "python"
    if not python.exists():
        venv.create(folder, with_pip=True)
    run([python, "-m", "pip", "install", "--quiet", PYINSTALLER, str(ROOT)])
    return python


def build(python: Path, dist: Path, work: Path) -> Path:
    """Run PyInstaller over packaging/embedstudio.spec; the bundle folder."""
    run([python, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "--distpath", dist, "--workpath", work,
         ROOT / "packaging" / "embedstudio.spec"])
    return dist / "EmbedStudio"


def add_desktop_files(bundle: Path) -> None:
    """The freedesktop entry, the icon and the AppStream metainfo in a ``share/`` beside the executable,
    laid out as under ``~/.local/share`` (README: Install)."""
    placed = {
        ROOT / "packaging" / f"{APP_ID}.desktop": bundle / "share" / "applications" / f"{APP_ID}.desktop",
        ROOT / "packaging" / f"{APP_ID}.metainfo.xml": bundle / "share" / "metainfo" / f"{APP_ID}.metainfo.xml",
        ROOT / "resources" / "icons" / "app.svg": bundle / "share" / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
    }
    for source, target in placed.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def size_mb(folder: Path) -> float:
    """Bytes on disk of the regular files under ``folder`` (links not counted twice), in MB."""
    return round(sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6, 1)


def run(command: list) -> None:
    subprocess.run([str(part) for part in command], check=True, cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where EmbedStudio/ goes (default: dist/)")
    parser.add_argument("--venv", type=Path, default=ROOT / "build" / "bundle-venv",
                        help="the build venv, made once and reused (default: build/bundle-venv)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    python = ensure_venv(args.venv)
    work = args.venv.parent / "pyinstaller-work"
    bundle = build(python, args.dist, work)
    add_desktop_files(bundle)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"bundle": str(bundle), "executable": str(bundle / "EmbedStudio"), "size_mb": size_mb(bundle),
                      "seconds": round(time.monotonic() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
