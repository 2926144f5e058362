"""Readers' limits, built from small generated files: PDFs over pypdf's limits, too slow or expanding to
too much text; tiny files that blew up memory (5 MB of '&', one 5 MB word, 1×10000 PNGs); FIFOs given
as a query image or a corpus; text that is not UTF-8. Each case is one skipped entry with its reason
(or a clear error for a query or corpus), never a traceback, a hang or gigabytes of memory."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from documents_fixtures import pdf_bytes
from embedengine.collections.files import stat_file
from embedengine.documents import DocumentCollection
from embedengine.documents.extract import ExtractError, Page, extract, read_bytes
from embedengine.documents.index import read_entry
from embedengine.documents.passages import MAX_PASSAGE_CHARS, split_pages
from embedengine.errors import UserError
from embedengine.image import MAX_ASPECT_RATIO, ImageLoadError, load_image
from embedengine.runtime import resources_dir
from embedengine.safety import NotRegularFile, open_regular_file, require_regular_file
from embedengine.word2vec import corpus
from embedengine.word2vec.corpus import count_corpus, find_corpus_files

ROOT = Path(__file__).resolve().parents[1]
extract_module = importlib.import_module("embedengine.documents.extract")  # the package exports a function 'extract'
passages_module = importlib.import_module("embedengine.documents.passages")
PEAK_RSS_LIMIT = 1 << 30  # what one command may take for these few small files


# -- generated inputs ----------------------------------------------------------------------------

def flate_pdf(content: bytes, pages: int = 1) -> bytes:
    """A PDF whose ``pages`` pages all show one Flate-compressed content stream."""
    stream = zlib.compress(content, 9)
    font = 4 + pages
    kids = b" ".join(b"%d 0 R" % (4 + i) for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
               b"<< /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
                b"/Resources << /Font << /F1 %d 0 R >> >> >>" % font] * pages
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def strip_png(width: int, height: int) -> bytes:
    """A real (decodable) black PNG of ``width``×``height``: a 1×10000 one is ~100 bytes."""
    path = Path(tempfile.mkdtemp()) / "strip.png"
    Image.new("L", (width, height)).save(path, optimize=True)
    return path.read_bytes()


def reason_of(path: Path) -> str:
    """The skip reason the documents reader gives ``path`` ('' when read)."""
    entry = read_entry(stat_file(path))
    return entry.reason if entry.status == "skipped" else ""


def index_reasons(folder: Path) -> dict[str, str]:
    """Index ``folder`` into the documents collection: file name → skip reason."""
    with DocumentCollection() as collection:
        return {Path(s.path).name: s.reason for s in collection.index([folder]).skipped}


MEASURE = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[3:], timeout=float(sys.argv[2]))
with open(sys.argv[1], "w") as peak:
    peak.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


def run_measured(args: list[str], home: Path, models: Path, timeout: float = 180) -> tuple[int, str, str, int]:
    """``python ARGS`` in a fresh process: (exit code, stdout, stderr, its peak RSS in bytes).

    A small driver process starts it and reads its peak: Linux counts the memory a process had when it
    called exec, so a child of pytest itself would report at least pytest's own peak."""
    env = {**os.environ, "EMBEDSTUDIO_HOME": str(home), "EMBEDSTUDIO_MODELS": str(models)}
    peak_file = Path(tempfile.mkdtemp()) / "peak"
    done = subprocess.run([sys.executable, "-c", MEASURE, str(peak_file), str(timeout), sys.executable, *args],
                          cwd=ROOT, env=env, capture_output=True, timeout=timeout + 30)
    peak = int(peak_file.read_text()) * (1 if sys.platform == "darwin" else 1024)
    return done.returncode, done.stdout.decode(), done.stderr.decode("utf-8", "replace"), peak


def run_cli(args: list[str], home: Path, models: Path, timeout: float = 120) -> tuple[int, dict, str]:
    """(exit code, the one JSON document on stdout, stderr); a hang fails the test after ``timeout``."""
    env = {**os.environ, "EMBEDSTUDIO_HOME": str(home), "EMBEDSTUDIO_MODELS": str(models)}
    done = subprocess.run([sys.executable, "-m", "embedengine.cli", *args, "--json"], cwd=ROOT, env=env,
                          capture_output=True, timeout=timeout)
    return done.returncode, json.loads(done.stdout), done.stderr.decode("utf-8", "replace")


# -- 1. PDFs over pypdf's limits, and the time limit ---------------------------------------------

