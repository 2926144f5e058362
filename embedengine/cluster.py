"""Indexing on a Ray cluster with Ray Data, into the same collection (optional extra ``cluster``).

:func:`on_cluster` turns a collection class into one whose index run reads (and embeds) the new and
changed files on Ray; everything else is the base's run (:mod:`embedengine.collections.base`):

1. **plan**, locally: which files are new, changed, removed or unchanged (an incremental re-run sends only
   the new and changed files to the cluster; with nothing to read, Ray is not even started);
2. **read on the cluster**: the files to read are a Ray dataset (``ray.data.from_items`` of their paths);
   ``map_batches`` with the actor :class:`ShardReader` (its models loaded once per actor) runs the kind's
   own :meth:`~Collection.read_files` and, for the methods a worker can make on its own
   (:func:`worker_methods`), :meth:`~Collection.encode_items`, in a scratch collection of the actor;
3. the results come back as **shards**, Arrow tables with one row per file (the store entry as JSON,
   its vectors as NumPy ``.npz`` bytes, the side files its reader wrote, such as thumbnails), which the
   local process writes through the collection's own write path (the base's commit, a batch of files
   per transaction): the desktop app opens the collection as if it had been indexed locally;
4. **embed** (the methods a worker cannot make: word vectors, CLIP) and **after** run locally as usual.

Without an address a local Ray instance is started (``num_cpus`` = :attr:`RaySettings.local_cpus`); with
one (``auto``, ``HOST:6379``, ``ray://HOST:10001``) the run connects to that cluster. The folders must be
readable at the same paths on every node (a shared mount) and Embed Studio installed there with its models
built (or ``EMBEDSTUDIO_MODELS`` naming them). Ray's usage statistics are switched off
(``RAY_USAGE_STATS_ENABLED=0``) and a local instance starts without its dashboard: nothing leaves the machine.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator, Optional, Sequence, TypeVar

import numpy as np

from embedengine.collections.base import Collection, ReadFile
from embedengine.collections.files import FileStat
from embedengine.collections.report import IndexReport
from embedengine.errors import UserError
from embedengine.runtime import first_line, models_dir
from embedengine.store import FileEntry, Item
from embedengine.tasks import CancelToken, Progress, checkpoint, emit

INSTALL_HINT = "install the cluster extra: pip install 'embed-studio[cluster]'"
WORKER_HINT = "each node needs Embed Studio with its models built and the folders at the same paths"
SCRATCH_NAME = "shard"  # the scratch collection each actor reads into (in a temporary Embed Studio home)
PASSED_ENV = ("EMBEDSTUDIO_RESOURCES",)  # the driver's settings an actor follows too
C = TypeVar("C", bound=Collection)


@dataclass(frozen=True)
class RaySettings:
    """Where and how a cluster index run reads: the Ray address and the ``map_batches`` actor pool."""

    address: Optional[str] = None  # None: start a local Ray instance; else "auto", "HOST:6379", "ray://HOST:10001"
    batch_size: int = 32  # files per map_batches call (one shard)
    concurrency: int = 2  # actors, each with its own models
    cpus_per_actor: float = 1.0  # also the model's threads in each actor
    gpus_per_actor: float = 0.0  # > 0: the actor's models run on its GPU (onnxruntime-gpu on the nodes)
    local_cpus: int = 2  # CPUs of the local instance started when there is no address

    def __post_init__(self) -> None:
        for name in ("batch_size", "concurrency", "local_cpus"):
            if getattr(self, name) < 1:
                raise UserError(f"--ray-{name.replace('_', '-')} must be at least 1")
        if self.cpus_per_actor <= 0 or self.gpus_per_actor < 0:
            raise UserError("each actor needs some CPU (--ray-cpus-per-actor > 0) and no negative GPU share")


# ---------------------------------------------------------------------------------------------
# The driver: a collection whose read step runs on Ray
# ---------------------------------------------------------------------------------------------

def on_cluster(kind: type[C], settings: RaySettings) -> type[C]:
    """``kind`` whose index runs read and embed the new and changed files on Ray (see the module docstring)."""
    return type(f"Cluster{kind.__name__}", (ClusterReading, kind), {"ray_settings": settings, "plain_kind": kind})


class ClusterReading:
    """Mixin before a collection class (:func:`on_cluster`): :meth:`read_files` runs on Ray, the rest is the kind's."""

    ray_settings: ClassVar[RaySettings]
    plain_kind: ClassVar[type[Collection]]
    _worker_settings: Optional[dict[str, dict]] = None

    def read_files(self, todo: list[FileStat], hashes: dict[str, str], cancel: Optional[CancelToken]
                   ) -> Iterator[ReadFile]:
        """The files read (and embedded) by the cluster's actors, one per row of the shards they return."""
        self._worker_settings = {}
        for row in read_on_cluster(self.plain_kind, todo, hashes, worker_methods(self), self.ray_settings, cancel):
            entry, vectors, side_files, settings = decode_row(row)
            write_side_files(self.folder, side_files)
            self._worker_settings.update(settings)
            yield entry, vectors

    def after_index(self, report: IndexReport, progress, cancel) -> None:
        """Record the settings the workers' encoders gave their vectors, then the kind's own steps."""
        for method, settings in (self._worker_settings or {}).items():
            self.store.set_vector_settings(method, settings)
        super().after_index(report, progress, cancel)


