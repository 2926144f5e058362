"""`embedstudio train|similar|analogy|eval|convert|scan`: word vectors from the command line."""

from __future__ import annotations

import argparse
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from embedengine.errors import UserError
from embedengine.tasks import CancelToken

from embedengine.word2vec import TrainConfig, scan_corpus, shipped_eval_file, train
from embedengine.word2vec.evaluate import analogy_score, pairs_score, section_score
from embedengine.word2vec.library import open_vectors, save_model, write_vectors_file

from .common import TerminalProgress, add_command


MODEL_HELP = "vectors file (.npz/.txt/.bin/.vec) or saved model name"

# What each numeric training setting means; the default (gensim's) is appended.
TRAIN_SETTINGS = (
    ("dim", int, "vector size"),
    ("window", int, "context words taken on each side of a word"),
    ("negative", int, "negative samples per word for sgns and cbow, unused by softmax"),
    ("min_count", int, "words seen fewer times than this stay out of the vocabulary"),
    ("sample", float, "down-sampling threshold for frequent words, 0 for none"),
    ("alpha", float, "initial learning rate, lowered linearly to almost 0"),
    ("epochs", int, "passes over the corpus"),
    ("seed", int, "random seed: the same seed and corpus give the same vectors"),
    ("max_vocab", int, "keep at most this many of the most frequent words"),
)


def register(subparsers) -> None:
    _register_train(subparsers)
    scan = add_command(subparsers, "scan", run_scan, "count a corpus: tokens, vocabulary size, warnings",
                       format_text=format_scan)
    scan.add_argument("corpus", nargs="+", help="text files or folders")
    scan.add_argument("--min-count", type=int, default=5,
                      help="words seen fewer times than this stay out of the vocabulary (default %(default)s)")
    scan.add_argument("--max-vocab", type=int,
                      help="keep at most this many of the most frequent words (default: no limit)")
    scan.add_argument("--keep-digits", action="store_true", help="keep numbers as words")
    similar = add_command(subparsers, "similar", run_similar, "words nearest to a word", format_text=format_ranked)
    similar.add_argument("model", help=MODEL_HELP)
    similar.add_argument("word", help="the word whose neighbours to list")
    similar.add_argument("-n", type=positive_int, default=10, help="how many neighbours (default %(default)s)")
    analogy = add_command(subparsers, "analogy", run_analogy, "A is to B as C is to ?", format_text=format_ranked)
    analogy.add_argument("model", help=MODEL_HELP)
    analogy.add_argument("a", metavar="A", help="first word of the known pair (man in man : king :: woman : ?)")
    analogy.add_argument("b", metavar="B", help="second word of the known pair (king)")
    analogy.add_argument("c", metavar="C", help="the word to complete (woman); the answers are to C what B is to A")
    analogy.add_argument("-n", type=positive_int, default=5, help="how many answers (default %(default)s)")
    analogy.add_argument("--mul", action="store_true", help="3CosMul instead of 3CosAdd")
    evaluate = add_command(subparsers, "eval", run_eval, "analogy accuracy and word-similarity correlation",
                           format_text=format_eval)
    evaluate.add_argument("model", help=MODEL_HELP)
    evaluate.add_argument("--analogies", type=Path, help="questions-words file (default: shipped Google set)")
    evaluate.add_argument("--pairs", type=Path, help="word pairs with human scores (default: shipped WordSim-353)")
    evaluate.add_argument("--restrict-vocab", type=positive_int, default=30000, metavar="N",
                          help="score only analogy questions whose words are all among the N most frequent "
                               "(default %(default)s, as gensim)")
    evaluate.add_argument("--mul", action="store_true", help="3CosMul instead of 3CosAdd")
    convert = add_command(subparsers, "convert", run_convert, "convert vectors (.txt/.vec/.bin/.npz by suffix)",
                          format_text=lambda r: f"wrote {r['vocab_size']:,} words × {r['dim']} to {r['out']}")
    convert.add_argument("model", help=MODEL_HELP)
    convert.add_argument("out", type=Path, help="file to write; its suffix (.txt/.vec/.bin/.npz) picks the format")


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _register_train(subparsers) -> None:
    parser = add_command(subparsers, "train", run_train, "train word vectors on text files or folders",
                         format_text=format_train)
    defaults = TrainConfig()
    parser.add_argument("corpus", nargs="+", help="text files or folders")
    parser.add_argument("--out", required=True, help="output file (.npz/.txt/.bin) or a name for the model library")
    parser.add_argument("--arch", choices=["sgns", "cbow", "softmax"], default=defaults.architecture,
                        help="skip-gram with negative sampling, CBOW, or skip-gram with full softmax "
                             "(default %(default)s)")
    for flag, kind, meaning in TRAIN_SETTINGS:
        default = getattr(defaults, flag)
        parser.add_argument("--" + flag.replace("_", "-"), type=kind, default=default,
                            help=f"{meaning} (default {'no limit' if default is None else '%(default)s'})")
    parser.add_argument("--keep-digits", action="store_true", help="keep numbers as words")
    parser.add_argument("--checkpoint", type=Path, help="checkpoint file written every 30 s (and on Ctrl-C)")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")


