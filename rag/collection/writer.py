"""The writer's reckoning: what one write changes, with the language means refreshed when they are due.

Given the state a write applies to and the documents it adds and removes, it works out the documents gone, whether
the collection grew enough (`RAG_MEANS_REFRESH_GROWTH`) for the means to be computed again, and the centred
vectors each table gains, loses or has replaced: one `Commit`, for the store to apply.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from rag.centring import LanguageMeans, centre, language_means
from rag.collection.prepare import now
from rag.data import Chunk, Sentence
from rag.embedding import Embedder
from rag.settings import Settings
from rag.snapshot import Snapshot
from rag.store import Store, raw_rows
from rag.store.records import Commit, IndexUpdate, StoredDocument

log = logging.getLogger(__name__)


class Writer:
    """Works out the `Commit` of a write to `store` made with these settings, this embedder and `manifest`."""

    def __init__(self, settings: Settings, embedder: Embedder, store: Store, manifest: dict[str, Any]) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.manifest = manifest

    def change(self, base: Snapshot, add: list[StoredDocument], remove: list[str], full: bool) -> Commit:
        """The write that removes `remove` (and what `add` replaces) from `base` and adds `add`.

        `full` replaces the whole state and recomputes the language means.
        """
        names = {d.record.name for d in add}
        gone = (set(base.infos) if full else set(remove) | (names & set(base.infos))) & set(base.infos)
        kept_chunks = [c for c in base.chunks if c.doc not in gone]
        kept_sentences = [s for s in base.sentences if s.doc not in gone]
        new_chunks = [c for d in add for c in d.chunks]
        new_sentences = [s for d in add for s in d.sentences]
        total = len(kept_chunks) + len(new_chunks)
        grown_from = int(base.means_info.get("chunks", 0))
        refresh = full or not base.means.passage or total > grown_from * (1 + self.settings.means_refresh_growth)
        if refresh:
            means, updates = self._recentred(add, kept_chunks, kept_sentences)
            means_info = {"computed": now(), "chunks": total}
            if grown_from and not full:
                log.info("the collection grew from %d to %d chunks: language means recomputed", grown_from, total)
        else:
            means, means_info = base.means, base.means_info
            raw_c = _rows([d.chunk_vectors for d in add], self.embedder.dim)
            raw_s = _rows([d.sentence_vectors for d in add], self.embedder.dim)
            updates = {
                "chunks": IndexUpdate(
                    _ids(new_chunks),
                    self._centre(raw_c, new_chunks, means.passage),
                    _ids([c for c in base.chunks if c.doc in gone]),
                    full=False,
                ),
                "sentences": IndexUpdate(
                    _ids(new_sentences),
                    self._centre(raw_s, new_sentences, means.sentence),
                    _ids([s for s in base.sentences if s.doc in gone]),
                    full=False,
                ),
            }
        meta = {"manifest": self.manifest, "means": means.to_dict(), "means_info": means_info}
        return Commit(base.generation + 1, meta, add, sorted(gone), updates)

    def _centre(self, raw: np.ndarray, rows: list[Chunk] | list[Sentence], means: dict[str, list[float]]) -> np.ndarray:
        return centre(raw, [r.language for r in rows], means, self.settings.center_embeddings)

    def _recentred(
        self, add: list[StoredDocument], kept_chunks: list[Chunk], kept_sentences: list[Sentence]
    ) -> tuple[LanguageMeans, dict[str, IndexUpdate]]:
        """New means over everything the write leaves, and every vector centred with them (no re-embedding)."""
        chunks = kept_chunks + [c for d in add for c in d.chunks]
        sentences = kept_sentences + [s for d in add for s in d.sentences]
        dim = self.embedder.dim
        raw_c = np.concatenate([raw_rows(self.store, "chunks", kept_chunks, dim), *[d.chunk_vectors for d in add]])
        raw_s = np.concatenate(
            [raw_rows(self.store, "sentences", kept_sentences, dim), *[d.sentence_vectors for d in add]]
        )
        means = language_means(self.embedder, chunks, raw_c, sentences, raw_s, self.settings)
        none = np.zeros(0, np.int64)
        return means, {
            "chunks": IndexUpdate(_ids(chunks), self._centre(raw_c, chunks, means.passage), none, full=True),
            "sentences": IndexUpdate(_ids(sentences), self._centre(raw_s, sentences, means.sentence), none, full=True),
        }


def _rows(blocks: list[np.ndarray], dim: int) -> np.ndarray:
    return np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32)


def _ids(rows: list[Chunk] | list[Sentence]) -> np.ndarray:
    return np.asarray([r.id for r in rows], np.int64)