def worker_methods(collection: Collection) -> list[str]:
    """The pending methods an actor embeds while reading: those whose vectors depend on a model file only.

    Documents: MiniLM (fp32, int8). Word-vector methods need the local word model and the collection's
    TF-IDF weights, and images' CLIP models are added per user: the local embed step makes those.
    Images' ResNet50 vectors are made while reading, on the cluster."""
    if collection.kind != "documents":
        return []
    from embedengine.documents.methods import METHODS

    return [m for m in collection.pending_methods() if METHODS[m].kind == "dense" and not METHODS[m].needs_word_model]


def read_on_cluster(kind: type[Collection], todo: Sequence[FileStat], hashes: dict[str, str], methods: list[str],
                    settings: RaySettings, cancel: Optional[CancelToken] = None) -> Iterator[dict]:
    """Shard rows (see :func:`encode_row`) for ``todo``, as the actors finish them (any order)."""
    if not todo:
        return
    with ray_session(settings) as ray:
        rows = [{"path": s.path, "size": s.size, "mtime": s.mtime, "sha256": hashes.get(s.path) or ""} for s in todo]
        blocks = -(-len(rows) // settings.batch_size)  # one block per actor call: the batches spread over the actors
        dataset = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
            ShardReader, batch_size=settings.batch_size, batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=settings.concurrency),
            num_cpus=settings.cpus_per_actor, num_gpus=settings.gpus_per_actor or None,
            fn_constructor_kwargs={"kind": kind, "methods": methods, "env": actor_env(settings)})
        try:
            for shard in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
                for row in shard.to_pylist():
                    checkpoint(cancel)
                    yield row
        except ray.exceptions.RayError as error:
            raise UserError(f"the Ray workers failed: {first_line(error)}", hint=WORKER_HINT) from error


def actor_env(settings: RaySettings) -> dict[str, str]:
    """What an actor sets before loading a model: its threads, its provider and the driver's models folder."""
    env = {"EMBEDSTUDIO_THREADS": str(max(1, int(settings.cpus_per_actor))),
           "EMBEDSTUDIO_PROVIDER": "auto" if settings.gpus_per_actor else "cpu",
           "EMBEDSTUDIO_MODELS_CANDIDATE": str(models_dir())}
    env.update({name: os.environ[name] for name in PASSED_ENV if name in os.environ})
    return env


