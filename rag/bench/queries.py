"""Query engines side by side: the sentence-transformers model, its ONNX export and the export's int8 copy.

For each engine: the time to embed a question with its translation (what every search does), `search` and `ask`
latency, and evidence recall@10 on both eval corpora and both splits, so that a faster engine is taken only if
it finds what the model finds: the fp32 export against the model, the int8 copy against the fp32 export it would
replace (`RAG_QUERY_ENGINE=int8` is recommended where it stays within `RECALL_TOLERANCE` on every split).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from rag.bench.common import RECALL_TOLERANCE, percentiles
from rag.eval.dataset import Example
from rag.eval.metrics import by_corpus, overlaps
from rag.pipeline import Pipeline
from rag.settings import Settings

ENGINES = ("model", "auto", "int8")
RECALL_K = 10


def _recall(pipe: Pipeline, examples: list[Example]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for ex in examples:
        if not ex.answerable:
            continue
        hits = pipe.search(ex.question, RECALL_K)
        found = statistics.fmean(any(overlaps(h.start, h.end, h.doc, ev) for h in hits) for ev in ex.evidence)
        out.setdefault(ex.split, []).append(found)
    return out


def bench_query_engines(base: Settings, examples: list[Example], questions: list[str], n: int) -> dict[str, Any]:
    """Per engine: embedding, search and ask latency on the seeds, and recall@10 per split over all corpora."""
    results: dict[str, Any] = {}
    for engine in ENGINES:
        settings = base.model_copy(update={"query_engine": engine})
        recall: dict[str, list[float]] = {}
        timed: dict[str, Any] = {}
        for pipe, group in by_corpus(settings, examples, lambda s: Pipeline.load(s, sync=False)):
            for split, values in _recall(pipe, group).items():
                recall.setdefault(split, []).extend(values)
            if pipe.settings.corpus_dir == settings.corpus_dir:
                timed = _latency(pipe, questions, n)
        results[engine] = timed | {
            f"recall@{RECALL_K}": {split: round(statistics.fmean(v), 4) for split, v in sorted(recall.items())}
        }
    return results | compare(results)


def compare(results: dict[str, Any]) -> dict[str, Any]:
    """Recall change and embedding speed-up of each faster engine against the one it would replace."""
    out: dict[str, Any] = {}
    for engine, reference, prefix in (("auto", "model", ""), ("int8", "auto", "int8_")):
        fast, slow = results[engine][f"recall@{RECALL_K}"], results[reference][f"recall@{RECALL_K}"]
        out[f"{prefix}recall_delta"] = {split: round(fast[split] - slow[split], 4) for split in slow}
        speedup = results[reference]["embed_ms"]["p50"] / results[engine]["embed_ms"]["p50"]
        out[f"{prefix}embed_speedup"] = round(speedup, 2)
    out["int8_recommended"] = all(abs(d) <= RECALL_TOLERANCE for d in out["int8_recall_delta"].values())
    return out


def _latency(pipe: Pipeline, questions: list[str], n: int) -> dict[str, Any]:
    cycled = [questions[i % len(questions)] for i in range(n)]
    pipe.ask(cycled[0])
    embed, search, ask = [], [], []
    for q in cycled:
        retrieval = pipe.retrieve(q)
        embed.append(retrieval.timings_ms["embed"])
        t0 = time.perf_counter()
        pipe.retrieve(q)
        search.append((time.perf_counter() - t0) * 1e3)
        ask.append(pipe.ask_timed(q)[1]["total"])
    return {"embed_ms": percentiles(embed), "search_ms": percentiles(search), "ask_ms": percentiles(ask)}
