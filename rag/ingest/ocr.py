"""Read the text of a page image with Tesseract, offline: a scanned PDF page or an uploaded PNG or JPEG.

Tesseract (Debian's `tesseract-ocr` with its `eng` and `chi_sim` data; `make ocr` installs them) runs as a
program, fed a PNG on its standard input, and answers a TSV of words with their confidence; the words are put
back into the text blocks it found, a block's lines rejoined (where a scan wrapped is no break in the text),
with no space between two Chinese characters (it puts one between every two). A block read with a mean
confidence under `ocr_min_block_confidence` is a speck or a smudge read as letters (on our test scans, "ye" at
0.42 beside text at 0.93), and is left out. The program inherits the reader process's limits (memory, CPU
time), so a page that makes it run away ends with the reader. eng+chi_sim in one run read both languages as
well as each alone did (eval/ocr_engines.py), so a page needs no language detection first.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from dataclasses import dataclass

from PIL import Image

from rag.errors import UnreadableDocumentError
from rag.ingest.pdf_text import rejoin_hyphens
from rag.settings import Settings
from rag.text import CJK_RANGES

TESSERACT = "tesseract"
# Punctuation that takes no space before it in Chinese text, where Tesseract still spaces it like a word.
CJK_PUNCT = "，。、；：！？）》」』】“”‘’（《「『【"
CJK_SPACE = re.compile(f"(?<=[{CJK_RANGES}{CJK_PUNCT}]) (?=[{CJK_RANGES}{CJK_PUNCT}])")
# Tesseract's TSV: level 5 rows are words; a row's confidence is 0-100 (-1 on rows that are not words).
WORD_LEVEL = "5"


@dataclass(frozen=True)
class PageText:
    """A page's text as OCR read it, and the mean confidence (0-1) of its words, weighted by their length."""

    text: str
    confidence: float | None


def available() -> bool:
    """Whether the Tesseract program is installed."""
    return shutil.which(TESSERACT) is not None


def read_image(image: Image.Image, name: str, settings: Settings) -> PageText:
    """The text Tesseract reads in `image` with `settings.ocr_languages`; UnreadableDocumentError if it cannot run."""
    if not available():
        raise UnreadableDocumentError(
            f"{name} is a scan or an image, and reading it needs OCR, which is not installed here: install "
            "tesseract-ocr, tesseract-ocr-eng and tesseract-ocr-chi-sim (make ocr), then upload it again"
        )
    png = io.BytesIO()
    image.convert("L").save(png, "PNG")
    command = [TESSERACT, "stdin", "stdout", "-l", settings.ocr_languages, "--dpi", str(settings.ocr_dpi), "tsv"]
    try:
        done = subprocess.run(command, input=png.getvalue(), capture_output=True, timeout=settings.parse_timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise UnreadableDocumentError(
            f"OCR of {name} took over {settings.parse_timeout_s:g} s (RAG_PARSE_TIMEOUT_S) and was stopped; "
            "split it into smaller files and upload those"
        ) from exc
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise UnreadableDocumentError(
            f"OCR failed on {name} ({reason[-1] if reason else f'exit {done.returncode}'}); check that "
            f"RAG_OCR_LANGUAGES={settings.ocr_languages} names installed Tesseract languages (tesseract --list-langs)"
        )
    return _page_text(done.stdout.decode("utf-8", errors="replace"), settings.ocr_min_block_confidence)


def _page_text(tsv: str, min_block_confidence: float) -> PageText:
    """The text blocks of Tesseract's words (see the module doc), less those read with too little confidence."""
    blocks: dict[tuple[str, str], dict[tuple[str, str], list[str]]] = {}
    confidence: dict[tuple[str, str], list[float]] = {}
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        word = (row.get("text") or "").strip()
        if row.get("level") != WORD_LEVEL or not word:
            continue
        key = (row["page_num"], row["block_num"])
        blocks.setdefault(key, {}).setdefault((row["par_num"], row["line_num"]), []).append(word)
        sums = confidence.setdefault(key, [0.0, 0.0])
        sums[0] += float(row["conf"]) / 100 * len(word)
        sums[1] += len(word)
    kept = [key for key in blocks if confidence[key][0] / confidence[key][1] >= min_block_confidence]
    text = "\n\n".join(_reflow([" ".join(words) for words in blocks[key].values()]) for key in kept)
    letters = sum(confidence[key][1] for key in kept)
    return PageText(text, sum(confidence[key][0] for key in kept) / letters if letters else None)


def _reflow(lines: list[str]) -> str:
    """A block's lines as one paragraph, a word hyphenated at a line end joined again."""
    return CJK_SPACE.sub("", rejoin_hyphens("\n".join(lines)).replace("\n", " "))
