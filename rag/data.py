"""Typed records passed between the pipeline's stages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One corpus file: its original text, and a cleaned copy with a map back to the original."""

    name: str
    text: str
    clean: str
    # origin[i] is the offset in `text` of clean[i]; len(origin) == len(clean) + 1 (end sentinel).
    origin: tuple[int, ...]
    language: str
    sha256: str

    def span(self, clean_start: int, clean_end: int) -> tuple[int, int]:
        """Original-text offsets of the cleaned span [clean_start, clean_end)."""
        if clean_end <= clean_start:
            start = self.origin[clean_start]
            return start, start
        return self.origin[clean_start], self.origin[clean_end - 1] + 1


@dataclass(frozen=True)
class Chunk:
    """A retrievable unit: `text == document.text[start:end]`; `clean` is what gets embedded."""

    id: int
    doc: str
    start: int
    end: int
    text: str
    clean: str
    language: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Sentence:
    """A sentence of a document: `document.text[start:end]` on disk; `text` as a reader sees it, on one line."""

    id: int
    doc: str
    start: int
    end: int
    text: str
    language: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Hit:
    """A retrieved span of a corpus file, with its fused retrieval score."""

    doc: str
    start: int
    end: int
    text: str
    score: float
    chunk_id: int
    language: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Citation:
    """A sentence-level exact span supporting the answer's marker `[n]`."""

    n: int
    doc: str
    start: int
    end: int
    text: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """A grounded answer, or an abstention with the nearest passages for reference."""

    question: str
    text: str
    abstained: bool
    language: str
    citations: list[Citation] = field(default_factory=list)
    passages: list[Hit] = field(default_factory=list)
    # Probability (0-1) that the evidence answers the question, from the calibrated answerability model.
    confidence: float = 0.0
    # For an abstention: what was missing, in the question's language. Empty for an answer.
    reason: str = ""
    composer: str = "extractive"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "question": self.question,
            "text": self.text,
            "abstained": self.abstained,
            "language": self.language,
            "confidence": self.confidence,
            "reason": self.reason,
            "composer": self.composer,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
        }
