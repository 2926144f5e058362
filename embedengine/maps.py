"""Maps of whole spaces: every word of a model, every passage or photo of a collection, laid out in 2-D.

A :class:`Space` is what a map is made of: item ids, unit vectors and what a person sees of each item
(label, detail line, thumbnail, the groups it can be coloured by). :func:`make_map` lays it out in a worker
(progress, cancel): PCA first (NumPy, always saved: instant), then a neighbour embedding (openTSNE's FFT
t-SNE, or UMAP; both in the optional ``maps`` extra) when it is installed. The layout is saved beside the
model or collection (``maps/<space>.<method>.npz``: version, ids, coordinates, method, parameters and the
display columns), so reopening is instant; when items were added or removed since, the saved map is
updated without recomputing: removed items disappear, new ones are placed where their nearest mapped
neighbours are (PCA: projected exactly), until more than :data:`RECOMPUTE_FRACTION` of the map is new.

Helpers the view uses (no maths in ``desktop/``): :class:`GridIndex` (hover: the point under the cursor),
:func:`points_in_polygon` (lasso), and k-means clusters named by their most central items.
Projector files: :func:`export_projector` / :func:`import_projector` (``vectors.tsv`` + ``metadata.tsv`` +
``sprite.png`` for photos + ``projector_config.json``; the map's coordinates are the ``map_x``/``map_y`` columns).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from embedengine.errors import UserError
from embedengine.results import Result
from embedengine.tasks import CancelToken, Progress, ProgressCallback, checkpoint, emit

MAP_VERSION = 1
MAP_FOLDER = "maps"
KINDS = ("words", "documents", "images")
METHODS = ("auto", "pca", "tsne", "umap")
RECOMPUTE_FRACTION = 0.5  # more new items than this fraction of the map: lay it out again
PLACE_K = 10  # new items sit at the similarity-weighted mean of this many mapped neighbours
CLUSTERS = 10  # k-means clusters of a map (fewer for small maps)
CLUSTER_NAME_ITEMS = 3  # a cluster is named by its most central items
LABEL_CHARS = 80
PCA_INPUT_DIMS = 50  # neighbour embeddings start from this many principal components
FREQUENCY_BANDS = ((100, "top 100"), (1_000, "101–1,000"), (10_000, "1,001–10,000"))
CHUNK = 4096
SAVED_FIRST = ("imported", "tsne", "umap")  # "auto" opens a current saved map of these before laying one out


# ---------------------------------------------------------------------------------------------
# Spaces
# ---------------------------------------------------------------------------------------------

@dataclass
class Space:
    """The items of one model or collection: ids, unit vectors and how each looks on a map."""

    kind: str  # "words" | "documents" | "images"
    name: str  # word model or collection name
    vector_method: str  # the collection's vector set ("minilm", "resnet50"); "word2vec" for words
    ids: np.ndarray  # int64 item ids, or str words
    vectors: np.ndarray  # float32 [n, dim], unit rows
    labels: list[str]  # the word, the passage's first line, the photo's file name
    details: list[str]  # second line: file and page, top label, frequency
    groups: dict[str, list[str]]  # colour-by name -> each item's group ("folder", "file type", ...)
    thumbs: list[str] = field(default_factory=list)  # photo thumbnails ("" none)
    folder: Path = Path(".")  # where its maps are saved
    signature: str = ""  # changes when the vectors change while ids stay (a retrained model)

    def __len__(self) -> int:
        return len(self.ids)

    def map_path(self, method: str) -> Path:
        stem = self.name if self.kind == "words" else f"{self.kind}.{self.vector_method}"
        return self.folder / f"{_safe(stem)}.{method}.npz"


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def frequency_band(rank: int) -> str:
    """The band of a word's frequency rank (0 = most frequent)."""
    for limit, name in FREQUENCY_BANDS:
        if rank < limit:
            return name
    return f"{FREQUENCY_BANDS[-1][0] + 1:,}+"


def word_space(name: str, vectors=None) -> Space:
    """Every word of a word model (``vectors``: the loaded :class:`WordVectors`, else the saved model)."""
    from embedengine.word2vec import library

    if vectors is None:
        vectors = library.load_model(name)
    path = library.model_file(name) if name else None
    signature = ""
    if path is not None and path.exists():
        stat = path.stat()
        signature = f"{stat.st_size}:{stat.st_mtime_ns}"
    words = list(vectors.words)
    counts = np.asarray(vectors.counts)
    details = [f"#{rank + 1:,} · {int(count):,}×" if count else f"#{rank + 1:,}" for rank, count in enumerate(counts)]
    return Space("words", name or "unsaved", "word2vec", np.array(words, dtype=str), _unit(vectors.vectors),
                 words, details, {"frequency": [frequency_band(rank) for rank in range(len(words))]},
                 folder=library.models_folder() / MAP_FOLDER, signature=signature)


def collection_class(kind: str):
    if kind == "documents":
        from embedengine.documents import DocumentCollection
        return DocumentCollection
    if kind == "images":
        from embedengine.images_index import ImageCollection
        return ImageCollection
    raise UserError(f"unknown collection kind {kind!r}", hint="use documents or images")