def test_a_pdf_over_pypdfs_decompression_limit_is_skipped_as_too_large(tmp_path):
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(flate_pdf(b"BT /F1 12 Tf (x) Tj ET\n" + b" " * 80_000_000))  # inflates past pypdf's 75 MB
    assert bomb.stat().st_size < 300_000
    with pytest.raises(ExtractError, match="^PDF too large when decompressed"):
        extract(bomb)
    assert reason_of(bomb).startswith("PDF too large when decompressed")


def test_a_small_pdf_with_a_million_operators_is_skipped_as_too_complex(tmp_path):
    busy = tmp_path / "operators.pdf"
    busy.write_bytes(flate_pdf(b"BT /F1 12 Tf (hello) Tj ET\n" + b"1 0 0 1 0 0 cm\n" * 1_000_000))
    assert busy.stat().st_size < 100_000
    assert reason_of(busy).startswith("PDF too complex")


def test_pdf_extraction_stops_between_pages_past_the_time_limit(tmp_path, monkeypatch):
    slow = tmp_path / "slow.pdf"
    slow.write_bytes(pdf_bytes(["First page.", "Second page.", "Third page."]))
    assert [page.number for page in extract(slow).pages] == [1, 2, 3]
    monkeypatch.setattr(extract_module, "EXTRACT_TIME_LIMIT_S", 0.0)
    assert reason_of(slow) == "extraction took too long (over 0 s)"


def test_a_small_pdf_expanding_to_50_mb_of_text_is_skipped_early(tmp_path):
    line = b"BT /F1 12 Tf 72 712 Td (" + b"word " * 40 + b") Tj ET\n"
    big = tmp_path / "expands.pdf"
    big.write_bytes(flate_pdf(line * 250, pages=1000))  # 50,000 characters per page, 50 MB in all
    assert big.stat().st_size < 300_000
    started = time.monotonic()
    reason = reason_of(big)
    assert reason.startswith("too much text (over 10,000,000 characters in the first ")
    assert reason.endswith("of 1,000 pages; the limit is 10,000,000)")
    assert time.monotonic() - started < extract_module.EXTRACT_TIME_LIMIT_S


# -- 2. memory: text and passages ----------------------------------------------------------------

def test_a_text_file_over_the_text_limit_is_skipped_with_its_size(tmp_path, monkeypatch):
    monkeypatch.setattr(extract_module, "MAX_TEXT_CHARS", 1000)
    (tmp_path / "long.txt").write_text("word " * 400)
    assert reason_of(tmp_path / "long.txt") == "too much text (2,000 characters; the limit is 1,000)"
    (tmp_path / "long.html").write_text("<p>" + "word " * 400 + "</p>")
    assert reason_of(tmp_path / "long.html").startswith("too much text (")


def test_a_text_file_too_large_to_be_within_the_text_limit_is_not_read(tmp_path):
    with open(tmp_path / "huge.txt", "wb") as handle:
        handle.truncate(extract_module.MAX_TEXT_FILE_BYTES + 1)  # sparse: costs no disk
    assert reason_of(tmp_path / "huge.txt") == "too large (40.0 MB; the limit is 40 MB)"
    assert extract_module.MAX_TEXT_FILE_BYTES >= 4 * extract_module.MAX_TEXT_CHARS  # any text within the limit is read


def test_a_file_over_the_passage_limit_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(passages_module, "MAX_PASSAGES", 3)
    sentences = " ".join(f"Sentence number {i} says something." for i in range(400))
    with pytest.raises(ExtractError, match=r"too many passages \(over 3; the limit is 3 per file\)"):
        split_pages([Page(None, sentences)])
    (tmp_path / "many.txt").write_text(sentences)
    assert index_reasons(tmp_path)["many.txt"] == "too many passages (over 3; the limit is 3 per file)"


@pytest.mark.parametrize("text", ["&" * 5_000_000, "a" * 5_000_000, "word " * 100 + "x" * 200_000 + " end."],
                         ids=["ampersands", "one-5MB-word", "long-token-in-prose"])
def test_passages_are_bounded_in_characters_whatever_the_words(text):
    passages = split_pages([Page(None, text)])
    assert max(len(p.text) for p in passages) <= MAX_PASSAGE_CHARS
    assert passages[0].start == 0 and passages[-1].end == len(text.rstrip())
    assert all(later.start <= earlier.end for earlier, later in zip(passages, passages[1:]))  # no text left out


