"""Stand-ins for the slow parts, so that tests (and a `rag` process started by one) run without the real model."""

from rag.testing.fakes import FAKE_EMBEDDER, FakeEmbedder

__all__ = ["FAKE_EMBEDDER", "FakeEmbedder"]
