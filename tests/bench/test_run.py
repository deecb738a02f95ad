from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rag.bench.common import cpu_flags, percentiles
from rag.bench.corpus import perturb
from rag.bench.queries import compare
from rag.bench.run import QUICK, require_extra, run
from rag.bench.scale import bench_index_types, sample_like
from rag.errors import InputError
from rag.settings import Settings
from rag.testing import FAKE_EMBEDDER

from ..conftest import ROOT


def test_percentiles() -> None:
    p = percentiles([float(x) for x in range(1, 101)])
    assert p["n"] == 100 and p["p50"] == pytest.approx(50.5) and p["p99"] == pytest.approx(99.01)


def _engine(embed_p50: float, tune: float, test: float) -> dict[str, object]:
    return {"embed_ms": {"p50": embed_p50}, "recall@10": {"tune": tune, "test": test}}


def test_int8_is_compared_with_the_fp32_export_and_recommended_only_within_tolerance() -> None:
    engines = {"model": _engine(30.0, 0.93, 0.91), "auto": _engine(15.0, 0.93, 0.91)}
    close = compare(engines | {"int8": _engine(6.0, 0.934, 0.907)})
    assert close["recall_delta"] == {"tune": 0.0, "test": 0.0} and close["embed_speedup"] == 2.0
    assert close["int8_recall_delta"] == {"tune": 0.004, "test": -0.003} and close["int8_embed_speedup"] == 2.5
    assert close["int8_recommended"] is True
    far = compare(engines | {"int8": _engine(6.0, 0.93, 0.9034)})
    assert far["int8_recall_delta"]["test"] == -0.0066 and far["int8_recommended"] is False


def test_cpu_flags_name_the_int8_instruction_sets(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n\nprocessor\t: 1\nflags\t\t: avx2\n")
    assert cpu_flags(info) == ["avx2", "avx512f", "avx512_vnni"]
    assert cpu_flags(tmp_path / "absent") == []


def test_perturbation_changes_numbers_not_words() -> None:
    import random

    text = "Founded in 2014.\n\nIt has 17 projects."
    out = perturb(text, random.Random(0))
    words = lambda t: sorted(w for w in t.split() if not w.rstrip(".").isdigit())  # noqa: E731
    numbers = lambda t: sorted(int(w.rstrip(".")) for w in t.split() if w.rstrip(".").isdigit())  # noqa: E731
    assert words(out) == words(text)
    shifted = [a - b for a, b in zip(numbers(out), numbers(text), strict=True)]
    assert len(set(shifted)) == 1 and shifted[0] > 0


def test_sampled_vectors_follow_the_real_ones() -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(500, 16)).astype(np.float32) + 3.0
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    fake = sample_like(real, 2000)
    assert np.allclose(np.linalg.norm(fake, axis=1), 1.0, atol=1e-5)
    assert np.allclose(fake.mean(axis=0), real.mean(axis=0), atol=0.02)


def test_flat_is_its_own_ground_truth() -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(2000, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    res = bench_index_types(vecs, vecs[:20], ["flat", "hnsw"], Settings())
    assert res["flat"]["recall@10"] == 1.0
    assert 0.5 < res["hnsw"]["recall@10"] <= 1.0
    assert res["flat"]["memory_mb"] > 0


def test_bench_runs_on_the_fake_embedder_and_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every part of the bench and its report, on the fake embedder and a tiny plan (`rag bench --quick` is the real
    run): what is checked is that each part runs and reports, not the figures, which a fake makes meaningless."""
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    # IVF-PQ needs about 10,000 vectors to train, whose index builds would take most of the test's time.
    kinds = ("flat", "hnsw", "hnswsq", "ivfsq")
    plan = replace(
        QUICK,
        name="tiny",
        queries=5,
        http_requests=10,
        scale=((2_000, kinds),),
        scale_queries=10,
        baseline_questions=4,
        backends=(FAKE_EMBEDDER,),
    )
    r = run(plan, tmp_path / "out", ROOT / "eval/datasets/seeds.jsonl", tmp_path / "work")
    assert json.loads((tmp_path / "out" / "tiny.json").read_text()) == json.loads(json.dumps(r))
    b = r["build"]["seeds"][FAKE_EMBEDDER]
    assert set(r["build"]["seeds"]) == {FAKE_EMBEDDER}
    assert b["chunks"] > 0 and b["embed_texts_per_s"] > 0 and b["peak_rss_mb"] > 0
    load = r["http"]["load"]["8"]
    assert r["latency"]["ask_ms"]["n"] == 5 and load["errors"] == 0 and load["requests"] > 0
    startup = r["http"]["startup"]
    assert 0 < startup["listening_s"] <= startup["ready_s"] <= startup["ui_s"]
    assert r["http"]["cli"]["warm_s"] > 0 and r["http"]["cli"]["cold_s"] > 0
    engines = r["query_engines"]
    assert set(engines["recall_delta"]) <= {"tune", "test"} and engines["auto"]["embed_ms"]["n"] == 5
    assert set(engines["int8_recall_delta"]) == set(engines["recall_delta"]) and engines["int8"]["embed_ms"]["n"] == 5
    assert isinstance(engines["int8_recommended"], bool) and isinstance(r["machine"]["cpu_flags"], list)
    milvus = r["milvus"]
    assert set(milvus["quality"]["recall_delta"]) <= {"tune", "test"} and milvus["quality"]["search_p50_ratio"] > 0
    assert 0 < milvus["scale"]["2000"]["flat"]["recall@10"] <= 1
    assert r["writes"]["pdf"]["pages"] == 10 and r["writes"]["pdf_found_on_page"] == 7 and r["writes"]["deleted_gone"]
    side = r["side_by_side"]
    assert side["questions"] == 4 and 0 <= side["ours"]["recall@5"] <= 1 and 0 <= side["langchain"]["recall@5"] <= 1
    scale = r["scale"]["2000"]
    assert scale["flat"]["recall@10"] == 1.0 and set(scale) == set(kinds)
    filtered = r["filtered"]["0.1"]
    assert 0 < filtered["kept"] < 2000 and filtered["flat"]["filtered_recall@10"] >= 0.99
    assert filtered["hnswsq"]["p50_ratio"] > 0
    report = (tmp_path / "out" / "tiny.md").read_text()
    assert "## Targets" in report and "## Filtered search" in report
    assert (tmp_path / "out" / "tiny-recall-vs-latency.png").stat().st_size > 1000


def test_without_the_bench_extra_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "reportlab" else real(name))
    with pytest.raises(InputError, match=r"needs reportlab: install them with pip install -e '\.\[bench\]'"):
        require_extra()
    monkeypatch.undo()
    require_extra()  # installed here: make test installs the extra
