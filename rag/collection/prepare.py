"""A write's slow part, outside the lock: files read (in a bounded child), documents chunked, tokenized, embedded."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.checksum import sha256_bytes
from rag.data import Chunk, Document, Sentence
from rag.embedding import Embedder, embed_late, embed_passages, vector_cache
from rag.errors import CorpusError, RagError, UnreadableDocumentError
from rag.filters import Meta
from rag.ingest import Extracted
from rag.ingest.chunking import chunk_document, document_sentences, make_splitter, sentence_homes
from rag.ingest.clean import clean_text
from rag.isolation import read_isolated
from rag.lexical import tokenize
from rag.names import check_name
from rag.originals import KEPT_FORMATS
from rag.settings import Settings
from rag.store.records import DocumentRecord, StoredDocument
from rag.text import detect_language

log = logging.getLogger(__name__)

# What a write says as it goes: (stage, done, total). Stages: "reading", "embedding" (texts), "saving".
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Incoming:
    """A document read for a write, before it is chunked and embedded."""

    extracted: Extracted
    name: str
    sha256: str
    size: int
    source: str
    mtime: float | None = None
    # The file's bytes, for the formats whose pages are drawn from their file (`rag.originals`); else None.
    original: bytes | None = None
    tags: tuple[str, ...] = ()
    meta: Meta = field(default_factory=dict)


def original_of(extracted: Extracted, data: bytes) -> bytes | None:
    """The bytes to keep for a document's pages: for the formats drawn from their file, else None."""
    return data if extracted.format in KEPT_FORMATS else None


def originals_of(items: list[Incoming]) -> dict[str, bytes]:
    """sha256 → bytes of the files kept for `items`."""
    return {i.sha256: i.original for i in items if i.original is not None}


def make_document(extracted: Extracted, name: str, sha256: str) -> Document:
    """A `Document` of extracted text: cleaned, with its offset map and language."""
    clean, origin = clean_text(extracted.text)
    if extracted.ocr_confidence is not None:
        # Not stored with the document: a low figure tells an operator which upload to scan again.
        log.info("%s: read by OCR, mean confidence %.2f", name, extracted.ocr_confidence)
    language = detect_language(clean)
    return Document(
        name, extracted.text, clean, origin, language, sha256, extracted.format, extracted.pages, extracted.outline
    )


def now() -> str:
    """The time of a write, as documents record it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read_files(files: list[Path], source: str, settings: Settings) -> tuple[list[Incoming], list[tuple[str, str]]]:
    """The files read for a write (in a bounded child), and (name, why) of those that could not be read."""
    items: list[Incoming] = []
    skipped: list[tuple[str, str]] = []
    taken: dict[str, Path] = {}
    for path in files:
        try:
            name = check_name(path.name)
            if name in taken:
                # Two files whose names differ only in their Unicode form would be one document.
                raise CorpusError(
                    f"{path} has the same name as {taken[name]} once both are in Unicode NFC; rename one of them"
                )
            taken[name] = path
            size = path.stat().st_size
            if size > settings.max_file_bytes:
                raise CorpusError(
                    f"{path} is {size / 2**20:.1f} MiB; the limit is "
                    f"{settings.max_file_bytes / 2**20:.1f} MiB (RAG_MAX_FILE_BYTES)"
                )
            mtime = path.stat().st_mtime
            data = path.read_bytes()
            text = read_isolated(data, name, settings)
            items.append(Incoming(text, name, sha256_bytes(data), size, source, mtime, original_of(text, data)))
        except (RagError, OSError) as exc:
            log.warning("skipped %s: %s", path, exc)
            skipped.append((path.name, str(exc)))
    return items, skipped


class Preparer:
    """Turns documents read for a write into what the store keeps: chunks, tokens, sentences, raw vectors."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self._splitter: Any = None

    def prepare(self, items: list[Incoming], progress: Progress | None = None) -> list[StoredDocument]:
        """Chunk, tokenize and embed documents (outside the lock: this is the slow part of a write)."""
        if self._splitter is None:
            s = self.settings
            self._splitter = make_splitter(
                s.chunk_tokens, s.chunk_overlap, s.tiktoken_encoding, s.cache_dir / "tiktoken"
            )
        docs: list[DocumentRecord] = []
        pieces: list[tuple[list[Chunk], list[Sentence]]] = []
        homes: list[tuple[int, int, int] | None] = []
        for item in items:
            doc = make_document(item.extracted, item.name, item.sha256)
            chunks = chunk_document(doc, self._splitter)
            if not chunks:
                raise UnreadableDocumentError(f"{item.name} holds no text to index (only punctuation or spaces)")
            sentences = document_sentences(doc, self.settings.sentence_max_chars, self.settings.min_sentence_chars)
            if self.settings.sentence_vectors == "late":
                at = sum(len(c) for c, _ in pieces)
                for h in sentence_homes(
                    doc, chunks, self.settings.sentence_max_chars, self.settings.min_sentence_chars
                ):
                    homes.append((h[0] + at, h[1], h[2]) if h else None)
            record = DocumentRecord(
                item.name,
                item.sha256,
                doc.format,
                doc.language,
                item.size,
                item.source,
                item.mtime,
                now(),
                doc.text,
                doc.pages,
                doc.outline,
                item.tags,
                item.meta,
            )
            docs.append(record)
            pieces.append((chunks, sentences))
        all_chunks = [c for chunks, _ in pieces for c in chunks]
        all_sentences = [s for _, sentences in pieces for s in sentences]
        batch, chars = self.settings.embed_batch_size, self.settings.embed_batch_chars
        cache = vector_cache(self.settings, self.embedder)
        total = len(all_chunks) + len(all_sentences)

        def chunks_done(n: int) -> None:
            if progress:
                progress("embedding", n, total)

        def sentences_done(n: int) -> None:
            if progress:
                progress("embedding", len(all_chunks) + n, total)

        if self.settings.sentence_vectors == "late":
            chunk_vectors, sentence_vectors = embed_late(
                self.embedder,
                [c.clean for c in all_chunks],
                [s.text for s in all_sentences],
                homes,
                batch,
                chars,
                cache,
                chunks_done,
            )
        else:
            texts = [c.clean for c in all_chunks]
            chunk_vectors = embed_passages(self.embedder, texts, batch, "embedding chunks", cache, chunks_done, chars)
            sentence_texts = [s.text for s in all_sentences]
            sentence_vectors = embed_passages(
                self.embedder, sentence_texts, batch, "embedding sentences", cache, sentences_done, chars
            )
        out, at_c, at_s = [], 0, 0
        for record, (chunks, sentences) in zip(docs, pieces, strict=True):
            tokens = [tokenize(c.clean) for c in chunks]
            cv = chunk_vectors[at_c : at_c + len(chunks)]
            sv = sentence_vectors[at_s : at_s + len(sentences)]
            out.append(StoredDocument(record, chunks, tokens, cv, sentences, sv))
            at_c += len(chunks)
            at_s += len(sentences)
        return out
