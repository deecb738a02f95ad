"""The HTTP API's request and response bodies (pydantic lives only here, at the edge) and their JSON helpers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class AskRequest(BaseModel):
    """A question for /v1/ask."""

    question: str = Field(min_length=1, description="The question, in English or Chinese.")
    top_k: int | None = Field(default=None, ge=1, le=50, strict=True, description="Passages to return (default 10).")
    stream: bool = Field(
        default=False, strict=True, description="Answer as server-sent events: deltas, then citations."
    )


class SearchRequest(BaseModel):
    """A query for /v1/search."""

    query: str = Field(min_length=1)
    top_k: int | None = Field(default=None, ge=1, le=50, strict=True)


class Span(BaseModel):
    """A span of a document's extracted text; `text == document_text[start:end]`."""

    doc: str
    start: int
    end: int
    text: str
    score: float
    page: int | None = Field(default=None, description="1-based page of a PDF where the span starts.")
    section: str = Field(
        default="",
        description='The headings over the span, outermost first ("Guide › Install › Upgrading"); "" if none.',
    )


class CitationOut(Span):
    """A citation behind the answer's marker `[n]`."""

    n: int


class SentenceOut(BaseModel):
    """A sentence of the answer and the citations it carries; one with none is unsupported."""

    text: str
    citations: list[int]
    supported: bool


class AskResponse(BaseModel):
    """An answer with citations, or an abstention with the nearest passages."""

    answer: str
    abstained: bool
    language: Literal["en", "zh"]
    confidence: float = Field(description="Probability (0-1) that the cited evidence answers the question.")
    reason: str = Field(description="For an abstention, what the documents lack, in the question's language.")
    composer: Literal["extractive", "llm"] = Field(description="Who wrote the answer.")
    warning: str = Field(description="Why the answer is not what was configured (the LLM endpoint failed), or empty.")
    grounded: float = Field(description="Share (0-1) of the answer's sentences that cite a source.")
    sentences: list[SentenceOut]
    citations: list[CitationOut]
    passages: list[Span]
    timings_ms: dict[str, float]


class CorrectSource(BaseModel):
    """Where the answer should have come from: a document of the collection, and optionally a quote of it."""

    doc: str = Field(min_length=1, description="A document name, as GET /v1/documents lists it.")
    quote: str | None = Field(default=None, description="The passage of that document that answers the question.")


class FeedbackRequest(BaseModel):
    """A rating of an answer, for /v1/feedback; lengths are checked against RAG_FEEDBACK_MAX_* (422 past them)."""

    question: str = Field(min_length=1, description="The question asked.")
    answer: str = Field(description="The answer given, as /v1/ask returned it.")
    citations: list[CitationOut] = Field(default_factory=list, description="The answer's citations, as given.")
    rating: Literal["up", "down"]
    comment: str = Field(default="", description="What was wrong or right, in the user's words.")
    correct_source: CorrectSource | None = None


class FeedbackOut(BaseModel):
    """A recorded rating."""

    id: str
    created: str = Field(description="When it was recorded (UTC, ISO 8601).")
    generation: int = Field(description="The index generation it was recorded at.")


class SearchResponse(BaseModel):
    """Passages, best first."""

    hits: list[Span]


class DocumentOut(BaseModel):
    """A document of the collection."""

    name: str
    language: str
    format: str
    chunks: int
    size: int = Field(description="Bytes of the file as added.")
    characters: int = Field(description="Characters of the extracted text.")
    pages: int = Field(description="Pages (PDF), else 0.")
    sha256: str = Field(description="Of the file's bytes.")
    source: Literal["folder", "upload", "cli"]
    added: str = Field(description="When it was added or last replaced (UTC, ISO 8601).")


class Removed(BaseModel):
    """What a delete removed."""

    removed: list[str]


class DocumentSpan(BaseModel):
    """Text of a span of a corpus file."""

    name: str
    start: int
    end: int
    text: str


class Health(BaseModel):
    """Readiness; open to everyone, so it says nothing about the corpus."""

    ready: bool
    status: Literal["loading", "ready"]


class Status(BaseModel):
    """What is loaded."""

    index_size: int
    sentences: int
    documents: int
    generation: int = Field(description="Moves on with every committed write.")
    embedder: str
    corpus_hash: str = Field(description="Of the documents' names and contents.")


def span(item: Any) -> dict[str, Any]:
    """The JSON of a hit or a citation: where it is and what it says."""
    return {
        "doc": item.doc,
        "start": item.start,
        "end": item.end,
        "text": item.text,
        "score": item.score,
        "page": item.page,
        "section": item.section,
    }


def citation(item: Any) -> dict[str, Any]:
    """The JSON of a citation: its span and its marker's number."""
    return span(item) | {"n": item.n}


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}
