from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from rag import Pipeline
from rag.serve.app import create_app

from ..conftest import no_server_errors

EN_000 = "000_52703944bae284e8.txt"
TOKEN = SecretStr("s3cret")


@pytest.fixture(scope="module")
def app(pipe: Pipeline) -> FastAPI:
    return create_app(pipe)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _events(body: str) -> list[tuple[str, dict[str, object]]]:
    out = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


@pytest.mark.e2e
def test_ask_chinese_question_cites_english_source(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"question": "中国是在哪一年正式加入世界贸易组织的？", "top_k": 10})
    assert r.status_code == 200
    body = r.json()
    assert body["language"] == "zh" and not body["abstained"]
    assert any(c["doc"] == EN_000 and "2001" in c["text"] for c in body["citations"])
    assert set(body["timings_ms"]) == {"retrieve", "compose", "total"}
    assert len(body["passages"]) <= 10


@pytest.mark.e2e
def test_streaming_ends_with_citations(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"question": "亚投行的核心目标是什么？", "stream": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    kinds = [k for k, _ in events]
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"delta"}
    done = events[-1][1]
    assert "".join(str(d["text"]) for _, d in events[:-1]) == done["answer"]
    assert done["citations"]


@pytest.mark.e2e
def test_search_documents_and_health(client: TestClient) -> None:
    hits = client.post("/v1/search", json={"query": "multilateralism", "top_k": 3}).json()["hits"]
    assert 0 < len(hits) <= 3
    docs = client.get("/v1/documents").json()
    assert {d["name"] for d in docs} >= {EN_000, "004_cd34105e53f3530d.txt"}
    assert all(d["chunks"] > 0 and d["characters"] > 0 for d in docs)
    span = client.get(f"/v1/documents/{hits[0]['doc']}", params={"start": hits[0]["start"], "end": hits[0]["end"]})
    assert span.json()["text"] == hits[0]["text"]
    assert client.get("/healthz").json() == {"ready": True, "status": "ready"}
    status = client.get("/v1/status").json()
    assert status["index_size"] > 0 and status["sentences"] > 0 and len(status["corpus_hash"]) == 64


