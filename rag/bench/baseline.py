"""The recipe a user would write instead, measured on the same corpus and questions.

langchain-community's FAISS store, RecursiveCharacterTextSplitter with its defaults, and the same embedder
through HuggingFaceEmbeddings; top-k similarity search. The fake embedder (a test's run) has no weights to give
HuggingFaceEmbeddings, so it goes through langchain's `Embeddings` interface as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from rag.bench.common import percentiles
from rag.embedding import Embedder, converted_e5_path
from rag.eval.dataset import Example
from rag.eval.metrics import overlaps
from rag.settings import Settings
from rag.testing import FAKE_EMBEDDER

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


class EmbedderEmbeddings(Embeddings):
    """One of our embedders behind langchain's interface."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Passage vectors as lists."""
        return [[float(x) for x in row] for row in self.embedder.encode_passages(texts)]

    def embed_query(self, text: str) -> list[float]:
        """A query vector as a list."""
        return [float(x) for x in self.embedder.encode_queries([text])[0]]


def langchain_embeddings(settings: Settings, embedder: Embedder) -> Embeddings:
    """The recipe's embeddings: the bundled model's folder through HuggingFaceEmbeddings, or the fake as it is."""
    if settings.embedder == FAKE_EMBEDDER:
        return EmbedderEmbeddings(embedder)
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(model_name=str(converted_e5_path(settings)), model_kwargs={"device": "cpu"})


def bench_langchain(
    corpus: Path, make_embeddings: Callable[[], Embeddings], examples: list[Example], k: int
) -> dict[str, Any]:
    """Build the LangChain FAISS store over `corpus` and measure load and build time, search latency and recall@k."""
    from langchain_community.vectorstores import FAISS
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    t0 = time.perf_counter()
    embeddings = make_embeddings()
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
