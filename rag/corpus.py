"""Load the corpus: read each file as UTF-8, detect its language, strip OCR noise and join wrapped lines.

Cleaning never edits the original text: a `Document` keeps both, and a map from every cleaned
character back to its offset in the original, so citations can point at the file as it is on disk.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from rag.data import Document
from rag.errors import CorpusError
from rag.text import CJK_RANGES, detect_language

SUFFIXES = (".txt", ".md")
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


def _rewrite(text: str, drop: set[int], spaces: set[int]) -> tuple[str, list[int]]:
    """`text` without the characters at `drop`, those at `spaces` turned into a space; and the kept offsets."""
    kept = [i for i in range(len(text)) if i not in drop]
    return "".join(" " if i in spaces else text[i] for i in kept), kept


def _wrapped_breaks(text: str) -> tuple[set[int], set[int]]:
    """Offsets to drop and to turn into a space so that hard-wrapped lines read as one line."""
    drop: set[int] = set()
    spaces: set[int] = set()
    for m in WRAPPED_LINE.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if len(text[line_start : m.start()].strip()) < WRAP_MIN_CHARS:
            continue
        spaces.add(m.start())
        drop.update(range(m.start() + 1, m.end()))
    for m in OPTION_TERM.finditer(text):
        spaces.add(m.start(2))
        drop.update(range(m.start(2) + 1, m.end(2)))
    return drop, spaces


def clean_text(text: str) -> tuple[str, tuple[int, ...]]:
    """Drop OCR noise, then join broken Chinese and wrapped lines; return the cleaned text and the origin map.

    `origin[i]` is the offset in `text` of the cleaned character i; a final entry holds `len(text)`.
    """
    denoised, first = _rewrite(text, {m.start() for m in OCR_NOISE.finditer(text)}, set())
    breaks = {i for m in BROKEN_LINE.finditer(denoised) for i in range(m.start(), m.end())}
    joined, second = _rewrite(denoised, breaks, set())
    clean, third = _rewrite(joined, *_wrapped_breaks(joined))
    return clean, (*(first[second[i]] for i in third), len(text))


def load_document(path: Path, name: str | None = None) -> Document:
    """Read one corpus file; a file that is not UTF-8 raises CorpusError naming it."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path} is not valid UTF-8 (byte {exc.start}); convert it, e.g. `iconv -t UTF-8`") from exc
    clean, origin = clean_text(text)
    return Document(
        name=name or path.name,
        text=text,
        clean=clean,
        origin=origin,
        language=detect_language(clean),
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The corpus files in name order; CorpusError when the folder is missing or has none."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist; set RAG_CORPUS_DIR or --corpus")
    root = corpus_dir.resolve()
    # A symlink that leads out of the corpus folder is not part of the corpus.
    files = sorted(
        p
        for p in corpus_dir.iterdir()
        if p.is_file() and p.suffix.lower() in SUFFIXES and p.resolve().is_relative_to(root)
    )
    if not files:
        raise CorpusError(f"corpus folder {corpus_dir} has no .txt or .md files")
    return files


def load_corpus(corpus_dir: Path) -> Iterator[Document]:
    """Every document of the corpus folder, in name order."""
    for path in corpus_files(corpus_dir):
        yield load_document(path)
