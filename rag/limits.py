"""Limits at the edge of the service: request body size, known methods, and how many requests run at once.

Past `max_in_flight` running requests, up to `max_queue` more wait for a slot, each at most `queue_timeout_s`;
the rest get 503 with `Retry-After` at once. Under overload, the answers that are served stay as fast as the
cores allow instead of queueing without end.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Paths that must answer even under overload (a load balancer's probe).
UNLIMITED = frozenset({"/healthz"})


class BodyLimit:
    """Reject request bodies over `limit` bytes with 413, declared or chunked, and methods no route serves with 405.

    The body is read here, up to the limit, before the app sees it: an app that reads it itself turns a limit
    hit into its own 400. Requests to `streamed` (method, path) pairs pass through unread: their route counts
    the body as it streams in, against a limit of its own (uploads).
    """

    def __init__(self, app: ASGIApp, limit: int, streamed: frozenset[tuple[str, str]] = frozenset()) -> None:
        self.app = app
        self.limit = limit
        self.streamed = streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with its body, unless the body is over the limit or the method is unknown."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in METHODS:
            await _json(send, 405, "MethodNotAllowed", f"{scope['method']} is not served; use {', '.join(METHODS)}")
            return
        if (scope["method"], scope["path"]) in self.streamed:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _json(send, 413, "TooLarge", f"request body over {self.limit} bytes")
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await _json(send, 413, "TooLarge", f"request body over {self.limit} bytes")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


async def _json(
    send: Send, status: int, kind: str, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"error": {"type": kind, "message": message}}).encode()
    head = [(b"content-type", b"application/json"), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


class Admission:
    """At most `max_in_flight` requests at once and `max_queue` waiting; past either bound, 503."""

    def __init__(self, app: ASGIApp, max_in_flight: int, max_queue: int, queue_timeout_s: float) -> None:
        self.app = app
        self.slots = asyncio.Semaphore(max_in_flight)
        self.capacity = max_in_flight + max_queue
        self.admitted = 0  # running or waiting; counted before any await, so a burst cannot overshoot
        self.timeout = queue_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request when a slot frees up in time, else answer 503."""
        if scope["type"] != "http" or scope["path"] in UNLIMITED:
            await self.app(scope, receive, send)
            return
        if self.admitted >= self.capacity:
            await self._busy(send)
            return
        self.admitted += 1
        try:
            try:
                await asyncio.wait_for(self.slots.acquire(), self.timeout)
            except TimeoutError:
                await self._busy(send)
                return
            try:
                await self.app(scope, receive, send)
            finally:
                self.slots.release()
        finally:
            self.admitted -= 1

    async def _busy(self, send: Send) -> None:
        retry = max(1, round(self.timeout))
        message = f"the service is busy; retry in {retry} s"
        await _json(send, 503, "Busy", message, [(b"retry-after", str(retry).encode())])
