"""Adding a user's own CLIP model (``models add-clip DIR``) to the models folder's manifest, and removing it.

The folder is checked by the engine (:meth:`embedengine.clip.ClipModel.open`: files, shapes, a self-test),
then recorded in ``manifest.json`` under ``clip_models``: its name, width, image side, context length, the
folder and every file's sha256 and size. The engine opens an added model only while its files still hash to
that record (:func:`embedengine.clip.open_registered`).

The files stay where they are by default: real models take hundreds of MB to a few GB, and a second copy in the models
folder would double that for nothing the hashes do not already guarantee. ``--copy`` copies them into
``<models>/clip/<name>/`` instead (for a download folder that is about to be deleted); removing such a
model deletes the copy, never a folder the user owns.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Optional

from embedengine.clip import (
    MANIFEST_KEY,
    REQUIRED_FILES,
    TOKENIZER_CONFIG,
    VISUAL_MODEL,
    TEXTUAL_MODEL,
    ClipModel,
    check_layout,
    record_problem,
    registered_models,
)
from embedengine.errors import UserError
from embedengine.manifest import MANIFEST, file_sha256, read_manifest
from embedengine.runtime import models_dir

from .build import write_json_atomic

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
COPIES = "clip"  # <models>/clip/<name>/: the models added with --copy


def model_files(folder: Path) -> list[str]:
    """The files of the model in ``folder`` (relative, POSIX): the required ones, the tokenizer config when
    present, and the external-data files an ONNX model refers to (large exports keep weights beside it)."""
    files = list(REQUIRED_FILES) + ([TOKENIZER_CONFIG] if (folder / TOKENIZER_CONFIG).is_file() else [])
    for relative in (VISUAL_MODEL, TEXTUAL_MODEL):
        base = Path(relative).parent
        files += [(base / location).as_posix() for location in external_data(folder / relative)]
    return sorted(set(files))


def external_data(path: Path) -> list[str]:
    """Locations of the external-data files ``path`` refers to (relative to its folder)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - the engine already loaded it; a graph onnx cannot read refers to nothing
        return []
    locations = set()
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                locations.add(entry.value)
    return sorted(locations)


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise UserError(f"{name!r} cannot name a CLIP model",
                        hint="use up to 64 letters, digits, dots, dashes and underscores, e.g. ViT-B-32__openai")
    return name


def add_clip(folder: Path | str, name: Optional[str] = None, copy: bool = False, replace: bool = False) -> dict:
    """Check the model in ``folder`` (files, shapes, self-test) and record it; returns the record and the check.

    A name already taken by another folder needs ``replace``; adding the same folder again refreshes its record.
    """
    source = check_layout(folder)
    name = check_name(name or source.name)
    model = ClipModel.open(source, name)  # every check, and the self-test
    existing = registered_models().get(name)
    if existing and existing.get("source") != str(source) and not replace:
        raise UserError(f"a CLIP model named {name!r} is already added (from {existing.get('source')})",
                        hint="pick another --name, or remove it first: `embedstudio models remove-clip "
                             f"{name}`")
    files = model_files(source)
    target = _copy_files(source, files, models_dir() / COPIES / name) if copy else source
    record = {
        "name": name, "folder": str(target), "source": str(source), "copied": copy,
        "files": {relative: {"sha256": file_sha256(target / relative), "size": (target / relative).stat().st_size}
                  for relative in files},
        "dim": model.dim, "image_size": model.image_size, "context_length": model.context_length,
        "added_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _write_record(name, record)
    return {"models_dir": str(models_dir()), "added": name, "record": record, "model": model.describe()}


def _copy_files(source: Path, files: list[str], target: Path) -> Path:
    """Copy the model's files into ``target`` (through a temporary folder, so no half copy is left)."""
    temporary = target.with_name(target.name + ".partial")
    shutil.rmtree(temporary, ignore_errors=True)
    for relative in files:
        (temporary / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, temporary / relative)
    shutil.rmtree(target, ignore_errors=True)
    temporary.rename(target)
    return target


def _write_record(name: str, record: Optional[dict]) -> None:
    """Set (or, with None, delete) one entry of the manifest's ``clip_models``; the rest is kept as it is."""
    folder = models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(folder)  # a damaged manifest is a UserError naming it: not overwritten blindly
    table = manifest.setdefault(MANIFEST_KEY, {})
    if record is None:
        table.pop(name, None)
    else:
        table[name] = record
    write_json_atomic(folder / MANIFEST, manifest)


def remove_clip(name: str) -> dict:
    """Forget an added model; a copy made by ``--copy`` is deleted, the user's own folder never is."""
    record = registered_models().get(name)
    if record is None:
        known = ", ".join(sorted(registered_models())) or "none"
        raise UserError(f"no CLIP model named {name!r} has been added (added: {known})",
                        hint="`embedstudio models info` lists them")
    _write_record(name, None)
    deleted = None
    copies = (models_dir() / COPIES).resolve()
    if record.get("copied") and Path(record["folder"]).resolve().parent == copies:
        shutil.rmtree(record["folder"], ignore_errors=True)
        deleted = record["folder"]
    return {"removed": name, "folder": record.get("folder"), "deleted_copy": deleted}


def clip_verification() -> dict:
    """Per added model: ``{"ok": bool, "problem": reason or None}`` (its files against the recorded hashes)."""
    states = {}
    for name, record in registered_models().items():
        problem = record_problem(record)
        states[name] = {"ok": problem is None, "problem": problem}
    return states
