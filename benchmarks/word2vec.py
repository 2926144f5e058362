"""Our NumPy word2vec against gensim's on the same corpus, same settings, same run.

    .venv/bin/python benchmarks/word2vec.py [--epochs 5] [--max-tokens N] [--no-write]

Settings: skip-gram with negative sampling, dim 100, window 5, negative 5, min_count 5,
sample 1e-3, gensim workers=2. Reports effective words/s (words kept by subsampling, the number
gensim logs) and raw words/s of each, their ratio, analogy accuracy (top 30,000 words) and
WordSim-353 Spearman rho, and writes the "word2vec" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import lzma
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
if __name__ == "__main__":  # say what is missing before loading, building or training anything
    from benchmarks.check_inputs import exit_if_missing

    exit_if_missing("word2vec")

from _results import markdown_table, write_section  # noqa: E402

from embedengine.word2vec import TrainConfig, WordVectors, shipped_eval_file, train  # noqa: E402
from embedengine.word2vec.kernels import REPEAT_CAP  # noqa: E402
from embedengine.word2vec.train import BATCH_TOKENS, NOISE_GROUP_ROWS, SHARED_NEGATIVES  # noqa: E402

CORPUS = ROOT.parent / "shared" / "data" / "corpus_mix.txt.xz"
SETTINGS = dict(dim=100, window=5, negative=5, min_count=5, sample=1e-3, seed=1)


def decompress(source: Path, target: Path, max_tokens: int | None) -> int:
    """Write the corpus as plain text (first ``max_tokens`` words if given); returns its word count."""
    words = 0
    with lzma.open(source, "rt", encoding="utf-8") as reader, target.open("w", encoding="utf-8") as writer:
        for line in reader:
            writer.write(line)
            words += len(line.split())
            if max_tokens and words >= max_tokens:
                break
    return words


def quality(vectors: WordVectors) -> tuple[float, float]:
    analogies = vectors.evaluate_analogies(shipped_eval_file("analogies"), restrict_vocab=30000)
    pairs = vectors.evaluate_pairs(shipped_eval_file("pairs"))
    return analogies.accuracy, pairs.spearman


def run_ours(corpus: Path, epochs: int) -> dict:
    started = time.perf_counter()
    result = train([corpus], TrainConfig(architecture="sgns", epochs=epochs, **SETTINGS))
    total = time.perf_counter() - started
    accuracy, rho = quality(result.vectors)
    return {"name": "embedengine (NumPy)", "train_s": result.seconds, "prepare_s": total - result.seconds,
            "effective": result.words_per_s, "raw": result.raw_words_per_s, "vocab": len(result.vectors),
            "accuracy": accuracy, "rho": rho, "load": os.getloadavg()[0]}


def run_gensim(corpus: Path, epochs: int) -> dict:
    from gensim.models import Word2Vec
    from gensim.models.word2vec import LineSentence

    started = time.perf_counter()
    model = Word2Vec(vector_size=SETTINGS["dim"], window=SETTINGS["window"], negative=SETTINGS["negative"],
                     min_count=SETTINGS["min_count"], sample=SETTINGS["sample"], seed=SETTINGS["seed"],
                     sg=1, workers=2, epochs=epochs)
    model.build_vocab(LineSentence(str(corpus)))
    prepared = time.perf_counter()
    effective, raw = model.train(LineSentence(str(corpus)), total_examples=model.corpus_count, epochs=epochs)
    seconds = time.perf_counter() - prepared
    vectors = WordVectors(model.wv.index_to_key, model.wv.vectors)
    accuracy, rho = quality(vectors)
    import gensim

    return {"name": f"gensim {gensim.__version__} (workers=2)", "train_s": seconds, "prepare_s": prepared - started,
            "effective": effective / seconds, "raw": raw / seconds, "vocab": len(vectors),
            "accuracy": accuracy, "rho": rho, "load": os.getloadavg()[0]}


def report(ours: dict, theirs: dict, words: int, epochs: int) -> str:
    rows = [[r["name"], f"{r['train_s']:.1f}", f"{r['prepare_s']:.1f}", f"{r['effective']:,.0f}", f"{r['raw']:,.0f}",
             f"{r['accuracy']:.1%}", f"{r['rho']:.3f}", f"{r['vocab']:,}", f"{r['load']:.1f}"] for r in (ours, theirs)]
    table = markdown_table(["trainer", "train s", "vocab/prepare s", "effective words/s", "raw words/s",
                            "analogy (top-30k)", "WS-353 ρ", "vocabulary", "load avg at end"], rows)
    ratio = ours["effective"] / theirs["effective"]
    return f"""Corpus: `corpus_mix.txt.xz`, {words:,} words; skip-gram, negative sampling, dim 100, window 5,
