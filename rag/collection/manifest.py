"""The manifest: what a collection's settings, model and code must be for its stored chunks and vectors to fit.

A stored manifest that differs from the expected one in any key means the index is stale: a rebuild is due.
"""

from __future__ import annotations

from typing import Any

from rag.embedding import Embedder
from rag.ingest import READER_VERSION
from rag.ingest.chunking import SENTENCE_VERSION
from rag.ingest.clean import CLEANING_VERSION
from rag.settings import MANIFEST_FIELDS, Settings

FORMAT = 3


def expected_manifest(settings: Settings, embedder: Embedder) -> dict[str, Any]:
    """What the collection's manifest must say for these settings and this embedder.

    Any difference means the stored chunks or vectors are not what these settings would make: a rebuild is due.
    """
    manifest: dict[str, Any] = {"format": FORMAT, "embedder": embedder.id, "dimension": embedder.dim}
    for name, path in MANIFEST_FIELDS.items():
        group = manifest
        for key in path[:-1]:
            group = group.setdefault(key, {})
        group[path[-1]] = getattr(settings, name)
    # How files become text, text becomes clean text and clean text becomes sentences: code, not settings.
    # Builds before RAG_SENTENCE_VECTORS existed embedded each sentence alone: their manifests lack the key and fit
    # that default still.
    if settings.sentence_vectors == "own":
        del manifest["chunking"]["sentence_vectors"]
    manifest["chunking"] |= {"reader": READER_VERSION, "cleaning": CLEANING_VERSION, "sentences": SENTENCE_VERSION}
    return manifest


def stale_key(manifest: dict[str, Any] | None, expected: dict[str, Any]) -> str | None:
    """The first manifest key whose value differs from what is expected, or None when all match."""
    for key, want in expected.items():
        if (manifest or {}).get(key) != want:
            return key
    return None
