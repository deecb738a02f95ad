"""One committed generation of the collection as the read path sees it: documents, chunks, sentences, vectors.

The writer (`rag.collection`) loads it; retrieval and the pipeline read it. It lives apart from the writer so that
nothing that only reads imports the code that writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rag.centring import LanguageMeans
from rag.data import Chunk, Document, Sentence
from rag.filters import Meta
from rag.store import VectorIndex


@dataclass(frozen=True)
class DocumentInfo:
    """What the document listing shows about one document."""

    name: str
    language: str
    format: str
    chunks: int
    size: int
    characters: int
    pages: int
    sha256: str
    source: str
    added: str
    # The first heading of its outline, else the file name without its suffix.
    title: str = ""
    tags: tuple[str, ...] = ()
    meta: Meta = field(default_factory=dict)


@dataclass
class Snapshot:
    """One committed generation of the collection, loaded for searching. Never changes once loaded."""

    generation: int
    manifest: dict[str, Any]
    means: LanguageMeans
    means_info: dict[str, Any]
    documents: dict[str, Document]
    infos: dict[str, DocumentInfo]
    # Sorted by document and offset.
    chunks: list[Chunk]
    chunk_tokens: list[list[str]]
    sentences: list[Sentence]
    vectors: VectorIndex
    sentence_vectors: VectorIndex
    # Vector files were missing or did not match, and were rebuilt from the catalog's raw vectors in memory.
    repaired: bool = False
