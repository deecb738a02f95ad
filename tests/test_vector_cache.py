from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from rag import Pipeline, Settings
from rag.embedding import embed_passages, vector_cache
from rag.vector_cache import VectorCache

from .conftest import FakeEmbedder


class CountingEmbedder(FakeEmbedder):
    """The fake embedder, counting the passages it is asked to embed."""

    def __init__(self) -> None:
        self.passages: list[str] = []

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        self.passages += texts
        return super().encode_passages(texts)


def test_only_texts_the_cache_lacks_are_embedded(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    cache = VectorCache(tmp_path / "v.sqlite", "fake|passage: |512", embedder.dim)
    first = embed_passages(embedder, ["a road", "a belt"], 4, "embedding", cache)
    again = embed_passages(embedder, ["a belt", "a fund", "a road"], 4, "embedding", cache)
    assert embedder.passages == ["a road", "a belt", "a fund"]
    np.testing.assert_array_equal(again[[0, 2]], first[[1, 0]])
    np.testing.assert_array_equal(again[1], embedder.encode_queries(["a fund"])[0])


def test_another_model_or_prefix_does_not_read_the_vectors(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    VectorCache(path, "model-a|passage: |512", 4).put(["text"], np.ones((1, 4), np.float32))
    assert VectorCache(path, "model-a|passage: |512", 4).get(["text"]).keys() == {0}
    assert VectorCache(path, "model-b|passage: |512", 4).get(["text"]) == {}
    assert VectorCache(path, "model-a|: |512", 4).get(["text"]) == {}
    assert VectorCache(path, "model-a|passage: |512", 8).get(["text"]) == {}


def test_an_unusable_cache_costs_time_not_vectors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    embedder = CountingEmbedder()
    cache = VectorCache(blocked / "v.sqlite", "fake", embedder.dim)
    with caplog.at_level(logging.WARNING):
        out = embed_passages(embedder, ["a road"], 4, "embedding", cache)
    np.testing.assert_array_equal(out, embedder.encode_queries(["a road"]))
    assert "vector cache" in caplog.text and "vectors not kept" in caplog.text


def test_a_rebuild_embeds_nothing_again(settings: Settings, tmp_path: Path) -> None:
    # A cache of its own: the suite's shared cache already holds this corpus's texts from earlier tests.
    settings = settings.model_copy(update={"cache_dir": tmp_path / "own-cache"})
    embedder = CountingEmbedder()
    Pipeline.load(settings, embedder=embedder)
    built = len(embedder.passages)
    assert built > 0
    Pipeline.load(settings.model_copy(update={"index_dir": settings.index_dir.with_name("other")}), embedder=embedder)
    assert len(embedder.passages) == built


def test_the_cache_can_be_turned_off(settings: Settings) -> None:
    assert vector_cache(settings.model_copy(update={"vector_cache": False}), FakeEmbedder()) is None
