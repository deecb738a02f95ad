"""The Milvus store against the embedded one, in the same run.

- Quality: each eval corpus's FAISS collection copied into milvus-lite (`rag migrate`, nothing re-embedded), then
  evidence recall@10 per split through each store, and `search` latency on the seeds, over a milvus-lite server
  started here on a free port (the path a replica takes).
- Scale: the same vectors in a Milvus collection (FLAT and HNSW) and in FAISS: insert and index time, search
  latency and recall@10 against exact search.

milvus-lite is Python over numpy and FAISS in one process: its figures are an upper bound on what a Milvus
cluster's latency would be for one query, and say nothing of a cluster's throughput or of its scale past one
machine's memory.
"""

from __future__ import annotations

import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from rag.bench.common import percentiles
from rag.eval.dataset import Example
from rag.eval.metrics import by_corpus, overlaps
from rag.migrate import copy_collection
from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.store import open_store

K = 10
STARTUP_LIMIT_S = 60.0


@contextmanager
def milvus_lite_server(data: Path) -> Iterator[str]:
    """`python -m milvus_lite server` on a free local port; its URI."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data), "--host", "127.0.0.1"]
    server = subprocess.Popen([*cmd, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + STARTUP_LIMIT_S
    try:
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the milvus-lite server did not start")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _recall(pipe: Pipeline, examples: list[Example]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for ex in examples:
        if ex.answerable:
            hits = pipe.search(ex.question, K)
            found = statistics.fmean(any(overlaps(h.start, h.end, h.doc, ev) for h in hits) for ev in ex.evidence)
            out.setdefault(ex.split, []).append(found)
    return out


def _search_ms(pipe: Pipeline, questions: list[str], n: int) -> dict[str, float]:
    pipe.search(questions[0])
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        pipe.search(questions[i % len(questions)])
        times.append((time.perf_counter() - t0) * 1e3)
    return percentiles(times)


def bench_milvus_quality(
    base: Settings, examples: list[Example], questions: list[str], n: int, work: Path
) -> dict[str, Any]:
    """Recall@10 per split through FAISS and through Milvus (a copy of the same collections), and search latency."""
    recall: dict[str, dict[str, list[float]]] = {"faiss": {}, "milvus": {}}
    latency: dict[str, Any] = {}
    with milvus_lite_server(work / "milvus-quality") as uri:
        for pipe, group in by_corpus(base, examples, lambda s: Pipeline.load(s, sync=False)):
            name = "bench_" + re.sub(r"\W", "_", pipe.settings.corpus_dir.name)
            target = pipe.settings.model_copy(
                update={"vector_store": "milvus", "milvus_uri": uri, "milvus_collection": name}
            )
            copy_collection(open_store(pipe.settings), open_store(target), pipe.settings)
            milvus = Pipeline(target, pipe.embedder, type(pipe.collection)(target, pipe.embedder))
            for store, p in (("faiss", pipe), ("milvus", milvus)):
                for split, values in _recall(p, group).items():
                    recall[store].setdefault(split, []).extend(values)
            if pipe.settings.corpus_dir == base.corpus_dir:
                latency = {"faiss": _search_ms(pipe, questions, n), "milvus": _search_ms(milvus, questions, n)}
    out: dict[str, Any] = {
        f"recall@{K}": {s: {k: round(statistics.fmean(v), 4) for k, v in sorted(r.items())} for s, r in recall.items()},
        "search_ms": latency,
    }
    faiss_r, milvus_r = out[f"recall@{K}"]["faiss"], out[f"recall@{K}"]["milvus"]
    out["recall_delta"] = {k: round(milvus_r[k] - faiss_r[k], 4) for k in faiss_r}
    out["search_p50_ratio"] = round(latency["milvus"]["p50"] / latency["faiss"]["p50"], 2)
    return out


def bench_milvus_scale(vectors: np.ndarray, queries: np.ndarray, sizes: tuple[int, ...], work: Path) -> dict[str, Any]:
    """Per size and Milvus index type: insert + index seconds, search latency, recall@10 against exact search."""
    import faiss
    from pymilvus import DataType, MilvusClient

    out: dict[str, Any] = {}
    with milvus_lite_server(work / "milvus-scale") as uri:
        client = MilvusClient(uri=uri)
        for n in sizes:
            data = vectors[:n]
            flat = faiss.IndexFlatIP(data.shape[1])
            flat.add(data)
            t0 = time.perf_counter()
            _, exact = flat.search(queries, K)
            faiss_ms = (time.perf_counter() - t0) * 1e3 / len(queries)
            row: dict[str, Any] = {"faiss_flat_ms": round(faiss_ms, 3)}
            for kind in ("FLAT", "HNSW"):
                name = f"scale_{kind.lower()}_{n}"
                if client.has_collection(name):
                    client.drop_collection(name)
                schema = client.create_schema(auto_id=False)
                schema.add_field("id", DataType.INT64, is_primary=True)
                schema.add_field("vector", DataType.FLOAT_VECTOR, dim=data.shape[1])
                index = client.prepare_index_params()
                params = {"M": 32, "efConstruction": 80} if kind == "HNSW" else {}
                index.add_index(field_name="vector", index_type=kind, metric_type="IP", params=params)
                t0 = time.perf_counter()
                client.create_collection(name, schema=schema)
                for i in range(0, n, 5000):
                    rows = [{"id": j, "vector": data[j].tolist()} for j in range(i, min(n, i + 5000))]
                    client.insert(name, rows)
                client.flush(name)
                client.create_index(name, index, sync=False)
                client.load_collection(name)
                client.search(name, data=[queries[0].tolist()], anns_field="vector", limit=K)
                build_s = time.perf_counter() - t0
                times, recalls = [], []
                for q, truth in zip(queries, exact, strict=True):
                    t1 = time.perf_counter()
                    hits = client.search(
                        name,
                        data=[q.tolist()],
                        anns_field="vector",
                        limit=K,
                        search_params={"metric_type": "IP", "params": {"ef": 256}},
                    )[0]
                    times.append((time.perf_counter() - t1) * 1e3)
                    recalls.append(len({int(h["id"]) for h in hits} & set(truth.tolist())) / K)
                row[kind.lower()] = {
                    "build_s": round(build_s, 2),
                    "search_ms": percentiles(times),
                    "recall@10": round(statistics.fmean(recalls), 4),
                }
                client.drop_collection(name)
            out[str(n)] = row
        client.close()
    return out
