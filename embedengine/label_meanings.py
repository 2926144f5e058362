"""Find photos by what a text means, through ResNet50's labels: ``horse`` finds the sorrel, ``a dog on a
beach`` the dog breeds and the seashore, ``something to drink`` the bottles and glasses.

``models build`` writes each ImageNet label with its WordNet gloss (``label-glosses.json``) and their
MiniLM vectors (``label-vectors.npy``, see ``models/label_meanings.py``). A query is encoded with the same
MiniLM; the labels within :data:`MARGIN` of the best-matching one count, weighted by how close they are;
an image scores the sum of its label probabilities times those weights.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .linalg import normalise
from .manifest import verified_model_path
from .runtime import models_dir

GLOSSES_FILE = "label-glosses.json"
VECTORS_FILE = "label-vectors.npy"
CANDIDATES = 25  # labels looked at per query
MARGIN = 0.2  # cosine below the best label's at which a label stops counting (linear weight 1 → 0)


@dataclass(frozen=True)
class RelatedLabel:
    """A label close in meaning to the query: its cosine, and its weight in (0, 1] (1 for the best)."""

    label: str
    gloss: str
    score: float
    weight: float


class LabelMeanings:
    """The labels' sentence vectors and the MiniLM that encodes queries into the same space."""

    def __init__(self, entries: Sequence[dict], vectors: np.ndarray, encoder=None) -> None:
        if len(entries) != len(vectors):
            raise ValueError(f"{len(entries)} labels but {len(vectors)} label vectors")
        self.entries = list(entries)
        self.vectors = normalise(np.asarray(vectors, dtype=np.float32))
        self._encoder = encoder

    @classmethod
    def load(cls) -> "LabelMeanings":
        """From the models folder, files checked against the manifest (``ModelMissingError`` when not built)."""
        entries = json.loads(verified_model_path(GLOSSES_FILE).read_text(encoding="utf-8"))
        return cls(entries, np.load(verified_model_path(VECTORS_FILE)))

    @property
    def encoder(self):
        if self._encoder is None:
            from .text import get_text_encoder

            self._encoder = get_text_encoder("fp32")
        return self._encoder

    def related(self, text: str, limit: int = CANDIDATES, margin: float = MARGIN) -> list[RelatedLabel]:
        """The labels closest in meaning to ``text``, best first, those within ``margin`` of the best."""
        query = normalise(np.asarray(self.encoder.encode([text]), dtype=np.float32))[0]
        scores = self.vectors @ query
        order = np.argsort(-scores)[:limit]
        best = float(scores[order[0]])
        related = []
        for index in order:
            score = float(scores[index])
            if score <= best - margin:
                break
            entry = self.entries[int(index)]
            related.append(RelatedLabel(entry["label"], entry.get("gloss", ""), score, (score - best + margin) / margin))
        return related


def meaning_scores(label_index: Mapping[str, Sequence[tuple[int, float]]],
                   related: Sequence[RelatedLabel]) -> dict[int, float]:
    """Item id → Σ probability × weight over its labels among ``related`` (``label_index``: label → [(item, p)])."""
    scores: dict[int, float] = {}
    for label in related:
        for item_id, probability in label_index.get(label.label, ()):
            scores[item_id] = scores.get(item_id, 0.0) + probability * label.weight
    return scores


_LOADED: dict[Path, LabelMeanings] = {}
_LOCK = threading.Lock()


def label_meanings() -> LabelMeanings:
    """The models folder's :class:`LabelMeanings`, loaded once per process (``ModelMissingError`` when not built)."""
    folder = models_dir()
    with _LOCK:
        if folder not in _LOADED:
            _LOADED[folder] = LabelMeanings.load()
        return _LOADED[folder]