def run_train(args: argparse.Namespace) -> dict:
    if args.resume and not args.checkpoint:
        raise UserError("--resume needs --checkpoint FILE: the checkpoint to continue from.",
                        hint="Pass the same --checkpoint file the interrupted run wrote.")
    config = TrainConfig(architecture=args.arch, dim=args.dim, window=args.window, negative=args.negative,
                         min_count=args.min_count, max_vocab=args.max_vocab, sample=args.sample, alpha=args.alpha,
                         epochs=args.epochs, seed=args.seed, keep_digits=args.keep_digits)
    bar = TerminalProgress()
    try:
        with ctrl_c_cancels() as token:
            result = train(args.corpus, config, progress=bar, cancel=token, checkpoint_path=args.checkpoint,
                           resume=args.resume)
    finally:
        bar.close()
    saved = _save(result.vectors, args.out)  # after Ctrl-C: the partial model (and the checkpoint, if asked)
    return {"out": saved, "vocab_size": len(result.vectors), "dim": result.vectors.dim,
            "epochs_done": result.epochs_done, "seconds": result.seconds, "words_per_s": result.words_per_s,
            "raw_words_per_s": result.raw_words_per_s, "final_loss": _last_loss(result.loss_history),
            "cancelled": result.cancelled, "summary": result.summary}


@contextmanager
def ctrl_c_cancels() -> Iterator[CancelToken]:
    """A cancel token that Ctrl-C sets, so training stops cleanly and keeps what it learnt."""
    token = CancelToken()
    try:
        previous = signal.signal(signal.SIGINT, lambda *_: token.cancel())
    except ValueError:  # not the main thread: leave Ctrl-C alone
        yield token
        return
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)


def _last_loss(history: list) -> float | None:
    return history[-1][1] if history else None


def _save(vectors, out: str) -> str:
    if Path(out).suffix.lower() in (".npz", ".txt", ".vec", ".bin") or "/" in out:
        return str(write_vectors_file(vectors, out))
    return str(save_model(vectors, out).path)


def run_scan(args: argparse.Namespace):
    return scan_corpus(args.corpus, args.min_count, args.max_vocab, args.keep_digits, progress=TerminalProgress())


def _ranked(pairs) -> list[dict]:
    return [{"word": word, "score": score} for word, score in pairs]


def run_similar(args: argparse.Namespace) -> dict:
    vectors = open_vectors(args.model)
    return {"model": vectors.name, "query": args.word, "results": _ranked(vectors.most_similar(args.word, topn=args.n))}


def run_analogy(args: argparse.Namespace) -> dict:
    vectors = open_vectors(args.model)
    method = "mul" if args.mul else "add"
    results = vectors.most_similar(positive=[args.b, args.c], negative=[args.a], topn=args.n, method=method)
    return {"model": vectors.name, "query": f"{args.a} : {args.b} :: {args.c} : ?", "method": method,
            "results": _ranked(results)}


def run_eval(args: argparse.Namespace) -> dict:
    vectors = open_vectors(args.model)
    analogies = args.analogies or shipped_eval_file("analogies")
    pairs = args.pairs or shipped_eval_file("pairs")
    return {"model": vectors.name,
            "analogies": {"file": str(analogies), **vars(vectors.evaluate_analogies(
                analogies, restrict_vocab=args.restrict_vocab, method="mul" if args.mul else "add"))},
            "pairs": {"file": str(pairs), **vars(vectors.evaluate_pairs(pairs))}}


def run_convert(args: argparse.Namespace) -> dict:
    vectors = open_vectors(args.model)
    out = write_vectors_file(vectors, args.out)
    return {"out": str(out), "vocab_size": len(vectors), "dim": vectors.dim}


def format_train(result: dict) -> str:
    loss = f", final loss {result['final_loss']:.3f}" if result["final_loss"] is not None else ""
    state = "cancelled after" if result["cancelled"] else "trained"
    return (f"{state} {result['epochs_done']:.2f} epochs in {result['seconds']:.1f} s "
            f"({result['words_per_s']:,.0f} effective words/s{loss}); {result['vocab_size']:,} words × "
            f"{result['dim']} saved to {result['out']}")


def format_scan(summary) -> str:
    lines = [f"{len(summary.files)} file(s), {summary.tokens:,} words, {summary.unique_words:,} distinct, "
             f"vocabulary {summary.vocab_size:,}"]
    return "\n".join(lines + [f"warning: {w}" for w in summary.warnings])


def format_ranked(result: dict) -> str:
    lines = [f"{result['query']}"]
    lines += [f"  {row['word']:<24} {row['score']:.4f}" for row in result["results"]]
    return "\n".join(lines)


def format_eval(result: dict) -> str:
    analogies, pairs = result["analogies"], result["pairs"]
    lines = [f"analogies: {analogy_score(analogies)}"]
    lines += [f"  {s['name']:<28} {section_score(s)}" for s in analogies["sections"]]
    lines.append(f"word pairs: {pairs_score(pairs)}")
    return "\n".join(lines)
