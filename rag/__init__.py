"""Bilingual (English + Chinese) retrieval-augmented question answering with exact citations, offline."""

from rag.data import Answer, Chunk, Citation, Document, Hit
from rag.pipeline import Pipeline
from rag.settings import Settings

__all__ = ["Answer", "Chunk", "Citation", "Document", "Hit", "Pipeline", "Settings"]
