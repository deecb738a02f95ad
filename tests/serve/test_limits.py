from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route
from starlette.types import Message

from rag.serve.limits import Admission, Slots


async def slow(request: Request) -> JSONResponse:
    await asyncio.sleep(0.2)
    return JSONResponse({"ok": True})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ready": True})


def test_overload_gets_503_with_retry_after_and_admitted_requests_stay_fast() -> None:
    app = Admission(Starlette(routes=[Route("/work", slow), Route("/healthz", health)]), Slots(2, 20, 0.3))

    async def burst() -> tuple[list[httpx.Response], httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:

            async def probe_while_busy() -> httpx.Response:
                await asyncio.sleep(0.05)
                return await client.get("/healthz")

            work = [asyncio.ensure_future(client.get("/work")) for _ in range(12)]
            probe = await probe_while_busy()
            assert not all(w.done() for w in work)
            return list(await asyncio.gather(*work)), probe

    responses, probe = asyncio.run(burst())
    codes = [r.status_code for r in responses]
    assert codes.count(200) >= 2 and codes.count(503) >= 6, codes
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.headers["retry-after"] == "1" and busy.json()["error"]["type"] == "BusyError"
    assert probe.status_code == 200


def test_a_full_queue_turns_requests_away_at_once() -> None:
    app = Admission(Starlette(routes=[Route("/work", slow)]), Slots(1, 1, 5.0))

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return list(await asyncio.gather(*[client.get("/work") for _ in range(6)]))

    codes = sorted(r.status_code for r in asyncio.run(burst()))
    assert codes == [200, 200, 503, 503, 503, 503]


def test_a_response_gives_its_slot_back_as_it_starts_streaming() -> None:
    stop = asyncio.Event()

    async def waiting() -> AsyncIterator[bytes]:
        yield b"data: started\n\n"
        await stop.wait()  # an answer waiting on its LLM endpoint, or a browser tab's heartbeat

    async def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(waiting(), media_type="text/event-stream")

    app = Admission(Starlette(routes=[Route("/stream", stream)]), Slots(1, 0, 0.3))

    async def call(path: str, streaming: asyncio.Event | None = None) -> list[Message]:
        sent: list[Message] = []
        requested = False

        async def receive() -> Message:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await stop.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)
            if streaming is not None and message.get("body"):
                streaming.set()

        scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}
        await app(scope, receive, send)
        return sent

    async def run() -> int:
        streaming = asyncio.Event()
        tab = asyncio.ensure_future(call("/stream", streaming))
        await streaming.wait()
        other = await call("/missing")
        stop.set()
        await tab
        return int(other[0]["status"])

    assert asyncio.run(run()) == 404  # served by the app, not turned away by admission (503)
