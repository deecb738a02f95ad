from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from rag import Pipeline, Settings
from rag.serve.app import create_app
from rag.serve.auth import FailureLimit, Sessions

from ..test_cli import rag


@pytest.fixture
def client(fake_pipe: Pipeline) -> TestClient:
    guarded = fake_pipe.derived(
        settings=fake_pipe.settings.model_copy(update={"api_token": SecretStr("s3cret"), "session_max_age_s": 600})
    )
    return TestClient(create_app(guarded, with_ui=False), follow_redirects=False)


LIMIT = Settings().max_auth_failures


def login(client: TestClient) -> str:
    """Log in with the right token; the session cookie's `name=value`."""
    done = client.post("/login", data={"token": "s3cret"})
    assert done.status_code == 303
    return done.headers["set-cookie"].split(";")[0]


def status_with(client: TestClient, cookie: str) -> int:
    client.cookies.clear()
    return client.get("/v1/documents", headers={"Cookie": cookie}).status_code


def test_a_session_is_a_random_id_named_after_the_port(client: TestClient) -> None:
    cookie = login(client)
    name, _, sid = cookie.partition("=")
    assert name == "rag_session_80" and len(sid) >= 40 and sid != login(client).partition("=")[2]
    assert status_with(client, cookie) == 200
    assert status_with(client, f"rag_session_8001={sid}") == 401  # another port's service: another cookie


def test_logout_ends_the_session_for_every_copy_of_its_cookie(client: TestClient) -> None:
    cookie, other = login(client), login(client)
    client.cookies.clear()
    assert client.get("/logout", headers={"Cookie": cookie}).status_code == 303
    assert status_with(client, cookie) == 401
    assert status_with(client, other) == 200  # another browser's session stays open


def test_a_session_expires_and_is_forgotten() -> None:
    now = [1000.0]
    sessions = Sessions(600, clock=lambda: now[0])
    sid = sessions.open()
    assert sessions.valid(sid) and not sessions.valid(sid + "x")
    now[0] += 601
    assert not sessions.valid(sid)
    sessions.open()
    assert sid not in sessions.expiry and len(sessions.expiry) == 1


# A quoted value's octal escape is unquoted by the cookie parser: "\262" is "²", a digit to str.isdigit that
# int() refuses; 5,000 digits are past int()'s limit. Both were 500s when the cookie held its issue time.
MALFORMED = ["\xb2", '"\\262.abc"', "1" * 5000, '"\\x"', "%ff", f"{int(time.time())}.forged"]


@pytest.mark.parametrize(
    "value", MALFORMED, ids=["latin1-digit", "octal-digit", "5000-digits", "bad-escape", "percent", "old-format"]
)
def test_a_malformed_session_cookie_gets_401(client: TestClient, value: str) -> None:
    client.cookies.clear()
    cookie = f"rag_session_80={value}; rag_session={value}".encode("latin-1")
    r = client.get("/v1/documents", headers={"Cookie": cookie})
    assert r.status_code == 401 and r.json()["error"]["type"] == "Unauthorized"


def test_wrong_bearer_tokens_are_limited_but_the_right_one_always_passes(client: TestClient) -> None:
    wrong = {"Authorization": "Bearer guess"}
    codes = [client.get("/v1/documents", headers=wrong).status_code for _ in range(300)]
    assert codes[:LIMIT] == [401] * LIMIT and set(codes[LIMIT:]) == {429}
    limited = client.get("/v1/documents", headers=wrong)
    assert 1 <= int(limited.headers["retry-after"]) <= 60 and "try again" in limited.json()["error"]["message"]
    assert client.get("/v1/documents", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.post("/login", data={"token": "s3cret"}).status_code == 303  # one budget, never the owner's


def test_wrong_logins_are_limited_but_the_right_token_still_logs_in(client: TestClient) -> None:
    for _ in range(LIMIT):
        assert client.post("/login", data={"token": "guess"}).status_code == 401
    limited = client.post("/login", data={"token": "guess"})
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
    assert client.get("/v1/documents", headers={"Authorization": "Bearer guess"}).status_code == 429
    assert client.post("/login", data={"token": "s3cret"}).status_code == 303


def test_failures_leave_the_window_and_idle_addresses_are_dropped() -> None:
    now = [0.0]
    limit = FailureLimit(2, 60.0, clock=lambda: now[0])
    limit.record("a")
    limit.record("idle")
    assert limit.retry_after("a") is None
    limit.record("a")
    now[0] = 15.0
    assert limit.retry_after("a") == 45 and limit.retry_after("b") is None
    now[0] = 61.0
    assert limit.retry_after("a") is None
    limit.record("b")
    assert set(limit.failures) == {"b"}  # "idle" never came back: swept with the window


def test_a_blank_token_is_refused_rather_than_leaving_the_service_open() -> None:
    with pytest.raises(ValidationError, match="RAG_API_TOKEN is empty"):
        Settings(api_token=SecretStr("  "))


def test_serving_beyond_this_machine_needs_a_token() -> None:
    done = rag("serve", "--host", "0.0.0.0", env={"RAG_API_TOKEN": ""})
    assert done.returncode == 2 and "RAG_API_TOKEN is empty" in done.stderr
    done = rag("serve", "--host", "0.0.0.0")
    assert done.returncode == 2 and "refusing to serve on 0.0.0.0 without RAG_API_TOKEN" in done.stderr
