from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from rag.limits import Admission


async def slow(request: Request) -> JSONResponse:
    await asyncio.sleep(0.2)
    return JSONResponse({"ok": True})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ready": True})


def test_overload_gets_503_with_retry_after_and_admitted_requests_stay_fast() -> None:
    app = Admission(
        Starlette(routes=[Route("/work", slow), Route("/healthz", health)]),
        max_in_flight=2,
        max_queue=20,
        queue_timeout_s=0.3,
    )

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
    assert busy.headers["retry-after"] == "1" and busy.json()["error"]["type"] == "Busy"
    assert probe.status_code == 200


def test_a_full_queue_turns_requests_away_at_once() -> None:
    app = Admission(Starlette(routes=[Route("/work", slow)]), max_in_flight=1, max_queue=1, queue_timeout_s=5.0)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return list(await asyncio.gather(*[client.get("/work") for _ in range(6)]))

    codes = sorted(r.status_code for r in asyncio.run(burst()))
    assert codes == [200, 200, 503, 503, 503, 503]
