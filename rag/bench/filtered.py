"""Filtered search at scale: a filter that keeps a share of the documents, against the unfiltered search.

The vectors are grouped into documents of equal size and a random share of the documents is kept, as a filter on
tags or metadata would keep them. Per index type: search p50 with and without the filter, their ratio, and
recall@10 of the filtered search against the exact k best of the kept vectors (what an index holding only them
would give).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from rag.bench.common import percentiles
from rag.settings import Settings
from rag.store import Within
from rag.store.faiss_index import FaissIndex

K = 10
DOCUMENTS = 1000


def bench_filtered(
    vectors: np.ndarray, queries: np.ndarray, kinds: list[str], settings: Settings, share: float
) -> dict[str, Any]:
    """Per index type: unfiltered and filtered search p50, their ratio, and the filtered search's recall@10."""
    n = len(vectors)
    ids = np.arange(n, dtype=np.int64) * 7919  # sparse, as stable hashes are
    doc_of = np.arange(n) * DOCUMENTS // n
    kept_docs = np.random.default_rng(4).random(DOCUMENTS) < share
    kept = kept_docs[doc_of]
    within = Within(tuple(str(d) for d in np.flatnonzero(kept_docs)), ids[kept])
    order = np.argsort(-(queries @ vectors[kept].T), axis=1, kind="stable")[:, :K]
    exact = ids[kept][order]
    out: dict[str, Any] = {"vectors": n, "kept": int(kept.sum()), "documents": DOCUMENTS}
    for kind in kinds:
        index = FaissIndex.build(ids, vectors, settings.model_copy(update={"index_type": kind}))
        plain, filtered, found = [], [], []
        for q in queries:
            t0 = time.perf_counter()
            index.search(q[None, :], K)
            t1 = time.perf_counter()
            _, got = index.search(q[None, :], K, within)
            t2 = time.perf_counter()
            plain.append((t1 - t0) * 1e3)
            filtered.append((t2 - t1) * 1e3)
            found.append(got[0])
        recall = float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, exact, strict=True)]))
        p_plain, p_filtered = percentiles(plain), percentiles(filtered)
        out[kind] = {
            "search_ms": p_plain,
            "filtered_ms": p_filtered,
            "p50_ratio": round(p_filtered["p50"] / p_plain["p50"], 2),
            "filtered_recall@10": round(recall, 4),
        }
    return out
