"""Split cleaned documents into overlapping chunks measured in tiktoken tokens, with exact offsets.

langchain's recursive splitter does the splitting; separators go from paragraphs to English and
Chinese sentence ends to clauses, so a chunk ends on a sentence in either language when it can.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.data import Chunk, Document
from rag.offline import get_encoding

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


def make_splitter(
    chunk_tokens: int, chunk_overlap: int, encoding: str, cache_dir: Path
) -> RecursiveCharacterTextSplitter:
    """A langchain splitter whose lengths are tiktoken token counts."""
    enc = get_encoding(encoding, cache_dir)

    def length(text: str) -> int:
        return len(enc.encode(text, disallowed_special=()))  # type: ignore[attr-defined]

    return RecursiveCharacterTextSplitter(
        separators=SEPARATORS,
        is_separator_regex=True,
        keep_separator="end",
        chunk_size=chunk_tokens,
        chunk_overlap=chunk_overlap,
        length_function=length,
        strip_whitespace=True,
    )


def chunk_document(doc: Document, splitter: RecursiveCharacterTextSplitter, first_id: int = 0) -> list[Chunk]:
    """Chunks of one document; each chunk's `text` equals `doc.text[start:end]` exactly."""
    chunks: list[Chunk] = []
    cursor = 0
    for piece in splitter.split_text(doc.clean):
        at = doc.clean.find(piece, cursor)
        if at < 0:
            raise AssertionError(f"splitter returned text not found in {doc.name}")
        cursor = at + 1
        if not CONTENT.search(piece):
            continue
        start, end = doc.span(at, at + len(piece))
        chunks.append(
            Chunk(
                id=first_id + len(chunks),
                doc=doc.name,
                start=start,
                end=end,
                text=doc.text[start:end],
                clean=piece,
                language=doc.language,
            )
        )
    return chunks


def chunk_corpus(docs: Iterable[Document], splitter: RecursiveCharacterTextSplitter) -> list[Chunk]:
    """Chunks of every document, with ids numbered across the corpus."""
    out: list[Chunk] = []
    for doc in docs:
        out.extend(chunk_document(doc, splitter, first_id=len(out)))
    return out