negative 5, min_count 5, sample 1e-3, {epochs} epoch(s), seed 1; both trainers run one after the other
in the same process.

{table}

**Speed ratio (effective words/s, ours / gensim): {ratio:.2f}×.** Analogy difference:
{100 * (ours['accuracy'] - theirs['accuracy']):+.1f} points; WS-353 difference {ours['rho'] - theirs['rho']:+.3f}.

Definitions: *effective* words are the words kept after frequent-word subsampling (what gensim logs
as "effective words/s"); *raw* words are all words read — for gensim every token, for ours every
in-vocabulary token (rare words are dropped when the corpus is encoded). "vocab/prepare" is gensim's
`build_vocab` scan, and for ours the single read that counts words and writes the id stream.

How ours gets there without compiled code: batches of {BATCH_TOKENS["sgns"]:,} consecutive tokens; rows are
gathered once per token and the (centre, context) pairs are visited one window offset at a time as
shifted slices, so scatters touch one row per token instead of one per pair; each group of
{NOISE_GROUP_ROWS} consecutive tokens shares {SHARED_NEGATIVES} noise words (weighted by how many pairs each row is in,
scaled to word2vec's 5 per pair), so the noise term is a batched BLAS product; a producer thread
does the subsampling, windows and noise draws for the next batches while the main thread updates.

Frequent words: all updates of a batch come from the same weights, so a word occurring k times in
a batch would get k summed steps computed without feedback; with k > {REPEAT_CAP:g} they are scaled by
{REPEAT_CAP:g}/k (`kernels.damp_repeats`). Without this the 5-epoch run on this corpus diverged
(1.2 % analogy, ρ 0.26) although 1 epoch was fine; batches of 2,048 tokens diverged even sooner.
Other 5-epoch runs of ours on this corpus (separate runs, noisy machine): cap 2 → 31.0 %, ρ 0.584;
256-token batches with cap 2 → 31.6 %, ρ 0.609, 227K words/s; cap 4 (the default) → 31.1 %, ρ 0.631.

Where we are behind: WS-353 ρ. The cause is not established; the candidates are the approximations
above (shared noise words, batch-stale updates, the damping of frequent words, which WS-353 is full
of). Speed: ours uses the second
core only through BLAS and the producer thread; most time is in ~60 small NumPy calls per batch and
the single-threaded `np.add.at` scatters. Noise: the 2 cores were shared with other work during the
run (load average in the table), so absolute numbers and the ratio move by tens of percent between
runs (an earlier 1-epoch pair of runs here gave 12.0 % vs 11.2 % analogy, ρ 0.458 vs 0.412).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, help="use only the first N words of the corpus")
    parser.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    args = parser.parse_args(argv)
    if not CORPUS.exists():
        print(f"{CORPUS} not found", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "corpus.txt"
        words = decompress(CORPUS, corpus, args.max_tokens)
        theirs = run_gensim(corpus, args.epochs)
        print(theirs, flush=True)
        ours = run_ours(corpus, args.epochs)
        print(ours, flush=True)
    markdown = report(ours, theirs, words, args.epochs)
    print(markdown)
    if not args.no_write:
        write_section("word2vec", markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
