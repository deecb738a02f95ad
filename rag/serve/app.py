"""The HTTP service: a FastAPI app over a loaded pipeline, with the Gradio UI mounted at `/`.

Routes under `/v1` (ask, search, documents with upload and delete, feedback on answers, status, OpenAI-compatible
chat completions) and `/healthz`. Input errors become 4xx with a JSON body (`rag.serve.errors`), an oversized body 413
before it is read whole (an upload: as soon as its stream passes the limit); with `RAG_API_TOKEN` set,
`rag.serve.auth.TokenGate` answers every route but `/healthz` and `/login` with 401 unless the request carries the
token (the UI included). Nothing returns a stack trace; the only file path is the index folder's, in the errors
an operator must act on (a full, read-only or damaged index).
"""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
from collections.abc import Iterator
from dataclasses import asdict
from functools import partial
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse

from rag.answer.stream import Delta
from rag.data import Document
from rag.errors import InputError, NotFoundError
from rag.ingest import SUPPORTED, format_of, page_of
from rag.names import check_name
from rag.page_image import PageImages
from rag.pipeline import Pipeline
from rag.serve.auth import TokenGate
from rag.serve.browser_guard import BrowserGuard, allowed_hosts
from rag.serve.errors import install_handlers
from rag.serve.limits import Admission, BodyLimit, Slots
from rag.serve.models import (
    UPLOAD_BODY,
    AskRequest,
    AskResponse,
    DocumentOut,
    DocumentSpan,
    FeedbackOut,
    FeedbackRequest,
    Health,
    Removed,
    SearchRequest,
    SearchResponse,
    Status,
    answer_body,
    span,
)
from rag.serve.openai_compat import openai_router
from rag.serve.service import RETRY_AFTER_S, Service
from rag.serve.ui_mount import LOADING_PAGE, LateUI, mount_ui
from rag.serve.uploads import read_upload, sse, upload_events
from rag.serve.views import VIEW_PATH, document_page, page_path, page_viewer

log = logging.getLogger(__name__)
DOCUMENTS = "/v1/documents"
GRADIO_UPLOAD = "/gradio_api/upload"
# Requests whose body streams in past the body limit and admission (see `create_app`).
UPLOADS = frozenset({("POST", DOCUMENTS), ("POST", GRADIO_UPLOAD)})


