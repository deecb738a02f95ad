from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import openai
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr

from rag import Pipeline
from rag.api import create_app

EN_000 = "000_52703944bae284e8.txt"


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
    health = client.get("/healthz").json()
    assert health["ready"] and health["index_size"] > 0 and len(health["corpus_hash"]) == 64


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


@pytest.mark.e2e
def test_bearer_token(pipe: Pipeline) -> None:
    guarded = dataclasses.replace(pipe, settings=pipe.settings.model_copy(update={"api_token": SecretStr("s3cret")}))
    with TestClient(create_app(guarded, with_ui=False)) as c:
        assert c.post("/v1/search", json={"query": "road"}).status_code == 401
        assert c.get("/v1/documents", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/v1/documents", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/healthz").status_code == 200


@pytest.mark.e2e
def test_openai_sdk(client: TestClient) -> None:
    sdk = openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client)
    question = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "Which country first signed the UN Charter?"},
    ]
    resp = sdk.chat.completions.create(model="rag-bilingual", messages=question)  # type: ignore[arg-type]
    content = resp.choices[0].message.content or ""
    citations = (resp.model_extra or {})["citations"]
    assert "[1]" in content and citations[0]["n"] == 1
    pieces, final = [], None
    for chunk in sdk.chat.completions.create(model="rag-bilingual", messages=question, stream=True):  # type: ignore[arg-type]
        pieces.append(chunk.choices[0].delta.content or "")
        if chunk.choices[0].finish_reason == "stop":
            final = chunk
    assert "".join(pieces) == content
    assert final is not None and (final.model_extra or {})["citations"] == citations


@pytest.mark.e2e
def test_no_server_errors_on_generated_input(app: FastAPI) -> None:
    """Schemathesis generates requests from the app's own OpenAPI schema; none may get a 5xx."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex=r"^/(v1|healthz)")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6

    for operation in operations:

        @given(operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def no_5xx(case: schemathesis.Case) -> None:
            response = case.call()
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"

        no_5xx()