@contextmanager
def ray_session(settings: RaySettings):
    """Ray, connected: to ``settings.address``, else to a local instance started for the run (no usage stats,
    no dashboard). A session the caller opened already is used as it is and left open."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # before Ray is imported: nothing is reported anywhere
    if settings.address is not None and "RAY_AUTH_MODE" not in os.environ and has_ray_token():
        os.environ["RAY_AUTH_MODE"] = "token"  # a `ray start --head` cluster checks its token (Ray >= 2.52)
    try:
        import ray
        import ray.data
    except ImportError:
        raise UserError("Ray is not installed", hint=INSTALL_HINT) from None
    owned = not ray.is_initialized()
    if owned:
        start_ray(ray, settings)
    try:
        yield ray
    finally:
        if owned:
            ray.shutdown()


def start_ray(ray, settings: RaySettings) -> None:
    """``ray.init`` for a run: quiet (workers' output stays off the terminal, no Ray Data progress bars)."""
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if settings.address is None:
        options.update(num_cpus=settings.local_cpus, include_dashboard=False)
    try:
        ray.init(address=settings.address or "local", **options)  # "local": a new instance, even beside a `ray start`
    except (ConnectionError, RuntimeError, ValueError) as error:
        if settings.address is None:
            raise UserError(f"could not start a local Ray instance: {first_line(error)}",
                            hint="Ray's logs are in /tmp/ray/session_latest/logs") from error
        raise UserError(f"could not reach the Ray cluster at {settings.address}: {first_line(error)}",
                        hint="start it with `ray start --head` and pass the address it prints; "
                             "this machine needs the cluster's token (~/.ray/auth_token)") from error
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def has_ray_token() -> bool:
    """Whether this machine holds a Ray cluster token (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``)."""
    return bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
                or (Path.home() / ".ray" / "auth_token").is_file())


# ---------------------------------------------------------------------------------------------
# The actor: the kind's own reading and encoding, in a scratch collection
# ---------------------------------------------------------------------------------------------

class ShardReader:
    """A ``map_batches`` actor: reads a batch of files with the kind's code and returns them as a shard.

    The kind's collection is a scratch one in a temporary Embed Studio home, so its reader runs unchanged
    (models loaded once per actor, side files such as thumbnails written beside it, then shipped back)."""

    def __init__(self, kind: type[Collection], methods: list[str], env: dict[str, str]) -> None:
        env = dict(env)
        candidate = env.pop("EMBEDSTUDIO_MODELS_CANDIDATE")
        os.environ.update(env)
        os.environ["EMBEDSTUDIO_MODELS"] = candidate if Path(candidate).is_dir() else str(models_dir())
        self.home = tempfile.mkdtemp(prefix="embedstudio-ray-")
        os.environ["EMBEDSTUDIO_HOME"] = self.home
        self.reader = kind(SCRATCH_NAME, create=True)
        self.methods = methods
        self.settings: dict[str, dict] = {}
        self.reader.store.set_vector_settings = self.settings.__setitem__  # what the kind records comes back

    def __call__(self, batch) -> Any:
        import pyarrow as pa

        files = batch.to_pylist()
        todo = [FileStat(f["path"], int(f["size"]), float(f["mtime"])) for f in files]
        hashes = {f["path"]: f["sha256"] for f in files if f["sha256"]}
        before = side_file_names(self.reader.folder)
        try:
            read = self._embed(list(self.reader.read_files(todo, hashes, None)))
        except UserError as error:  # a missing prerequisite on this node (a model): told as it is, not as a crash
            return pa.table(shard_columns([error_row(error)]))
        side = self._take_side_files(before)  # they travel with the batch's first row
        return pa.table(shard_columns([encode_row(entry, vectors, side if i == 0 else {}, self.settings)
                                       for i, (entry, vectors) in enumerate(read)]))

    def _embed(self, read: list[ReadFile]) -> list[ReadFile]:
        """Add the vectors of :attr:`methods` (the kind's :meth:`~Collection.encode_items`), file by file."""
        items = [Item(0, 0, entry.path, ordinal, payload)
                 for entry, _ in read for ordinal, payload in enumerate(entry.payloads)]
        if not items or not self.methods:
            return read
        encoded = {m: self.reader.encode_items(m, items, None) for m in self.methods}
        starts = np.cumsum([0] + [len(entry.payloads) for entry, _ in read])
        return [(entry, {**vectors, **{m: matrix[starts[i]:starts[i + 1]] for m, matrix in encoded.items()}})
                for i, (entry, vectors) in enumerate(read)]

    def _take_side_files(self, before: set[str]) -> dict[str, bytes]:
        """Files the reader wrote beside its store during this batch (thumbnails), removed from the scratch."""
        taken = {}
        for name in sorted(side_file_names(self.reader.folder) - before):
            path = self.reader.folder / name
            taken[name] = path.read_bytes()
            path.unlink()
        return taken

    def __del__(self) -> None:
        shutil.rmtree(getattr(self, "home", ""), ignore_errors=True)


