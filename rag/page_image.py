"""A PDF citation's page as a PNG, drawn by pdfium from the document's original file, with the cited span lit.

The page is drawn in a child process under the parsers' limits (`rag.isolation`): drawing decodes the page's
images, which reading its text never did, so a hostile image costs that child, not the service. The child sends
back the page's PNG and, for each of pdfium's characters on it, the character and its box on the image; those are
kept in memory (an LRU of `page_cache_pages`, keyed by the file's sha256, the page and the scale), so that a span
of a page drawn before is lit without pdfium.

The stored text of a page is not pdfium's: the reader may have kept pypdf's text for it, dropped running lines
and rejoined hyphenated words. A span is found among pdfium's characters by its text: exactly first, then
without whitespace, then by its letters and digits alone (both compatibility- and case-folded), the occurrence
nearest to where the span sits in the stored page winning. A span that is not found there leaves the page
unlit, and says so (`PageImage.lit`).
"""

from __future__ import annotations

import io
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageDraw

from rag.data import Document
from rag.errors import NotFoundError
from rag.ingest import PAGE_SEPARATOR
from rag.isolation import run_isolated
from rag.originals import KEPT_FORMATS, Originals
from rag.settings import Settings

# The highlight: a translucent yellow over the span's lines, a little wider than the glyphs' tight boxes.
HIGHLIGHT_RGBA = (255, 200, 0, 96)
HIGHLIGHT_PAD_PX = 2
# zlib level of the PNGs: 1 writes a page in a tenth of level 6's time for a file about a fifth larger.
PNG_COMPRESS_LEVEL = 1

# What pdfium puts in a page's text where the page has no glyph: a hyphen it found at a line end, a soft hyphen.
PDFIUM_MARKS = frozenset({"\ufffe", "\u00ad", "\x02", "\0"})

# Whether a page's image lights the span: "lit", "not found" (the span is on this page but pdfium's text of it
# does not hold it), or "elsewhere" (no part of the span is on this page).
Lit = Literal["lit", "not found", "elsewhere"]


@dataclass(frozen=True)
class DrawnPage:
    """A page drawn by pdfium: its PNG, and each of its characters with the character's box on the image."""

    png: bytes
    size: tuple[int, int]
    chars: str
    # One row per character of `chars`: left, top, right, bottom in pixels; zero for characters with no glyph.
    boxes: np.ndarray


@dataclass(frozen=True)
class PageImage:
    """What the page route sends: the PNG, and whether it lights the span."""

    png: bytes
    lit: Lit


def draw_page(data: bytes, index: int, scale: float, max_side_px: int) -> DrawnPage:
    """Page `index` (0-based) of the PDF `data`, drawn at `scale` (capped so its longer side fits `max_side_px`).

    Runs in the child process: module-level, and its result is picklable.
    """
    document = pdfium.PdfDocument(data)
    try:
        page = document[index]
        width, height = page.get_size()
        scale = min(scale, max_side_px / max(width, height, 1.0))
        bitmap = page.render(scale=scale)
        image = bitmap.to_pil().convert("RGB")
        convert = bitmap.get_posconv(page)
        textpage = page.get_textpage()
        count = textpage.count_chars()
        chars: list[str] = []
        boxes = np.zeros((count, 4), np.int32)
        for i in range(count):
            code = pdfium_c.FPDFText_GetUnicode(textpage.raw, i)
            chars.append(chr(code) if 0 < code < 0x110000 else "\0")
            left, bottom, right, top = textpage.get_charbox(i)
            if right > left and top > bottom:
                x0, y0 = convert.to_bitmap(left, top)
                x1, y1 = convert.to_bitmap(right, bottom)
                boxes[i] = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        out = io.BytesIO()
        image.save(out, "PNG", compress_level=PNG_COMPRESS_LEVEL)
        return DrawnPage(out.getvalue(), image.size, "".join(chars), boxes)
    finally:
        document.close()


def _folded(text: str, letters_only: bool) -> tuple[str, list[int]]:
    """`text` folded for a loose match, and the offset in `text` each kept character came from.

    Compatibility- and case-folded, without whitespace (with `letters_only`: its letters and digits alone).
    """
    kept: list[str] = []
    where: list[int] = []
    for i, char in enumerate(text):
        for folded in unicodedata.normalize("NFKC", char).casefold():
            if folded.isalnum() if letters_only else not (folded.isspace() or folded in PDFIUM_MARKS):
                kept.append(folded)
                where.append(i)
    return "".join(kept), where


def _nearest(haystack: str, needle: str, expected: int) -> int | None:
    """The start of the occurrence of `needle` in `haystack` nearest to offset `expected`, or None."""
    best: int | None = None
    at = haystack.find(needle)
    while at >= 0:
        if best is None or abs(at - expected) < abs(best - expected):
            best = at
        if at > expected:
            break
        at = haystack.find(needle, at + 1)
    return best


