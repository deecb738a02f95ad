"""Limits at the edge of the service: request body size, known methods, and how many requests run at once.

Past `max_in_flight` running requests, up to `max_queue` more wait for a slot, each at most `queue_timeout_s`;
the rest get 503 with `Retry-After` at once. Under overload, the answers that are served stay as fast as the
cores allow instead of queueing without end. A slot is held for work, not for a connection: a response gives it
back as it starts, and an upload takes one only once its body has arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.errors import BusyError

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


class Slots:
    """The slots that bound CPU work: `size` held at once, `queue` more waiting, each at most `timeout_s`."""

    def __init__(self, size: int, queue: int, timeout_s: float) -> None:
        self.free = asyncio.Semaphore(size)
        self.capacity = size + queue
        self.admitted = 0  # holding or waiting; counted before any await, so a burst cannot overshoot
        self.timeout_s = timeout_s

    async def take(self) -> Callable[[], None]:
        """Wait for a slot; BusyError when the queue is full or none frees up in time.

        Returns the function that gives the slot back: the first call does, later ones do nothing, so a
        response can give it back as it starts and its `finally` again.
        """
        if self.admitted >= self.capacity:
            raise self._busy()
        self.admitted += 1
        try:
            await asyncio.wait_for(self.free.acquire(), self.timeout_s)
        except BaseException as exc:
            self.admitted -= 1
            if isinstance(exc, TimeoutError):
                raise self._busy() from exc
            raise
        held = True

        def give_back() -> None:
            nonlocal held
            if held:
                held = False
                self.free.release()
                self.admitted -= 1

        return give_back

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """A slot for the duration of the block (a route that takes its own, once its body has arrived)."""
        give_back = await self.take()
        try:
            yield
        finally:
            give_back()

    def _busy(self) -> BusyError:
        retry = max(1, round(self.timeout_s))
        return BusyError(f"the service is busy; retry in {retry} s", retry)


class Admission:
    """Each request holds one of `slots` from its arrival until its response starts; past their bounds, 503.

    A slot bounds the work a response waits for, not the connection: a stream (an answer sent as server-sent
    events, Gradio's heartbeat and queue streams, which stay open as long as a browser tab) gives its slot back
    once its response starts, so open tabs hold none. Requests to `deferred` (method, path) pairs, the uploads,
    pass without one, so that a body trickling in holds none: the API's upload route takes a slot once the body
    has arrived, and Gradio's only stores the file (the UI's `add` event parses it, on Gradio's own queue).
    """

    def __init__(self, app: ASGIApp, slots: Slots, deferred: frozenset[tuple[str, str]] = frozenset()) -> None:
        self.app = app
        self.slots = slots
        self.deferred = deferred

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request when a slot frees up in time, else answer 503."""
        if scope["type"] != "http" or scope["path"] in UNLIMITED or (scope["method"], scope["path"]) in self.deferred:
            await self.app(scope, receive, send)
            return
        try:
            give_back = await self.slots.take()
        except BusyError as exc:
            headers = [(b"retry-after", str(exc.retry_after_s).encode())]
            await _json(send, 503, type(exc).__name__, str(exc), headers)
            return

        async def send_and_give_back(message: Message) -> None:
            if message["type"] == "http.response.start":
                give_back()
            await send(message)

        try:
            await self.app(scope, receive, send_and_give_back)
        finally:
            give_back()
