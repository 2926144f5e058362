"""Text extraction, passage splitting, BM25, fusion and snippets (no models needed)."""

from __future__ import annotations

import pytest

from documents_fixtures import PDF_PAGES, TOPICS, pdf_bytes
from embedengine.documents.extract import ExtractError, Page, decode_text, extract, html_to_text
from embedengine.documents.index import best_sentence, snippet_around
from embedengine.documents.methods import BM25Index, lexical_tokens, reciprocal_rank_fusion, score_fusion
from embedengine.documents.passages import sentence_spans, split_pages


def test_pdf_pages_keep_their_numbers(tmp_path):
    path = tmp_path / "made.pdf"
    path.write_bytes(pdf_bytes(PDF_PAGES))
    document = extract(path)
    assert [page.number for page in document.pages] == [1, 2]
    assert "gravity of the moon" in " ".join(document.pages[1].text.split())


def test_html_gives_visible_text_only(tmp_path):
    text = html_to_text(TOPICS["chess.html"])
    assert "Sicilian Defence" in text and text.startswith("Chess openings")
    assert "javascript" not in text and "color:red" not in text


def test_encodings_and_binary_detection(tmp_path):
    assert decode_text("café".encode("utf-8")) == ("café", "utf-8")
    assert decode_text("café".encode("cp1252"))[0] == "café"
    assert decode_text("naïve".encode("utf-16"))[0] == "naïve"
    binary = tmp_path / "image.txt"
    binary.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(ExtractError, match="binary"):
        extract(binary)


@pytest.mark.parametrize("name, data, reason", [
    ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", "corrupt PDF"),
    ("fake.pdf", b"just some text", "corrupt PDF"),
    ("empty.md", b"   \n", "empty file"),
    ("song.mp3", b"ID3....", "unsupported file type"),
])
def test_bad_files_name_a_reason(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ExtractError, match=reason):
        extract(path)


def test_passages_follow_sentences_with_overlap_and_spans():
    text = " ".join(f"Sentence {i} talks about topic number {i} in a few words." for i in range(60))
    passages = split_pages([Page(None, text)])
    assert len(passages) > 2
    assert all(p.words <= 200 for p in passages)
    for passage in passages:
        assert " ".join(text[passage.start:passage.end].split()) == passage.text
        assert passage.text.startswith("Sentence") and passage.text.endswith(".")
    assert passages[1].start < passages[0].end  # overlap
    assert [p.ordinal for p in passages] == list(range(len(passages)))


def test_sentence_spans_cut_blank_lines_and_endings():
    text = "First one. Second one?\n\nA heading\nThird! "
    assert [text[s:e] for s, e in sentence_spans(text)] == ["First one.", "Second one?", "A heading\nThird!"]


def test_bm25_prefers_rare_matching_terms():
    docs = ["the cat sat on the mat", "dogs chase cats in the park", "quantum chromodynamics of quarks"]
    index = BM25Index([lexical_tokens(d) for d in docs])
    assert index.search("cats", 3)[0][0] in (0, 1)
    assert [d for d, _ in index.search("quark", 3)] == [2]
    assert index.search("nothing matches", 3) == []


def test_rrf_rewards_agreement():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 2, 9]])
    assert fused[0][0] == 2 or fused[0][0] == 3
    assert {item for item, _ in fused} == {1, 2, 3, 9}
    assert fused[-1][0] == 9


def test_score_fusion_normalises_each_ranking():
    dense = [(1, 0.9), (2, 0.5), (3, 0.1)]
    lexical = [(3, 12.0), (2, 11.0), (9, 2.0)]
    fused = dict(score_fusion([dense, lexical]))
    assert fused[2] > fused[1] and fused[2] > fused[3]  # good in both beats best in one
    assert fused[9] == 0.0 and max(fused.values()) <= 1.0


def test_snippet_highlights_the_best_sentence():
    text = "Bread needs yeast. " * 30 + "The moon pulls the tides. " + "Flour and water. " * 30
    span = best_sentence("what pulls the tides", text)
    assert text[span[0]:span[1]] == "The moon pulls the tides."
    snippet, (start, end) = snippet_around(text, span, limit=120)
    assert snippet[start:end] == "The moon pulls the tides."
    assert len(snippet) <= 130 and snippet.startswith("…") and snippet.endswith("…")


def test_text_files_without_an_extension_are_read_and_binaries_are_not(tmp_path):
    """/usr/share/common-licenses holds GPL-3, LGPL-2.1, Apache-2.0, README: text with no real extension."""
    from embedengine.documents.extract import extract, file_kind

    for name in ("GPL-3", "LGPL-2.1", "Apache-2.0", "README"):
        (tmp_path / name).write_text("You may copy and distribute verbatim copies of this licence document.\n")
    (tmp_path / "program").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8)
    (tmp_path / "data.2").write_bytes(bytes(range(256)) * 4)
    assert [file_kind(tmp_path / n) for n in ("GPL-3", "LGPL-2.1", "Apache-2.0", "README")] == ["text"] * 4
    assert file_kind(tmp_path / "program") is None and file_kind(tmp_path / "data.2") is None
    assert "verbatim copies" in extract(tmp_path / "LGPL-2.1").pages[0].text
    assert file_kind(tmp_path / "archive.zip") is None  # a real extension is never sniffed
