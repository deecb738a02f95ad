"""Make a PDF's page texts read as its pages do: the better of two extractions, no running lines, whole words.

pypdf and pdfium extract text differently, and each fails on pages the other reads well: pypdf runs the words
of some fonts together ("Afteryoureleaseapackage,") or leaves byte-literal junk ("b’’描b’’"); pdfium loses
spacing on others. Each page is read by both and the one with fewer signs of damage is kept (pypdf's on a tie, as
before). Lines repeated at the top or bottom of most pages (a running title, "Page 3 of 9") are page furniture,
not text, and would sit in the middle of sentences that run across pages. A word hyphenated across a line end is
rejoined when the joined word is a word ("infor-" "mation"); otherwise the hyphen is kept and only the break goes
("term-" "based" → "term-based").
"""

from __future__ import annotations

import re
from collections import Counter

from wordfreq import zipf_frequency

# A run of Latin letters this long is words run together: the longest words of English prose are about 20.
RUN_TOGETHER_LETTERS = 25
RUN_TOGETHER = re.compile(f"[A-Za-z]{{{RUN_TOGETHER_LETTERS},}}")
# pypdf's rendering of bytes it could not decode: b'' in straight or typographic quotes, and the replacement char.
BYTE_JUNK = re.compile(r"\bb['‘’\"]{2}|\ufffd")
# pdfium marks a hyphen it found at a line end with U+FFFE and drops the line break; pypdf keeps "-" and "\n".
LINE_END_HYPHEN = re.compile(r"(?<=[A-Za-z])(?:-[ \t]*\n[ \t]*|\ufffe)(?=[a-z])")
WORD_BEFORE = re.compile(r"[A-Za-z]+$")
WORD_AFTER = re.compile(r"[a-z]+")
# Running lines: looked for among the first and last lines of each page, counted with digits folded (page
# numbers differ), and taken as furniture when on at least this share of the pages of a document this long.
EDGE_LINES = 2
RUNNING_SHARE = 0.5
RUNNING_MIN_PAGES = 3
DIGITS = re.compile(r"\d+")


def damage(text: str) -> int:
    """How many signs of a bad extraction a page's text shows: run-together words and byte-literal junk."""
    return len(RUN_TOGETHER.findall(text)) + len(BYTE_JUNK.findall(text))


def better_page(pypdf_text: str, pdfium_text: str) -> str:
    """The better of two extractions of one page: the one with text, then the one with less damage."""
    if not pypdf_text.strip() or not pdfium_text.strip():
        return pypdf_text if pypdf_text.strip() else pdfium_text
    return pdfium_text if damage(pdfium_text) < damage(pypdf_text) else pypdf_text


def without_running_lines(pages: list[str]) -> list[str]:
    """Each page without the lines at its top or bottom that most pages repeat there (see the module doc).

    Only pages with more lines than their two edges hold are looked at: on a shorter page the edges are the text.
    """
    lines = [page.split("\n") for page in pages]
    full = [page for page in lines if len(page) > 2 * EDGE_LINES]
    if len(full) < RUNNING_MIN_PAGES:
        return pages
    seen: Counter[str] = Counter()
    for page in full:
        seen.update({_key(line) for line in _edges(page) if line.strip()})
    running = {key for key, count in seen.items() if count >= RUNNING_SHARE * len(full)}
    if not running:
        return pages
    return [
        "\n".join(_trim(page, running)).strip() if len(page) > 2 * EDGE_LINES else text
        for page, text in zip(lines, pages, strict=True)
    ]


def _edges(lines: list[str]) -> list[str]:
    return lines[:EDGE_LINES] + lines[-EDGE_LINES:]


def _key(line: str) -> str:
    return DIGITS.sub("#", " ".join(line.split()))


def _trim(lines: list[str], running: set[str]) -> list[str]:
    """`lines` without running lines among its first and last EDGE_LINES (blank lines there skipped)."""
    start, end = 0, len(lines)
    for _ in range(EDGE_LINES):
        while start < end and not lines[start].strip():
            start += 1
        if start < end and _key(lines[start]) in running:
            start += 1
    for _ in range(EDGE_LINES):
        while end > start and not lines[end - 1].strip():
            end -= 1
        if end > start and _key(lines[end - 1]) in running:
            end -= 1
    return lines[start:end]


def rejoin_hyphens(text: str) -> str:
    """`text` with words hyphenated across line ends rejoined (see the module doc)."""

    def join(match: re.Match[str]) -> str:
        before = WORD_BEFORE.search(text, max(0, match.start() - RUN_TOGETHER_LETTERS), match.start())
        after = WORD_AFTER.match(text, match.end())
        joined = (before.group() if before else "") + (after.group() if after else "")
        return "" if zipf_frequency(joined, "en") > 0 else "-"

    return LINE_END_HYPHEN.sub(join, text)