@pytest.mark.e2e
@pytest.mark.parametrize(
    "path",
    [
        "/v1/documents/..%2Fpyproject.toml",
        "/v1/documents/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/v1/documents/..%252Fpyproject.toml",
        "/v1/documents/%2Fetc%2Fpasswd",
        "/v1/documents/pyproject.toml",
        "/v1/documents/../../README.md",
    ],
)
def test_traversal_gets_404(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert "[project]" not in r.text and "root:" not in r.text


@pytest.mark.e2e
def test_bad_input_is_422_and_big_body_413(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"question": "   "})
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("the question is empty")
    assert client.post("/v1/ask", json={"question": 5}).status_code == 422
    assert client.post("/v1/ask", json={"question": "x", "top_k": 0}).status_code == 422
    r = client.get(f"/v1/documents/{EN_000}", params={"start": 10, "end": 5})
    assert r.status_code == 422
    r = client.post(
        "/v1/ask", content=b'{"question": "' + b"a" * 200_000 + b'"}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and "request body over" in r.json()["error"]["message"]


@pytest.fixture(scope="module")
def guarded(pipe: Pipeline) -> FastAPI:
    # Every route is tried with a wrong token: the failure limit (tests/test_auth.py) would answer 429 after a few.
    tries = {"api_token": TOKEN, "max_auth_failures": 10_000}
    return create_app(pipe.derived(settings=pipe.settings.model_copy(update=tries)))


def _routes(routes: list[Any], prefix: str = "") -> list[tuple[str, str]]:
    """Every (method, concrete path) the app serves, mounted apps (the Gradio UI) included, read from the app."""
    out: list[tuple[str, str]] = []
    for route in routes:
        path = prefix + getattr(route, "path", "")
        if isinstance(route, Mount) and isinstance(route.app, Starlette):
            out += _routes(route.app.routes, path)
        elif hasattr(route, "original_router"):  # FastAPI's wrapper around an included router
            out += _routes(route.original_router.routes, prefix)
        elif isinstance(route, Route):
            concrete = re.sub(r"\{[^}]+\}", "x", path) or "/"
            out += [(m, concrete) for m in sorted(route.methods or {"GET"}) if m != "HEAD"]
        elif isinstance(route, WebSocketRoute):
            out.append(("WEBSOCKET", re.sub(r"\{[^}]+\}", "x", path)))
    return out


@pytest.mark.e2e
def test_every_route_needs_the_token(guarded: FastAPI) -> None:
    routes = _routes(guarded.routes)
    assert any(p.startswith("/gradio_api/") for _, p in routes) and any(p.startswith("/v1/") for _, p in routes)
    assert len(routes) > 30
    with TestClient(guarded) as c:
        for method, path in routes:
            if path in ("/healthz", "/login", "/logout"):
                continue
            if method == "WEBSOCKET":
                with pytest.raises(WebSocketDisconnect), c.websocket_connect(path):
                    pass
                continue
            r = c.request(method, path, headers={"Authorization": "Bearer wrong"})
            assert r.status_code == 401, (method, path, r.status_code)
            assert "corpus" not in r.text
        assert c.post("/gradio_api/call/search", json={"data": ["road", [], [], []]}).status_code == 401
        assert c.get("/healthz").json() == {"ready": True, "status": "ready"}
        ok = {"Authorization": f"Bearer {TOKEN.get_secret_value()}"}
        assert c.get("/v1/documents", headers=ok).status_code == 200
        assert c.post("/gradio_api/call/search", json={"data": ["road", [], [], []]}, headers=ok).status_code == 200


@pytest.mark.e2e
def test_browser_logs_in_once(guarded: FastAPI) -> None:
    with TestClient(guarded, follow_redirects=False) as c:
        page = c.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert "访问令牌" in c.get("/login").text
        assert c.post("/login", data={"token": "wrong"}).status_code == 401
        login = c.post("/login", data={"token": TOKEN.get_secret_value()})
        assert login.status_code == 303 and TOKEN.get_secret_value() not in login.headers["set-cookie"]
        assert "HttpOnly" in login.headers["set-cookie"] and "Max-Age=43200" in login.headers["set-cookie"]
        assert c.get("/", headers={"Accept": "text/html"}).status_code == 200
        assert c.get("/v1/documents").status_code == 200
        assert c.get("/logout").status_code == 303
        assert c.get("/v1/documents").status_code == 401


@pytest.mark.e2e
def test_unpaired_surrogates_are_422_everywhere(client: TestClient) -> None:
    bad = '{"question": "AIIB \\ud800?"}'
    assert client.post("/v1/ask", content=bad, headers={"content-type": "application/json"}).status_code == 422
    chat = '{"messages": [{"role": "user", "content": "AIIB \\ud800?"}]}'
    r = client.post("/v1/chat/completions", content=chat, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "surrogates" in r.json()["error"]["message"]


@pytest.mark.e2e
def test_openai_sdk(client: TestClient) -> None:
    sdk = openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client)
    assert [m.id for m in sdk.models.list()] == ["rag-bilingual"]
    question = [{"role": "user", "content": [{"type": "text", "text": "Which country first signed the UN Charter?"}]}]
    resp = sdk.chat.completions.create(model="rag-bilingual", messages=question)  # type: ignore[arg-type]
    content = resp.choices[0].message.content or ""
    citations = (resp.model_extra or {})["citations"]
    assert "[1]" in content and citations[0]["n"] == 1
    assert resp.usage is not None and resp.usage.prompt_tokens > 10 and resp.usage.completion_tokens > 5
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    pieces, final = [], None
    for chunk in sdk.chat.completions.create(model="rag-bilingual", messages=question, stream=True):  # type: ignore[arg-type]
        pieces.append(chunk.choices[0].delta.content or "")
        if chunk.choices[0].finish_reason == "stop":
            final = chunk
    assert "".join(pieces) == content
    assert final is not None and (final.model_extra or {})["citations"] == citations
    # The extractive composer quotes; it cannot follow a system message, and says so instead of ignoring it.
    with pytest.raises(openai.UnprocessableEntityError, match="cannot follow instructions"):
        sdk.chat.completions.create(
            model="rag-bilingual",
            messages=[{"role": "system", "content": "be brief"}, *question],  # type: ignore[list-item]
        )


@pytest.mark.e2e
def test_no_server_errors_on_generated_input(app: FastAPI) -> None:
    """Schemathesis generates requests from the app's own OpenAPI schema; none may get a 5xx."""
    # Writes would change the product's own index; tests/test_api_documents.py runs them on a throwaway one.
    schema = (
        schemathesis.openapi.from_asgi("/openapi.json", app)
        .include(path_regex=r"^/(v1|healthz)")
        .exclude(method=["POST", "DELETE"], path_regex=r"^/v1/documents")
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6

    no_server_errors(operations)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"question": "\xff\xfe road"}', "application/json"),
        (b'{"question": "road", "x": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", "application/json"),
        (b'{"question": "road", "top_k": ' + b"9" * 5000 + b"}", "application/json"),
        ('{"question": "caf\u00e9"}'.encode("latin-1"), "application/json; charset=latin-1"),
        (b'{"question": "road", "top_k": true}', "application/json"),
        (b'{"question": "road", "stream": 0.0}', "application/json"),
    ],
    ids=["bad-utf8", "deep-json", "long-number", "latin-1", "bool-for-int", "float-for-bool"],
)
def test_malformed_bodies_get_422_with_an_error_body(client: TestClient, body: bytes, content_type: str) -> None:
    r = client.post("/v1/ask", content=body, headers={"content-type": content_type})
    assert r.status_code == 422, r.text
    assert "error" in r.json() and "detail" not in r.json()


@pytest.mark.e2e
def test_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def pieces() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(100):
            yield b"a" * 1000
        yield b'"}'

    r = client.post("/v1/ask", content=pieces(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["type"] == "TooLarge"


@pytest.mark.e2e
def test_unknown_methods_get_405(client: TestClient) -> None:
    for path in ("/v1/ask", "/", "/gradio_api/info"):
        assert client.request("TRACE", path).status_code == 405
