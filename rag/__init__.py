"""Bilingual (English + Chinese) retrieval-augmented question answering with exact citations, offline.

The names below load on first use: a command that needs only the settings (or a running server) does not pay
for importing the whole pipeline.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.data import Answer, Chunk, Citation, Document, Hit
    from rag.pipeline import Pipeline
    from rag.settings import Settings

__all__ = ["Answer", "Chunk", "Citation", "Document", "Hit", "Pipeline", "Settings"]
_WHERE = {"Pipeline": "rag.pipeline", "Settings": "rag.settings"} | dict.fromkeys(
    ("Answer", "Chunk", "Citation", "Document", "Hit"), "rag.data"
)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
