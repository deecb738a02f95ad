"""The records every store exchanges with the writer and the readers: documents, one generation, one write.

They live apart from any one backend (the SQLite catalog, Milvus) so that the writer, the stores and whatever
reads a generation import the shapes without the code that stores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.data import Chunk, Sentence
from rag.filters import Meta
from rag.sections import Outline


@dataclass(frozen=True)
class DocumentRecord:
    """A catalog row of `documents`: what the listing shows, and the extracted text."""

    name: str
    sha256: str
    format: str
    language: str
    size: int
    # "folder" for files synced from the corpus folder (a sync deletes them when the file goes), "upload" or
    # "cli" for documents added by hand (a sync leaves them alone).
    source: str
    mtime: float | None
    added: str
    text: str
    pages: tuple[int, ...]
    outline: Outline = ()
    # Given when it was added (`rag add --tag/--meta`, an upload's `tags` and `meta` fields), for filters.
    tags: tuple[str, ...] = ()
    meta: Meta = field(default_factory=dict)


@dataclass(frozen=True)
class StoredDocument:
    """A document with everything derived from it, as one write stores it; vectors are raw (not centred)."""

    record: DocumentRecord
    chunks: list[Chunk]
    chunk_tokens: list[list[str]]
    chunk_vectors: np.ndarray
    sentences: list[Sentence]
    sentence_vectors: np.ndarray


@dataclass(frozen=True)
class CatalogState:
    """One generation of the catalog, read in one transaction.

    Chunks and sentences come sorted by document and offset: the same documents give the same order, whatever
    order they were written in.
    """

    generation: int
    meta: dict[str, Any]
    documents: list[DocumentRecord]
    chunks: list[Chunk]
    chunk_tokens: list[list[str]]
    sentences: list[Sentence]


@dataclass(frozen=True)
class IndexUpdate:
    """How the centred vectors of one table change in a write.

    `full`: `ids`/`vectors` are all of them (the means were recomputed). Otherwise `deleted` go and `ids`/`vectors`
    are added.
    """

    ids: np.ndarray
    vectors: np.ndarray
    deleted: np.ndarray
    full: bool


@dataclass(frozen=True)
class Commit:
    """One write, ready to store: the generation it makes, the meta, the documents added and the names removed."""

    generation: int
    meta: dict[str, Any]
    add: list[StoredDocument]
    remove: list[str]
    updates: dict[str, IndexUpdate]