def locate(chars: str, span: str, share: float) -> tuple[int, int] | None:
    """The range [a, b) of pdfium's characters on a page that holds `span`, or None.

    Tried as it is, then without whitespace, then by its letters and digits alone (see the module doc). `share`
    is where the span starts in the stored page's text (0 its start, 1 its end): among several occurrences, the
    nearest to the same share of pdfium's text wins.
    """
    at = _nearest(chars, span, round(share * len(chars))) if span.strip() else None
    if at is not None:
        return at, at + len(span)
    for letters_only in (False, True):
        page, where = _folded(chars, letters_only)
        wanted, _ = _folded(span, letters_only)
        if not wanted:
            return None
        at = _nearest(page, wanted, round(share * len(page)))
        if at is not None:
            return where[at], where[at + len(wanted) - 1] + 1
    return None


def line_boxes(boxes: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The glyph boxes of a run of characters merged into one box per line (glyph-less characters skipped)."""
    lines: list[list[int]] = []
    for left, top, right, bottom in boxes.tolist():
        if right <= left or bottom <= top:
            continue
        middle = (top + bottom) / 2
        if lines and lines[-1][1] <= middle <= lines[-1][3] and left >= lines[-1][0]:
            line = lines[-1]
            line[:] = [line[0], min(line[1], top), max(line[2], right), max(line[3], bottom)]
        else:
            lines.append([left, top, right, bottom])
    return [(a, b, c, d) for a, b, c, d in lines]


def page_bounds(doc: Document, page: int) -> tuple[int, int]:
    """Offsets in `doc.text` of the stored text of page `page` (1-based)."""
    start = doc.pages[page - 1]
    end = doc.pages[page] - len(PAGE_SEPARATOR) if page < len(doc.pages) else len(doc.text)
    return start, max(start, end)


class PageImages:
    """Pages of the collection's PDFs as images, drawn on demand and kept in an LRU."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.originals = Originals(settings)
        self._drawn: OrderedDict[tuple[str, int, float], DrawnPage] = OrderedDict()
        self._lock = threading.Lock()

    def viewable(self, doc: Document) -> bool:
        """Whether `doc`'s pages can be drawn: a PDF whose original file is kept or still in the corpus folder."""
        if doc.format not in KEPT_FORMATS or not doc.pages:
            return False
        with self._lock:
            if any(key[0] == doc.sha256 for key in self._drawn):
                return True
        # A kept copy answers without reading it: the page it opens reads and checks it once, when drawn.
        return self.originals.kept(doc.sha256) or self.originals.read(doc.sha256, doc.name) is not None

    def image(self, doc: Document, page: int, start: int, end: int) -> PageImage:
        """Page `page` (1-based) of `doc` with the span [start, end) of its text lit where it falls on the page.

        NotFoundError for a page the document does not have, or a document whose pages cannot be drawn.
        """
        drawn = self._page(doc, page)
        first, last = page_bounds(doc, page)
        start, end = max(start, first), min(end, last)
        if start >= end:
            return PageImage(drawn.png, "elsewhere")
        share = (start - first) / max(1, last - first)
        found = locate(drawn.chars, doc.text[start:end], share)
        if found is None:
            return PageImage(drawn.png, "not found")
        image = Image.open(io.BytesIO(drawn.png)).convert("RGBA")
        overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
        pen = ImageDraw.Draw(overlay)
        pad = HIGHLIGHT_PAD_PX
        for left, top, right, bottom in line_boxes(drawn.boxes[found[0] : found[1]]):
            pen.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=HIGHLIGHT_RGBA)
        out = io.BytesIO()
        Image.alpha_composite(image, overlay).convert("RGB").save(out, "PNG", compress_level=PNG_COMPRESS_LEVEL)
        return PageImage(out.getvalue(), "lit")

    def _page(self, doc: Document, page: int) -> DrawnPage:
        if doc.format not in KEPT_FORMATS or not doc.pages:
            raise NotFoundError(f"{doc.name} has no pages to show; its text is at the citation's link")
        if not 1 <= page <= len(doc.pages):
            raise NotFoundError(f"{doc.name} has pages 1 to {len(doc.pages)}, not {page}")
        key = (doc.sha256, page, self.settings.page_scale)
        with self._lock:
            drawn = self._drawn.get(key)
            if drawn is not None:
                self._drawn.move_to_end(key)
                return drawn
        data = self.originals.read(doc.sha256, doc.name)
        if data is None:
            raise NotFoundError(
                f"the file of {doc.name} is not kept (it was added before files were), so its pages cannot be "
                "shown; upload the same file again to keep it. Its text is at the citation's link"
            )
        s = self.settings
        drawn = run_isolated(draw_page, (data, page - 1, s.page_scale, s.page_max_side_px), doc.name, s)
        with self._lock:
            self._drawn[key] = drawn
            while len(self._drawn) > s.page_cache_pages:
                self._drawn.popitem(last=False)
        return drawn
