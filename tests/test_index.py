from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from rag import Pipeline, Settings
from rag.corpus import load_corpus
from rag.errors import IndexCorruptError, IndexStaleError, InputError
from rag.index import CHUNKS_FILE, MANIFEST_FILE, load_index, make_faiss_index, resolve_index_type
from rag.pipeline import expected_manifest

from .conftest import FakeEmbedder


def test_round_trip(settings: Settings, fake_pipe: Pipeline) -> None:
    again = Pipeline.load(settings, embedder=FakeEmbedder())
    assert again.stored.chunks == fake_pipe.stored.chunks
    assert again.stored.sentences == fake_pipe.stored.sentences
    assert again.stored.sentence_vectors.ntotal == len(again.stored.sentences) > 0
    manifest = json.loads((settings.index_dir / MANIFEST_FILE).read_text())
    assert manifest["embedder"] == "fake-hash-64"
    assert manifest["vector_count"] == len(fake_pipe.stored.chunks)
    assert set(manifest["corpus"]) == {"en.txt", "zh.md"}
    assert set(manifest["files"]) == {"vectors.faiss", "chunks.json", "sentences.faiss", "sentences.json", "means.json"}
    assert manifest["sentence_count"] == len(fake_pipe.stored.sentences)
    assert "faiss-cpu" in manifest["packages"]


def test_crash_during_save_keeps_the_old_index(
    settings: Settings, fake_pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (settings.index_dir / CHUNKS_FILE).read_bytes()

    def crash(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(faiss, "write_index", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        Pipeline.load(settings, rebuild=True, embedder=FakeEmbedder())
    assert (settings.index_dir / CHUNKS_FILE).read_bytes() == before
    assert not [p for p in settings.index_dir.parent.iterdir() if p.name.startswith(".index-")]
    monkeypatch.undo()
    load_index(
        settings.index_dir,
        expected_manifest(settings, FakeEmbedder(), list(load_corpus(settings.corpus_dir))),
        settings,
    )


def test_changed_corpus_is_stale_and_rebuilt(settings: Settings, fake_pipe: Pipeline, corpus: Path) -> None:
    (corpus / "new.txt").write_text("A new paper about the Digital Silk Road, published in 2024.", "utf-8")
    with pytest.raises(IndexStaleError, match="another corpus"):
        load_index(
            settings.index_dir,
            expected_manifest(settings, FakeEmbedder(), list(load_corpus(settings.corpus_dir))),
            settings,
        )
    rebuilt = Pipeline.load(settings, embedder=FakeEmbedder())
    assert any(c.doc == "new.txt" for c in rebuilt.stored.chunks)


def test_other_chunk_settings_are_stale(settings: Settings, fake_pipe: Pipeline) -> None:
    other = settings.model_copy(update={"chunk_tokens": 64})
    with pytest.raises(IndexStaleError, match="another chunking"):
        load_index(
            settings.index_dir, expected_manifest(other, FakeEmbedder(), list(load_corpus(other.corpus_dir))), other
        )


def test_corrupt_file_is_reported(settings: Settings, fake_pipe: Pipeline) -> None:
    path = settings.index_dir / CHUNKS_FILE
    path.write_text(path.read_text().replace("Silk", "Milk"))
    with pytest.raises(IndexCorruptError, match=r"chunks\.json does not match its checksum"):
        Pipeline.load(settings, embedder=FakeEmbedder())


def test_unreadable_manifest_is_corrupt(settings: Settings, fake_pipe: Pipeline) -> None:
    (settings.index_dir / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(IndexCorruptError, match="rebuild with `rag index --rebuild`"):
        load_index(
            settings.index_dir,
            expected_manifest(settings, FakeEmbedder(), list(load_corpus(settings.corpus_dir))),
            settings,
        )


def test_index_types() -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(300, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    s = Settings(hnsw_m=16, hnsw_ef_search=32)
    flat = make_faiss_index(vecs, "flat", s)
    hnsw = make_faiss_index(vecs, "hnsw", s)
    assert hnsw.hnsw.efSearch == 32
    _, a = flat.search(vecs[:5], 1)
    _, b = hnsw.search(vecs[:5], 1)
    assert a[:, 0].tolist() == b[:, 0].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(InputError, match="ivfpq needs at least"):
        make_faiss_index(vecs, "ivfpq", s)


def test_auto_is_exact_for_small_corpora_and_hnsw_beyond() -> None:
    s = Settings(auto_flat_max=100)
    assert resolve_index_type("auto", 100, s) == "flat"
    assert resolve_index_type("auto", 101, s) == "hnswsq"
    assert resolve_index_type("ivfpq", 10, s) == "ivfpq"
