"""Shared helpers for benchmarks: machine description and section-wise updates of RESULTS.md."""

from __future__ import annotations

import os
import platform
import re
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine_description() -> str:
    """One line naming CPU, cores, memory and Python/ONNX Runtime versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        pass
    import onnxruntime

    return (f"{cpu}, {os.cpu_count()} cores{memory}, Python {platform.python_version()}, "
            f"onnxruntime {onnxruntime.__version__}")


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section ``## name`` of RESULTS.md, leaving other sections intact."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\nWritten by the scripts in this folder.\n"
    stamp = time.strftime("%Y-%m-%d")
    body = f"## {name}\n\n_Measured {stamp} on {machine_description()}._\n\n{markdown.strip()}\n\n"
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: body, text) if pattern.search(text) else text.rstrip() + "\n\n" + body
    RESULTS.write_text(text)


def markdown_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
