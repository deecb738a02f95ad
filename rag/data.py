"""Typed records passed between the pipeline's stages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from rag.sections import Outline, Sections


class OffsetMap:
    """Offsets in a cleaned text → offsets in its original, kept as runs so memory grows with the edits only.

    Cleaning deletes characters and turns some into one space; between two edits the offsets advance together.
    Run k starts at cleaned offset `starts[k]`, which came from original offset `origins[k]`. `map[i]` is the
    original offset of cleaned character i, and `map[len(clean)]` is `len(original)`.
    """

    __slots__ = ("length", "origins", "starts")

    def __init__(self, starts: np.ndarray, origins: np.ndarray, length: int) -> None:
        self.starts = starts
        self.origins = origins
        self.length = length

    @classmethod
    def identity(cls, length: int) -> OffsetMap:
        """The map of a text that cleaning left as it was."""
        return cls(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), length + 1)

    def at(self, offsets: np.ndarray) -> np.ndarray:
        """Original offsets of many cleaned offsets at once."""
        k = np.searchsorted(self.starts, offsets, side="right") - 1
        return self.origins[k] + (offsets - self.starts[k])

    def __getitem__(self, i: int) -> int:
        if not 0 <= i < self.length:
            raise IndexError(i)
        return int(self.at(np.asarray([i]))[0])

    def __len__(self) -> int:
        return self.length

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, OffsetMap)
            and self.length == other.length
            and np.array_equal(self.starts, other.starts)
            and np.array_equal(self.origins, other.origins)
        )

    def then(self, inner: OffsetMap) -> OffsetMap:
        """The map of a second cleaning pass (`self`: its offsets → the first pass's text) composed with `inner`."""
        # Inner run starts that fall inside one of this map's runs split it; those that fall into deleted text
        # do not matter.
        lengths = np.diff(np.append(self.starts, self.length))
        k = np.searchsorted(self.origins, inner.starts, side="right") - 1
        inside = (k >= 0) & (inner.starts < self.origins[np.maximum(k, 0)] + lengths[np.maximum(k, 0)])
        splits = self.starts[k[inside]] + (inner.starts[inside] - self.origins[k[inside]])
        starts = np.union1d(self.starts, splits)
        return OffsetMap(starts, inner.at(self.at(starts)), self.length)


@dataclass(frozen=True)
class Document:
    """One document: the text extracted from its file, and a cleaned copy with a map back to that text."""

    name: str
    text: str
    clean: str
    # origin[i] is the offset in `text` of clean[i]; len(origin) == len(clean) + 1 (end sentinel).
    origin: OffsetMap
    language: str
    # Of the file's bytes, so that identical uploads are recognized.
    sha256: str
    format: str = "text"
    # PDF: the offset in `text` where each page starts.
    pages: tuple[int, ...] = ()
    # HTML, Markdown, Word: the headings, each at its offset in `text`.
    outline: Outline = ()

    @cached_property
    def sections(self) -> Sections:
        """The section path of any offset of `text`."""
        return Sections(self.outline)

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
    page: int | None = None
    # The path of the headings over the chunk's start ("" when its document has none).
    section: str = ""

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
    page: int | None = None
    section: str = ""

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
    page: int | None = None
    section: str = ""

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
    page: int | None = None
    section: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of an answer, and the citation numbers it carries (none: it is unsupported)."""

    text: str
    citations: tuple[int, ...]

    @property
    def supported(self) -> bool:
        """Whether the sentence cites a source."""
        return bool(self.citations)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"text": self.text, "citations": list(self.citations), "supported": self.supported}


@dataclass(frozen=True)
class Answer:
    """A grounded answer, or an abstention with the nearest passages for reference.

    The fields stand in the order of its JSON (`to_dict`, and the API's body derived from it).
    """

    question: str
    text: str
    abstained: bool
    language: str
    # Probability (0-1) that the evidence answers the question, from the calibrated answerability model.
    confidence: float = 0.0
    # For an abstention: what was missing, in the question's language. Empty for an answer.
    reason: str = ""
    # "extractive" (quotes) or "llm" (written by the configured endpoint, every kept marker checked).
    composer: str = "extractive"
    # Why the answer is not what was configured (the LLM endpoint failed and the sources are quoted instead).
    warning: str = ""
    # The share of the answer's sentences that cite a source (an extractive answer's all do).
    grounded: float = 1.0
    sentences: list[AnswerSentence] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    passages: list[Hit] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self) | {"sentences": [s.to_dict() for s in self.sentences]}
