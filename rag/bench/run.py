"""Run the benchmark suite and write its JSON, tables and plots."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rag.bench.baseline import bench_langchain, evidence_recall, langchain_embeddings
from rag.bench.build import bench_build
from rag.bench.common import cpu_flags
from rag.bench.corpus import grow_corpus
from rag.bench.filtered import bench_filtered
from rag.bench.latency import bench_http, bench_queries, corpus_env
from rag.bench.milvus import bench_milvus_quality, bench_milvus_scale
from rag.bench.queries import bench_query_engines
from rag.bench.report import write_report
from rag.bench.scale import bench_index_types, sample_like
from rag.bench.writes import bench_writes
from rag.embedding import E5_SMALL, E5_SMALL_Q4
from rag.errors import InputError
from rag.eval.dataset import Example, load_dataset
from rag.pipeline import Pipeline
from rag.settings import Settings

RECALL_K = 5
# Shares of the documents a filter keeps in the filtered-search part (the target is at 10 %).
FILTER_SHARES = (0.01, 0.1, 0.5)
FILTER_KINDS = ["flat", "hnswsq"]
DATASETS = (Path("eval/datasets/seeds.jsonl"), Path("eval/datasets/debian.jsonl"))
# What the `bench` extra brings: the naive LangChain recipe measured against, and the PDFs the writes part makes.
EXTRA_MODULES = ("langchain_community", "langchain_huggingface", "reportlab")


@dataclass(frozen=True)
class Plan:
    """How big each part of a run is."""

    name: str
    seed_files: int  # seeds used (all five in a full run)
    copies: int  # perturbed copies of each seed for the large build
    queries: int
    http_clients: tuple[int, ...]
    http_requests: int
    http_limit_s: float
    cli_runs: int
    large_backends: tuple[str, ...]
    engines_on_all: bool  # query engines compared on both eval corpora (else on the questions about `seed_files`)
    milvus_sizes: tuple[int, ...]
    scale: tuple[tuple[int, tuple[str, ...]], ...]  # (vectors, index types) per size
    scale_queries: int
    baseline_questions: int | None  # None: every dev question
    # Embedders the seeds are built with; the first one's index serves every other part of the run.
    backends: tuple[str, ...] = (E5_SMALL, E5_SMALL_Q4)


QUICK = Plan(
    "quick",
    2,
    0,
    30,
    (8,),
    40,
    30,
    1,
    (),
    False,
    (2_000,),
    ((12_000, ("flat", "hnsw", "hnswsq", "ivfsq", "ivfpq")),),
    50,
    12,
)
# At a million vectors only exact search and IVF-SQ8 are rebuilt each run; HNSW over SQ8 took eight minutes to
# build there (NOTES.md has its figures), and HNSW on floats needs about 1.7 GiB.
# The large build is the seeds six times over, with the default embedder only: on two cores it embeds about 20
# texts a second, and the earlier runs' 24 copies took an hour per backend.
FULL = Plan(
    "full",
    5,
    6,
    200,
    (8, 32),
    400,
    120,
    3,
    (E5_SMALL,),
    True,
    (10_000, 100_000),
    ((100_000, ("flat", "hnsw", "hnswsq", "ivfsq", "ivfpq")), (1_000_000, ("flat", "ivfsq"))),
    200,
    None,
)


def _on(examples: list[Example], base: Settings, small: Path) -> list[Example]:
    """The examples, those on the seeds moved to the benchmark's copy of them (the files are the same)."""
    seeds = base.corpus_dir.resolve()
    return [replace(e, corpus=small) if (e.corpus or seeds).resolve() == seeds else e for e in examples]


