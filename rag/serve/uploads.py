"""Uploads at the HTTP edge: the multipart file counted as it streams in, and an add's progress as events.

`POST /v1/documents?stream=true` answers with server-sent events while the file is read, embedded and saved:
`progress` (`stage`, `done`, `total`), then `done` with the document's listing and whether it changed, or `error`
with the status and body the request would have had without `stream`. The slot an upload holds is given back
when the work ends, not when the client stops listening: the write finishes either way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from rag.collection.prepare import Progress
from rag.errors import InputError, TooLargeError
from rag.filters import MAX_TAGS, Meta, parse_meta
from rag.serve.errors import error_body, status_of
from rag.snapshot import DocumentInfo
from rag.storage import storage_faults

log = logging.getLogger(__name__)
# Room for the multipart boundaries and part headers around an upload's file.
MULTIPART_SLACK = 64 * 1024
# The file, `meta`, and `tags` given once or once per tag.
MAX_FORM_FIELDS = MAX_TAGS + 2
Add = Callable[[Progress], tuple[DocumentInfo, bool]]


def sse(event: str, data: dict[str, Any]) -> str:
    """One server-sent event with a JSON body."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@dataclass(frozen=True)
class Upload:
    """A document as an upload sends it: the file's name and bytes, and the tags and metadata given (or None)."""

    name: str
    data: bytes
    tags: tuple[str, ...] | None
    meta: Meta | None


async def read_upload(request: Request, limit: int) -> Upload:
    """The multipart field `file`, counted as it streams in (past `limit`, TooLargeError), and `tags` and `meta`.

    The parser spools the file to disk past 1 MiB, so an oversized upload is never held in memory.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
        raise TooLargeError(f"the upload is over {limit} bytes (RAG_MAX_UPLOAD_BYTES)")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InputError("send the document as multipart/form-data in a field named `file`")

    async def counted() -> AsyncGenerator[bytes, None]:
        seen = 0
        async for block in request.stream():
            seen += len(block)
            if seen > limit + MULTIPART_SLACK:
                raise TooLargeError(f"the upload is over {limit} bytes (RAG_MAX_UPLOAD_BYTES)")
            yield block

    try:
        # Past 1 MiB the parser spools to the temporary folder, whose disk may be the full one.
        with storage_faults(Path(tempfile.gettempdir())):
            form = await MultiPartParser(request.headers, counted(), max_files=1, max_fields=MAX_FORM_FIELDS).parse()
    except MultiPartException as exc:
        raise InputError(f"the multipart body cannot be read ({exc.message})") from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InputError("send the document as multipart/form-data in a field named `file`, with a file name")
        if upload.size is not None and upload.size > limit:
            raise TooLargeError(f"the upload is over {limit} bytes (RAG_MAX_UPLOAD_BYTES)")
        # Tags are checked where every write's are (`Collection.add_bytes`); metadata is JSON to parse first.
        fields = [v for v in form.getlist("tags") if isinstance(v, str)]
        tags = tuple(t for v in fields for t in v.split(",") if t.strip()) if fields else None
        meta = form.get("meta")
        return Upload(upload.filename, await upload.read(), tags, parse_meta(meta) if isinstance(meta, str) else None)
    finally:
        await form.close()


async def upload_events(add: Add, give_back: Callable[[], None]) -> AsyncIterator[str]:
    """Run `add` on a worker thread and stream its progress, then its result or its error, as events."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def progress(stage: str, done: int, total: int) -> None:
        loop.call_soon_threadsafe(events.put_nowait, {"stage": stage, "done": done, "total": total})

    work = asyncio.ensure_future(run_in_threadpool(add, progress))

    def ended(done: asyncio.Future[tuple[DocumentInfo, bool]]) -> None:
        give_back()
        # Said here, not in the stream: a client that stopped listening leaves no one else to tell.
        failure = None if done.cancelled() else done.exception()
        if failure is not None and status_of(failure) == 500:
            log.error("a streamed upload failed", exc_info=failure)
        elif failure is not None:
            log.info("a streamed upload was refused: %s", failure)

    work.add_done_callback(ended)
    waiting: asyncio.Future[dict[str, Any]] | None = None
    try:
        while not work.done():
            waiting = asyncio.ensure_future(events.get())
            await asyncio.wait({waiting, work}, return_when=asyncio.FIRST_COMPLETED)
            if waiting.done():
                yield sse("progress", waiting.result())
        # The worker's last reports were queued before its result reached the loop.
        while not events.empty():
            yield sse("progress", events.get_nowait())
    finally:
        if waiting is not None and not waiting.done():
            waiting.cancel()
    failure = work.exception()
    if failure is None:
        info, changed = work.result()
        yield sse("done", {**asdict(info), "changed": changed})
        return
    status = status_of(failure)
    if status == 500:
        body = error_body("InternalError", "internal error; the server log has the details")
    else:
        body = error_body(type(failure).__name__, str(failure))
    yield sse("error", {"status": status, **body})
