"""The HTTP API's request and response bodies and their JSON helpers.

Pydantic lives here, at the edge, and in the two shapes that are checked wherever they come from: `Settings` and
the `Filter` of a search (`rag.filters`), which the requests carry as it is.

The bodies that carry the pipeline's records (`Span`, `CitationOut`, `SentenceOut`, `AskResponse`) are derived
from the dataclasses of `rag.data` by `edge_model`, and the JSON of a record is made by its model, both ways.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import MISSING, fields
from typing import Any, Literal, get_type_hints

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, TypeAdapter, create_model

from rag.data import Answer, AnswerSentence, Citation, Hit
from rag.filters import Filter
from rag.snapshot import DocumentInfo


class AskRequest(BaseModel):
    """A question for /v1/ask."""

    question: str = Field(min_length=1, description="The question, in English or Chinese.")
    top_k: int | None = Field(default=None, ge=1, le=50, strict=True, description="Passages to return (default 10).")
    stream: bool = Field(
        default=False, strict=True, description="Answer as server-sent events: deltas, then citations."
    )
    filter: Filter | None = Field(default=None, description="Only the documents it keeps are searched.")


class SearchRequest(BaseModel):
    """A query for /v1/search."""

    query: str = Field(min_length=1)
    top_k: int | None = Field(default=None, ge=1, le=50, strict=True)
    filter: Filter | None = Field(default=None, description="Only the documents it keeps are searched.")


class Sent(BaseModel):
    """A response body: the service sends every field, so the schema requires each, defaults or not."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


def edge_model(
    source: type,
    *,
    base: type[BaseModel] = BaseModel,
    drop: Collection[str] = (),
    rename: Mapping[str, str] | None = None,
    types: Mapping[str, Any] | None = None,
    describe: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Any:
    """The fields of the pydantic model of what the API sends of a dataclass; a class of the edge derives from it.

    The fields of `base` come first, then the dataclass's in its order (less `drop`, with its defaults), then
    `extra` (properties, by type). `rename` gives a field its JSON name (it is read by either), `types` a type of
    the edge (a nested record's model, a Literal), `describe` its description in the OpenAPI schema.
    """
    rename, types, describe = rename or {}, types or {}, describe or {}
    hints = get_type_hints(source)
    own = [f for f in fields(source) if f.name not in drop and f.name not in base.model_fields]
    unknown = (set(rename) | set(types) | set(describe)) - {f.name for f in own}
    if unknown:
        raise TypeError(f"{source.__name__} has no fields {sorted(unknown)} to describe")
    spec: dict[str, Any] = {}
    for f in own:
        default: dict[str, Any] = {}
        if f.default is not MISSING:
            default = {"default": f.default}
        elif f.default_factory is not MISSING:
            default = {"default_factory": f.default_factory}
        aliases: dict[str, Any] = {}
        if f.name in rename:
            aliases = {"validation_alias": AliasChoices(rename[f.name], f.name), "serialization_alias": rename[f.name]}
        spec[f.name] = (types.get(f.name, hints[f.name]), Field(**default, **aliases, description=describe.get(f.name)))
    spec |= {name: (kind, ...) for name, kind in (extra or {}).items()}
    return create_model(f"{source.__name__}Fields", __base__=base, **spec)


# What the API leaves out of a hit (retrieval's own bookkeeping), and what a client reads it back as.
UNSENT_OF_HIT: dict[str, Any] = {"chunk_id": -1, "language": ""}


# Each `…Fields: Any` is a derived base, typed Any as declarative bases are, so that the class on it is a type.
SpanFields: Any = edge_model(
    Hit,
    drop=UNSENT_OF_HIT,
    describe={
        "page": "1-based page of a PDF where the span starts.",
        "section": 'The headings over the span, outermost first ("Guide › Install › Upgrading"); "" if none.',
    },
)


class Span(SpanFields):
    """A span of a document's extracted text; `text == document_text[start:end]`."""


CitationFields: Any = edge_model(Citation, base=Span)


class CitationOut(CitationFields):
    """A citation behind the answer's marker `[n]`."""


SentenceFields: Any = edge_model(AnswerSentence, extra={"supported": bool})


class SentenceOut(SentenceFields):
    """A sentence of the answer and the citations it carries; one with none is unsupported."""


AnswerFields: Any = edge_model(
    Answer,
    base=Sent,
    drop={"question"},  # the asker has it
    rename={"text": "answer"},
    types={
        "language": Literal["en", "zh"],
        "composer": Literal["extractive", "llm"],
        "citations": list[CitationOut],
        "passages": list[Span],
        "sentences": list[SentenceOut],
    },
    describe={
        "confidence": "Probability (0-1) that the cited evidence answers the question.",
        "reason": "For an abstention, what the documents lack, in the question's language.",
        "composer": "Who wrote the answer.",
        "warning": "Why the answer is not what was configured (the LLM endpoint failed), or empty.",
        "grounded": "Share (0-1) of the answer's sentences that cite a source.",
    },
    extra={"timings_ms": dict[str, float]},
)


class AskResponse(AnswerFields):
    """An answer with citations, or an abstention with the nearest passages."""


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


DocumentFields: Any = edge_model(
    DocumentInfo,
    types={"source": Literal["folder", "upload", "cli"], "tags": list[str]},
    describe={
        "size": "Bytes of the file as added.",
        "characters": "Characters of the extracted text.",
        "pages": "Pages (PDF), else 0.",
        "sha256": "Of the file's bytes.",
        "added": "When it was added or last replaced (UTC, ISO 8601).",
        "title": "Its first heading, else its file name without the suffix.",
        "tags": "Given when it was added (the upload's `tags` field), for filters.",
        "meta": "Key–value metadata given when it was added (the upload's `meta` field), for filters.",
    },
)


class DocumentOut(DocumentFields):
    """A document of the collection."""


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


def span(item: Hit | Citation) -> dict[str, Any]:
    """The JSON of a hit or a citation: where it is and what it says."""
    return dict(Span.model_validate(item, from_attributes=True).model_dump())


def citation(item: Citation) -> dict[str, Any]:
    """The JSON of a citation: its span and its marker's number."""
    return dict(CitationOut.model_validate(item, from_attributes=True).model_dump())


def answer_body(answer: Answer, timings: dict[str, float]) -> dict[str, Any]:
    """The /v1/ask JSON of an answer (the `done` event's too), as `AskResponse` describes it."""
    body = AskResponse.model_validate(vars(answer) | {"timings_ms": timings}, from_attributes=True)
    return dict(body.model_dump(mode="json", by_alias=True))


def hit_of(body: dict[str, Any]) -> Hit:
    """The `Hit` a span's JSON describes; what the API leaves out reads back as `UNSENT_OF_HIT`."""
    return Hit(**Span.model_validate(body).model_dump(), **UNSENT_OF_HIT)


def answer_of(body: dict[str, Any], question: str) -> Answer:
    """The `Answer` a /v1/ask JSON body describes (`answer_body`'s inverse), for the question asked."""
    fields = AskResponse.model_validate(body).model_dump(exclude={"timings_ms"})
    fields["passages"] = [p | UNSENT_OF_HIT for p in fields["passages"]]
    return ANSWER.validate_python(fields | {"question": question})


ANSWER = TypeAdapter(Answer)


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "tags": {"type": "string", "description": "Tags, comma-separated (or the field repeated)."},
                        "meta": {"type": "string", "description": 'A JSON object, such as {"year": 2024}.'},
                    },
                }
            }
        },
    }
}
