"""Collection write benchmark: how long a new document takes to become searchable, and a delete, against a full build.

Runs on a copy of an index that is already built, so that the figures are those a user of a running service sees.
"""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path
from typing import Any

from rag.pipeline import Pipeline
from rag.settings import Settings

PDF_PAGES = 10
PROBE_PAGE = 7
# A dense page of a paper: about 4,000 characters.
LINE_CHARS = 90
LINES_PER_PAGE = 45
SMALL_TEXT_BYTES = 7 * 1024


def ten_page_pdf(text: str) -> tuple[bytes, str]:
    """A PDF of PDF_PAGES full pages of `text` (repeated when it is shorter), and a sentence found on page 7 only."""
    from reportlab.pdfgen import canvas

    probe = "The lighthouse keepers of Zanzibar counted 4,812 gulls in the spring survey."
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf)
    words = text.split()
    at = 0
    for page in range(PDF_PAGES):
        lines: list[str] = [probe] if page == PROBE_PAGE - 1 else []
        line = ""
        while len(lines) < LINES_PER_PAGE:
            word = words[at % len(words)]
            if len(line) + len(word) + 1 > LINE_CHARS:
                lines.append(line)
                line = ""
            line = f"{line} {word}".strip()
            at += 1
        pdf.setFont("Helvetica", 10)
        for i, row in enumerate(lines):
            pdf.drawString(40, 800 - 16 * i, row)
        pdf.showPage()
    pdf.save()
    return buf.getvalue(), probe


def bench_writes(settings: Settings, work: Path, text: str, full_build_s: float) -> dict[str, Any]:
    """Add a 10-page PDF and a 7 KB text file to a copy of the built index, then delete them; seconds each."""
    copy = work / "idx-writes"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(settings.index_dir, copy)
    pipe = Pipeline.load(settings.model_copy(update={"index_dir": copy}), sync=False)
    pdf, probe = ten_page_pdf(text)
    out: dict[str, Any] = {"chunks_before": len(pipe.stored.chunks), "full_build_s": full_build_s}

    t0 = time.perf_counter()
    info, _ = pipe.add_document(pdf, "ten-pages.pdf")
    out["add_pdf_s"] = round(time.perf_counter() - t0, 2)
    hits = pipe.search(probe, 5)
    out["pdf"] = {"pages": info.pages, "chunks": info.chunks, "bytes": len(pdf)}
    out["pdf_found_on_page"] = next((h.page for h in hits if h.doc == "ten-pages.pdf"), None)

    small = text.encode()[:SMALL_TEXT_BYTES].decode("utf-8", "ignore")
    t0 = time.perf_counter()
    pipe.add_document(small.encode(), "seven-kb.txt")
    out["add_7kb_text_s"] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    pipe.remove_documents(["ten-pages.pdf"])
    out["delete_s"] = round(time.perf_counter() - t0, 2)
    out["deleted_gone"] = all(h.doc != "ten-pages.pdf" for h in pipe.search(probe, 10))
    out["add_over_full_build"] = round(out["add_pdf_s"] / full_build_s, 3)
    shutil.rmtree(copy, ignore_errors=True)
    return out