def require_extra() -> None:
    """InputError naming what `rag bench` needs beyond the service, when the `bench` extra is not installed."""
    missing = [m for m in EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError(f"rag bench needs {', '.join(missing)}: install them with pip install -e '.[bench]'")


def run(plan: Plan, out: Path, dataset: Path, work: Path) -> dict[str, Any]:
    """Run every part of the plan and write the results under `out`."""
    require_extra()
    base = Settings()
    seeds = sorted(base.corpus_dir.glob("*.txt"))[-plan.seed_files :]
    examples = [
        e for e in load_dataset(dataset, base.corpus_dir) if all(ev.doc in {p.name for p in seeds} for ev in e.evidence)
    ]
    answerable = [e for e in examples if e.answerable][: plan.baseline_questions]
    small = grow_corpus(seeds, 0, work / "corpus-seeds")
    results: dict[str, Any] = {
        "plan": plan.__dict__,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "cpu_flags": cpu_flags(),
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    results["build"] = {"seeds": {b: bench_build(small, work / "idx-seeds", b) for b in plan.backends}}
    if plan.copies:
        large = grow_corpus(seeds, plan.copies, work / "corpus-large")
        results["build"]["large"] = {b: bench_build(large, work / "idx-large", b) for b in plan.large_backends}

    main = plan.backends[0]
    settings = Settings(corpus_dir=small, index_dir=work / "idx-seeds" / main, embedder=main)
    pipe = Pipeline.load(settings)
    questions = [e.question for e in examples]
    english = max(seeds, key=lambda p: p.stat().st_size if "一" not in p.read_text("utf-8")[:2000] else 0)
    full_build = results["build"]["seeds"][main]["build_s"]
    results["writes"] = bench_writes(settings, work, english.read_text("utf-8"), full_build)
    results["latency"] = bench_queries(pipe, questions, plan.queries)
    every = [e for path in DATASETS for e in load_dataset(path, base.corpus_dir)] if plan.engines_on_all else examples
    results["query_engines"] = bench_query_engines(settings, _on(every, base, small), questions, plan.queries)
    results["milvus"] = {
        "quality": bench_milvus_quality(settings, _on(every, base, small), questions, plan.queries, work)
    }
    results["http"] = bench_http(
        questions,
        plan.http_clients,
        plan.http_requests,
        plan.http_limit_s,
        corpus_env(settings),
        plan.cli_runs,
    )

    ours_spans = [[(h.doc, h.start, h.end) for h in pipe.search(e.question, RECALL_K)] for e in answerable]
    theirs = bench_langchain(small, lambda: langchain_embeddings(settings, pipe.embedder), answerable, RECALL_K)
    ours = {
        "build_s": full_build,
        "search_ms": results["latency"]["search_ms"],
        f"recall@{RECALL_K}": evidence_recall(ours_spans, answerable),
    }
    results["side_by_side"] = {
        "questions": len(answerable),
        "ours": ours,
        "langchain": theirs,
        "ratios_ours_over_theirs": {
            "build_time": round(ours["build_s"] / theirs["build_s"], 3),
            "search_p50": round(ours["search_ms"]["p50"] / theirs["search_ms"]["p50"], 3),
            f"recall@{RECALL_K}_points": round(100 * (ours[f"recall@{RECALL_K}"] - theirs[f"recall@{RECALL_K}"]), 1),
        },
    }

    real = pipe.embedder.encode_passages([c.clean for c in pipe.stored.chunks])
    scale: dict[str, Any] = {"vectors": "sampled from a Gaussian fitted to the seeds' real chunk embeddings"}
    queries = sample_like(real, plan.scale_queries, seed=1)
    filtered: dict[str, Any] = {}
    for n, kinds in plan.scale:
        vectors = sample_like(real, n, seed=2)
        scale[str(n)] = bench_index_types(vectors, queries, list(kinds), settings)
        if not filtered:
            filtered = {
                str(share): bench_filtered(vectors, queries, FILTER_KINDS, settings, share) for share in FILTER_SHARES
            }
        del vectors
    results["scale"] = scale
    results["filtered"] = filtered
    results["milvus"]["scale"] = bench_milvus_scale(
        sample_like(real, max(plan.milvus_sizes), seed=3), queries, plan.milvus_sizes, work
    )
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{plan.name}.json").write_text(json.dumps(results, indent=1) + "\n", "utf-8")
    write_report(results, out)
    return results
