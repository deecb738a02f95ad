"""The HTTP service: a FastAPI app over a loaded pipeline, with the Gradio UI mounted at `/`.

Routes under `/v1` (ask, search, documents, status, OpenAI-compatible chat completions) and `/healthz`. Input
errors become 422 with a JSON body, an oversized body 413 before it is read whole; with `RAG_API_TOKEN` set,
`rag.auth.TokenGate` answers every route but `/healthz` and `/login` with 401 unless the request carries the
token (the UI included). Nothing returns a stack trace or a file path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.auth import TokenGate
from rag.data import Answer
from rag.errors import InputError, RagError
from rag.limits import Admission, BodyLimit
from rag.pipeline import Pipeline

log = logging.getLogger(__name__)
MODEL_NAME = "rag-bilingual"
# Stream the answer in pieces that end after whitespace or Chinese punctuation.
DELTA = re.compile(r".+?(?:\s+|[。，；！？、]|$)", re.S)


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
    """A span of a corpus file; `text == file[start:end]`."""

    doc: str
    start: int
    end: int
    text: str
    score: float


class CitationOut(Span):
    """A citation behind the answer's marker `[n]`."""

    n: int


class AskResponse(BaseModel):
    """An answer with citations, or an abstention with the nearest passages."""

    answer: str
    abstained: bool
    language: Literal["en", "zh"]
    confidence: float = Field(description="Probability (0-1) that the cited evidence answers the question.")
    reason: str = Field(description="For an abstention, what the documents lack, in the question's language.")
    composer: Literal["extractive", "llm"]
    citations: list[CitationOut]
    passages: list[Span]
    timings_ms: dict[str, float]


class SearchResponse(BaseModel):
    """Passages, best first."""

    hits: list[Span]


class DocumentInfo(BaseModel):
    """A corpus file."""

    name: str
    language: str
    characters: int
    chunks: int


class DocumentSpan(BaseModel):
    """Text of a span of a corpus file."""

    name: str
    start: int
    end: int
    text: str


class ChatMessage(BaseModel):
    """One OpenAI-style chat message."""

    role: str
    content: str | None = None


class ChatRequest(BaseModel):
    """The subset of OpenAI's chat completions request this service reads."""

    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    stream: bool = Field(default=False, strict=True)


class Health(BaseModel):
    """Readiness; open to everyone, so it says nothing about the corpus."""

    ready: bool


class Status(BaseModel):
    """What is loaded."""

    index_size: int
    sentences: int
    embedder: str
    corpus_hash: str


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def _span(item: Any) -> dict[str, Any]:
    return {"doc": item.doc, "start": item.start, "end": item.end, "text": item.text, "score": item.score}


