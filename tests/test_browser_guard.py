from __future__ import annotations

from fastapi.testclient import TestClient

from rag import Pipeline
from rag.api import create_app
from rag.browser_guard import allowed_hosts


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
