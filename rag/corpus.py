"""Load the corpus: read each file as UTF-8, detect its language, and strip OCR noise.

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

SUFFIXES = (".txt", ".md")
# Bumped whenever cleaning changes what gets chunked, so existing indexes are rebuilt.
CLEANING_VERSION = 3
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN = re.compile(r"[A-Za-z]")
# Stray glyphs the OCR of seed 000 left where footnote marks and punctuation were.
OCR_NOISE = re.compile(r"[ÿŷӱỹ\ufffd]")
# A line break inside a Chinese sentence (PDF extraction leaves them): whitespace with a newline between two
# Chinese characters, the first not ending a sentence. Cleaning joins the two halves.
BROKEN_LINE = re.compile(r"(?<=[\u4e00-\u9fff，、《“（])[ \t]*\n\s*(?=[\u4e00-\u9fff》”）])")
# Share of CJK among letters from which a text counts as Chinese.
ZH_RATIO = 0.3


def detect_language(text: str) -> str:
    """'zh' when CJK characters make up a fair share of the letters, else 'en'."""
    cjk = len(CJK.findall(text))
    latin_words = len(re.findall(r"[A-Za-z]+", text))
    if cjk == 0:
        return "en"
    # A Chinese character carries about a word's meaning, so compare characters with words.
    return "zh" if cjk / (cjk + latin_words) >= ZH_RATIO else "en"


def _drop(text: str, dropped: set[int]) -> tuple[str, list[int]]:
    kept = [i for i in range(len(text)) if i not in dropped]
    return "".join(text[i] for i in kept), kept


def clean_text(text: str) -> tuple[str, tuple[int, ...]]:
    """Drop OCR noise, then join broken Chinese lines; return the cleaned text and the origin map.

    `origin[i]` is the offset in `text` of the cleaned character i; a final entry holds `len(text)`.
    """
    denoised, first = _drop(text, {m.start() for m in OCR_NOISE.finditer(text)})
    breaks = {i for m in BROKEN_LINE.finditer(denoised) for i in range(m.start(), m.end())}
    clean, second = _drop(denoised, breaks)
    return clean, (*(first[i] for i in second), len(text))


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
