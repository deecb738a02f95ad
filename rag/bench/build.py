"""Index build benchmark: chunks/s, embedding texts/s and peak memory per embedder backend.

Each build runs in a fresh spawned process, so its peak RSS is its own and no model is warm.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

from rag.bench.common import peak_rss_mb


def _worker(corpus: str, index_dir: str, embedder: str, out: Any) -> None:
    from rag.collection import Collection
    from rag.embedding import load_embedder
    from rag.offline import force_offline, install_tiktoken_encodings
    from rag.settings import Settings

    force_offline()
    settings = Settings(corpus_dir=Path(corpus), index_dir=Path(index_dir), embedder=embedder)
    install_tiktoken_encodings(settings.cache_dir / "tiktoken")
    t0 = time.perf_counter()
    model = load_embedder(settings)
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    collection = Collection(settings, model)
    collection.sync(settings.corpus_dir)
    total = time.perf_counter() - t1
    snapshot = collection.snapshot()
    chunks, sentences = len(snapshot.chunks), len(snapshot.sentences)
    out.put(
        {
            "embedder": embedder,
            "chunks": chunks,
            "sentences": sentences,
            "model_load_s": round(load_s, 2),
            "build_s": round(total, 2),
            "chunks_per_s": round(chunks / total, 2),
            "embed_texts_per_s": round((chunks + sentences) / total, 2),
            "peak_rss_mb": peak_rss_mb(),
        }
    )


def bench_build(corpus: Path, workdir: Path, embedder: str) -> dict[str, Any]:
    """Build an index of `corpus` with `embedder` in a child process and report what it cost."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(str(corpus), str(workdir / embedder), embedder, queue))
    proc.start()
    result: dict[str, Any] = queue.get()
    proc.join()
    return result
