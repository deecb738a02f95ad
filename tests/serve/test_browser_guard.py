from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from rag import Pipeline, Settings
from rag.serve.app import create_app
from rag.serve.browser_guard import allowed_hosts


def test_the_hosts_a_request_may_name() -> None:
    assert allowed_hosts("127.0.0.1", []) == frozenset({"localhost", "127.0.0.1", "::1"})
    assert allowed_hosts("0.0.0.0", []) is None
    assert allowed_hosts("0.0.0.0", ["rag.example.org"]) == frozenset({"rag.example.org", "0.0.0.0"})


def test_dns_rebinding_and_cross_site_writes_are_refused(fake_pipe: Pipeline) -> None:
    loopback = fake_pipe.derived(settings=fake_pipe.settings.model_copy(update={"allowed_hosts": []}))
    app = create_app(loopback, with_ui=False)
    rebound = TestClient(app, base_url="http://rebind.evil.example:8000")
    r = rebound.get("/v1/documents/en.txt")
    assert r.status_code == 403 and "RAG_ALLOWED_HOSTS" in r.json()["error"]["message"]
    local = TestClient(app, base_url="http://127.0.0.1:8000")
    assert local.get("/v1/documents").status_code == 200
    files = {"file": ("evil.txt", b"The documents now say what the attacker wants.", "text/plain")}
    for origin in ("http://evil.example", "null"):
        r = local.post("/v1/documents", files=files, headers={"Origin": origin})
        assert r.status_code == 403 and "may not change anything" in r.json()["error"]["message"]
        assert local.delete("/v1/documents/en.txt", headers={"Origin": origin}).status_code == 403
    assert "evil.txt" not in fake_pipe.documents and "en.txt" in fake_pipe.documents
    same = local.post("/v1/documents", files=files, headers={"Origin": "http://127.0.0.1:8000"})
    assert same.status_code == 201
    assert local.post("/v1/search", json={"query": "fund"}).status_code == 200  # no Origin: not a browser page


def test_every_response_keeps_images_to_this_origin(fake_pipe: Pipeline) -> None:
    with TestClient(create_app(fake_pipe)) as client:
        for path in ("/", "/healthz", "/v1/documents"):
            headers = client.get(path).headers
            assert "img-src 'self'" in headers["content-security-policy"]
            assert headers["x-content-type-options"] == "nosniff"


def cors_headers(headers: Any) -> list[str]:
    return [k for k in headers if k.lower().startswith("access-control-")]


def test_a_page_on_another_port_cannot_read_what_the_session_opens(fake_pipe: Pipeline) -> None:
    """The browser sends the session cookie to every port of the host; only the missing CORS headers keep a page
    on another port from reading the answer (Gradio's own middleware allows any localhost origin, with credentials).
    """
    guarded = fake_pipe.derived(settings=fake_pipe.settings.model_copy(update={"api_token": SecretStr("s3cret")}))
    with TestClient(create_app(guarded), base_url="http://localhost:8000", follow_redirects=False) as client:
        assert client.post("/login", data={"token": "s3cret"}).status_code == 303
        foreign = {"Origin": "http://localhost:9000"}
        for path in ("/config", "/gradio_api/info", "/v1/documents"):
            read = client.get(path, headers=foreign)
            assert read.status_code == 200 and cors_headers(read.headers) == [], (path, read.headers)
        for path in ("/config", "/v1/ask"):
            preflight = client.options(path, headers={**foreign, "Access-Control-Request-Method": "POST"})
            assert preflight.status_code == 403 and cors_headers(preflight.headers) == []
            assert "RAG_CORS_ORIGINS" in preflight.json()["error"]["message"]


def test_origins_named_in_rag_cors_origins_may_read_without_credentials(fake_pipe: Pipeline) -> None:
    named = fake_pipe.derived(
        settings=fake_pipe.settings.model_copy(update={"cors_origins": ["http://localhost:3000"]})
    )
    client = TestClient(create_app(named, with_ui=False), base_url="http://127.0.0.1:8000")
    preflight = client.options(
        "/v1/ask", headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    asked = client.post("/v1/search", json={"query": "fund"}, headers={"Origin": "http://localhost:3000"})
    assert asked.status_code == 200 and asked.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "access-control-allow-credentials" not in asked.headers
    other = client.get("/v1/documents", headers={"Origin": "http://localhost:3001"})
    assert cors_headers(other.headers) == []


def test_rag_cors_origins_is_a_comma_list_of_origins() -> None:
    assert Settings(cors_origins="https://App.example.org, http://localhost:3000").cors_origins == [
        "https://app.example.org",
        "http://localhost:3000",
    ]
    with pytest.raises(ValidationError, match="is not an origin"):
        Settings(cors_origins="https://app.example.org/path")
