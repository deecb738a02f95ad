"""FAISS index types at scale: build time, memory, search latency and recall@10 against exact search.

Vectors are either real embeddings or samples from a Gaussian fitted to real embeddings (mean and full
covariance, then unit-normalized); the report says which.
"""

from __future__ import annotations

import time
from typing import Any

import faiss
import numpy as np

from rag.bench.common import percentiles
from rag.settings import Settings
from rag.store.faiss_index import make_faiss_index

K = 10


def sample_like(real: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """`n` unit vectors drawn from a Gaussian with the mean and covariance of `real`."""
    rng = np.random.default_rng(seed)
    mean = real.mean(axis=0)
    cov = np.cov(real, rowvar=False) + 1e-6 * np.eye(real.shape[1])
    vals, vecs = np.linalg.eigh(cov)
    basis = (vecs * np.sqrt(np.clip(vals, 0, None))).T.astype(np.float32)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    step = 100_000
    for i in range(0, n, step):
        m = min(step, n - i)
        block = mean + rng.standard_normal((m, real.shape[1]), dtype=np.float32) @ basis
        out[i : i + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def bench_index_types(vectors: np.ndarray, queries: np.ndarray, types: list[str], settings: Settings) -> dict[str, Any]:
    """Per index type: build seconds, serialized size, per-query latency and recall@10 versus flat."""
    results: dict[str, Any] = {}
    exact: np.ndarray | None = None
    for kind in ["flat", *[t for t in types if t != "flat"]]:
        t0 = time.perf_counter()
        index = make_faiss_index(vectors, kind, settings)
        index.add(vectors)
        build_s = time.perf_counter() - t0
        latencies = []
        found = np.empty((len(queries), K), dtype=np.int64)
        for i, q in enumerate(queries):
            t1 = time.perf_counter()
            _, ids = index.search(q[None, :], K)
            latencies.append((time.perf_counter() - t1) * 1e3)
            found[i] = ids[0]
        if exact is None:
            exact = found
        recall = float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, exact, strict=True)]))
        results[kind] = {
            "build_s": round(build_s, 2),
            "memory_mb": round(faiss.serialize_index(index).nbytes / 2**20, 1),
            "search_ms": percentiles(latencies),
            "recall@10": round(recall, 4),
        }
    return results
