"""The recipe a user would write instead, measured on the same corpus and questions.

langchain-community's FAISS store, RecursiveCharacterTextSplitter with its defaults, and the same embedder
through HuggingFaceEmbeddings; top-k similarity search.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rag.bench.common import percentiles
from rag.eval.dataset import Example
from rag.eval.metrics import overlaps

# langchain's documented defaults for the splitter.
CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200


def evidence_recall(spans: list[list[tuple[str, int, int]]], examples: list[Example]) -> float:
    """Share of evidence quotes overlapped by one of the question's retrieved spans."""
    found = total = 0
    for ex, got in zip(examples, spans, strict=True):
        for ev in ex.evidence:
            total += 1
            found += any(overlaps(s, e, d, ev) for d, s, e in got)
    return round(found / total, 4) if total else float("nan")


def bench_langchain(corpus: Path, model_path: Path, examples: list[Example], k: int) -> dict[str, Any]:
    """Build the LangChain FAISS store over `corpus` and measure build time, search latency and recall@k."""
    from langchain_community.vectorstores import FAISS
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    t0 = time.perf_counter()
    embeddings = HuggingFaceEmbeddings(model_name=str(model_path), model_kwargs={"device": "cpu"})
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True)
    files = sorted(p for p in corpus.iterdir() if p.suffix in (".txt", ".md"))
    docs = splitter.create_documents([p.read_text("utf-8") for p in files], metadatas=[{"doc": p.name} for p in files])
    store = FAISS.from_documents(docs, embeddings)
    build_s = time.perf_counter() - t1
    latencies: list[float] = []
    spans: list[list[tuple[str, int, int]]] = []
    for ex in examples:
        t2 = time.perf_counter()
        found = store.similarity_search(ex.question, k=k)
        latencies.append((time.perf_counter() - t2) * 1e3)
        spans.append(
            [
                (d.metadata["doc"], d.metadata["start_index"], d.metadata["start_index"] + len(d.page_content))
                for d in found
            ]
        )
    return {
        "chunks": len(docs),
        "model_load_s": round(load_s, 2),
        "build_s": round(build_s, 2),
        "search_ms": percentiles(latencies),
        f"recall@{k}": evidence_recall(spans, examples),
    }
