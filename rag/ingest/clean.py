"""Clean extracted text for chunking: strip OCR noise and join broken and wrapped lines.

Cleaning never edits the extracted text: a `Document` keeps both, and a map from every cleaned character back
to its offset in the extracted text, so citations point at the text as it was extracted.
"""

from __future__ import annotations

import re

import numpy as np

from rag.data import OffsetMap
from rag.text import CJK_RANGES

# Bumped whenever cleaning changes what gets chunked, so existing indexes are rebuilt.
CLEANING_VERSION = 4
# Stray glyphs the OCR of seed 000 left where footnote marks and punctuation were.
OCR_NOISE = re.compile(r"[ÿŷӱỹ\ufffd]")
# A line break inside a Chinese sentence (PDF extraction leaves them): whitespace with a newline between two
# Chinese characters, the first not ending a sentence. Cleaning joins the two halves.
BROKEN_LINE = re.compile(f"(?<=[{CJK_RANGES}，、《“（])[ \t]*\n\\s*(?=[{CJK_RANGES}》”）])")
# A hard wrap inside a paragraph (man pages, e-mail, text exported from PDFs): a line long enough to have
# been wrapped, not ending a sentence or introducing something, followed by a line that does not open a
# list item or an option. The break and the next line's indent become one space.
WRAP_MIN_CHARS = 40
WRAPPED_LINE = re.compile(
    f"(?<=[^\\s.!?:;。！？；：])[ \t]*\n[ \t]*(?=[^\\s\\-*•·#>|{CJK_RANGES}]|-[^\\s\\-a-zA-Z])(?!\\d+[.)]\\s)"
)

# An option line of a reference page ("-k, --keep-going") followed by its more deeply indented description:
# the two read as one sentence, so a question about the option finds what it does.
OPTION_TERM = re.compile(r"^([ \t]*)-{1,2}[A-Za-z0-9][^\n]{0,80}?([ \t]*\n\1[ \t]+)(?=\S)", re.M)


def _apply(text: str, edits: list[tuple[int, int, str]]) -> tuple[str, OffsetMap]:
    """`text` with each [start, end) replaced by "" or by one character standing for text[start], and the map.

    Edits come sorted; one that overlaps the edit before it is skipped. The map takes the result's offsets back
    to `text`'s.
    """
    if not edits:
        return text, OffsetMap.identity(len(text))
    pieces: list[str] = []
    starts, origins = [0], [0]
    pos = new = 0
    for start, end, replacement in edits:
        if start < pos:
            continue
        pieces.append(text[pos:start])
        new += start - pos
        if replacement:
            pieces.append(replacement)
            starts.append(new)
            origins.append(start)
            new += 1
        starts.append(new)
        origins.append(end)
        pos = end
    pieces.append(text[pos:])
    # Where two run starts coincide (an edit at offset 0, or a replacement right after a deletion), the last wins.
    keep = [i for i in range(len(starts)) if i + 1 == len(starts) or starts[i + 1] != starts[i]]
    runs = OffsetMap(
        np.asarray([starts[i] for i in keep], dtype=np.int64),
        np.asarray([origins[i] for i in keep], dtype=np.int64),
        new + len(text) - pos + 1,
    )
    return "".join(pieces), runs


def _wrapped_breaks(text: str) -> list[tuple[int, int, str]]:
    """Edits that make hard-wrapped lines and option lines read as one line: the break becomes one space."""
    edits = []
    for m in WRAPPED_LINE.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if len(text[line_start : m.start()].strip()) >= WRAP_MIN_CHARS:
            edits.append((m.start(), m.end(), " "))
    edits += [(m.start(2), m.end(2), " ") for m in OPTION_TERM.finditer(text)]
    return sorted(edits)


def clean_text(text: str) -> tuple[str, OffsetMap]:
    """Drop OCR noise, then join broken Chinese and wrapped lines; return the cleaned text and the offset map.

    `origin[i]` is the offset in `text` of the cleaned character i; `origin[len(clean)]` is `len(text)`.
    """
    # Each pass replaces the text it was given, so a large file is held about three times at most.
    denoised, first = _apply(text, [(m.start(), m.end(), "") for m in OCR_NOISE.finditer(text)])
    joined, second = _apply(denoised, [(m.start(), m.end(), "") for m in BROKEN_LINE.finditer(denoised)])
    del denoised
    clean, third = _apply(joined, _wrapped_breaks(joined))
    return clean, third.then(second).then(first)
