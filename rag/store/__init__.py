"""Vector stores behind one protocol: vectors addressed by stable ids, searched by inner product.

The collection is the only caller that writes. A write goes to `for_write()`'s copy, so the index that readers
hold never changes under them; the collection then persists the copy and publishes it with its catalog commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from rag.settings import Settings


class VectorIndex(Protocol):
    """Unit vectors keyed by int64 ids; scores are inner products."""

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store `vectors` (rows) under `ids`; an id must not be present already."""
        ...

    def delete(self, ids: np.ndarray) -> None:
        """Forget `ids`; ids that are absent are ignored."""
        ...

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Per query row, the scores and ids of the k best vectors, best first; missing places hold id -1."""
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

    def save(self, path: Path) -> None:
        """Persist to `path` (written completely before it is renamed into place)."""
        ...


def new_vector_index(settings: Settings, ids: np.ndarray, vectors: np.ndarray) -> VectorIndex:
    """A new index of the configured store (`RAG_VECTOR_STORE`) holding `vectors` under `ids`."""
    from rag.store.faiss_index import FaissIndex

    return FaissIndex.build(ids, vectors, settings)


def load_vector_index(settings: Settings, path: Path) -> VectorIndex:
    """An index saved by `VectorIndex.save`."""
    from rag.store.faiss_index import FaissIndex

    return FaissIndex.load(path, settings)