def test_html_of_5_mb_of_ampersands_reads_into_bounded_passages(tmp_path):
    page = tmp_path / "amp.html"
    page.write_bytes(b"&" * 5_000_000)
    entry = read_entry(stat_file(page))
    assert entry.status == "ok" and max(len(p["text"]) for p in entry.payloads) <= MAX_PASSAGE_CHARS


TOKENISE = """
import sys
from embedengine.documents.extract import extract
from embedengine.documents.passages import split_pages
from embedengine.text import get_text_encoder
texts = [p.text for p in split_pages(extract(sys.argv[1]).pages)]
encoder = get_text_encoder()
for start in range(0, len(texts), 64):
    encoder.tokenize(texts[start:start + 64])
print(len(texts))
"""


@pytest.mark.parametrize("name", ["amp.txt", "amp.html"])
def test_tokenising_5_mb_of_ampersands_for_minilm_stays_small(name, tmp_path, models_dir):
    """The 2.9 GB of ``docs index``: the tokeniser splits a passage into tokens before truncating at 256,
    so one 5 MB passage of '&' made 5 million token records. Bounded passages keep it small."""
    (tmp_path / name).write_bytes(b"&" * 5_000_000)
    code, out, err, peak = run_measured(["-c", TOKENISE, str(tmp_path / name)], tmp_path / "home", models_dir)
    assert code == 0, err
    assert int(out) > 1000 and peak < PEAK_RSS_LIMIT / 2, f"peak RSS {peak / 2**20:.0f} MB"


# -- 2. memory: images ---------------------------------------------------------------------------

def test_an_extreme_aspect_ratio_is_refused_before_decoding(tmp_path):
    (tmp_path / "tall.png").write_bytes(strip_png(1, 10000))
    with pytest.raises(ImageLoadError) as caught:
        load_image(tmp_path / "tall.png")
    assert caught.value.reason == f"extreme aspect ratio (1×10000; the limit is {MAX_ASPECT_RATIO}:1)"
    (tmp_path / "strip.png").write_bytes(strip_png(4, 4 * MAX_ASPECT_RATIO))  # at the limit: a picture
    assert load_image(tmp_path / "strip.png").size == (4, 4 * MAX_ASPECT_RATIO)


PREPROCESS_STRIP = """
from PIL import Image
from embedengine.image import preprocess
print(preprocess(Image.new("RGB", (1, 10000))).shape)
"""


def test_preprocessing_a_strip_crops_before_it_resizes(tmp_path, models_dir):
    """A PIL image skips the file checks: resizing its short side to 256 first made 256×2,560,000 pixels."""
    code, out, err, peak = run_measured(["-c", PREPROCESS_STRIP], tmp_path / "home", models_dir)
    assert code == 0, err
    assert out.strip() == "(224, 224, 3)" and peak < PEAK_RSS_LIMIT / 4, f"peak RSS {peak / 2**20:.0f} MB"


def test_images_index_of_four_tiny_1x10000_pngs_stays_under_1_gb(tmp_path, models_dir):
    folder = tmp_path / "photos"
    folder.mkdir()
    for number in range(4):
        (folder / f"tall{number}.png").write_bytes(strip_png(1, 10000))
    (folder / "rocket.jpg").write_bytes((resources_dir() / "images" / "rocket.jpg").read_bytes())
    args = ["-m", "embedengine.cli", "images", "index", str(folder), "--json"]
    code, out, err, peak = run_measured(args, tmp_path / "home", models_dir)
    assert code == 0 and "Traceback" not in err, err
    report = json.loads(out)  # exactly one JSON document
    assert peak < PEAK_RSS_LIMIT, f"peak RSS {peak / 2**20:.0f} MB"
    assert report["items_added"] == 1
    assert {Path(s["path"]).name: s["reason"] for s in report["skipped"]} == {
        f"tall{n}.png": f"extreme aspect ratio (1×10000; the limit is {MAX_ASPECT_RATIO}:1)" for n in range(4)}


# -- 3. FIFOs are never read ----------------------------------------------------------------------

@pytest.fixture
def fifo(tmp_path):
    """A FIFO; should a reader block on it, a writer comes by every 5 s so the test fails, not hangs."""
    path = tmp_path / "pipe.jpg"
    os.mkfifo(path)
    stop = threading.Event()

    def unblock() -> None:
        while not stop.wait(5):
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # no reader waiting
                pass

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    yield path
    stop.set()


