"""Split cleaned documents into retrievable units with exact offsets: chunks and sentences.

Chunks overlap and are measured in tiktoken tokens; langchain's recursive splitter cuts them, with
separators going from paragraphs to English and Chinese sentence ends to clauses, so a chunk ends on a
sentence in either language when it can. Sentences come from `rag.text`'s splitter, once per document
(not per chunk, which overlap), and are what answers quote and what the answer step scores. Each chunk and
sentence carries the section path over its start.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from rag.data import Chunk, Document, Sentence
from rag.ingest import page_of
from rag.offline import get_encoding
from rag.text import content_length, display, sentence_spans

if TYPE_CHECKING:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

# Bumped whenever sentence splitting changes, so existing indexes are rebuilt.
SENTENCE_VERSION = 2  # 2: over-long sentences are not cut inside quotations

# Zero-width lookbehinds keep each sentence end with the sentence it closes.
SEPARATORS = [
    r"\n\s*\n",
    r"\n",
    r"(?<=[.!?])\s+",
    r"(?<=[。！？；])",
    r"(?<=[，、：,;:])",
    r"\s+",
    r"",
]
CONTENT = re.compile(r"[A-Za-z0-9\u3400-\u9fff]")
# Ids fit in 53 bits, so that JavaScript clients of the API read them exactly.
ID_BITS = 53


def stable_hash(key: bytes) -> int:
    """A non-negative id of `ID_BITS` bits for a key."""
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") >> (64 - ID_BITS)


def stable_id(kind: str, doc: Document, start: int, end: int) -> int:
    """The id of a chunk or sentence: a hash of its kind, its document (name and content) and its span.

    The same text indexed twice gets the same ids, whatever else is in the collection.
    """
    return stable_hash(f"{kind}\0{doc.name}\0{doc.sha256}\0{start}\0{end}".encode())


def make_splitter(
    chunk_tokens: int, chunk_overlap: int, encoding: str, cache_dir: Path
) -> RecursiveCharacterTextSplitter:
    """A langchain splitter whose lengths are tiktoken token counts."""
    enc = get_encoding(encoding, cache_dir)

    def length(text: str) -> int:
        return len(enc.encode(text, disallowed_special=()))  # type: ignore[attr-defined]

    # Imported here: only writes chunk, and a process that only answers need not load langchain.
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        separators=SEPARATORS,
        is_separator_regex=True,
        keep_separator="end",
        chunk_size=chunk_tokens,
        chunk_overlap=chunk_overlap,
        length_function=length,
        strip_whitespace=True,
    )


def _within_budget(piece: str, splitter: RecursiveCharacterTextSplitter) -> list[str]:
    """The piece, or its halves (cut at a space near the middle) until each fits the splitter's token budget.

    The splitter adds up the token counts of the parts it merges, and BPE counts do not add up exactly: a merged
    piece can come out a token or two over the budget.
    """
    length, budget = splitter._length_function, splitter._chunk_size
    if length(piece) <= budget or len(piece) < 2:
        return [piece]
    middle = len(piece) // 2
    space = piece.rfind(" ", 0, middle)
    cut = space if space > 0 else middle
    return _within_budget(piece[:cut], splitter) + _within_budget(piece[cut:].lstrip(), splitter)


def chunk_document(doc: Document, splitter: RecursiveCharacterTextSplitter) -> list[Chunk]:
    """Chunks of one document; each chunk's `text` equals `doc.text[start:end]` exactly."""
    chunks: list[Chunk] = []
    cursor = 0
    placed: list[tuple[int, str]] = []
    # Wholes overlap and never start before the one before them (one may start at the same place, when the one
    # before lies inside the overlap); each is found from there, and its halves inside it.
    for whole in splitter.split_text(doc.clean):
        at = doc.clean.find(whole, cursor)
        if at < 0:
            raise AssertionError(f"splitter returned text not found in {doc.name}")
        if placed and placed[-1] == (at, whole):
            continue
        cursor = at
        offset = 0
        for piece in _within_budget(whole, splitter):
            offset = whole.index(piece, offset)
            placed.append((at + offset, piece))
            offset += len(piece)
    for at, piece in placed:
        if not CONTENT.search(piece):
            continue
        start, end = doc.span(at, at + len(piece))
        chunks.append(
            Chunk(
                id=stable_id("chunk", doc, start, end),
                doc=doc.name,
                start=start,
                end=end,
                text=doc.text[start:end],
                clean=piece,
                language=doc.language,
                page=page_of(doc.pages, start),
                section=doc.sections.at(start),
            )
        )
    return chunks


def _sentence_pieces(doc: Document, max_chars: int, min_chars: int) -> list[tuple[int, int]]:
    """Cleaned-text offsets of the sentences long enough to stand alone."""
    return [(s, e) for s, e in sentence_spans(doc.clean, max_chars) if content_length(doc.clean[s:e]) >= min_chars]


def document_sentences(doc: Document, max_chars: int, min_chars: int) -> list[Sentence]:
    """Sentences of one document long enough to stand alone; `doc.text[start:end]` is each one on disk."""
    out: list[Sentence] = []
    for s, e in _sentence_pieces(doc, max_chars, min_chars):
        start, end = doc.span(s, e)
        sid = stable_id("sentence", doc, start, end)
        page = page_of(doc.pages, start)
        out.append(
            Sentence(sid, doc.name, start, end, display(doc.clean[s:e]), doc.language, page, doc.sections.at(start))
        )
    return out


def sentence_homes(
    doc: Document, chunks: list[Chunk], max_chars: int, min_chars: int
) -> list[tuple[int, int, int] | None]:
    """For each sentence `document_sentences` gives, the chunk that holds it whole and its span in that chunk.

    A home is (chunk position, start, end), the offsets into the chunk's `clean` text; among overlapping chunks
    the one where the sentence sits furthest from an edge, so that its context reaches both ways. None when no
    chunk holds the sentence whole.
    """
    starts: list[int] = []
    cursor = 0
    for c in chunks:
        cursor = doc.clean.find(c.clean, cursor)
        if cursor < 0:
            raise AssertionError(f"chunk text not found in {doc.name}")
        starts.append(cursor)
    out: list[tuple[int, int, int] | None] = []
    for s, e in _sentence_pieces(doc, max_chars, min_chars):
        best: tuple[int, int, int] | None = None
        room = -1
        for i in range(max(0, bisect.bisect_right(starts, s) - 1), -1, -1):
            a, b = starts[i], starts[i] + len(chunks[i].clean)
            if a <= s and e <= b and min(s - a, b - e) > room:
                best, room = (i, s - a, e - a), min(s - a, b - e)
            if b <= s:
                break
        out.append(best)
    return out


def sentences_of_chunks(chunks: list[Chunk], sentences: list[Sentence]) -> list[list[int]]:
    """For each chunk, the positions in `sentences` (sorted by document and start) of those that overlap it."""
    by_doc: dict[str, list[int]] = {}
    for pos, sent in enumerate(sentences):
        by_doc.setdefault(sent.doc, []).append(pos)
    ends = {doc: [sentences[p].end for p in group] for doc, group in by_doc.items()}
    out = []
    for c in chunks:
        group = by_doc.get(c.doc, [])
        first = bisect.bisect_right(ends.get(c.doc, []), c.start)
        ids = []
        for pos in group[first:]:
            if sentences[pos].start >= c.end:
                break
            ids.append(pos)
        out.append(ids)
    return out
