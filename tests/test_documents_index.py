"""Indexing and searching real folders with the real MiniLM model, as a user would."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from documents_fixtures import write_notes
from embedengine.cli import main as cli_main
from embedengine.documents import DocumentCollection, extract
from embedengine.documents import index as index_module
from embedengine.documents.extract import MAX_FILE_BYTES
from embedengine.documents.passages import split_pages
from embedengine.errors import UserError
from embedengine.tasks import CancelToken

ROOT = Path(__file__).resolve().parents[1]
CLEAR_QUERIES = [
    ("how do volcanoes erupt", "volcano.txt", None, "minilm"),
    ("how long should I knead the dough", "bread.md", None, "minilm"),
    ("best reply to the king's pawn opening", "chess.html", None, "hybrid"),
    ("what causes the ocean tides", "nature.pdf", 2, "minilm"),
    ("chlorophyll absorbs light", "nature.pdf", 1, "bm25"),
    ("magma eruption crater", "volcano.txt", None, "minilm-int8"),
]


@pytest.fixture
def notes(tmp_path, models_dir):
    return write_notes(tmp_path / "notes")


def passages_of(path: Path) -> int:
    return len(split_pages(extract(path).pages))


def test_index_then_right_passage_first(notes):
    collection = DocumentCollection("mine")
    report = collection.index([notes["volcano.txt"].parent], methods=["minilm", "minilm-int8"])
    assert (report.files_new, report.skipped, report.cancelled) == (4, [], False)
    assert report.embedded == {"minilm": report.items_added, "minilm-int8": report.items_added}
    for query, file_name, page, method in CLEAR_QUERIES:
        hit = collection.search(query, method, k=3).hits[0]
        assert (hit.file_name, hit.page) == (file_name, page), (query, method)
        assert hit.snippet[hit.highlight[0]:hit.highlight[1]] == hit.text[hit.sentence[0]:hit.sentence[1]]
    assert collection.search("javascript", "bm25").hits == []  # script text is not visible text


def test_filters_by_folder_and_type(notes, tmp_path):
    extra = tmp_path / "notes" / "more"
    extra.mkdir()
    (extra / "lava.txt").write_text("Lava flows slowly downhill from the erupting volcano and burns the forest.")
    collection = DocumentCollection()
    collection.index([notes["volcano.txt"].parent])
    in_folder = collection.search("volcano eruption", folder=str(extra)).hits
    assert {h.file_name for h in in_folder} == {"lava.txt"}
    assert {h.file_type for h in collection.search("volcano", file_types=["pdf"]).hits} == {".pdf"}


def test_removing_a_folder_takes_its_passages_out_of_search(notes, tmp_path, capsys):
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "lava.txt").write_text("Lava flows slowly downhill from the erupting volcano and burns the forest.")
    collection = DocumentCollection("two")
    collection.index([notes["volcano.txt"].parent, extra])
    assert "lava.txt" in {h.file_name for h in collection.search("volcano eruption lava").hits}
    removed = collection.remove_folder(extra)
    assert (removed.files_removed, removed.files_left) == (1, 4) and (extra / "lava.txt").exists()
    for method in ("minilm", "bm25"):
        assert "lava.txt" not in {h.file_name for h in collection.search("volcano eruption lava", method).hits}
    assert cli_main(["docs", "remove", str(notes["volcano.txt"].parent), "--collection", "two", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["roots_left"] == []


def test_keyword_index_is_saved_and_reused_and_a_damaged_one_is_rebuilt(notes):
    collection = DocumentCollection("kw")
    collection.index([notes["volcano.txt"].parent])
    saved = collection.store.folder / index_module.BM25_FILE
    expected = [(h.path, round(h.score, 5)) for h in collection.search("ocean tides moon", "bm25").hits]
    with np.load(saved) as data:
        assert tuple(data["signature"]) == collection.store.items_signature()  # written by the index run
    reopened = DocumentCollection("kw")  # as after a restart
    assert [(h.path, round(h.score, 5)) for h in reopened.search("ocean tides moon", "bm25").hits] == expected
    saved.write_bytes(b"not a numpy archive")
    damaged = DocumentCollection("kw")
    assert [(h.path, round(h.score, 5)) for h in damaged.search("ocean tides moon", "bm25").hits] == expected
    with np.load(saved) as data:
        assert len(data["ids"]) == damaged.store.count_items()


def test_edit_reembeds_only_that_file_and_delete_removes_it(notes):
    collection = DocumentCollection()
    collection.index([notes["volcano.txt"].parent])
    notes["bread.md"].write_text("Sourdough starter needs flour and water fed daily to stay alive and bubbly.")
    os.utime(notes["chess.html"])  # newer mtime, same bytes: hashed, not re-embedded
    report = collection.index()
    assert (report.files_changed, report.files_unchanged) == (1, 3)
    assert report.embedded == {"minilm": passages_of(notes["bread.md"])}
    assert collection.search("feeding a sourdough starter").hits[0].file_name == "bread.md"

    notes["volcano.txt"].unlink()
    report = collection.index()
    assert (report.files_removed, report.embedded) == (1, {})
    assert all(h.file_name != "volcano.txt" for h in collection.search("volcano eruption lava", "hybrid").hits)
    assert collection.status().files == 3


def test_cancel_then_resume(notes, monkeypatch):
    monkeypatch.setattr(DocumentCollection, "items_per_commit", 2)
    collection = DocumentCollection()
    token = CancelToken()

    def cancel_after_first_batch(progress):
        if progress.stage == "embed" and progress.done >= 2:
            token.cancel()

    report = collection.index([notes["volcano.txt"].parent], progress=cancel_after_first_batch, cancel=token)
    total = report.items_added
    assert report.cancelled and report.embedded["minilm"] == 2 < total
    assert collection.status().pending == {"minilm": total - 2}
    assert len(collection.search("anything at all", k=10).hits) == 2  # the part done is searchable
    resumed = DocumentCollection().index()
    assert not resumed.cancelled and resumed.embedded == {"minilm": total - 2}
    assert (resumed.items_added, resumed.caught_up) == (0, total - 2)  # the report says where they came from
    assert DocumentCollection().status().pending == {"minilm": 0}


def test_bad_files_are_skipped_with_reasons(notes):
    folder = notes["volcano.txt"].parent
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R\nendobj\ntrailer")
    (folder / "program.txt").write_bytes(bytes(range(256)) * 64)
    locked = folder / "locked.txt"
    locked.write_text("secret notes about volcanoes")
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # running as root: permissions do not stop reads; use a size limit instead
        locked.chmod(0o644)
        with open(locked, "r+b") as handle:
            handle.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    (folder / "zz-vanishing.md").write_text("This file is deleted while the index runs.")

    def delete_during_indexing(progress):
        if progress.stage == "read" and progress.done == 1:
            (folder / "zz-vanishing.md").unlink(missing_ok=True)

    report = DocumentCollection().index([folder], progress=delete_during_indexing)
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons["corrupt.pdf"].startswith("corrupt PDF")
    assert reasons["program.txt"] == "binary file, not text"
    assert reasons["locked.txt"].startswith(("unreadable", "too large"))
    assert reasons["zz-vanishing.md"] == "deleted during indexing"
    assert report.files_new == 8 and DocumentCollection().status().files == 4
    locked.chmod(0o644)


def test_more_like_this_and_compare(notes):
    collection = DocumentCollection()
    collection.index([notes["volcano.txt"].parent])
    first = collection.search("ocean tides").hits[0]
    similar = collection.more_like(first.item_id, k=3)
    assert first.item_id not in [h.item_id for h in similar.hits] and len(similar.hits) == 3
    table = collection.compare("sicilian defence", ["minilm", "bm25", "hybrid"], k=2)
    assert table.headers == ["#", "MiniLM", "BM25", "Hybrid (MiniLM + BM25)"]
    assert all(cell.startswith("chess.html") for cell in table.rows[0][1:])
    with pytest.raises(UserError, match="no MiniLM int8"):
        collection.search("x", "minilm-int8")


def test_cli_prints_one_json_document(notes, capsys):
    folder = str(notes["volcano.txt"].parent)
    assert cli_main(["docs", "index", folder, "--collection", "cli", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["files_new"] == 4
    assert cli_main(["docs", "search", "what causes tides", "--collection", "cli", "-k", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["hits"][0]["file_name"] == "nature.pdf" and result["hits"][0]["page"] == 2
    assert cli_main(["docs", "status", "--collection", "cli", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["collections"][0]["files"] == 4
    assert cli_main(["docs", "search", "tides", "--collection", "nope", "--json"]) == 2
    assert "no documents collection" in json.loads(capsys.readouterr().out)["error"]


def committed_vectors(home: Path, name: str) -> int:
    database = home / "collections" / name / "index.sqlite"
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT COALESCE(SUM(rows), 0) FROM vector_sets").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_kill_9_mid_indexing_then_resume(tmp_path, isolated_home, models_dir, monkeypatch):
    folder = tmp_path / "many"
    folder.mkdir()
    for number in range(100):
        words = " ".join(f"word{(number * 7 + i) % 97}" for i in range(20))
        (folder / f"note{number:03d}.txt").write_text(f"Note {number} is about {words}.")
    command = [sys.executable, "-m", "embedengine.cli", "docs", "index", str(folder), "--collection", "killed"]
    process = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while committed_vectors(isolated_home, "killed") == 0 and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "indexing finished before it could be killed"

    collection = DocumentCollection("killed", create=False)
    status = collection.status()
    assert 0 < status.pending["minilm"] < 100 or status.files < 100
    report = collection.index()
    assert not report.cancelled
    status = collection.status()
    assert (status.files, status.items, status.pending) == (100, 100, {"minilm": 0})
    assert status.vector_sets[0]["live_rows"] == 100
    assert collection.search("Note 42 is about", "bm25").hits[0].file_name == "note042.txt"


def test_word_vector_methods_use_a_saved_word_model(notes, trained_word_model):
    from embedengine.word2vec.library import save_model

    save_model(trained_word_model, "news")
    collection = DocumentCollection()
    with pytest.raises(UserError, match="word model"):
        collection.index([notes["volcano.txt"].parent], methods=["w2v-avg"])
    report = collection.index(methods=["w2v-avg", "w2v-tfidf"], word_model="news")
    passages = report.items_added
    assert report.embedded == {"minilm": passages, "w2v-avg": passages, "w2v-tfidf": passages}
    assert collection.status().word_model == "news"
    idf = collection.store.get_meta("tfidf_idf")
    assert idf["the"] < idf["moon"]  # common words weigh less
    for method in ("w2v-avg", "w2v-tfidf"):
        hits = collection.search("the water of the ocean and the moon", method, k=5).hits
        assert len(hits) == 5 and hits[0].score >= hits[-1].score
    assert collection.compare("ocean", ["w2v-avg", "w2v-tfidf", "minilm"], k=2).rows


def test_best_sentence_falls_back_to_meaning_when_no_word_matches(models_dir):
    from embedengine.documents.index import best_sentences
    from embedengine.documents.methods import MiniLMEncoder

    texts = ["Bread needs yeast. The moon pulls the tides. Flour and water.", "Only one sentence here"]
    spans = best_sentences("lunar gravity and sea level", texts, MiniLMEncoder())
    assert texts[0][spans[0][0]:spans[0][1]] == "The moon pulls the tides."
    assert spans[1] == (0, len(texts[1]))