def collection_space(kind: str, name: Optional[str] = None, method: Optional[str] = None) -> Space:
    """Every live item of a collection with a vector of ``method`` (default: the kind's main one)."""
    with collection_class(kind).open(name) as collection:
        store = collection.store
        method = method or ("minilm" if kind == "documents" else "resnet50")
        if method not in store.vector_methods():
            raise UserError(f"collection '{collection.name}' has no '{method}' vectors",
                            hint="index it first (or choose a method it was indexed with)")
        matrix = store.matrix(method)
        live = matrix.live_mask()
        ids = matrix.row_items[live]
        vectors = _unit(np.asarray(matrix.stored[live], dtype=np.float32))
        roots = store.roots()
        items = {item.id: item for item in store.iter_items()}
        thumbs_dir = collection.folder / "thumbs"
        space = Space(kind, collection.name, method, ids, vectors, [], [], {"folder": [], "file type": []},
                      folder=collection.folder / MAP_FOLDER)
        if kind == "images":
            space.groups["label"] = []
        for item_id in ids:
            _describe_item(space, items.get(int(item_id)), roots, thumbs_dir)
        return space


def _describe_item(space: Space, item, roots: Sequence[str], thumbs_dir: Path) -> None:
    path = Path(item.path) if item is not None else Path("?")
    payload = item.payload if item is not None else {}
    space.groups["folder"].append(_folder_of(path, roots))
    space.groups["file type"].append(path.suffix.lower().lstrip(".") or "none")
    if space.kind == "documents":
        space.labels.append(first_line(str(payload.get("text", ""))))
        page = payload.get("page")
        space.details.append(f"{path.name}" + (f" · p.{page}" if page else ""))
    else:
        labels = payload.get("labels") or []
        top = str(labels[0][0]) if labels else "unlabelled"
        space.labels.append(path.name)
        space.details.append(top)
        space.groups["label"].append(top)
        thumb = payload.get("thumb") or ""
        space.thumbs.append(str(thumbs_dir / thumb) if thumb else "")


def _folder_of(path: Path, roots: Sequence[str]) -> str:
    """The item's folder as the user knows it: relative to its root (the root's own name at the top)."""
    for root in roots:
        try:
            relative = path.parent.relative_to(root)
        except ValueError:
            continue
        top = Path(root).name or root
        return top if str(relative) == "." else f"{top}/{relative.as_posix()}"
    return path.parent.name


def first_line(text: str) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= LABEL_CHARS else line[:LABEL_CHARS - 1].rstrip() + "…"


def load_space(kind: str, name: str, vector_method: Optional[str] = None, vectors=None) -> Space:
    """A word model's space (``kind="words"``) or a collection's."""
    if kind == "words":
        return word_space(name, vectors)
    return collection_space(kind, name, vector_method)


# ---------------------------------------------------------------------------------------------
# Layout methods
# ---------------------------------------------------------------------------------------------

def available_methods() -> list[str]:
    """The layout methods this installation can run (PCA always)."""
    methods = ["pca"]
    for method, module in (("tsne", "openTSNE"), ("umap", "umap")):
        try:
            __import__(module)
            methods.append(method)
        except ImportError:
            continue
    return methods


def resolve_method(method: str) -> str:
    """``auto``: t-SNE (openTSNE) when installed, else UMAP, else PCA."""
    if method not in METHODS:
        raise UserError(f"unknown map method {method!r}", hint=f"use one of {', '.join(METHODS)}")
    available = available_methods()
    if method == "auto":
        return next(m for m in ("tsne", "umap", "pca") if m in available)
    if method not in available:
        raise UserError(f"the {method} layout is not installed", hint="install the maps extra: pip install "
                                                                      "'embed-studio[maps]' (PCA works without it)")
    return method


@dataclass
class Pca:
    """A linear projection: ``(vectors - mean) @ components.T``."""

    mean: np.ndarray  # [dim]
    components: np.ndarray  # [dims, dim]
    explained: np.ndarray  # variance fraction of each component

    def project(self, vectors: np.ndarray) -> np.ndarray:
        out = np.empty((len(vectors), len(self.components)), dtype=np.float32)
        for start in range(0, len(vectors), CHUNK * 4):
            block = np.asarray(vectors[start:start + CHUNK * 4], dtype=np.float32)
            out[start:start + len(block)] = (block - self.mean) @ self.components.T
        return out


def fit_pca(vectors: np.ndarray, dims: int = 2, sample: int = 50_000, seed: int = 0) -> Pca:
    """Principal axes from the covariance of (a sample of) the rows; signs fixed for reproducible maps."""
    rows = vectors if len(vectors) <= sample else vectors[np.random.default_rng(seed).choice(len(vectors), sample,
                                                                                               replace=False)]
    rows = np.asarray(rows, dtype=np.float64)
    mean = rows.mean(axis=0)
    centred = rows - mean
    covariance = centred.T @ centred / max(1, len(rows) - 1)
    values, vectors_ = np.linalg.eigh(covariance)
    order = np.argsort(values)[::-1][:dims]
    components = vectors_[:, order].T
    components *= np.where(components[np.arange(len(components)), np.abs(components).argmax(axis=1)] < 0, -1, 1)[:, None]
    total = float(values.sum()) or 1.0
    return Pca(mean.astype(np.float32), components.astype(np.float32),
               (values[order] / total).astype(np.float32))


