from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import pytest

from rag import Pipeline, Settings
from rag.corpus import load_corpus
from rag.errors import IndexCorruptError, IndexStaleError, InputError
from rag.index import (
    CHUNKS_FILE,
    MANIFEST_FILE,
    load_index,
    make_faiss_index,
    recover_interrupted,
    resolve_index_type,
)
from rag.pipeline import expected_manifest

from .conftest import ROOT, FakeEmbedder


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


def _expected(settings: Settings) -> dict[str, object]:
    return expected_manifest(settings, FakeEmbedder(), list(load_corpus(settings.corpus_dir)))


def test_corrupt_file_is_named_and_rebuilt(
    settings: Settings, fake_pipe: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    path = settings.index_dir / CHUNKS_FILE
    path.write_text(path.read_text().replace("Silk", "Milk"))
    with pytest.raises(IndexCorruptError, match=r"chunks\.json does not match its checksum"):
        load_index(settings.index_dir, _expected(settings), settings)
    again = Pipeline.load(settings, embedder=FakeEmbedder())
    assert "chunks.json does not match its checksum; building the index from" in caplog.text
    assert again.stored.chunks == fake_pipe.stored.chunks


@pytest.mark.parametrize("field", ["files", "vector_count", "format", "corpus", "embedder", "chunking", "embedding"])
@pytest.mark.parametrize("value", ["missing", None, [], "text", 7])
def test_a_wrong_or_missing_manifest_field_rebuilds(
    settings: Settings, fake_pipe: Pipeline, field: str, value: object
) -> None:
    path = settings.index_dir / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    if value == "missing":
        del manifest[field]
    else:
        manifest[field] = value
    path.write_text(json.dumps(manifest))
    with pytest.raises((IndexStaleError, IndexCorruptError)):
        load_index(settings.index_dir, _expected(settings), settings)
    again = Pipeline.load(settings, embedder=FakeEmbedder())
    assert again.stored.chunks == fake_pipe.stored.chunks
    load_index(settings.index_dir, _expected(settings), settings)


@pytest.mark.parametrize(
    "change",
    [
        {"query_prefix": "q: "},
        {"passage_prefix": "p: "},
        {"max_seq_length": 256},
        {"centering_sample": 8},
        {"min_language_chunks": 2},
        {"center_embeddings": False},
        {"index_type": "hnsw"},
        {"hnsw_m": 8},
        {"hnsw_ef_construction": 40},
        {"auto_flat_max": 10},
        {"tiktoken_encoding": "o200k_base"},
        {"chunk_tokens": 64},
        {"chunk_overlap": 8},
        {"sentence_max_chars": 100},
        {"min_sentence_chars": 5},
    ],
)
def test_every_setting_that_changes_stored_vectors_makes_the_index_stale(
    settings: Settings, fake_pipe: Pipeline, change: dict[str, object]
) -> None:
    with pytest.raises(IndexStaleError, match="index was built with another"):
        load_index(settings.index_dir, _expected(settings.model_copy(update=change)), settings)


def test_an_interrupted_swap_is_rolled_back_without_a_rebuild(settings: Settings, fake_pipe: Pipeline) -> None:
    before = json.loads((settings.index_dir / MANIFEST_FILE).read_text())["created"]
    aside = settings.index_dir.parent / f".{settings.index_dir.name}-old-killed"
    aside.mkdir()
    settings.index_dir.rename(aside / "index")
    (settings.index_dir.parent / f".{settings.index_dir.name}-build-killed").mkdir()
    recover_interrupted(settings.index_dir)
    assert json.loads((settings.index_dir / MANIFEST_FILE).read_text())["created"] == before
    assert sorted(p.name for p in settings.index_dir.parent.iterdir() if p.name.startswith(".index-")) == []
    load_index(settings.index_dir, _expected(settings), settings)


KILLED_BUILD = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from rag import Settings
from rag.corpus import load_corpus
from rag.offline import force_offline, install_tiktoken_encodings
from rag.pipeline import build_index
from tests.conftest import FakeEmbedder
s = Settings(corpus_dir=Path({corpus!r}), index_dir=Path({index!r}), cache_dir=Path({cache!r}), min_language_chunks=1)
force_offline()
install_tiktoken_encodings(s.cache_dir / "tiktoken")
docs = list(load_corpus(s.corpus_dir))
embedder = FakeEmbedder()
print("ready", flush=True)
t0 = time.perf_counter()
build_index(s, embedder, docs)
print("done", time.perf_counter() - t0, flush=True)
"""


def test_sigkill_at_twenty_points_of_a_build_leaves_the_old_or_the_new_index(
    settings: Settings, fake_pipe: Pipeline
) -> None:
    script = KILLED_BUILD.format(
        root=str(ROOT),
        corpus=str(settings.corpus_dir),
        index=str(settings.index_dir),
        cache=str(settings.cache_dir),
    )

    def start() -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    full = start()
    assert full.stdout is not None
    duration = float(full.stdout.readline().split()[1])
    assert full.wait(30) == 0
    for point in range(20):
        proc = start()
        time.sleep(duration * point / 19)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        recover_interrupted(settings.index_dir)
        stored = load_index(settings.index_dir, _expected(settings), settings)
        assert stored.chunks == fake_pipe.stored.chunks
        leftovers = [p.name for p in settings.index_dir.parent.iterdir() if p.name.startswith(".index-")]
        assert leftovers == [], (point, leftovers)


def test_unreadable_manifest_is_corrupt(settings: Settings, fake_pipe: Pipeline) -> None:
    (settings.index_dir / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(IndexCorruptError, match=r"manifest\.json is unreadable"):
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
