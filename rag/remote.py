"""`rag ask` and `rag search` through a running `rag serve` (`RAG_SERVER_URL`), without loading anything here.

One question then costs a request, not the loading of the model and the index.

The same parts come back as from a local `Pipeline` (text pieces as they stream, then an `Answer`; `Hit`s), so
the command line prints them the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from rag.data import Answer, AnswerSentence, Citation, Hit
from rag.errors import InputError, RagError

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


def answer_of(body: dict[str, Any], question: str) -> Answer:
    """The `Answer` a /v1/ask JSON body describes."""
    return Answer(
        question=question,
        text=body["answer"],
        abstained=body["abstained"],
        language=body["language"],
        citations=[Citation(**c) for c in body["citations"]],
        passages=[
            Hit(p["doc"], p["start"], p["end"], p["text"], p["score"], -1, "", p["page"], p.get("section", ""))
            for p in body["passages"]
        ],
        confidence=body["confidence"],
        reason=body["reason"],
        composer=body["composer"],
        warning=body["warning"],
        grounded=body["grounded"],
        sentences=[AnswerSentence(s["text"], tuple(s["citations"])) for s in body["sentences"]],
    )


def ask_stream(
    url: str, token: str | None, question: str, top_k: int | None
) -> Iterator[tuple[str | Answer, dict[str, float]]]:
    """The answer's text as the server streams it, then the answer, like `Pipeline.ask_stream`."""
    payload: dict[str, Any] = {"question": question, "stream": True} | ({"top_k": top_k} if top_k else {})
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
                        yield data["text"], {}
                    elif event == "done":
                        yield answer_of(data, question), data["timings_ms"]
    except httpx.HTTPError as exc:
        raise RemoteError(f"cannot reach the server at {url} (RAG_SERVER_URL): {exc}") from exc


def search(url: str, token: str | None, query: str, top_k: int | None) -> list[Hit]:
    """The server's hits for a query."""
    payload: dict[str, Any] = {"query": query} | ({"top_k": top_k} if top_k else {})
    try:
        r = httpx.post(f"{url}/v1/search", json=payload, headers=_headers(token), timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise RemoteError(f"cannot reach the server at {url} (RAG_SERVER_URL): {exc}") from exc
    _check(r, url)
    hits = r.json()["hits"]
    # A server older than sections sends none.
    return [
        Hit(h["doc"], h["start"], h["end"], h["text"], h["score"], -1, "", h["page"], h.get("section", ""))
        for h in hits
    ]