def _tsne(inputs: np.ndarray, params: dict, progress, cancel) -> np.ndarray:
    from openTSNE import TSNE

    total = params["early_exaggeration_iter"] + params["n_iter"]
    state = {"done": 0}

    def callback(iteration, error, embedding):  # every 25 iterations of each phase
        state["done"] += 25
        checkpoint(cancel)
        emit(progress, Progress("layout", min(state["done"], total), total, "iterations",
                                message=f"t-SNE {state['done']}/{total}", extra={"kl": float(error)}))
        return False

    tsne = TSNE(n_jobs=os.cpu_count() or 1, callbacks=callback, callbacks_every_iters=25, verbose=False, **params)
    return np.asarray(tsne.fit(inputs), dtype=np.float32)


def _umap(inputs: np.ndarray, params: dict, progress, cancel) -> np.ndarray:
    import umap

    emit(progress, Progress("layout", message="UMAP (cannot report its steps)"))
    checkpoint(cancel)
    return np.asarray(umap.UMAP(n_jobs=os.cpu_count() or 1, **params).fit_transform(inputs), dtype=np.float32)


BH_MAX_POINTS = 2_000  # measured (load 7): 11 points bh 5.7 s, fft 35.6 s; 5,324 points bh 71.7 s, fft 41.4 s


def layout_params(method: str, n: int, seed: int = 0) -> dict:
    if method == "tsne":
        return {"perplexity": 30 if n > 200 else max(2, n // 7), "n_iter": 500, "early_exaggeration_iter": 250,
                "random_state": seed, "neighbors": "annoy" if n > 1000 else "exact",
                # Barnes-Hut is faster for small maps (FFT's grid costs seconds even for 11 points)
                "negative_gradient_method": "fft" if n > BH_MAX_POINTS else "bh"}
    if method == "umap":
        return {"n_neighbors": min(15, max(2, n - 1)), "min_dist": 0.1, "random_state": None, "low_memory": True}
    return {}


def compute_layout(vectors: np.ndarray, method: str, progress: Optional[ProgressCallback] = None,
                   cancel: Optional[CancelToken] = None, seed: int = 0) -> tuple[np.ndarray, dict, Pca]:
    """2-D coordinates of ``vectors`` by ``method`` (resolved), its parameters and the 2-D PCA."""
    emit(progress, Progress("pca", message=f"PCA of {len(vectors):,} vectors"))
    pca = fit_pca(vectors, dims=max(2, min(PCA_INPUT_DIMS, vectors.shape[1])), seed=seed)
    checkpoint(cancel)
    pca2 = Pca(pca.mean, pca.components[:2], pca.explained[:2])
    if method == "pca" or len(vectors) < 5:
        return pca2.project(vectors), {"explained": [float(v) for v in pca2.explained]}, pca2
    params = layout_params(method, len(vectors), seed)
    inputs = pca.project(vectors)
    checkpoint(cancel)
    coords = (_tsne if method == "tsne" else _umap)(inputs, params, progress, cancel)
    return coords, {**params, "input": f"PCA {inputs.shape[1]} dims"}, pca2


# ---------------------------------------------------------------------------------------------
# Placing new items, clusters
# ---------------------------------------------------------------------------------------------

def nearest_neighbours(queries: np.ndarray, base: np.ndarray, k: int,
                       cancel: Optional[CancelToken] = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosines of each query's ``k`` most similar base rows (unit vectors), best first."""
    k = min(k, len(base))
    indices = np.empty((len(queries), k), dtype=np.int64)
    scores = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), 512):
        sims = queries[start:start + 512] @ base.T
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-top, axis=1)
        indices[start:start + len(sims)] = np.take_along_axis(part, order, axis=1)
        scores[start:start + len(sims)] = np.take_along_axis(top, order, axis=1)
        checkpoint(cancel)
    return indices, scores


def place_by_neighbours(new_vectors: np.ndarray, mapped_vectors: np.ndarray, mapped_coords: np.ndarray,
                        k: int = PLACE_K, cancel: Optional[CancelToken] = None) -> np.ndarray:
    """New points at the similarity-weighted mean of their ``k`` nearest mapped points."""
    if not len(new_vectors):
        return np.zeros((0, 2), dtype=np.float32)
    indices, scores = nearest_neighbours(new_vectors, mapped_vectors, k, cancel)
    weights = np.maximum(scores, 0) ** 4 + 1e-6
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", weights, mapped_coords[indices]).astype(np.float32)


