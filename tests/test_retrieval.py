from __future__ import annotations

import numpy as np
import pytest

from rag import Pipeline
from rag.centring import centre, unit
from rag.retrieval import rrf


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = rrf([[1, 2, 3], [3, 1]], k=60)
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    weighted = rrf([[1], [2]], k=0, weights=[1.0, 0.5])
    assert weighted[1] == 1.0 and weighted[2] == 0.5


def test_centring_removes_the_language_direction() -> None:
    en = unit(np.array([[1.0, 0.2, 0.0], [1.0, -0.2, 0.0]], dtype=np.float32))
    zh = unit(np.array([[0.2, 1.0, 0.1], [-0.2, 1.0, -0.1]], dtype=np.float32))
    vecs = np.concatenate([en, zh])
    means = {"en": en.mean(0).tolist(), "zh": zh.mean(0).tolist()}
    centred = centre(vecs, ["en", "en", "zh", "zh"], means)
    assert np.allclose(np.linalg.norm(centred, axis=1), 1.0)
    assert abs(float(centred[:2].mean(0) @ centred[2:].mean(0))) < 0.5


def test_search_returns_exact_spans(fake_pipe: Pipeline) -> None:
    hits = fake_pipe.search("Silk Road Fund", top_k=3)
    assert hits and len(hits) <= 3
    for h in hits:
        assert fake_pipe.documents[h.doc].text[h.start : h.end] == h.text
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_composition_pool_does_not_follow_the_callers_top_k(fake_pipe: Pipeline) -> None:
    narrow = fake_pipe.retrieve("Silk Road Fund", top_k=1)
    wide = fake_pipe.retrieve("Silk Road Fund", top_k=5)
    assert len(narrow.hits) == 1
    assert [h.chunk_id for h in narrow.pool] == [h.chunk_id for h in wide.pool]
    assert (
        fake_pipe.ask("When was the Silk Road Fund set up?", top_k=1).text
        == fake_pipe.ask("When was the Silk Road Fund set up?", top_k=5).text
    )


def test_sentence_search_is_one_more_ranking(fake_pipe: Pipeline) -> None:
    retriever = fake_pipe.retriever
    assert len(retriever.sentence_chunks) == len(fake_pipe.stored.sentences) > 0
    assert all(chunks for chunks in retriever.sentence_chunks)
    rankings = retriever._sentence_rankings(retriever._query_vectors(["Silk Road Fund"], ["en"]), 5)
    assert rankings[0] and set(rankings[0]) <= set(range(len(fake_pipe.stored.chunks)))


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("query", "doc"),
    [
        ("中国是在哪一年正式加入世界贸易组织的？", "000_52703944bae284e8.txt"),
        ("丝路基金签约了多少个项目？", "002_ce563350fb3624db.txt"),
        ("When was the South Asian Association for Regional Cooperation founded?", "004_cd34105e53f3530d.txt"),
        ("Which country was the first to sign the UN Charter?", "004_cd34105e53f3530d.txt"),
    ],
)
def test_cross_lingual_search_finds_the_other_language(pipe: Pipeline, query: str, doc: str) -> None:
    assert doc in [h.doc for h in pipe.search(query, top_k=10)]


@pytest.mark.parametrize(
    ("question", "embed_from", "embedded"),
    [
        ("丝路基金是哪一年成立的？", ("zh",), True),
        ("When was the Silk Road Fund set up?", ("zh",), False),
        ("When was the Silk Road Fund set up?", ("en", "zh"), True),
    ],
    ids=["zh-translation-embedded", "en-translation-bm25-only", "en-translation-embedded-when-set"],
)
def test_a_translation_is_embedded_with_its_question_in_one_call_for_the_chosen_languages(
    fake_pipe: Pipeline, monkeypatch: pytest.MonkeyPatch, question: str, embed_from: tuple[str, ...], embedded: bool
) -> None:
    calls: list[list[str]] = []
    encode = fake_pipe.embedder.encode_queries

    def counted(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return encode(texts)

    monkeypatch.setattr(fake_pipe.embedder, "encode_queries", counted)
    pipe = fake_pipe.derived(settings=fake_pipe.settings.model_copy(update={"embed_translation_from": embed_from}))
    retrieval = pipe.retrieve(question)
    assert retrieval.translation.words
    assert calls == [[question, retrieval.translation.text] if embedded else [question]]
    assert retrieval.query_vectors.shape[0] == (2 if embedded else 1)


@pytest.mark.parametrize(
    ("modules", "absent"),
    [
        # Retrieval and answering read a loaded snapshot; the code that writes a collection stays out of their imports.
        ("rag.retrieval rag.answer.assess rag.answer.llm rag.snapshot", "rag.collection rag.catalog"),
        # The stores and their records know nothing of the writer; Milvus nothing of the SQLite catalog either.
        ("rag.store rag.store.records rag.store.milvus", "rag.collection rag.catalog"),
        ("rag.store.local rag.store.faiss_index", "rag.collection"),
    ],
)
def test_the_read_path_and_the_stores_do_not_import_the_writer(modules: str, absent: str) -> None:
    import subprocess
    import sys

    probe = f"import sys, {', '.join(modules.split())}; print(sorted(set({absent.split()!r}) & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
