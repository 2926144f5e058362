"""The fault suite of the collection base and the CLI, built from small generated files: names that are
not UTF-8, FIFOs, sockets and links out of the folders, runs that fail half-way, damaged derived files,
and privacy (no network attempt, no telemetry files). Readers' limits: tests/test_reader_limits.py;
models and arguments: tests/test_model_and_argument_checks.py; concurrency and unavailable folders:
tests/test_collections.py."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from documents_fixtures import write_notes
from embedengine.documents import DocumentCollection
from embedengine.images_index import ImageCollection
from embedengine.runtime import resources_dir

ROOT = Path(__file__).resolve().parents[1]
NOT_UTF8 = os.fsdecode(b"caf\xe9 notes.txt")  # a Latin-1 name on a UTF-8 system


def run_cli(*args: str, home: Path, timeout: float = 180, strace_to: Path | None = None) -> tuple[int, dict, str]:
    """``embedstudio ARGS --json`` in a fresh process with its own HOME: (exit code, JSON document, stderr)."""
    env = {**os.environ, "HOME": str(home / "user")}
    env.pop("ORT_DISABLE_TELEMETRY", None)  # the engine must turn telemetry off itself
    command = [sys.executable, "-m", "embedengine.cli", *args, "--json"]
    if strace_to is not None:
        command = ["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(strace_to)] + command
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=timeout)
    stdout = done.stdout.decode("utf-8")
    return done.returncode, json.loads(stdout) if stdout.strip() else {}, done.stderr.decode("utf-8", "replace")


def test_a_file_name_that_is_not_utf8_is_indexed_found_and_shown_escaped(tmp_path, models_dir):
    folder = tmp_path / "notes"
    write_notes(folder)
    (folder / NOT_UTF8).write_text("The lighthouse keeper watched the storm over the harbour.")
    code, report, err = run_cli("docs", "index", str(folder), home=tmp_path)
    assert code == 0 and report["skipped"] == [] and report["files_new"] == 5 and "Traceback" not in err
    code, result, _ = run_cli("docs", "search", "a storm at the lighthouse", "-k", "1", home=tmp_path)
    assert code == 0 and result["hits"][0]["file_name"] == "caf\\xe9 notes.txt"
    with DocumentCollection.open("default") as collection:  # the real name round-trips through the store
        assert str(folder / NOT_UTF8) in collection.store.file_paths()
        assert collection.index().files_unchanged == 5


def special_files(folder: Path, outside: Path) -> dict[str, str]:
    """A FIFO, a socket and a link out of the folder; returns name → expected reason."""
    os.mkfifo(folder / "pipe.txt")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "socket.txt"))
    server.close()
    outside.write_text("a secret kept elsewhere")
    (folder / "elsewhere.txt").symlink_to(outside)
    return {"pipe.txt": "not a regular file (a FIFO)", "socket.txt": "not a regular file (a socket)",
            "elsewhere.txt": "link to a file outside the collection's folders (not followed)"}


@pytest.mark.parametrize("kind", ["docs", "images"])
def test_fifos_sockets_and_links_out_of_the_folder_are_skipped_not_read(kind, tmp_path, models_dir):
    folder = tmp_path / "data"
    folder.mkdir()
    if kind == "docs":
        write_notes(folder)
        expected = special_files(folder, tmp_path / "secret.txt")
    else:
        shutil.copy(resources_dir() / "images" / "rocket.jpg", folder / "rocket.jpg")
        expected = {name.replace(".txt", ".jpg"): reason
                    for name, reason in special_files(folder, tmp_path / "secret.jpg").items()}
        for name in expected:
            (folder / name.replace(".jpg", ".txt")).rename(folder / name)
    code, report, err = run_cli(kind, "index", str(folder), home=tmp_path, timeout=120)  # a read FIFO would hang
    assert code == 0 and "Traceback" not in err
    assert {Path(s["path"]).name: s["reason"] for s in report["skipped"]} == expected
    code, status, _ = run_cli(kind, "status", home=tmp_path)
    assert {Path(s["path"]).name for s in status["collections"][0]["skipped"]} == set(expected)


def test_a_failed_run_leaves_no_empty_collection(tmp_path, models_dir):
    folder = tmp_path / "notes"
    write_notes(folder)
    code, error, err = run_cli("docs", "index", str(folder), "--collection", "typo", "--method", "w2v-avg",
                               "--model", "no-such-model", home=tmp_path)
    assert code == 2 and error["error"] and "Traceback" not in err
    code, names, _ = run_cli("docs", "list", home=tmp_path)
    assert "typo" not in names["collections"]
    code, error, _ = run_cli("images", "index", str(tmp_path / "nonexistent"), home=tmp_path)
    assert code == 2 and "does not exist" in error["error"]
    assert run_cli("images", "list", home=tmp_path)[1]["collections"] == []


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 truncated"])
def test_a_damaged_keyword_index_is_rebuilt_by_every_command(damage, tmp_path, models_dir):
    folder = tmp_path / "notes"
    write_notes(folder)
    assert run_cli("docs", "index", str(folder), home=tmp_path)[0] == 0
    keyword_file = Path(os.environ["EMBEDSTUDIO_HOME"]) / "collections" / "default" / "bm25.npz"
    for command in (["docs", "search", "bread", "--method", "bm25"], ["docs", "search", "bread", "--method", "hybrid"],
                    ["docs", "compare", "bread"], ["docs", "index"]):
        keyword_file.write_bytes(damage)
        code, result, err = run_cli(*command, home=tmp_path)
        assert code == 0 and "Traceback" not in err, (command, result)
    assert keyword_file.stat().st_size > 100


def test_a_killed_runs_temporary_files_and_orphan_thumbnails_go_on_the_next_open(tmp_path, models_dir):
    folder = tmp_path / "pics"
    folder.mkdir()
    shutil.copy(resources_dir() / "images" / "rocket.jpg", folder / "rocket.jpg")
    with ImageCollection("tidy", create=True) as collection:
        collection.index([folder])
        thumbs = collection.thumbs_dir
        (thumbs / "ab").mkdir()
        orphan, temporary = thumbs / "ab" / ("ab" + "0" * 62 + ".jpg"), thumbs / "ab" / "x.123.tmp"
        orphan.write_bytes(b"jpeg of a file never committed")
        temporary.write_bytes(b"half")
        collection.store.set_meta("run_open", True)  # what a kill -9 in the middle of a run leaves
    with ImageCollection("tidy") as reopened:
        assert not orphan.exists() and not temporary.exists() and reopened.count() == 1
        assert len(list(thumbs.glob("*/*.jpg"))) == 1


def test_snippets_stay_short_whatever_the_passage(tmp_path, models_dir):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "one.txt").write_text("Harbour " + "x" * 3000 + " and ships.")  # one very long 'sentence'
    with DocumentCollection("short", create=True) as collection:
        collection.index([folder])
        hit = collection.search("harbour ships", "bm25").hits[0]
    assert len(hit.snippet) <= 330 and hit.highlight[1] <= len(hit.snippet)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (the telemetry-file check runs)")
def test_index_and_search_make_no_network_attempt(tmp_path, models_dir):
    folder = tmp_path / "notes"
    write_notes(folder)
    trace = tmp_path / "trace"
    for number, command in enumerate((["docs", "index", str(folder)], ["docs", "search", "tides"])):
        code, _, err = run_cli(*command, home=tmp_path, strace_to=trace.with_suffix(f".{number}"))
        assert code == 0, err
        calls = [line for line in trace.with_suffix(f".{number}").read_text().splitlines()
                 if "AF_INET" in line or "sin_port" in line or "sin6_port" in line]
        assert calls == [], calls


def test_onnx_runtime_keeps_no_device_id_or_event_queue(tmp_path, models_dir):
    """ONNX Runtime's telemetry writes a device id and an event queue under ~/.cache/Microsoft unless it is
    turned off before onnxruntime is imported; the engine does that itself."""
    folder = tmp_path / "notes"
    write_notes(folder)
    assert run_cli("docs", "index", str(folder), home=tmp_path)[0] == 0
    assert not (tmp_path / "user" / ".cache" / "Microsoft").exists()


@pytest.mark.parametrize("damage", ["database", "vectors"])
def test_a_damaged_collection_is_reported_and_repair_rebuilds_it_from_the_files(damage, tmp_path, models_dir):
    folder = tmp_path / "notes"
    write_notes(folder)
    assert run_cli("docs", "index", str(folder), "--exclude", "chess.html", home=tmp_path)[0] == 0
    collection_folder = Path(os.environ["EMBEDSTUDIO_HOME"]) / "collections" / "default"
    if damage == "database":
        (collection_folder / "index.sqlite").write_bytes(b"this is not a database" * 100)
        for journal in collection_folder.glob("index.sqlite-*"):
            journal.unlink()
    else:
        vectors = next((collection_folder / "vectors").glob("*.f16"))
        vectors.write_bytes(vectors.read_bytes()[:1000])
    code, error, err = run_cli("docs", "search", "tides and the moon", home=tmp_path)
    assert code == 2 and "damaged" in error["error"] and "Traceback" not in err
    assert "embedstudio docs repair --collection 'default'" in error["hint"]
    code, report, err = run_cli("docs", "repair", home=tmp_path)
    assert code == 0 and report["files_new"] == 3 and "Traceback" not in err  # the same folder, chess.html excluded
    code, result, _ = run_cli("docs", "search", "tides and the moon", "-k", "1", home=tmp_path)
    assert code == 0 and result["hits"][0]["file_name"] == "nature.pdf"
    kept = list((collection_folder.parent / ".damaged").iterdir())
    assert len(kept) == 1 and run_cli("docs", "list", home=tmp_path)[1]["collections"] == ["default"]