def kmeans(vectors: np.ndarray, k: int, iterations: int = 20, seed: int = 0, sample: int = 20_000,
           cancel: Optional[CancelToken] = None) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means (k-means++ start, fitted on a sample): every row's cluster and the unit centroids."""
    rng = np.random.default_rng(seed)
    rows = vectors if len(vectors) <= sample else vectors[rng.choice(len(vectors), sample, replace=False)]
    k = max(1, min(k, len(rows)))
    centres = [rows[rng.integers(len(rows))]]
    distance = 1 - rows @ centres[0]
    for _ in range(1, k):
        chances = np.maximum(distance, 0) + 1e-12
        centres.append(rows[rng.choice(len(rows), p=chances / chances.sum())])
        distance = np.minimum(distance, 1 - rows @ centres[-1])
    centres = np.array(centres, dtype=np.float32)
    for _ in range(iterations):
        assign = np.argmax(rows @ centres.T, axis=1)
        for cluster in range(k):
            members = rows[assign == cluster]
            if len(members):
                centres[cluster] = members.sum(axis=0)
        centres = _unit(centres)
        checkpoint(cancel)
    labels = np.concatenate([np.argmax(vectors[s:s + CHUNK * 4] @ centres.T, axis=1)
                             for s in range(0, len(vectors), CHUNK * 4)]) if len(vectors) else np.zeros(0, np.int64)
    return labels.astype(np.int32), centres


def cluster_names(vectors: np.ndarray, labels: np.ndarray, centres: np.ndarray, item_labels: Sequence[str],
                  items: int = CLUSTER_NAME_ITEMS) -> list[str]:
    """Each cluster named by the labels of its items nearest its centroid."""
    names = []
    for cluster, centre in enumerate(centres):
        members = np.flatnonzero(labels == cluster)
        if not len(members):
            names.append(f"cluster {cluster + 1}")
            continue
        central = members[np.argsort(-(vectors[members] @ centre))[:items]]
        names.append(" · ".join(_short(item_labels[i]) for i in central))
    return names


def _short(label: str, chars: int = 24) -> str:
    return label if len(label) <= chars else label[:chars - 1].rstrip() + "…"


# ---------------------------------------------------------------------------------------------
# The saved map
# ---------------------------------------------------------------------------------------------

