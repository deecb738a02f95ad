"""Errors at the HTTP edge: each `RagError` class has its status, and every error has the same JSON body.

Nothing returns a stack trace: an unexpected exception is logged and answered with 500 and a line that says so.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import (
    BusyError,
    IndexStaleError,
    NotFoundError,
    RagError,
    StorageError,
    StorageFullError,
    TooLargeError,
    UnreadableDocumentError,
    UnsupportedFormatError,
)
from rag.serve.service import RETRY_AFTER_S, ServiceUnavailableError

log = logging.getLogger(__name__)

# HTTP status per error class (the most specific class wins); other RagErrors are 422. A full disk is 507; a
# read-only or forbidden one (and another storage fault) 503: the request was fine and the service still answers
# questions, but it cannot take writes until an operator acts, which Retry-After (`storage_retry_after_s`) says.
ERROR_STATUS: dict[type[RagError], int] = {
    ServiceUnavailableError: 503,
    StorageFullError: 507,
    StorageError: 503,
    BusyError: 503,
    NotFoundError: 404,
    IndexStaleError: 409,
    TooLargeError: 413,
    UnsupportedFormatError: 415,
    UnreadableDocumentError: 422,
}


def status_of(exc: BaseException) -> int:
    """The HTTP status of an error: by its most specific class in `ERROR_STATUS`, else 422 (500 if no RagError)."""
    if not isinstance(exc, RagError):
        return 500
    return next((code for kind, code in ERROR_STATUS.items() if isinstance(exc, kind)), 422)


def error_body(kind: str, message: str) -> dict[str, Any]:
    """The JSON body of every error: `{"error": {"type", "message"}}`."""
    return {"error": {"type": kind, "message": message}}


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    """An error as a response."""
    return JSONResponse(error_body(kind, message), status_code=status)


def install_handlers(app: FastAPI, storage_retry_after_s: int) -> None:
    """Map every exception to a JSON body: RagErrors by `ERROR_STATUS`, validation to 422, the rest to 500."""
    Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]

    async def input_error(request: Request, exc: Exception) -> JSONResponse:
        status = status_of(exc)
        response = error_response(status, type(exc).__name__, str(exc))
        if isinstance(exc, StorageError):
            response.headers["retry-after"] = str(storage_retry_after_s)
        elif isinstance(exc, BusyError):
            response.headers["retry-after"] = str(exc.retry_after_s)
        elif status == 503:
            response.headers["retry-after"] = str(RETRY_AFTER_S)
        return response

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in errors]
        return JSONResponse({"error": {"type": "ValidationError", "message": "invalid request", "detail": detail}}, 422)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        if status == 400:
            # Starlette's "error parsing the body": bad UTF-8, JSON too deep or a number too long to parse.
            return error_response(422, "ValidationError", "the request body is not valid UTF-8 JSON")
        return error_response(status, "HTTPError", str(getattr(exc, "detail", "")) or "request failed")

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return error_response(500, "InternalError", "internal error; the server log has the details")

    handlers: dict[type[Exception], Handler] = {
        RagError: input_error,
        StarletteHTTPException: http_error,
        RequestValidationError: invalid,
        Exception: internal,
    }
    for exc_type, handler in handlers.items():
        app.add_exception_handler(exc_type, handler)