def create_app(source: Pipeline | Service, with_ui: bool = True) -> FastAPI:
    """The service over a pipeline: loaded already, or loading in the background (a `Service`, `rag serve`).

    While it loads, `/healthz` says so (503) and so do the routes that need it; the UI is mounted once it is
    ready (`mount_ui`).
    """
    service = source if isinstance(source, Service) else Service(source.settings, source)
    settings = service.settings
    late_ui = LateUI()
    app = FastAPI(title="rag-bilingual", version="0.1.0", description=__doc__, lifespan=late_ui.lifespan)
    app.state.late_ui = late_ui
    slots = Slots(settings.in_flight, settings.max_queue, settings.queue_timeout_s)

    v1 = APIRouter(prefix="/v1")

    @v1.post("/ask", response_model=AskResponse, responses={200: {"content": {"text/event-stream": {}}}})
    def ask(req: AskRequest) -> Any:
        """Answer a question with citations.

        With `stream`, server-sent events: `delta` events with the text as it is written, then `done` with the
        whole answer and its checked citations. Should the LLM endpoint fail midway, a `reset` event says to drop
        the text so far, and the deltas of the answer that replaces it follow.
        """
        if not req.stream:
            answer, timings = service().ask_timed(req.question, req.top_k, filter=req.filter)
            return answer_body(answer, timings)
        # Retrieval and the composer's first step run now: their errors are a status, before any byte is sent.
        stream = service().ask_stream(req.question, req.top_k, filter=req.filter).start()

        def events() -> Iterator[str]:
            for event in stream:
                if isinstance(event, Delta):
                    yield sse("delta", {"text": event.text})
                else:
                    yield sse("reset", {"warning": event.warning})
            yield sse("done", answer_body(stream.answer(), stream.timings))

        return StreamingResponse(events(), media_type="text/event-stream")

    @v1.post("/search", response_model=SearchResponse)
    def search(req: SearchRequest) -> Any:
        """The passages that best match a query, in either language."""
        return {"hits": [span(h) for h in service().search(req.query, req.top_k, req.filter)]}

    @v1.get("/documents", response_model=list[DocumentOut])
    def documents() -> Any:
        """The documents of the collection, by name."""
        return [asdict(i) for i in service().document_infos()]

    supported = ", ".join(sorted(SUPPORTED))

    @v1.post(
        "/documents",
        response_model=DocumentOut,
        status_code=201,
        openapi_extra=UPLOAD_BODY,
        responses={
            200: {"description": "The same bytes were there already under that name: nothing changed"},
            413: {"description": "Larger than RAG_MAX_UPLOAD_BYTES"},
            415: {"description": f"Not a supported type ({supported})"},
            422: {"description": "The file cannot be read: encrypted, no text layer, corrupt"},
        },
    )
    async def upload(request: Request, stream: bool = False) -> Any:
        """Add a document (multipart field `file`), or replace the one of the same name.

        Optional fields: `tags` (comma-separated, or the field repeated) and `meta` (a JSON object of strings,
        numbers and true/false), which filters select it by; when neither is sent, a replaced document keeps its
        own. It is searchable when this returns. Identical bytes under the same name are a no-op (200). With
        `stream=true`, server-sent events while it is read, embedded and saved: `progress` (`stage`, `done`,
        `total`), then `done` (the listing, and `changed`) or `error` (`status` and the error body).
        """
        up = await read_upload(request, settings.max_upload_bytes)
        pipe = service()
        add = partial(pipe.add_document, up.data, up.name, tags=up.tags, meta=up.meta)
        if stream:
            # What can be told from the request alone is a status, before the stream begins.
            format_of(check_name(up.name))
            give_back = await slots.take()
            return StreamingResponse(upload_events(add, give_back), media_type="text/event-stream")
        async with slots.held():
            info, changed = await run_in_threadpool(add)
        return JSONResponse(asdict(info), status_code=201 if changed else 200)

    @v1.delete("/documents/{name}", response_model=Removed, responses={404: {"description": "No such document"}})
    def delete(name: str) -> Any:
        """Delete a document; no answer or search cites it afterwards."""
        return {"removed": service().remove_documents([name]).removed}

    @v1.get("/documents/{name}", response_model=DocumentSpan, responses={404: {"description": "No such document"}})
    def document(name: str, start: int = Query(0, ge=0), end: int | None = Query(None, ge=0)) -> Any:
        """The extracted text of one document, or of a span of it (what citations point into)."""
        name = unicodedata.normalize("NFC", name)  # stored names are NFC; another form names the same document
        doc = service().documents.get(name)
        if doc is None:
            raise NotFoundError(f"no document named {name!r} in the collection")
        stop = len(doc.text) if end is None else end
        if not start <= stop <= len(doc.text):
            raise InputError(f"need 0 <= start <= end <= {len(doc.text)}")
        return {"name": name, "start": start, "end": stop, "text": doc.text[start:stop]}

    @v1.post("/feedback", response_model=FeedbackOut, status_code=201)
    def feedback(req: FeedbackRequest) -> Any:
        """Rate an answer, thumbs up or down, with an optional comment and the source it should have cited.

        Stored in the collection's catalog with the index generation and a digest of the settings;
        `rag eval feedback export` turns thumbs-down and commented answers into candidate eval rows.
        """
        source = req.correct_source
        item = service().record_feedback(
            req.question,
            req.answer,
            [c.model_dump() for c in req.citations],
            req.rating,
            req.comment,
            source.doc if source is not None else None,
            source.quote if source is not None else None,
        )
        return {"id": item.id, "created": item.created, "generation": item.generation}

    @v1.get("/status", response_model=Status)
    def status() -> Any:
        """Index size, sentence and document counts, generation, embedder and corpus fingerprint."""
        pipe = service()
        snap = pipe.stored
        contents = sorted((i.name, i.sha256) for i in snap.infos.values())
        return {
            "index_size": snap.vectors.count(),
            "sentences": len(snap.sentences),
            "documents": len(snap.infos),
            "generation": snap.generation,
            "embedder": pipe.embedder.id,
            "corpus_hash": hashlib.sha256(json.dumps(contents).encode()).hexdigest(),
        }

    app.include_router(v1)
    app.include_router(openai_router(service))

    @app.get("/healthz", response_model=Health, responses={503: {"model": Health}})
    def healthz() -> Any:
        """Readiness: 200 once the service answers questions, 503 while it loads (or if loading failed)."""
        state = service.status
        return JSONResponse({"ready": state == "ready", "status": state}, status_code=200 if state == "ready" else 503)

    install_handlers(app, settings.storage_retry_after_s)

    page_images = PageImages(settings)

    def viewed(name: str) -> Document:
        doc = service().documents.get(unicodedata.normalize("NFC", name))
        if doc is None:
            raise NotFoundError(f"no document named {name!r} in the collection")
        return doc

    @app.get(VIEW_PATH + "/{name}", response_class=HTMLResponse, include_in_schema=False)
    def view(
        name: str, start: int = Query(0, ge=0), end: int = Query(0, ge=0), text: bool = False, whole: bool = False
    ) -> Any:
        """What the UI's source links open: a PDF's cited page (unless `text`), else the span in its section.

        With `whole`, the span is marked in the whole text.
        """
        doc = viewed(name)
        if not text and page_images.viewable(doc):
            page = page_of(doc.pages, min(start, len(doc.text)))
            return RedirectResponse(f"{page_path(doc.name, page or 1)}?start={start}&end={end}", status_code=303)
        return HTMLResponse(document_page(doc, start, end, whole))

    # Before the viewer's route, whose `{page}` would take "3.png" and refuse it as no number.
    @app.get(VIEW_PATH + "/{name}/page/{page}.png", response_class=Response, include_in_schema=False)
    def page_image(name: str, page: int, start: int = Query(0, ge=0), end: int = Query(0, ge=0)) -> Any:
        """Page `page` of a PDF as a PNG with the span [start, end) lit; `X-Span` says whether it is."""
        drawn = page_images.image(viewed(name), page, start, end)
        return Response(drawn.png, media_type="image/png", headers={"x-span": drawn.lit.replace(" ", "-")})

    @app.get(VIEW_PATH + "/{name}/page/{page}", response_class=HTMLResponse, include_in_schema=False)
    def page_view(name: str, page: int, start: int = Query(0, ge=0), end: int = Query(0, ge=0)) -> Any:
        """The viewer of one page of a PDF, its image with the cited span lit, and links to the pages around it."""
        doc = viewed(name)
        # Drawing the page here also puts it in the cache for the image request that follows.
        lit = page_images.image(doc, page, start, end).lit
        return HTMLResponse(page_viewer(doc.name, doc.language, page, len(doc.pages), start, end, lit))

    if with_ui and service.pipe is not None:
        mount_ui(app, service.pipe)
    elif with_ui:

        @app.get("/", response_class=HTMLResponse, include_in_schema=False)
        def loading() -> Any:
            """Until the UI is mounted: a page that says so and looks again."""
            return HTMLResponse(LOADING_PAGE, status_code=503, headers={"retry-after": str(RETRY_AFTER_S)})

    # The last added runs first: the host and origin checks, the token gate, then the body limit, then admission,
    # so that neither a request without the token nor a slowly sent body holds one of the slots.
    # Uploads stream past both: each route counts the bytes against RAG_MAX_UPLOAD_BYTES itself, and the API's
    # takes its slot once they have all arrived.
    app.add_middleware(Admission, slots=slots, deferred=UPLOADS)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, streamed=UPLOADS)
    token = settings.api_token.get_secret_value() if settings.api_token is not None else None
    app.add_middleware(
        TokenGate,
        token=token,
        session_max_age_s=settings.session_max_age_s,
        max_failures=settings.max_auth_failures,
        failure_window_s=settings.auth_failure_window_s,
    )
    app.add_middleware(
        BrowserGuard,
        hosts=allowed_hosts(settings.host, settings.allowed_hosts),
        cors_origins=frozenset(settings.cors_origins),
    )
    return app