def ask_body(answer: Answer, timings: dict[str, float]) -> dict[str, Any]:
    """The /v1/ask JSON for an answer."""
    return {
        "answer": answer.text,
        "abstained": answer.abstained,
        "language": answer.language,
        "confidence": answer.confidence,
        "reason": answer.reason,
        "composer": answer.composer,
        "citations": [_span(c) | {"n": c.n} for c in answer.citations],
        "passages": [_span(h) for h in answer.passages],
        "timings_ms": timings,
    }


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def create_app(pipe: Pipeline, with_ui: bool = True) -> FastAPI:
    """The service over an already loaded pipeline (loading happens once, before serving)."""
    settings = pipe.settings
    app = FastAPI(title="rag-bilingual", version="0.1.0", description=__doc__)
    corpus_hash = hashlib.sha256(json.dumps(pipe.stored.manifest["corpus"], sort_keys=True).encode()).hexdigest()
    chunk_counts: dict[str, int] = {}
    for c in pipe.stored.chunks:
        chunk_counts[c.doc] = chunk_counts.get(c.doc, 0) + 1

    v1 = APIRouter(prefix="/v1")

    @v1.post("/ask", response_model=AskResponse, responses={200: {"content": {"text/event-stream": {}}}})
    def ask(req: AskRequest) -> Any:
        """Answer a question with citations; `stream` sends text deltas, then a `done` event with citations."""
        answer, timings = pipe.ask_timed(req.question, req.top_k)
        body = ask_body(answer, timings)
        if not req.stream:
            return body

        def events() -> Iterator[str]:
            for piece in DELTA.findall(answer.text):
                yield _sse("delta", {"text": piece})
            yield _sse("done", body)

        return StreamingResponse(events(), media_type="text/event-stream")

    @v1.post("/search", response_model=SearchResponse)
    def search(req: SearchRequest) -> Any:
        """The passages that best match a query, in either language."""
        return {"hits": [_span(h) for h in pipe.search(req.query, req.top_k)]}

    @v1.get("/documents", response_model=list[DocumentInfo])
    def documents() -> Any:
        """The corpus files."""
        return [
            {"name": d.name, "language": d.language, "characters": len(d.text), "chunks": chunk_counts.get(d.name, 0)}
            for d in pipe.documents.values()
        ]

    @v1.get("/documents/{name}", response_model=DocumentSpan, responses={404: {"description": "No such document"}})
    def document(name: str, start: int = Query(0, ge=0), end: int | None = Query(None, ge=0)) -> Any:
        """The text of a span of one corpus file (the whole file without start/end)."""
        doc = pipe.documents.get(name)
        if doc is None:
            return _error(404, "NotFound", "no document of that name in the corpus")
        stop = len(doc.text) if end is None else end
        if not start <= stop <= len(doc.text):
            raise InputError(f"need 0 <= start <= end <= {len(doc.text)}")
        return {"name": name, "start": start, "end": stop, "text": doc.text[start:stop]}

    @v1.post("/chat/completions")
    def chat(req: ChatRequest) -> Any:
        """OpenAI-compatible chat: the last user message is the question; citations ride in `citations`."""
        question = next((m.content for m in reversed(req.messages) if m.role == "user" and m.content), None)
        if question is None:
            raise InputError("no user message with content")
        answer, _ = pipe.ask_timed(question)
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        citations = [_span(c) | {"n": c.n} for c in answer.citations]
        base = {"id": cid, "created": created, "model": req.model or MODEL_NAME}
        if not req.stream:
            message = {"role": "assistant", "content": answer.text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
            return base | {"object": "chat.completion", "choices": [choice], "usage": usage, "citations": citations}

        def chunks() -> Iterator[str]:
            chunk = base | {"object": "chat.completion.chunk"}
            for i, piece in enumerate(DELTA.findall(answer.text)):
                delta = {"content": piece} | ({"role": "assistant"} if i == 0 else {})
                choice = {"index": 0, "delta": delta, "finish_reason": None}
                yield f"data: {json.dumps(chunk | {'choices': [choice]}, ensure_ascii=False)}\n\n"
            last = {"index": 0, "delta": {}, "finish_reason": "stop"}
            yield f"data: {json.dumps(chunk | {'choices': [last], 'citations': citations}, ensure_ascii=False)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    @v1.get("/status", response_model=Status)
    def status() -> Any:
        """Index size, sentence count, embedder and corpus fingerprint."""
        return {
            "index_size": pipe.stored.vectors.ntotal,
            "sentences": len(pipe.stored.sentences),
            "embedder": pipe.embedder.id,
            "corpus_hash": corpus_hash,
        }

    app.include_router(v1)

    @app.get("/healthz", response_model=Health)
    def healthz() -> Any:
        """Readiness."""
        return {"ready": True}

    _handlers(app)
    if with_ui:
        import gradio as gr

        from ui.app import build_ui

        app = gr.mount_gradio_app(app, build_ui(pipe), path="/")
    # The last added runs first: the token gate, then the body limit, then admission, so that neither a request
    # without the token nor a slow upload holds one of the slots.
    app.add_middleware(
        Admission,
        max_in_flight=settings.max_in_flight,
        max_queue=settings.max_queue,
        queue_timeout_s=settings.queue_timeout_s,
    )
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(TokenGate, token=settings.api_token.get_secret_value() if settings.api_token else None)
    return app


def _handlers(app: FastAPI) -> None:
    Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]

    async def input_error(request: Request, exc: Exception) -> JSONResponse:
        return _error(422, type(exc).__name__, str(exc))

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in errors]
        return JSONResponse({"error": {"type": "ValidationError", "message": "invalid request", "detail": detail}}, 422)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        if status == 400:
            # Starlette's "error parsing the body": bad UTF-8, JSON too deep or a number too long to parse.
            return _error(422, "ValidationError", "the request body is not valid UTF-8 JSON")
        return _error(status, "HTTPError", str(getattr(exc, "detail", "")) or "request failed")

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return _error(500, "InternalError", "internal error; the server log has the details")

    handlers: dict[type[Exception], Handler] = {
        RagError: input_error,
        StarletteHTTPException: http_error,
        RequestValidationError: invalid,
        Exception: internal,
    }
    for exc_type, handler in handlers.items():
        app.add_exception_handler(exc_type, handler)