@dataclass
class SpaceMap:
    """A laid-out space as saved: what the view shows and what updating it needs."""

    kind: str
    name: str
    vector_method: str
    method: str  # "pca" | "tsne" | "umap" | "imported"
    params: dict
    ids: np.ndarray
    coords: np.ndarray  # float32 [n, 2]
    labels: list[str]
    details: list[str]
    thumbs: list[str]
    groups: dict[str, tuple[np.ndarray, list[str]]]  # colour-by -> (each item's group code, group names)
    pca_mean: np.ndarray
    pca_components: np.ndarray
    signature: str = ""
    created: str = ""
    seconds: float = 0.0
    version: int = MAP_VERSION

    def __len__(self) -> int:
        return len(self.ids)

    def save(self, path: Path) -> Path:
        """Write atomically (a temporary file renamed over the old one)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"version": self.version, "kind": self.kind, "name": self.name, "vector_method": self.vector_method,
                "method": self.method, "params": self.params, "signature": self.signature, "created": self.created,
                "seconds": self.seconds, "groups": {name: names for name, (_, names) in self.groups.items()}}
        arrays = {"meta": np.array(json.dumps(meta)), "ids": self.ids, "coords": self.coords.astype(np.float32),
                  "labels": np.array(self.labels, dtype=str), "details": np.array(self.details, dtype=str),
                  "thumbs": np.array(self.thumbs, dtype=str), "pca_mean": self.pca_mean,
                  "pca_components": self.pca_components}
        for index, (_, (codes, _)) in enumerate(self.groups.items()):
            arrays[f"group{index}"] = codes.astype(np.int32)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")
        np.savez(temporary, **arrays)
        os.replace(temporary, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "SpaceMap":
        path = Path(path)
        if not path.exists():
            raise UserError(f"the map {path.name} is no longer saved", hint="ask for the map again")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("version") != MAP_VERSION:
                    raise UserError(f"the map {path.name} was saved by another version",
                                    hint="ask for the map again: it is laid out anew")
                groups = {name: (data[f"group{i}"], list(names)) for i, (name, names) in enumerate(meta["groups"].items())}
                return cls(meta["kind"], meta["name"], meta["vector_method"], meta["method"], meta["params"],
                           data["ids"], data["coords"], data["labels"].tolist(), data["details"].tolist(),
                           data["thumbs"].tolist(), groups, data["pca_mean"], data["pca_components"],
                           meta.get("signature", ""), meta.get("created", ""), float(meta.get("seconds", 0.0)))
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as error:
            raise UserError(f"the map {path.name} cannot be read ({error})", hint="ask for the map again") from None

    def index_of(self, item_id) -> int:
        """The row of an item (a word or an item id), -1 when it is not on the map."""
        matches = np.flatnonzero(self.ids == _as_ids([item_id], self.ids)[0])
        return int(matches[0]) if len(matches) else -1

    def rows_of(self, item_ids: Sequence) -> np.ndarray:
        """Rows of the given items that are on the map, in the order given."""
        if not len(item_ids):
            return np.zeros(0, dtype=np.int64)
        wanted = _as_ids(item_ids, self.ids)
        order = np.argsort(self.ids)
        found = np.searchsorted(self.ids, wanted, sorter=order)
        found = np.minimum(found, len(order) - 1)
        rows = order[found]
        return rows[self.ids[rows] == wanted]


def _as_ids(values: Sequence, like: np.ndarray) -> np.ndarray:
    """``values`` as ids of the same kind as ``like`` (words are never cut to ``like``'s string width)."""
    return np.array(list(values), dtype=str if like.dtype.kind == "U" else np.int64)


def group_codes(values: Sequence[str], most: int = 12) -> tuple[np.ndarray, list[str]]:
    """Codes of each value's group: the ``most - 1`` commonest groups by name, the rest as "other"."""
    names, inverse, counts = np.unique(np.asarray(values, dtype=str), return_inverse=True, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    if len(names) > most:
        kept = order[:most - 1]
        remap = np.full(len(names), most - 1, dtype=np.int32)
        remap[kept] = np.arange(len(kept))
        return remap[inverse], [str(names[i]) for i in kept] + ["other"]
    remap = np.empty(len(names), dtype=np.int32)
    remap[order] = np.arange(len(names))
    return remap[inverse], [str(names[i]) for i in order]


def _display(space: Space, rows: Optional[np.ndarray] = None, cancel: Optional[CancelToken] = None):
    """Labels, details, thumbs and colour groups (with k-means clusters) of the space's items."""
    groups = {name: group_codes(values) for name, values in space.groups.items() if values}
    labels, centres = kmeans(space.vectors, min(CLUSTERS, max(1, len(space) // 20)), cancel=cancel)
    groups["cluster"] = (labels, cluster_names(space.vectors, labels, centres, space.labels))
    thumbs = space.thumbs if space.thumbs else [""] * len(space)
    return list(space.labels), list(space.details), list(thumbs), groups


# ---------------------------------------------------------------------------------------------
# Making and updating maps
# ---------------------------------------------------------------------------------------------

@dataclass
class MapSummary(Result):
    """What :func:`make_map` did (the answer a card or the CLI shows; the map itself is in ``file``)."""

    kind: str
    name: str
    vector_method: str
    method: str
    file: str
    points: int
    seconds: float
    reused: bool  # the saved map was still current
    placed: int  # new items placed into the saved map
    removed: int  # items gone from it
    laid_out: bool  # computed anew
    params: dict


def make_map(space: Space, method: str = "auto", progress: Optional[ProgressCallback] = None,
             cancel: Optional[CancelToken] = None, recompute: bool = False, seed: int = 0) -> MapSummary:
    """The space's map by ``method``: the saved one (updated for added and removed items), or laid out now.

    Laying out saves the PCA map as well (instant to switch to); ``recompute`` ignores saved maps.
    """
    if method == "auto" and not recompute:
        saved = next((m for m in SAVED_FIRST if _saved_map(space.map_path(m), space) is not None), None)
        method = saved or method
    method = method if method == "imported" else resolve_method(method)
    if not len(space):
        raise UserError(f"{space.name} has nothing to map yet", hint="index or train it first")
    path = space.map_path(method)
    started = time.perf_counter()
    saved = _saved_map(path, space) if not recompute else None
    if saved is not None:
        summary = _update(saved, space, path, progress, cancel)
        if summary is not None:
            summary.seconds = round(time.perf_counter() - started, 3)
            return summary
    coords, params, pca = compute_layout(space.vectors, method, progress, cancel, seed)
    emit(progress, Progress("clusters", message="naming clusters"))
    labels, details, thumbs, groups = _display(space, cancel=cancel)
    seconds = round(time.perf_counter() - started, 3)
    made = SpaceMap(space.kind, space.name, space.vector_method, method, params, space.ids, coords, labels, details,
                    thumbs, groups, pca.mean, pca.components, space.signature,
                    time.strftime("%Y-%m-%dT%H:%M:%S"), seconds)
    made.save(path)
    if method != "pca":
        pca_map = SpaceMap(**{**made.__dict__, "method": "pca", "coords": pca.project(space.vectors),
                              "params": {"explained": [float(v) for v in pca.explained]}})
        pca_map.save(space.map_path("pca"))
    return MapSummary(space.kind, space.name, space.vector_method, method, str(path), len(space), seconds,
                      False, 0, 0, True, params)


def saved_layouts(file: str | Path) -> dict[str, str]:
    """The saved layouts of the same space as the map ``file`` (method -> file), PCA first."""
    path = Path(file)
    stem, _method, _ = path.name.rsplit(".", 2)
    found = {}
    for method in ("pca", *SAVED_FIRST):
        candidate = path.with_name(f"{stem}.{method}.npz")
        if candidate.exists():
            found[method] = str(candidate)
    return found


def _saved_map(path: Path, space: Space) -> Optional[SpaceMap]:
    """The saved map when it belongs to these vectors (same model file / vector set), else None."""
    try:
        saved = SpaceMap.load(path)
    except UserError:
        return None
    if saved.signature != space.signature or saved.ids.dtype.kind != space.ids.dtype.kind:
        return None
    return saved


def _update(saved: SpaceMap, space: Space, path: Path, progress, cancel) -> Optional[MapSummary]:
    """Bring a saved map up to date with the space's items; None when too much is new (lay it out again)."""
    present = np.isin(saved.ids, space.ids)
    is_new = ~np.isin(space.ids, saved.ids)
    placed, removed = int(is_new.sum()), int((~present).sum())
    if placed > RECOMPUTE_FRACTION * len(space):
        return None
    summary = MapSummary(space.kind, space.name, space.vector_method, saved.method, str(path), len(space), 0.0,
                         not placed and not removed, placed, removed, False, saved.params)
    if summary.reused:
        return summary
    emit(progress, Progress("place", 0, placed, "items", message=f"placing {placed:,} new items"))
    position = {key: row for row, key in enumerate(saved.ids.tolist())}
    kept_rows = np.array([position[key] for key in space.ids[~is_new].tolist()], dtype=np.int64)
    coords = np.empty((len(space), 2), dtype=np.float32)
    coords[~is_new] = saved.coords[kept_rows]
    if placed:
        if saved.method == "pca":
            pca = Pca(saved.pca_mean, saved.pca_components, np.zeros(2))
            coords[is_new] = pca.project(space.vectors[is_new])
        else:
            coords[is_new] = place_by_neighbours(space.vectors[is_new], space.vectors[~is_new], coords[~is_new],
                                                 cancel=cancel)
    labels, details, thumbs, groups = _display(space, cancel=cancel)
    updated = SpaceMap(space.kind, space.name, space.vector_method, saved.method,
                       {**saved.params, "placed_since": saved.params.get("placed_since", 0) + placed},
                       space.ids, coords, labels, details, thumbs, groups, saved.pca_mean, saved.pca_components,
                       space.signature, saved.created, saved.seconds)
    updated.save(path)
    return summary


def build_map(kind: str, name: str, method: str = "auto", vector_method: Optional[str] = None, vectors=None,
              progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
              recompute: bool = False) -> MapSummary:
    """Load the space (a word model or a collection) and make its map: the call a worker runs."""
    emit(progress, Progress("load", message=f"reading {name}"))
    space = load_space(kind, name, vector_method, vectors)
    checkpoint(cancel)
    return make_map(space, method, progress, cancel, recompute)


# ---------------------------------------------------------------------------------------------
# Quality: how well a map keeps neighbourhoods
# ---------------------------------------------------------------------------------------------

def _planar_neighbours(coords: np.ndarray, k: int) -> np.ndarray:
    coords = np.asarray(coords, dtype=np.float64)
    squared = (coords ** 2).sum(axis=1)
    out = np.empty((len(coords), k), dtype=np.int64)
    for start in range(0, len(coords), 1024):
        block = coords[start:start + 1024]
        distances = squared[start:start + 1024, None] - 2 * block @ coords.T + squared[None]
        distances[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf
        part = np.argpartition(distances, k, axis=1)[:, :k]
        out[start:start + len(block)] = part
    return out


def neighbour_agreement(vectors: np.ndarray, coords: np.ndarray, k: int = 10, wide: int = 50) -> float:
    """Mean fraction of each point's ``k`` nearest on the map that are among its ``wide`` nearest by cosine."""
    vectors = _unit(vectors)
    original, _ = nearest_neighbours(vectors, vectors, wide + 1)
    planar = _planar_neighbours(coords, k)
    hits = [len(set(planar[i]) & set(original[i][original[i] != i])) for i in range(len(vectors))]
    return float(np.mean(hits) / k)


def trustworthiness(vectors: np.ndarray, coords: np.ndarray, k: int = 10) -> float:
    """Venna & Kaski's trustworthiness (as scikit-learn computes it; cosine in the original space):
    1 means no point's map neighbours are strangers in the original space."""
    vectors = _unit(vectors)
    n = len(vectors)
    planar = _planar_neighbours(coords, k)
    penalty = 0.0
    for start in range(0, n, 512):
        sims = vectors[start:start + 512] @ vectors.T
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = np.inf  # itself: rank 0
        order = np.argsort(-sims, axis=1)
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(n)[None].repeat(len(sims), axis=0), axis=1)
        near = np.take_along_axis(ranks, planar[start:start + len(sims)], axis=1)
        penalty += np.maximum(near - k, 0).sum()
    return float(1 - 2.0 / (n * k * (2 * n - 3 * k - 1)) * penalty)


# ---------------------------------------------------------------------------------------------
# What the view asks: hover, lasso
# ---------------------------------------------------------------------------------------------

class GridIndex:
    """Points bucketed in a uniform grid: the point nearest a position, within a radius, in microseconds."""

    def __init__(self, coords: np.ndarray, cells: int = 256) -> None:
        self.coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
        low = self.coords.min(axis=0) if len(self.coords) else np.zeros(2)
        high = self.coords.max(axis=0) if len(self.coords) else np.ones(2)
        self.low = low
        self.cells = cells
        self.size = np.maximum((high - low) / cells, 1e-9)
        cell = self._cell(self.coords)
        keys = cell[:, 0] * (cells + 1) + cell[:, 1]
        self.order = np.argsort(keys, kind="stable")
        self.sorted_keys = keys[self.order]

    def _cell(self, points: np.ndarray) -> np.ndarray:
        return np.clip(((points - self.low) / self.size).astype(np.int64), 0, self.cells)

    def nearest(self, x: float, y: float, radius_x: float, radius_y: Optional[float] = None) -> int:
        """The row nearest ``(x, y)`` inside the ellipse of radii ``radius_x``/``radius_y``; -1 when none."""
        radius_y = radius_x if radius_y is None else radius_y
        if not len(self.coords) or radius_x <= 0 or radius_y <= 0:
            return -1
        first = self._cell(np.array([[x - radius_x, y - radius_y]]))[0]
        last = self._cell(np.array([[x + radius_x, y + radius_y]]))[0]
        if (last - first).prod() > 4096:  # zoomed far out: a vectorised scan is quicker than many cells
            candidates = np.arange(len(self.coords))
        else:
            parts = []
            for cx in range(first[0], last[0] + 1):
                low = np.searchsorted(self.sorted_keys, cx * (self.cells + 1) + first[1])
                high = np.searchsorted(self.sorted_keys, cx * (self.cells + 1) + last[1], side="right")
                parts.append(self.order[low:high])
            candidates = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        if not len(candidates):
            return -1
        offsets = (self.coords[candidates] - (x, y)) / (radius_x, radius_y)
        distances = (offsets ** 2).sum(axis=1)
        best = int(np.argmin(distances))
        return int(candidates[best]) if distances[best] <= 1.0 else -1


def dot_offsets(size: int) -> np.ndarray:
    """Pixel offsets of a round dot ``size`` pixels wide."""
    radius = (size - 1) / 2
    grid = np.arange(size) - radius
    dx, dy = np.meshgrid(grid, grid)
    keep = dx ** 2 + dy ** 2 <= radius ** 2 + radius * 0.8
    return np.stack([dx[keep], dy[keep]], axis=1).round().astype(np.int64)


def raster(coords: np.ndarray, codes: np.ndarray, x_range: tuple[float, float], y_range: tuple[float, float],
           width: int, height: int, dot: int = 5) -> np.ndarray:
    """The points drawn as dots into a ``[height, width]`` image of ``code + 1`` (0: no point; row 0 at the
    top); later points cover earlier ones. Its cost grows with the points, not with what is drawn: 100K in a
    few milliseconds, so a map is redrawn for every frame of a pan or zoom."""
    image = np.zeros((height, width), dtype=np.uint8)
    if not len(coords) or width < 1 or height < 1:
        return image
    (x0, x1), (y0, y1) = x_range, y_range
    px = ((coords[:, 0] - x0) * (width / max(x1 - x0, 1e-12))).astype(np.int64)
    py = ((y1 - coords[:, 1]) * (height / max(y1 - y0, 1e-12))).astype(np.int64)
    margin = dot
    seen = (px > -margin) & (px < width + margin) & (py > -margin) & (py < height + margin)
    px, py, values = px[seen], py[seen], (codes[seen] + 1).astype(np.uint8)
    for dx, dy in dot_offsets(dot):
        x, y = px + dx, py + dy
        inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        image[y[inside], x[inside]] = values[inside]
    return image


def points_in_polygon(coords: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Rows of ``coords`` inside ``polygon`` ([m, 2], closed implicitly), by the even-odd rule."""
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    polygon = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if len(polygon) < 3 or not len(coords):
        return np.zeros(0, dtype=np.int64)
    low, high = polygon.min(axis=0), polygon.max(axis=0)
    box = np.flatnonzero(np.all((coords >= low) & (coords <= high), axis=1))
    x, y = coords[box, 0], coords[box, 1]
    inside = np.zeros(len(box), dtype=bool)
    for (x1, y1), (x2, y2) in zip(polygon, np.roll(polygon, -1, axis=0)):
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < at)
    return box[inside]


# ---------------------------------------------------------------------------------------------
# Embedding Projector files
# ---------------------------------------------------------------------------------------------

PROJECTOR_FILES = ("vectors.tsv", "metadata.tsv")
SPRITE_MAX = 8192  # the Projector's largest sprite side


@dataclass
class ProjectorExport(Result):
    folder: str
    files: list[str]
    points: int
    dim: int
    columns: list[str]


def _tsv_cell(text: str) -> str:
    return str(text).replace("\t", " ").replace("\r", " ").replace("\n", " ")


def export_projector(space: Space, space_map: Optional[SpaceMap], folder: str | Path,
                     progress: Optional[ProgressCallback] = None,
                     cancel: Optional[CancelToken] = None) -> ProjectorExport:
    """Write the Projector's files for ``space`` (with the map's coordinates as ``map_x``/``map_y``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = space_map.rows_of(space.ids) if space_map is not None else None
    with open(folder / "vectors.tsv", "w", encoding="utf-8", newline="\n") as handle:
        for start in range(0, len(space), CHUNK):
            block = space.vectors[start:start + CHUNK]
            handle.write("".join("\t".join(f"{v:.7g}" for v in row) + "\n" for row in block))
            emit(progress, Progress("export", start + len(block), len(space), "vectors"))
            checkpoint(cancel)
    columns = ["label", "detail", *space.groups]
    if space_map is not None and len(rows) == len(space):
        columns += ["cluster", "map_x", "map_y"]
    with open(folder / "metadata.tsv", "w", encoding="utf-8", newline="\n") as handle:
        handle.write("\t".join(columns) + "\n")
        cluster_codes, cluster_names_ = space_map.groups["cluster"] if "map_x" in columns else (None, None)
        for i in range(len(space)):
            cells = [space.labels[i], space.details[i], *(values[i] for values in space.groups.values())]
            if "map_x" in columns:
                row = rows[i]
                cells += [cluster_names_[cluster_codes[row]], f"{space_map.coords[row, 0]:.6g}",
                          f"{space_map.coords[row, 1]:.6g}"]
            handle.write("\t".join(_tsv_cell(c) for c in cells) + "\n")
    files = list(PROJECTOR_FILES)
    config = {"tensorName": f"{space.kind} · {space.name}", "tensorShape": list(space.vectors.shape),
              "tensorPath": "vectors.tsv", "metadataPath": "metadata.tsv"}
    if space.thumbs and any(space.thumbs):
        side = write_sprite(space.thumbs, folder / "sprite.png")
        config["sprite"] = {"imagePath": "sprite.png", "singleImageDim": [side, side]}
        files.append("sprite.png")
    (folder / "projector_config.json").write_text(json.dumps({"embeddings": [config]}, indent=2), encoding="utf-8")
    files.append("projector_config.json")
    return ProjectorExport(str(folder), files, len(space), int(space.vectors.shape[1]), columns)


def write_sprite(thumbs: Sequence[str], path: Path) -> int:
    """The thumbnails in one square grid image (the Projector's sprite); returns each image's side."""
    from PIL import Image

    per_row = max(1, math.ceil(math.sqrt(len(thumbs))))
    side = max(8, min(64, SPRITE_MAX // per_row))
    sheet = Image.new("RGB", (per_row * side, math.ceil(len(thumbs) / per_row) * side), "white")
    for index, thumb in enumerate(thumbs):
        if not thumb:
            continue
        try:
            with Image.open(thumb) as image:
                tile = image.convert("RGB")
                tile.thumbnail((side, side))
        except OSError:
            continue
        x, y = index % per_row * side, index // per_row * side
        sheet.paste(tile, (x + (side - tile.width) // 2, y + (side - tile.height) // 2))
    sheet.save(path)
    return side


@dataclass
class ProjectorData:
    """A space read from Projector files."""

    vectors: np.ndarray  # float32 [n, dim]
    columns: list[str]
    metadata: list[list[str]]  # one row of cells per point
    coords: Optional[np.ndarray]  # [n, 2] from map_x/map_y, when present

    def column(self, name: str) -> list[str]:
        index = self.columns.index(name)
        return [row[index] if index < len(row) else "" for row in self.metadata]


def import_projector(folder: str | Path) -> ProjectorData:
    """Read ``vectors.tsv`` and ``metadata.tsv`` (a one-column file has no header, as the Projector writes it)."""
    folder = Path(folder)
    vectors_file = folder / "vectors.tsv"
    if not vectors_file.exists():
        raise UserError(f"{folder} has no vectors.tsv", hint="choose a folder exported for the Embedding Projector")
    try:
        vectors = np.loadtxt(vectors_file, delimiter="\t", dtype=np.float32, ndmin=2, encoding="utf-8")
    except ValueError as error:
        raise UserError(f"vectors.tsv cannot be read: {error}", hint="each line: numbers separated by tabs") from None
    metadata_file = folder / "metadata.tsv"
    columns, rows = ["label"], [[str(i)] for i in range(len(vectors))]
    if metadata_file.exists():
        lines = metadata_file.read_text(encoding="utf-8").split("\n")
        lines = lines[:-1] if lines and lines[-1] == "" else lines
        table = [line.split("\t") for line in lines]
        if len(table) == len(vectors) + 1:
            columns, rows = table[0], table[1:]
        elif len(table) == len(vectors):
            rows = table
        else:
            raise UserError(f"metadata.tsv has {len(table)} lines for {len(vectors)} vectors",
                            hint="one line per vector (plus a header line when there are several columns)")
    coords = None
    if "map_x" in columns and "map_y" in columns:
        x, y = columns.index("map_x"), columns.index("map_y")
        coords = np.array([[float(r[x]), float(r[y])] for r in rows], dtype=np.float32)
    return ProjectorData(vectors, columns, rows, coords)


@dataclass
class ProjectorImport(Result):
    name: str
    points: int
    dim: int
    map_file: str  # "" when the files had no coordinates


def import_projector_as_word_model(folder: str | Path, name: Optional[str] = None) -> ProjectorImport:
    """Save Projector files as a word model (labels become the words, repeats numbered) with their map."""
    from embedengine.word2vec import library
    from embedengine.word2vec.vectors import WordVectors

    data = import_projector(folder)
    name = library.check_name(name or Path(folder).resolve().name)
    seen: dict[str, int] = {}
    words = []
    for label in data.column(data.columns[0]):
        label = label.strip() or "(blank)"
        seen[label] = seen.get(label, 0) + 1
        words.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    library.save_model(WordVectors(words, data.vectors), name)
    map_file = ""
    if data.coords is not None:
        space = word_space(name)
        _, _, thumbs, groups = _display(space)
        imported = SpaceMap("words", name, "word2vec", "imported", {"from": str(folder)}, space.ids, data.coords,
                            space.labels, space.details, thumbs, groups, np.zeros(space.vectors.shape[1], np.float32),
                            np.zeros((2, space.vectors.shape[1]), np.float32), space.signature,
                            time.strftime("%Y-%m-%dT%H:%M:%S"))
        map_file = str(imported.save(space.map_path("imported")))
    return ProjectorImport(name, len(words), int(data.vectors.shape[1]), map_file)
