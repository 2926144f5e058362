"""Build all models once into the models folder and record them in ``manifest.json``.

Idempotent: a model whose files exist with the checksums the manifest recorded is not rebuilt.
Each file is written to a temporary name and renamed, so an interrupted build leaves no half file.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from embedengine.runtime import cache_dir, models_dir
from embedengine.tasks import ProgressCallback, say

from .fetch import MINILM_PACKAGE, RESNET_PACKAGE, RegistryPackage, obtain, sha256_of

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ModelRecipe:
    """How one model is built: its source package, the files it yields and the builder."""

    key: str
    package: Optional[RegistryPackage]  # None: built from nothing (a graph of a few nodes)
    outputs: tuple[str, ...]
    builder: str  # "module:function", imported lazily (builders pull in onnx)

    def build(self, package_file: Path, out_dir: Path, progress: Optional[ProgressCallback]) -> dict:
        module_name, function_name = self.builder.split(":")
        module = __import__(f"models.{module_name}", fromlist=[function_name])
        return getattr(module, function_name)(package_file, out_dir, progress)


RECIPES = (
    ModelRecipe("minilm", MINILM_PACKAGE, ("minilm.onnx", "minilm-int8.onnx", "tokenizer.json"), "minilm:build_minilm"),
    ModelRecipe("resnet50", RESNET_PACKAGE, ("resnet50.onnx", "labels.json"), "resnet50:build_resnet50"),
    ModelRecipe("int8-scores", None, ("int8-scores.onnx",), "search:build_int8_scores"),
)


def read_manifest(out_dir: Path) -> dict:
    path = out_dir / MANIFEST
    if not path.exists():
        return {"models": {}}
    return json.loads(path.read_text())


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def is_built(recipe: ModelRecipe, out_dir: Path, manifest: dict) -> bool:
    entry = manifest.get("models", {}).get(recipe.key)
    if not entry:
        return False
    files = entry.get("files", {})
    for name in recipe.outputs:
        path = out_dir / name
        if not path.exists() or name not in files or files[name]["size"] != path.stat().st_size:
            return False
    return True


def file_record(path: Path) -> dict:
    record = {"sha256": sha256_of(path), "size": path.stat().st_size}
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
    """Build the missing models; return ``{"built": [...], "skipped": [...], "manifest": {...}}``."""
    out_dir = Path(out_dir or models_dir())
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out_dir)
    built, skipped = [], []
    for recipe in RECIPES:
        if only and recipe.key not in only:
            continue
        if not force and is_built(recipe, out_dir, manifest):
            skipped.append(recipe.key)
            continue
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
    return {"models_dir": str(out_dir), "built": built, "skipped": skipped, "manifest": manifest}


def _source_record(package: Optional[RegistryPackage]) -> dict:
    if package is None:
        return {"registry": None, "package": None, "note": "written by models/ from a few ONNX nodes"}
    return {"registry": package.registry, "package": package.spec, "file": package.filename, "sha256": package.sha256}
