"""A tester's reproductions: changed or damaged model files, lying word-vector headers, bad arguments,
a full disk and unexpected errors. Each one is a clear error (CLI: exit code 2, one JSON error document
with a hint, no traceback), never a silent wrong answer or a traceback.

The real built models are never touched: each test works on a copy of the models folder (the small
files copied, the large ones linked and copied only before a test changes them).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from embedengine import manifest as model_manifest
from embedengine.cli import main as engine_main
from embedengine.errors import UserError
from embedengine.runtime import ModelDamagedError, ModelMissingError, data_home, make_session
from models.cli import main as models_main

ROOT = Path(__file__).resolve().parents[1]
LARGE = ("minilm.onnx", "minilm-int8.onnx", "resnet50.onnx")
REBUILD = "run `embedstudio models build` to rebuild it"


# ---- helpers -------------------------------------------------------------------------------------
class ModelsCopy:
    """A models folder beside the real one: small files copied, large ones linked until changed."""

    def __init__(self, source: Path, folder: Path) -> None:
        self.folder = folder
        folder.mkdir()
        for path in source.iterdir():
            if path.name in LARGE or path.is_dir():  # folders of models (ocr/) too
                (folder / path.name).symlink_to(path)
            elif path.is_file():
                shutil.copyfile(path, folder / path.name)

    def own(self, name: str) -> Path:
        """``name`` as a real file of this folder (a link is replaced by a copy), safe to change."""
        path = self.folder / name
        if path.is_symlink():
            target = path.resolve()
            path.unlink()
            shutil.copyfile(target, path)
        return path

    def flip_byte(self, name: str, offset: int | None = None) -> Path:
        """Change one byte of ``name``, keeping its size (a tampered or bit-rotten file)."""
        path = self.own(name)
        with open(path, "r+b") as handle:
            size = handle.seek(0, os.SEEK_END)
            position = size // 2 if offset is None else offset
            handle.seek(position)
            byte = handle.read(1)
            handle.seek(position)
            handle.write(bytes([byte[0] ^ 0x01]))
        return path

    def replace(self, name: str, content: bytes) -> Path:
        path = self.own(name)
        path.write_bytes(content)
        return path

    def record_as_built(self, name: str) -> None:
        """Rewrite the manifest so that ``name`` (as it is now) is what was built: only loading can object."""
        data = json.loads((self.folder / "manifest.json").read_text())
        for entry in data["models"].values():
            if name in entry["files"]:
                path = self.folder / name
                entry["files"][name].update(sha256=model_manifest.file_sha256(path), size=path.stat().st_size)
        (self.folder / "manifest.json").write_text(json.dumps(data))


@pytest.fixture
def models_copy(models_dir, tmp_path, monkeypatch) -> ModelsCopy:
    copy = ModelsCopy(models_dir, tmp_path / "models")
    monkeypatch.setenv("EMBEDSTUDIO_MODELS", str(copy.folder))
    return copy


def run_cli(*argv, env: dict | None = None) -> tuple[int, dict, str]:
    """The whole `embedstudio` command in a fresh process (its models and encoders are its own)."""
    code = "import sys; from embedstudio import main; sys.exit(main(sys.argv[1:]))"
    args = [os.fsencode(sys.executable), b"-c", code.encode(), *(a if isinstance(a, bytes) else os.fsencode(str(a))
                                                                  for a in argv)]
    done = subprocess.run(args, capture_output=True, cwd=ROOT, env={**os.environ, **(env or {})}, timeout=240)
    stdout, stderr = done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr and "Traceback" not in stdout, stderr
    lines = stdout.strip().splitlines()
    assert len(lines) == 1, stdout  # exactly one JSON document
    return done.returncode, json.loads(lines[0]), stderr


def cli_json(capsys, *argv, models: bool = False) -> tuple[int, dict]:
    """One in-process command with --json: its exit code and its one JSON document (nothing on stderr)."""
    code = (models_main if models else engine_main)([*map(str, argv), "--json"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1, captured.out
    return code, json.loads(lines[0])


def assert_user_error(code: int, error: dict, *fragments: str) -> None:
    assert code == 2, error
    assert error.get("error") and error.get("hint"), error
    text = json.dumps(error)
    for fragment in fragments:
        assert fragment in text, (fragment, error)


# ---- 1. a model file changed after it was built --------------------------------------------------
def test_a_tampered_tokenizer_of_the_same_size_is_refused_with_the_rebuild_hint(models_copy):
    from embedengine.text import TextEncoder

    path = models_copy.flip_byte("tokenizer.json")
    assert path.stat().st_size == (models_copy.folder / "tokenizer.json").stat().st_size
    with pytest.raises(ModelDamagedError) as caught:
        TextEncoder().encode(["hello"])
    assert str(caught.value) == (f"{path} does not match the hash recorded when it was built "
                                 "(it was changed or damaged)")
    assert caught.value.hint == REBUILD
    code, error, _ = run_cli("encode", "text", "hello", "--json")
    assert_user_error(code, error, "tokenizer.json does not match the hash recorded", REBUILD)


def test_a_tampered_onnx_model_is_refused_by_the_image_encoder_and_the_cli(models_copy, tmp_path):
    from embedengine.image import ImageEncoder

    models_copy.flip_byte("resnet50.onnx")
    with pytest.raises(ModelDamagedError, match="resnet50.onnx does not match the hash recorded"):
        ImageEncoder()
    picture = tmp_path / "grey.png"
    from PIL import Image

    Image.new("RGB", (32, 32), (128, 128, 128)).save(picture)
    code, error, _ = run_cli("encode", "image", picture, "--json")
    assert_user_error(code, error, "resnet50.onnx does not match the hash recorded", REBUILD)


def test_a_model_file_is_hashed_once_per_process_until_it_changes(models_copy):
    before = model_manifest.hashes_computed()
    first = model_manifest.verified_model_path("labels.json")
    assert model_manifest.verified_model_path("labels.json") == first
    assert model_manifest.hashes_computed() == before + 1  # the second check used the remembered hash
    models_copy.flip_byte("labels.json", offset=5)
    with pytest.raises(ModelDamagedError, match="labels.json does not match the hash recorded"):
        model_manifest.verified_model_path("labels.json")
    assert model_manifest.hashes_computed() == before + 2


def test_without_a_manifest_the_models_count_as_not_built(models_copy):
    (models_copy.folder / "manifest.json").unlink()
    with pytest.raises(ModelMissingError) as caught:
        model_manifest.verified_model_path("tokenizer.json")
    assert "manifest.json is missing" in str(caught.value) and "models build" in caught.value.hint
    code, error, _ = run_cli("encode", "text", "hello", "--json")
    assert_user_error(code, error, "manifest.json is missing", "embedstudio models build")


def test_models_build_rebuilds_a_changed_model_and_says_why(models_copy, capsys):
    models_copy.flip_byte("int8-scores.onnx", offset=20)
    code, info = cli_json(capsys, "models", "info", models=True)
    assert code == 0
    state = info["verification"]["int8-scores"]
    assert not state["ok"] and "does not match the hash recorded" in state["problem"]
    assert info["verification"]["minilm"]["ok"] and info["verification"]["resnet50"]["ok"]
    code, result = cli_json(capsys, "models", "build", "--only", "int8-scores", models=True)
    assert code == 0 and result["built"] == ["int8-scores"] and result["skipped"] == []
    (rebuilt,) = result["rebuilt"]
    assert rebuilt["model"] == "int8-scores" and "does not match the hash recorded" in rebuilt["reason"]
    code, info = cli_json(capsys, "models", "info", models=True)
    assert all(state["ok"] for state in info["verification"].values())
    code, result = cli_json(capsys, "models", "build", "--only", "int8-scores", models=True)
    assert result["built"] == [] and result["skipped"] == ["int8-scores"] and result["rebuilt"] == []


def test_the_launcher_counts_a_changed_model_as_missing(models_copy):
    import embedstudio as launcher

    assert launcher.missing_models() == []
    models_copy.flip_byte("int8-scores.onnx", offset=20)
    assert launcher.missing_models() == ["int8-scores"]


# ---- 2. damaged model files, tokenizer, labels, manifest --------------------------------------------
CORRUPTIONS = {
    "truncated": lambda data: data[: len(data) // 3],
    "garbage": lambda data: b"\x00\xffnot what was built\x13" * 8,
    "empty": lambda data: b"",
}


@pytest.mark.parametrize("name", ["tokenizer.json", "labels.json", "int8-scores.onnx", "minilm-int8.onnx"])
@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_damaged_model_file_is_one_clear_error_naming_it(models_copy, name, corruption):
    path = models_copy.own(name)
    models_copy.replace(name, CORRUPTIONS[corruption](path.read_bytes()))
    with pytest.raises(ModelDamagedError) as caught:
        model_manifest.verified_model_path(name)
    assert str(path) in str(caught.value) and caught.value.hint == REBUILD


LOADERS = {
    "tokenizer.json": ("a tokenizer", lambda path: model_manifest.read_tokenizer(path)),
    "labels.json": ("class labels", lambda path: model_manifest.read_labels(path)),
    "int8-scores.onnx": ("an ONNX model", lambda path: make_session(path, ["CPUExecutionProvider"])),
}


@pytest.mark.parametrize("name", sorted(LOADERS))
@pytest.mark.parametrize("corruption", ["truncated", "garbage"])
def test_a_damaged_file_recorded_as_built_still_fails_to_load_clearly(models_copy, name, corruption):
    path = models_copy.own(name)
    models_copy.replace(name, CORRUPTIONS[corruption](path.read_bytes()))
    models_copy.record_as_built(name)  # the hash check passes: only the loader can notice
    what, load = LOADERS[name]
    with pytest.raises(ModelDamagedError) as caught:
        load(model_manifest.verified_model_path(name))
    assert str(caught.value).startswith(f"{path} cannot be loaded as {what} (") and caught.value.hint == REBUILD


def test_labels_that_are_json_but_not_labels_are_refused(models_copy):
    models_copy.replace("labels.json", b'{"0": "tench"}')
    models_copy.record_as_built("labels.json")
    with pytest.raises(ModelDamagedError, match="cannot be loaded as class labels"):
        model_manifest.read_labels(model_manifest.verified_model_path("labels.json"))


@pytest.mark.parametrize("content", [b"", b"{\"models\": {\"minilm\": ", b"\xff\xfe\x00garbage",
                                     b"[1, 2, 3]", b'{"models": {"minilm": {"files": {"tokenizer.json": {}}}}}'])
def test_a_damaged_manifest_is_one_clear_error_and_models_build_recovers(models_copy, capsys, content):
    (models_copy.folder / "manifest.json").write_bytes(content)
    with pytest.raises(UserError) as caught:
        model_manifest.verified_model_path("tokenizer.json")
    assert "manifest.json" in str(caught.value) and "is damaged" in str(caught.value)
    assert "models build" in caught.value.hint
    code, error = cli_json(capsys, "models", "info", models=True)
    assert_user_error(code, error, "manifest.json", "is damaged", "models build")
    code, result = cli_json(capsys, "models", "build", "--only", "int8-scores", models=True)
    assert code == 0 and result["built"] == ["int8-scores"]
    assert "manifest.json" in result["rebuilt"][0]["reason"]
    assert model_manifest.verified_model_path("int8-scores.onnx").name == "int8-scores.onnx"


def test_a_damaged_model_reaches_the_cli_as_one_json_error(models_copy):
    models_copy.replace("tokenizer.json", b"{\"truncated\": ")
    code, error, _ = run_cli("encode", "text", "hello", "--json")
    assert_user_error(code, error, "tokenizer.json", REBUILD)
    (models_copy.folder / "manifest.json").write_text("{ not json")
    code, error, _ = run_cli("encode", "text", "hello", "--json")
    assert_user_error(code, error, "manifest.json", "is damaged")


# ---- 3. word-vector files whose header does not describe the data -----------------------------------
WORDS = ["water", "fire", "earth", "air", "stone", "river"]


def write_bin(path: Path, header: bytes, vectors: np.ndarray, newline: bool = False) -> Path:
    with open(path, "wb") as handle:
        handle.write(header)
        for word, row in zip(WORDS, vectors):
            handle.write(word.encode() + b" " + row.astype("<f4").tobytes() + (b"\n" if newline else b""))
    return path


@pytest.fixture
def word_rows() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(len(WORDS), 8)).astype(np.float32)


def test_an_honest_binary_file_loads(tmp_path, word_rows):
    from embedengine.word2vec.formats import load_word2vec_format

    for newline in (False, True):
        vectors = load_word2vec_format(write_bin(tmp_path / "good.bin", b"6 8\n", word_rows, newline))
        assert vectors.words == WORDS and np.array_equal(vectors.vectors, word_rows)


@pytest.mark.parametrize("header", [b"6 4\n", b"6 2\n", b"6 7\n", b"6 1\n", b"6 9\n", b"5 8\n", b"3 8\n",
                                    b"7 8\n", b"0 8\n", b"6 0\n", b"6 999999999\n"])
@pytest.mark.parametrize("newline", [False, True])
def test_a_binary_header_that_lies_is_a_clear_error(tmp_path, word_rows, header, newline):
    from embedengine.word2vec.formats import load_word2vec_format

    path = write_bin(tmp_path / "lying.bin", header, word_rows, newline)
    with pytest.raises(UserError, match="Cannot read word vectors from lying.bin") as caught:
        load_word2vec_format(path)
    assert caught.value.hint


def test_a_lying_binary_file_is_one_json_error_from_the_cli(tmp_path, word_rows, capsys):
    path = write_bin(tmp_path / "lying.bin", b"6 4\n", word_rows)
    code, error = cli_json(capsys, "similar", path, "water")
    assert_user_error(code, error, "lying.bin", "header")


@pytest.mark.parametrize("body, reason", [
    ("2 3\nwater 1 2 3\nfire 4 5 6\nearth 7 8 9\n", "the header's count does not match"),
    ("3 3\nwater 1 2 3\nfire 4 5 6\n", "truncated"),
    ("2 3\nwater 1 2 3\nfire 4 5\n", "has 2 values, expected 3"),
    ("2 3\nwater 1 2 3\nfire 4 x 6\n", "not a number"),
    ("2 3\nwater 1 nan 3\nfire 4 5 6\n", "not a finite number"),
    ("2 3\nwater 1 2 3\nfire 4 inf 6\n", "not a finite number"),
])
def test_a_text_file_that_does_not_match_its_header_is_a_clear_error(tmp_path, body, reason):
    from embedengine.word2vec.formats import load_word2vec_format

    path = tmp_path / "vectors.txt"
    path.write_text(body)
    with pytest.raises(UserError, match="Cannot read word vectors") as caught:
        load_word2vec_format(path)
    assert reason in str(caught.value)


# ---- 4. arguments ---------------------------------------------------------------------------------
@pytest.fixture
def two_words(tmp_path) -> Path:
    path = tmp_path / "two.txt"
    path.write_text("hello world\n" * 3)
    return path


@pytest.mark.parametrize("flags, fragment", [
    (["--dim", "100000000"], "dim must be at most 10,000"),
    (["--dim", "0"], "dim must be at least 1"),
    (["--window", "0"], "window must be at least 1"),
    (["--window", "1000000"], "window must be at most"),
    (["--epochs", "1000000000"], "epochs must be at most"),
    (["--negative", "-1"], "negative must be between"),
    (["--negative", "100000"], "negative must be between"),
    (["--min-count", "-3"], "min_count must be at least 1"),
    (["--sample", "nan"], "sample must be a finite number"),
    (["--sample", "inf"], "sample must be a finite number"),
    (["--sample", "-0.5"], "sample must be between 0 and 1"),
    (["--alpha", "inf"], "alpha must be a finite number"),
    (["--alpha", "-1"], "need 0 < min_alpha <= alpha <= 1"),
    (["--seed", "-1"], "seed must be at least 0"),
    (["--max-vocab", "0"], "max_vocab must be at least 1"),
    (["--dim", "inf"], "invalid int value"),
    (["--dim", "1e9"], "invalid int value"),
    (["--epochs", "many"], "invalid int value"),
])
def test_training_sizes_are_checked_before_anything_is_allocated(capsys, two_words, tmp_path, flags, fragment):
    code, error = cli_json(capsys, "train", two_words, "--out", tmp_path / "out.npz", "--min-count", "1", *flags)
    assert_user_error(code, error, fragment)
    assert not (tmp_path / "out.npz").exists()


def test_the_memory_estimate_refuses_a_run_that_cannot_fit():
    from embedengine.word2vec.train import TrainConfig, available_memory, check_memory, estimate_memory

    config = TrainConfig(dim=10_000)
    assert estimate_memory(1_000_000, config) > 3 * 1_000_000 * 10_000 * 4 - 1
    assert estimate_memory(2, TrainConfig()) < 100e6
    with pytest.raises(UserError) as caught:
        check_memory(1_000_000, config, available=8_000_000_000)
    assert "needs about 120.4 GB of memory; 8.0 GB available" in str(caught.value) and caught.value.hint
    assert check_memory(2, TrainConfig(), available=8_000_000_000) < 100e6
    room = available_memory()
    assert room is None or room > 0


def test_resume_from_a_junk_checkpoint_is_a_clear_error(capsys, two_words, tmp_path):
    out, checkpoint = tmp_path / "out.npz", tmp_path / "run.ckpt.npz"
    base = ["train", two_words, "--out", out, "--min-count", "1", "--dim", "8", "--epochs", "1",
            "--checkpoint", checkpoint, "--resume"]
    junk = {
        "text": b"this is not a checkpoint\n",
        "zip header": b"PK\x03\x04" + b"\x00" * 40,
        "empty": b"",
    }
    for content in junk.values():
        checkpoint.write_bytes(content)
        code, error = cli_json(capsys, *base)
        assert_user_error(code, error, "Cannot resume from checkpoint", "Start without --resume")
    with zipfile.ZipFile(checkpoint, "w") as archive:  # an .npz, but not of a checkpoint
        archive.writestr("other.npy", b"")
    code, error = cli_json(capsys, *base)
    assert_user_error(code, error, "Cannot resume from checkpoint")
    np.savez(checkpoint, syn0=np.zeros((1, 1)), syn1=np.zeros((1, 1)), meta=np.array(json.dumps({"config": 3})))
    code, error = cli_json(capsys, *base)
    assert_user_error(code, error, "Cannot resume from checkpoint")
    code, error = cli_json(capsys, "train", two_words, "--out", out, "--resume")
    assert_user_error(code, error, "--resume needs --checkpoint")
    assert not out.exists()


def test_a_checkpoint_with_the_wrong_shapes_is_refused(tmp_path):
    from embedengine.word2vec.train import RunState, TrainConfig, Weights, load_checkpoint, save_checkpoint
    from embedengine.word2vec.vocab import Vocabulary

    config = TrainConfig(dim=8, epochs=1, min_count=1)
    vocab = Vocabulary(["hello", "world"], np.array([3, 3]), np.array([0, 1]))
    checkpoint = tmp_path / "run.npz"
    save_checkpoint(checkpoint, Weights(2, 9, 1), RunState(), config, vocab)  # settings say 8, weights hold 9
    with pytest.raises(UserError, match=r"Cannot resume from checkpoint .*\(its weights are"):
        load_checkpoint(checkpoint, Weights(2, 8, 1), config, vocab)


@pytest.fixture
def word_model(tmp_path) -> Path:
    from embedengine.word2vec import WordVectors

    path = tmp_path / "model.npz"
    WordVectors(WORDS, np.random.default_rng(1).normal(size=(6, 8)).astype(np.float32), None, {}, "t").save(path)
    return path


@pytest.mark.parametrize("argv", [
    ["similar", "{model}", b"\xff"],
    ["analogy", "{model}", b"water", b"\xfe\xff", b"earth"],
    ["docs", "search", b"tides \xff"],
    ["docs", "compare", b"\xff"],
    ["encode", "text", b"ok", b"\xff\xfe"],
    ["images", "search", "--label", b"\xff"],
])
def test_a_query_that_is_not_utf8_is_a_clear_error(word_model, argv):
    args = [str(word_model) if a == "{model}" else a for a in argv]
    code, error, _ = run_cli(*args, "--json")
    assert_user_error(code, error, "is not valid UTF-8 text")


def test_a_file_name_that_is_not_utf8_is_still_accepted(tmp_path, word_model):
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/model-\xff.npz"))
    shutil.copyfile(word_model, odd)
    code, result, _ = run_cli("similar", os.fsencode(odd), "water", "-n", "2", "--json")
    assert code == 0 and len(result["results"]) == 2


def test_explore_refuses_undecodable_text():
    from embedengine.explore import parse_query, sentences_query

    with pytest.raises(UserError, match="not valid UTF-8 text"):
        parse_query("king\udcff")
    with pytest.raises(UserError, match="not valid UTF-8 text"):
        sentences_query(["fine", "bad \udcfe"])


@pytest.mark.parametrize("flags", [["-n", "0"], ["-n", "-3"], ["-n", "lots"]])
def test_result_counts_must_be_positive(capsys, word_model, flags):
    code, error = cli_json(capsys, "similar", word_model, "water", *flags)
    assert_user_error(code, error, "-n")


def test_a_usage_error_with_json_is_one_json_document(capsys):
    code, error = cli_json(capsys, "train", "--no-such-flag")
    assert_user_error(code, error, "embedstudio train", "--help")
    assert error["type"] == "UsageError"


# ---- 5. a full disk, system errors and bugs ----------------------------------------------------------
@pytest.fixture
def notes(tmp_path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "tides.txt").write_text("Tides are caused by the gravity of the moon pulling on the oceans.\n")
    (folder / "volcano.txt").write_text("A volcano erupts when magma rises through the crust.\n")
    return folder


def test_a_full_disk_during_an_index_run_is_a_clear_error_and_the_store_stays_usable(notes, capsys, monkeypatch):
    real_fsync = os.fsync

    def disk_full(fd):  # the one patch allowed: the disk. Vector files fill it up.
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".f16"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", disk_full)
    code, error = cli_json(capsys, "docs", "index", notes, "--collection", "full")
    assert_user_error(code, error, "the disk is full (", "MB free at ")
    assert error["folder"] and error["free_mb"] is not None
    monkeypatch.setattr(os, "fsync", real_fsync)
    code, report = cli_json(capsys, "docs", "index", notes, "--collection", "full")
    assert code == 0, report
    code, found = cli_json(capsys, "docs", "search", "what causes tides", "--collection", "full", "-k", "1")
    assert code == 0 and found["hits"][0]["file_name"] == "tides.txt"


def failing_command(exception: BaseException):
    def register(subparsers) -> None:
        from embedengine.cli.common import add_command

        def handler(args):
            raise exception

        add_command(subparsers, "fail", handler, "raise an exception (tests)")

    return register


def run_failing(capsys, exception: BaseException) -> tuple[int, dict, str]:
    code = engine_main(["fail", "--json"], registrars=[failing_command(exception)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    (line,) = captured.out.strip().splitlines()
    return code, json.loads(line), captured.err


@pytest.mark.parametrize("exception, fragments", [
    (OSError(errno.ENOSPC, "No space left on device", "/definitely/not/here/vectors.f16"), ["the disk is full (", "MB free at /"]),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), ["disk quota is used up"]),
    (OSError(errno.EROFS, "Read-only file system", "/mnt/ro/index.sqlite"), ["/mnt/ro/index.sqlite is on a read-only file system"]),
    (PermissionError(errno.EACCES, "Permission denied", "/root/secret"), ["permission denied: /root/secret"]),
    (__import__("sqlite3").OperationalError("database or disk is full"), ["the disk is full ("]),
])
def test_system_errors_become_user_errors(capsys, exception, fragments):
    code, error, _ = run_failing(capsys, exception)
    assert_user_error(code, error, *fragments)


def test_an_unexpected_exception_is_reported_as_a_bug_with_the_details_in_a_log(capsys):
    code, error, err = run_failing(capsys, KeyError("surprise"))
    log = data_home() / "logs" / "cli-errors.log"
    assert code == 2 and error["type"] == "KeyError" and "surprise" in error["error"]
    assert error["hint"] == f"this is a bug in Embed Studio; the details were saved to {log}"
    text = log.read_text()
    assert "Traceback" in text and "KeyError: 'surprise'" in text and "fail --json" in text
    code, error, _ = run_failing(capsys, ZeroDivisionError("again"))
    assert log.read_text().count("Traceback") == 2


def test_an_unexpected_exception_without_json_prints_no_traceback(capsys):
    code = engine_main(["fail"], registrars=[failing_command(RuntimeError("boom"))])
    captured = capsys.readouterr()
    assert code == 2 and "Traceback" not in captured.err + captured.out
    assert "Something went wrong: boom (RuntimeError)" in captured.err and "this is a bug" in captured.err