def side_file_names(folder: Path) -> set[str]:
    """Relative names of the files in a collection folder other than its store's own (database, vectors)."""
    names = set()
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if path.is_file() and relative.parts[0] != "vectors" and relative.parent != Path("."):
            names.add(relative.as_posix())
    return names


# ---------------------------------------------------------------------------------------------
# Shards: one Arrow row per file
# ---------------------------------------------------------------------------------------------

def encode_row(entry: FileEntry, vectors: dict[str, np.ndarray], side_files: dict[str, bytes],
               settings: dict[str, dict]) -> dict:
    """A shard row: the entry as JSON (ASCII: any file name survives), its vectors as ``.npz`` bytes, side
    files (relative name → bytes) and the settings the kind recorded for its vectors."""
    buffer = io.BytesIO()
    np.savez(buffer, **{method: np.asarray(matrix, dtype=np.float32) for method, matrix in vectors.items()})
    return {"entry": json.dumps(entry.to_dict()), "vectors": buffer.getvalue(), "file_names": list(side_files),
            "file_bytes": list(side_files.values()), "settings": json.dumps(settings), "error": ""}


def error_row(error: UserError) -> dict:
    """A shard row that carries a worker's :class:`UserError` instead of a file."""
    return {"entry": "", "vectors": b"", "file_names": [], "file_bytes": [], "settings": "{}",
            "error": json.dumps({"error": str(error), "hint": error.hint})}


def shard_columns(rows: list[dict]) -> dict[str, list]:
    import pyarrow as pa

    types = {"entry": pa.string(), "vectors": pa.binary(), "file_names": pa.list_(pa.string()),
             "file_bytes": pa.list_(pa.binary()), "settings": pa.string(), "error": pa.string()}
    return {name: pa.array([row[name] for row in rows], type=kind) for name, kind in types.items()}


def decode_row(row: dict) -> tuple[FileEntry, dict[str, np.ndarray], dict[str, bytes], dict[str, dict]]:
    """The entry, vectors, side files and vector settings of a shard row (a worker's error is raised here)."""
    if row["error"]:
        error = json.loads(row["error"])
        raise UserError(f"on a Ray worker: {error['error']}", hint=error["hint"] or WORKER_HINT)
    entry = FileEntry(**json.loads(row["entry"]))
    with np.load(io.BytesIO(row["vectors"])) as archive:
        vectors = {method: archive[method] for method in archive.files}
    return entry, vectors, dict(zip(row["file_names"], row["file_bytes"])), json.loads(row["settings"])


def write_side_files(folder: Path, files: dict[str, bytes]) -> None:
    """Write shipped side files into the collection folder (temp file + rename; existing ones are kept)."""
    for name, data in files.items():
        target = (folder / name).resolve()
        if not target.is_relative_to(folder.resolve()) or target.exists():
            continue  # never outside the collection; the same content hash is the same thumbnail
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, target)
