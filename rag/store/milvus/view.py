"""The search view: one table's rows of one generation, searched on the server (a read-only `VectorIndex`).

Rows of other generations may be present (a write under way, versions waiting for removal): the server skips
the versions the state names as gone, and ids this generation does not hold are dropped here, asking for more
when too many were. Dense search runs on the centred `vector` field; `hybrid` adds BM25 on the `sparse` field and
lets Milvus's RRF ranker fuse the lists.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from rag.store import VectorIndex, Within
from rag.store.milvus.client import Milvus
from rag.store.milvus.schema import lexical_text

# Hits asked for beyond k at first, for the ids of other generations that are dropped.
SPARE_HITS = 8
READ_ONLY = "a Milvus view is read-only; the collection writes through MilvusStore.commit"


class MilvusView:
    """Searches one table's rows of a generation on the server: a `VectorIndex` that is read-only."""

    def __init__(self, db: Milvus, table: str, ids: frozenset[int], gone: list[int], dim: int, ef: int) -> None:
        self.db = db
        self.table = table
        self.ids = ids
        self.filter = f"version not in {gone}" if gone else ""
        self.dim = dim
        self.ef = ef

    def _filter(self, within: Within | None) -> str:
        """The server's filter: this generation's versions, and the documents `within` (names as JSON strings)."""
        if within is None:
            return self.filter
        docs = f"doc in {json.dumps(list(within.docs), ensure_ascii=False)}"
        return f"({self.filter}) and {docs}" if self.filter else docs

    def _search(self, run: Any, k: int, available: int) -> tuple[np.ndarray, np.ndarray]:
        limit = k + SPARE_HITS
        while True:
            results = self.db.call(lambda n=limit: run(n))
            rows = [[h for h in hits if int(h["id"]) in self.ids][:k] for hits in results]
            if all(len(r) >= min(k, available) for r in rows) or all(len(h) < limit for h in results):
                break
            limit *= 4
        scores = np.zeros((len(rows), k), np.float32)
        ids = np.full((len(rows), k), -1, np.int64)
        for n, row in enumerate(rows):
            for m, hit in enumerate(row):
                scores[n, m], ids[n, m] = hit["distance"], hit["id"]
        return scores, ids

    def search(self, vectors: np.ndarray, k: int, within: Within | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k best rows per query vector (inner product) of the documents `within`, best first."""
        available = len(self.ids) if within is None else len(within.ids)
        if k <= 0 or not available or not len(vectors):
            return np.zeros((len(vectors), max(k, 0)), np.float32), np.full((len(vectors), max(k, 0)), -1, np.int64)
        data = [v.tolist() for v in np.asarray(vectors, np.float32)]
        where = self._filter(within)
        return self._search(
            lambda limit: self.db.client.search(
                self.db.name(self.table),
                data=data,
                anns_field="vector",
                limit=limit,
                filter=where,
                consistency_level="Strong",
                search_params={"metric_type": "IP", "params": {"ef": max(self.ef, limit)}},
            ),
            k,
            available,
        )

    def hybrid(
        self, vectors: np.ndarray, lexical: list[list[str]], k: int, rrf_k: int, within: Within | None = None
    ) -> dict[int, float]:
        """Dense search per vector and BM25 per token list (of the documents `within`), fused on the server by RRF.

        id → fused score.
        """
        from pymilvus import AnnSearchRequest, RRFRanker

        name = self.db.name(self.table)
        where = self._filter(within) or None
        reqs = [
            AnnSearchRequest(data=[v.tolist()], anns_field="vector", param={"metric_type": "IP"}, limit=k, expr=where)
            for v in np.asarray(vectors, np.float32)
        ]
        reqs += [
            AnnSearchRequest(
                data=[lexical_text(t)],
                anns_field="sparse",
                param={"metric_type": "BM25"},
                limit=k,
                expr=where,
            )
            for t in lexical
            if t
        ]
        results = self.db.call(
            lambda: self.db.client.hybrid_search(
                name, reqs=reqs, ranker=RRFRanker(rrf_k), limit=k, consistency_level="Strong"
            )
        )
        return {int(h["id"]): float(h["distance"]) for h in results[0] if int(h["id"]) in self.ids}

    def get(self, ids: np.ndarray) -> np.ndarray:
        """The stored (centred) vectors of `ids`, in that order."""
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        wanted = [int(i) for i in ids]
        rows = {
            int(r["id"]): r["vector"]
            for r in self.db.call(
                lambda: self.db.client.query(
                    self.db.name(self.table), ids=wanted, output_fields=["vector"], consistency_level="Strong"
                )
            )
        }
        return np.asarray([rows[i] for i in wanted], np.float32)

    def count(self) -> int:
        """Rows of this generation."""
        return len(self.ids)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Writes go through `MilvusStore.commit`, with their documents."""
        raise TypeError(READ_ONLY)

    def delete(self, ids: np.ndarray) -> None:
        """Writes go through `MilvusStore.commit`."""
        raise TypeError(READ_ONLY)

    def for_write(self) -> VectorIndex:
        """Writes go through `MilvusStore.commit`."""
        raise TypeError(READ_ONLY)