def test_only_regular_files_pass_the_safety_helpers(fifo, tmp_path):
    started = time.monotonic()
    with pytest.raises(NotRegularFile) as caught:
        require_regular_file(fifo)
    assert isinstance(caught.value, UserError) and caught.value.reason == "not a regular file (a FIFO)"
    with pytest.raises(NotRegularFile):
        open_regular_file(fifo)
    with pytest.raises(NotRegularFile, match="a device"):
        require_regular_file("/dev/null")
    (tmp_path / "plain.txt").write_text("plain")
    require_regular_file(tmp_path / "plain.txt")
    with open_regular_file(tmp_path / "plain.txt") as handle:
        assert handle.read() == b"plain"
    assert time.monotonic() - started < 5


def test_readers_refuse_a_fifo_without_waiting_for_it(fifo):
    started = time.monotonic()
    with pytest.raises(ImageLoadError, match=r"not a regular file \(a FIFO\)"):
        load_image(fifo)
    with pytest.raises(ExtractError, match=r"not a regular file \(a FIFO\)"):
        read_bytes(fifo)
    with pytest.raises(UserError, match="No readable text files") as caught:
        find_corpus_files([fifo])
    assert caught.value.data["skipped"] == [(str(fifo), "not a regular file (a FIFO)")]
    assert time.monotonic() - started < 5


def test_a_fifo_as_query_image_is_a_clear_error(tmp_path, models_dir):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "rocket.jpg").write_bytes((resources_dir() / "images" / "rocket.jpg").read_bytes())
    assert run_cli(["images", "index", str(folder)], tmp_path / "home", models_dir)[0] == 0
    os.mkfifo(tmp_path / "query.jpg")
    code, error, err = run_cli(["images", "search", str(tmp_path / "query.jpg")], tmp_path / "home", models_dir, 60)
    assert code == 2 and "Traceback" not in err
    assert error["reason"] == "not a regular file (a FIFO)" and str(tmp_path / "query.jpg") in error["error"]


@pytest.mark.parametrize("command", [["train", "--out", "vectors.npz"], ["scan"]])
def test_a_fifo_as_corpus_is_a_clear_error(command, tmp_path, models_dir):
    os.mkfifo(tmp_path / "corpus.txt")
    args = [command[0], str(tmp_path / "corpus.txt"), *command[1:]]
    code, error, err = run_cli(args, tmp_path / "home", models_dir, 60)
    assert code == 2 and "Traceback" not in err
    assert error["skipped"] == [[str(tmp_path / "corpus.txt"), "not a regular file (a FIFO)"]]


# -- a corpus of one huge line (text8 is one 100 MB line) -----------------------------------------

def test_a_corpus_line_is_read_in_pieces_with_the_same_words_and_sentences(tmp_path, monkeypatch):
    path = tmp_path / "corpus.txt"
    path.write_text(("the quick brown fox jumps over the lazy dog " * 300 + "\n") * 3 + "a last line, no newline")

    def counted() -> tuple:
        with open(tmp_path / "ids.bin", "wb") as ids:
            result = count_corpus([path], ids_out=ids)
        return result.words, list(result.counts), result.tokens, result.sentences, (tmp_path / "ids.bin").read_bytes()

    whole = counted()
    monkeypatch.setattr(corpus, "MAX_PIECE_CHARS", 100)
    assert counted() == whole and whole[3] == 4


def test_scanning_a_40_mb_single_line_corpus_stays_small(tmp_path, models_dir):
    path = tmp_path / "one_line.txt"
    path.write_text("alpha beta gamma delta epsilon zeta eta theta " * 850_000)  # 40 MB, no newline
    args = ["-m", "embedengine.cli", "scan", str(path), "--json"]
    code, out, err, peak = run_measured(args, tmp_path / "home", models_dir)
    assert code == 0, err
    assert json.loads(out)["tokens"] == 8 * 850_000 and peak < PEAK_RSS_LIMIT / 4, f"peak RSS {peak / 2**20:.0f} MB"


# -- 4. text that is not UTF-8 --------------------------------------------------------------------

def test_text_that_is_not_utf8_is_read_or_skipped_with_a_reason(tmp_path):
    (tmp_path / "latin.txt").write_bytes("Crème brûlée at the café. ".encode("cp1252") * 50 + b"\x81\xff\xfe")
    entry = read_entry(stat_file(tmp_path / "latin.txt"))
    assert entry.status == "ok" and "Crème brûlée at the café." in entry.payloads[0]["text"]
    (tmp_path / "noise.txt").write_bytes(b"\x81\x8d\x8f\x90\x9d" * 400)  # bytes cp1252 does not define
    assert reason_of(tmp_path / "noise.txt") == "binary file, not text"
