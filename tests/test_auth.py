from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from rag import Pipeline, Settings
from rag.api import create_app
from rag.auth import COOKIE, LOGIN_FAILURES, session_key, session_value

from .test_cli import rag


@pytest.fixture
def client(fake_pipe: Pipeline) -> TestClient:
    guarded = fake_pipe.derived(
        settings=fake_pipe.settings.model_copy(update={"api_token": SecretStr("s3cret"), "session_max_age_s": 600})
    )
    return TestClient(create_app(guarded, with_ui=False), follow_redirects=False)


def status_with(client: TestClient, session: str) -> int:
    return client.get("/v1/documents", headers={"Cookie": f"{COOKIE}={session}"}).status_code


def test_a_session_lasts_its_max_age_and_belongs_to_its_token(client: TestClient) -> None:
    now = int(time.time())
    assert status_with(client, session_value(session_key("s3cret"), now)) == 200
    assert status_with(client, session_value(session_key("s3cret"), now - 601)) == 401
    assert status_with(client, session_value(session_key("another token"), now)) == 401
    assert status_with(client, f"{now + 10**6}.forged") == 401


def test_wrong_logins_are_limited_per_minute(client: TestClient) -> None:
    for _ in range(LOGIN_FAILURES):
        assert client.post("/login", data={"token": "guess"}).status_code == 401
    limited = client.post("/login", data={"token": "s3cret"})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "60"


def test_a_blank_token_is_refused_rather_than_leaving_the_service_open() -> None:
    with pytest.raises(ValidationError, match="RAG_API_TOKEN is empty"):
        Settings(api_token=SecretStr("  "))


def test_serving_beyond_this_machine_needs_a_token() -> None:
    done = rag("serve", "--host", "0.0.0.0", env={"RAG_API_TOKEN": ""})
    assert done.returncode == 2 and "RAG_API_TOKEN is empty" in done.stderr
    done = rag("serve", "--host", "0.0.0.0")
    assert done.returncode == 2 and "refusing to serve on 0.0.0.0 without RAG_API_TOKEN" in done.stderr
