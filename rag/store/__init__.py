"""Where a collection lives: the `Store` (catalog and vectors, one generation at a time) and its `VectorIndex`es.

- `faiss` (default, `rag.store.local`): a SQLite catalog and FAISS files in the index folder, one machine.
- `milvus` (`rag.store.milvus`): everything in Milvus (milvus-lite's file, or a server or cluster by URI), so that
  several replicas serve one collection and keep no state of their own.

The collection is the only writer. A write is prepared by the collection (documents, chunks, sentences, raw and
centred vectors) and handed to `Store.commit` in one piece; readers keep the generation they loaded until they
load the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from rag.settings import Settings

if TYPE_CHECKING:
    from rag.centring import LanguageMeans
    from rag.data import Chunk, Sentence
    from rag.feedback import Feedback
    from rag.store.records import CatalogState, Commit

TABLES = ("chunks", "sentences")


@dataclass(frozen=True)
class Within:
    """Where a filtered search looks: the documents a filter keeps, and the ids of one table's rows in them.

    A store searches inside them before it takes the best k, so that a filter never leaves fewer hits than asked
    while more rows pass it: the embedded store by the ids, a server by the document names.
    """

    docs: tuple[str, ...]
    # Ascending, each once.
    ids: np.ndarray


class VectorIndex(Protocol):
    """Unit vectors keyed by int64 ids; scores are inner products."""

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store `vectors` (rows) under `ids`; an id must not be present already."""
        ...

    def delete(self, ids: np.ndarray) -> None:
        """Forget `ids`; ids that are absent are ignored."""
        ...

    def search(self, vectors: np.ndarray, k: int, within: Within | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per query row, the scores and ids of the k best vectors (of those `within`), best first.

        Missing places hold id -1.
        """
        ...

    def get(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of `ids` (all must be present), one row each."""
        ...

    def count(self) -> int:
        """How many vectors are live."""
        ...

    def for_write(self) -> VectorIndex:
        """An independent copy to apply a write to; this index stays as it is."""
        ...


@runtime_checkable
class HybridIndex(Protocol):
    """A vector index that also ranks by BM25 and fuses the lists itself (a server: Milvus)."""

    def hybrid(
        self, vectors: np.ndarray, lexical: list[list[str]], k: int, rrf_k: int, within: Within | None = None
    ) -> dict[int, float]:
        """Dense search per vector and BM25 per token list (of the rows `within`), fused by RRF: id → score, best k."""
        ...


class Store(Protocol):
    """A collection's persistent state: the catalog of one committed generation and its searchable vectors."""

    where: str

    def generation(self) -> int:
        """The committed generation (0 before the first write); cheap enough to check before every request."""
        ...

    def read(self) -> CatalogState:
        """The committed generation, whole (documents with their text, chunks, sentences, meta)."""
        ...

    def raw_vectors(self, table: str) -> tuple[np.ndarray, np.ndarray]:
        """Ids and raw (not centred) vectors of every chunk or sentence of the committed generation."""
        ...

    def indexes(
        self, state: CatalogState, means: LanguageMeans, settings: Settings, dim: int
    ) -> tuple[VectorIndex, VectorIndex, bool]:
        """The searchable chunk and sentence vectors of `state`, and whether they had to be rebuilt."""
        ...

    def lock(self) -> AbstractContextManager[None]:
        """Exclusive for the one writer, across processes."""
        ...

    def commit(self, change: Commit, base: tuple[VectorIndex, VectorIndex]) -> None:
        """Make `change` the committed generation; readers see the one before until it is done."""
        ...

    def skipped(self) -> dict[str, tuple[int, float, str]]:
        """Corpus folder files that could not be read: name → (size, mtime, why)."""
        ...

    def set_skipped(self, skipped: dict[str, tuple[int, float, str]]) -> None:
        """Replace the record of unreadable folder files."""
        ...

    def add_feedback(self, item: Feedback) -> None:
        """Record a rating of an answer; it is no part of any generation."""
        ...

    def feedback(self) -> list[Feedback]:
        """Every rating recorded, oldest first."""
        ...

    def reset(self) -> str:
        """Set an unreadable catalog aside so that a rebuild can start afresh; where it went."""
        ...

    def salvage(self) -> list[tuple[str, str]] | None:
        """Names and sources of the documents of an unreadable catalog, as far as it reads; None: unknown."""
        ...


def raw_rows(store: Store, table: str, rows: Sequence[Chunk] | Sequence[Sentence], dim: int) -> np.ndarray:
    """The raw vectors of `rows` (chunks or sentences, as `table` says) from `store`, in the order of `rows`."""
    if not rows:
        return np.zeros((0, dim), np.float32)
    ids, raw = store.raw_vectors(table)
    order = {int(i): n for n, i in enumerate(ids)}
    return raw[[order[r.id] for r in rows]]


def new_vector_index(settings: Settings, ids: np.ndarray, vectors: np.ndarray) -> VectorIndex:
    """A new in-memory FAISS index of the configured type holding `vectors` under `ids`."""
    from rag.store.faiss_index import FaissIndex

    return FaissIndex.build(ids, vectors, settings)


def open_store(settings: Settings) -> Store:
    """The store `RAG_VECTOR_STORE` names."""
    if settings.vector_store == "milvus":
        from rag.store.milvus import MilvusStore

        return MilvusStore(settings)
    from rag.store.local import LocalStore

    return LocalStore(settings)
