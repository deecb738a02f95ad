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
    from rag.corpus import load_corpus
    from rag.embedding import load_embedder
    from rag.offline import force_offline, install_tiktoken_encodings
    from rag.pipeline import build_index
    from rag.settings import Settings

    force_offline()
    settings = Settings(corpus_dir=Path(corpus), index_dir=Path(index_dir), embedder=embedder)
    install_tiktoken_encodings(settings.cache_dir / "tiktoken")
    t0 = time.perf_counter()
    model = load_embedder(settings)
    load_s = time.perf_counter() - t0
    stages: dict[str, float] = {}
    t1 = time.perf_counter()
    build_index(settings, model, list(load_corpus(settings.corpus_dir)), stages)
    total = time.perf_counter() - t1
    chunks = stages["chunks"]
    out.put(
        {
            "embedder": embedder,
            "chunks": int(chunks),
            "model_load_s": round(load_s, 2),
            "build_s": round(total, 2),
            "stages_s": {k: round(v, 2) for k, v in stages.items() if k != "chunks"},
            "chunks_per_s": round(chunks / total, 2),
            "embed_texts_per_s": round(chunks / stages["embed"], 2),
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
