"""Real files for the document tests: a hand-written PDF with a text layer, and a small folder of notes."""

from __future__ import annotations

import textwrap
from pathlib import Path

TOPICS = {
    "volcano.txt": (
        "Volcanoes form where magma from the mantle reaches the surface. "
        "During an eruption, lava, ash and volcanic gases are thrown out of the crater. "
        "Mount Etna in Sicily is one of the most active volcanoes in the world. "
        "Geologists monitor seismic tremors to predict eruptions and warn nearby towns."
    ),
    "bread.md": (
        "# Baking bread at home\n\n"
        "Mix flour, water, salt and yeast into a dough. Knead the dough for ten minutes until it is smooth. "
        "Let it rise in a warm place for an hour, then shape the loaf. "
        "Bake the bread in a hot oven at 230 degrees until the crust is golden brown."
    ),
    "chess.html": (
        "<html><head><title>Chess openings</title><style>body{color:red}</style>"
        "<script>var hidden = 'javascript tokens';</script></head><body>"
        "<h1>Chess openings</h1><p>The Sicilian Defence is a popular reply to the king's pawn opening. "
        "Grandmasters study opening theory to gain an advantage in the first moves of the game.</p>"
        "<p>Castling early keeps the king safe behind a wall of pawns.</p></body></html>"
    ),
}
PDF_PAGES = [
    "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar. "
    "Chlorophyll in the leaves absorbs light energy.",
    "The tides of the ocean are caused by the gravity of the moon pulling on the water of the earth.",
]


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(pages: list[str]) -> bytes:
    """A minimal valid PDF (Helvetica text layer, correct xref) with one text block per page."""
    objects: list[bytes] = []
    n_pages = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
    font_id = 3 + 2 * n_pages
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    for index, text in enumerate(pages):
        lines = textwrap.wrap(text, 80)
        body = "BT /F1 11 Tf 14 TL 50 750 Td " + " ".join(f"({_pdf_escape(line)}) Tj T*" for line in lines) + " ET"
        stream = body.encode("latin-1")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * index} 0 R "
                       f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write_notes(folder: Path) -> dict[str, Path]:
    """The topic files plus a two-page PDF; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, text in TOPICS.items():
        paths[name] = folder / name
        paths[name].write_text(text, encoding="utf-8")
    paths["nature.pdf"] = folder / "nature.pdf"
    paths["nature.pdf"].write_bytes(pdf_bytes(PDF_PAGES))
    return paths
