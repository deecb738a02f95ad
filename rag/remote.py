"""`rag ask` and `rag search` through a running `rag serve` (`RAG_SERVER_URL`), without loading anything here.

One question then costs a request, not the loading of the model and the index.

The same things come back as from a local `Pipeline` (an `AnswerStream`, `Hit`s), read by the API's own models
(`rag.serve.models`), so the command line prints them the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from rag.answer.stream import AnswerStream, Reset
from rag.data import Answer, Hit
from rag.errors import InputError, RagError
from rag.filters import Filter
from rag.serve.models import answer_of, hit_of

T = TypeVar("T")

TIMEOUT_S = 120.0


class RemoteError(RagError):
    """The server at RAG_SERVER_URL could not be reached or refused the request."""


def _headers(token: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"} if token else {}


def _check(r: httpx.Response, url: str) -> None:
    if r.status_code == 200:
        return
    try:
        message = r.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = r.text[:200]
    if r.status_code == 422:
        raise InputError(message)
    raise RemoteError(f"{url} answered HTTP {r.status_code}: {message}")


def _payload(top_k: int | None, where: Filter | None) -> dict[str, Any]:
    """The optional fields of an ask or a search."""
    return ({"top_k": top_k} if top_k else {}) | ({"filter": where.model_dump(exclude_none=True)} if where else {})


def ask_stream(
    url: str, token: str | None, question: str, top_k: int | None, where: Filter | None = None
) -> AnswerStream:
    """The answer as the server streams it, like `Pipeline.ask_stream`; its `timings` are the server's."""
    timings: dict[str, float] = {}
    return AnswerStream(_parts(url, token, question, _payload(top_k, where), timings), timings)


def _parts(
    url: str, token: str | None, question: str, fields: dict[str, Any], timings: dict[str, float]
) -> Iterator[str | Reset | Answer]:
    payload: dict[str, Any] = {"question": question, "stream": True} | fields
    try:
        with httpx.stream("POST", f"{url}/v1/ask", json=payload, headers=_headers(token), timeout=TIMEOUT_S) as r:
            if r.status_code != 200:
                r.read()
                _check(r, url)
            event = ""
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    if event == "delta":
                        yield data["text"]
                    elif event == "reset":
                        yield Reset(data["warning"])
                    elif event == "done":
                        timings.update(data["timings_ms"])
                        yield _read(url, answer_of, data, question)
                        return
    except httpx.HTTPError as exc:
        raise RemoteError(f"cannot reach the server at {url} (RAG_SERVER_URL): {exc}") from exc
    raise RemoteError(f"the answer of the server at {url} ended without its sources; ask again")


def _read(url: str, read: Callable[..., T], *body: Any) -> T:
    """What a body of the server describes; RemoteError when it is not what this client's API sends."""
    try:
        return read(*body)
    except ValidationError as exc:
        raise RemoteError(
            f"the server at {url} sent a body this client cannot read ({exc.error_count()} errors); "
            "is it the same version of rag-bilingual?"
        ) from exc


def search(url: str, token: str | None, query: str, top_k: int | None, where: Filter | None = None) -> list[Hit]:
    """The server's hits for a query."""
    payload: dict[str, Any] = {"query": query} | _payload(top_k, where)
    try:
        r = httpx.post(f"{url}/v1/search", json=payload, headers=_headers(token), timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise RemoteError(f"cannot reach the server at {url} (RAG_SERVER_URL): {exc}") from exc
    _check(r, url)
    return [_read(url, hit_of, h) for h in r.json()["hits"]]
