"""The contract every `Store` must pass, run on the embedded store (SQLite + FAISS) and on Milvus (milvus-lite).

Through the collection and the pipeline, as users reach them: writes are searchable on return and survive a
reopen, a write that fails leaves the state before, readers keep their generation until they load the next, and
both stores rank the same collection alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag import Pipeline, Settings
from rag.collection import Collection
from rag.errors import RagError
from rag.filters import Filter
from rag.migrate import migrate

from ..conftest import FakeEmbedder

AIIB = b"The Asian Infrastructure Investment Bank opened in Beijing in 2016 with 57 founding members."
QUESTIONS = [
    "When was the Silk Road Fund set up?",
    "How many projects did the bank approve?",
    "亚投行是哪一年开业的？",
    "中国什么时候加入世界贸易组织？",
    "trade growth last year",
]


@pytest.fixture(params=["faiss", "milvus"])
def store_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    return settings.model_copy(update={"vector_store": request.param})


def load(settings: Settings) -> Pipeline:
    return Pipeline.load(settings, embedder=FakeEmbedder())


def docs_found(pipe: Pipeline, query: str) -> set[str]:
    return {h.doc for h in pipe.search(query, 5)}


def test_writes_are_searchable_on_return_and_survive_a_reopen(store_settings: Settings) -> None:
    pipe = load(store_settings)
    assert sorted(pipe.documents) == ["en.txt", "zh.md"]
    info, changed = pipe.add_document(AIIB, "aiib.txt")
    assert changed and info.chunks == 1 and "aiib.txt" in docs_found(pipe, "founding members of the bank")
    assert pipe.add_document(AIIB, "aiib.txt")[1] is False
    pipe.add_document(b"The bank later grew to over 100 members.", "aiib.txt")
    assert "Beijing" not in pipe.documents["aiib.txt"].text
    reopened = load(store_settings.model_copy(update={"corpus_dir": store_settings.corpus_dir}))
    assert reopened.stored.generation == pipe.stored.generation
    assert [c.id for c in reopened.stored.chunks] == [c.id for c in pipe.stored.chunks]
    assert reopened.documents["aiib.txt"].text == "The bank later grew to over 100 members."
    reopened.remove_documents(["aiib.txt"])
    assert "aiib.txt" not in docs_found(reopened, "bank members") and "aiib.txt" not in reopened.documents
    answer = reopened.ask("When was the Silk Road Fund set up?")
    assert all(reopened.documents[c.doc].text[c.start : c.end] == c.text for c in answer.citations)


def test_feedback_is_kept_in_order_moves_no_generation_on_and_survives_a_rebuild(store_settings: Settings) -> None:
    pipe = load(store_settings)
    generation = pipe.stored.generation
    answer = pipe.ask(QUESTIONS[0])
    cited = [{"n": c.n, "doc": c.doc, "start": c.start, "end": c.end, "text": c.text} for c in answer.citations]
    first = pipe.record_feedback(QUESTIONS[0], answer.text, cited, "down", "Off topic.", "en.txt", "set up in 2014")
    second = pipe.record_feedback(QUESTIONS[2], "2016", [], "up")
    assert pipe.collection.generation() == generation
    pipe.collection.rebuild(store_settings.corpus_dir)
    assert load(store_settings).collection.store.feedback() == [first, second]


def test_readers_keep_their_generation_until_they_load_the_next(store_settings: Settings) -> None:
    pipe = load(store_settings)
    before = pipe.collection.snapshot()
    other = Collection(store_settings, FakeEmbedder())
    other.add_bytes(AIIB, "aiib.txt")
    assert "aiib.txt" not in before.documents
    ids = {int(i) for i in before.vectors.search(FakeEmbedder().encode_queries(["founding members"]), 10)[1][0]}
    assert ids <= {c.id for c in before.chunks} | {-1}
    after = Collection(store_settings, FakeEmbedder()).snapshot()
    assert "aiib.txt" in after.documents and after.generation == before.generation + 1


def test_a_write_that_fails_leaves_the_state_before_and_the_next_one_cleans_up(
    store_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipe = load(store_settings)
    before = (pipe.stored.generation, sorted(pipe.documents), len(pipe.stored.chunks))
    collection = pipe.collection
    real_commit = collection.store.commit

    def failing(change: object, base: object) -> None:
        raise RagError("the store went away mid-write")

    monkeypatch.setattr(collection.store, "commit", failing)
    with pytest.raises(RagError, match="went away"):
        pipe.add_document(AIIB, "aiib.txt")
    monkeypatch.setattr(collection.store, "commit", real_commit)
    fresh = load(store_settings)
    assert (fresh.stored.generation, sorted(fresh.documents), len(fresh.stored.chunks)) == before
    fresh.add_document(b"Trade corridors link ports and railways.", "corridors.txt")
    assert "corridors.txt" in docs_found(fresh, "ports and railways")


def test_both_stores_rank_a_collection_alike(settings: Settings, tmp_path: Path) -> None:
    pipes = {
        store: load(settings.model_copy(update={"vector_store": store, "index_dir": tmp_path / store}))
        for store in ("faiss", "milvus")
    }
    for pipe in pipes.values():
        pipe.add_document(AIIB, "aiib.txt")
    for question in QUESTIONS:
        faiss, milvus = (pipes[s].search(question, 5) for s in ("faiss", "milvus"))
        assert [(h.doc, h.start) for h in faiss] == [(h.doc, h.start) for h in milvus], question
        # milvus-lite scores BM25 with each segment's own IDF (a TODO in its code; Milvus merges them), and each
        # write seals a segment: a near tie in its BM25 list may swap, moving a fused score by about 1/60².
        assert [h.score for h in faiss] == pytest.approx([h.score for h in milvus], abs=5e-4)
        assert pipes["faiss"].ask(question).text == pipes["milvus"].ask(question).text


def test_a_collection_moves_to_milvus_without_re_embedding(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    source = load(settings)
    source.add_document(AIIB, "aiib.txt")
    rated = source.record_feedback(QUESTIONS[0], "In 2014.", [], "down", "Cite the fund's page.")
    count, where = migrate(settings, "milvus")
    assert count == 3 and "milvus.db" in where
    migrate(settings, "milvus")  # again: the feedback is not doubled

    def no_model(*args: object) -> np.ndarray:
        raise AssertionError("migrating must not embed")

    monkeypatch.setattr(FakeEmbedder, "encode_passages", no_model)
    copied = Pipeline.load(settings.model_copy(update={"vector_store": "milvus"}), embedder=FakeEmbedder(), sync=False)
    assert sorted(copied.documents) == sorted(source.documents)
    assert copied.collection.store.feedback() == [rated]
    assert [c.id for c in copied.stored.chunks] == [c.id for c in source.stored.chunks]
    for question in QUESTIONS:
        assert [(h.doc, h.start) for h in copied.search(question, 5)] == [
            (h.doc, h.start) for h in source.search(question, 5)
        ]


def test_outlines_and_section_paths_survive_a_reopen(store_settings: Settings) -> None:
    page = b"<h1>Guide</h1><p>Intro.</p><h2>Holding packages</h2><p>Run apt-mark hold with the package name.</p>"
    load(store_settings).add_document(page, "guide.html")
    reopened = load(store_settings)
    assert [h.title for h in reopened.documents["guide.html"].outline] == ["Guide", "Holding packages"]
    sentences = {s.text: s.section for s in reopened.collection.snapshot().sentences if s.doc == "guide.html"}
    assert sentences["Run apt-mark hold with the package name."] == "Guide › Holding packages"


def test_tags_and_metadata_survive_a_reopen_a_rebuild_and_a_replace(store_settings: Settings) -> None:
    pipe = load(store_settings)
    info, _ = pipe.add_document(AIIB, "aiib.txt", tags=("finance", "asia"), meta={"year": 2016, "draft": False})
    assert (info.tags, info.meta, info.title) == (("finance", "asia"), {"year": 2016, "draft": False}, "aiib")
    Collection(store_settings, FakeEmbedder()).rebuild(store_settings.corpus_dir)
    reopened = load(store_settings)
    kept = {i.name: i for i in reopened.document_infos()}["aiib.txt"]
    assert (kept.tags, kept.meta) == (("finance", "asia"), {"year": 2016, "draft": False})
    # The same bytes with no labels keep the document's; labels given replace them all.
    assert reopened.add_document(AIIB, "aiib.txt")[1] is False
    info, changed = reopened.add_document(AIIB, "aiib.txt", tags=("asia",))
    assert changed and (info.tags, info.meta) == (("asia",), {})


MANY = 30


def test_a_filtered_search_takes_its_k_best_from_the_documents_it_keeps(store_settings: Settings) -> None:
    pipe = load(store_settings)
    for n in range(MANY):
        text = f"Report {n}. The bank approved {n + 3} projects on ports and railways in year {2000 + n}."
        pipe.add_document(text.encode(), f"report-{n:02}.txt", tags=("even",) if n % 2 == 0 else (), meta={"n": n})
    wheres = [
        {"tags": ["even"]},
        {"meta": {"n": {"gte": 10, "lt": 13}}},
        {"documents": ["report-0*"], "language": ["en"]},
        {"meta": {"n": [3, 29]}},
    ]
    for where in wheres:
        keeps = {i.name for i in pipe.document_infos() if Filter.model_validate(where).keeps(i)}
        hits = pipe.search("bank projects on railways", 8, where)
        assert {h.doc for h in hits} <= keeps, where
        assert len(hits) == min(8, len(keeps)), where
        answer = pipe.ask("How many projects did the bank approve?", filter=where)
        assert {c.doc for c in answer.citations} <= keeps and {p.doc for p in answer.passages} <= keeps
    assert pipe.search("bank projects", 5, {"tags": ["nothing"]}) == []


def test_both_stores_rank_a_filtered_search_alike(settings: Settings, tmp_path: Path) -> None:
    pipes = {
        store: load(settings.model_copy(update={"vector_store": store, "index_dir": tmp_path / store}))
        for store in ("faiss", "milvus")
    }
    for pipe in pipes.values():
        pipe.add_document(AIIB, "aiib.txt", tags=("bank",))
        pipe.add_document(b"The bank approved 20 projects in 2017 on ports.", "bank.txt", tags=("bank",))
    for question in QUESTIONS:
        faiss, milvus = (pipes[s].search(question, 5, {"tags": ["bank"]}) for s in ("faiss", "milvus"))
        assert [(h.doc, h.start) for h in faiss] == [(h.doc, h.start) for h in milvus], question
