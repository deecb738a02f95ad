"""One gate in front of every route: with `RAG_API_TOKEN` set, only `/healthz` and the login page answer without it.

The gate wraps the whole ASGI app (the API, the mounted Gradio UI and the UI's own API under `/gradio_api/`), so a
route added later cannot slip past it. API clients send `Authorization: Bearer <token>`. A browser without it is
sent to `/login` once; the token typed there becomes an HttpOnly session cookie, and the UI's page, assets and
calls then carry it. The cookie holds when it was issued and an HMAC of that under a key stretched from the token
(PBKDF2), never the token: it expires after `session_max_age_s`, every worker process can check it, a change of
token voids it, and a stolen cookie does not make guessing the token offline cheap. `/logout` ends a session.
Failed logins from one address are limited to `LOGIN_FAILURES` a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import defaultdict, deque
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/healthz"})
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
COOKIE = "rag_session"
MAX_LOGIN_BODY = 4096
KEY_SALT = b"rag-bilingual session v2"
KEY_ROUNDS = 200_000
LOGIN_FAILURES = 5
LOGIN_WINDOW_S = 60.0
UNAUTHORIZED = {
    "error": {
        "type": "Unauthorized",
        "message": "missing or wrong bearer token (Authorization: Bearer <RAG_API_TOKEN>), or log in at /login",
    }
}
LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>rag-bilingual · log in</title>
<style>body{{font:16px sans-serif;margin:15vh auto;max-width:22em}}input{{font:inherit;width:100%;margin:.4em 0}}
.bad{{color:#a00}}</style></head><body><h1>Ask the documents · 向文档提问</h1>{message}
<form method="post" action="/login"><label>Access token · 访问令牌
<input type="password" name="token" autofocus required></label><input type="submit" value="Log in · 登录"></form>
</body></html>"""


def session_key(token: str) -> bytes:
    """The key that signs sessions: stretched from the token, so that a cookie is a slow way to guess it."""
    return hashlib.pbkdf2_hmac("sha256", token.encode(), KEY_SALT, KEY_ROUNDS)


def session_value(key: bytes, issued: int) -> str:
    """What the session cookie holds: when it was issued, signed."""
    return f"{issued}.{hmac.new(key, str(issued).encode(), hashlib.sha256).hexdigest()}"


class TokenGate:
    """ASGI middleware: every request but the open paths needs the token, as a bearer header or a session."""

    def __init__(self, app: ASGIApp, token: str | None, session_max_age_s: int = 12 * 3600) -> None:
        self.app = app
        self.token = token
        self.bearer = f"Bearer {token}".encode() if token else b""
        self.key = session_key(token) if token else b""
        self.max_age = session_max_age_s
        self.failures: dict[str, deque[float]] = defaultdict(deque)

    def _session_ok(self, value: str) -> bool:
        issued, _, _ = value.partition(".")
        if not issued.isdigit() or time.time() - int(issued) > self.max_age:
            return False
        return hmac.compare_digest(value.encode(), session_value(self.key, int(issued)).encode())

    def _allowed(self, headers: dict[bytes, bytes]) -> bool:
        if hmac.compare_digest(headers.get(b"authorization", b""), self.bearer):
            return True
        try:
            cookie = SimpleCookie(headers.get(b"cookie", b"").decode("latin-1"))
        except CookieError:
            return False
        morsel = cookie.get(COOKIE)
        return morsel is not None and self._session_ok(morsel.value)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on when it may; answer it here (login, 401, redirect) when not."""
        if self.token is None or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        headers = dict(scope.get("headers") or [])
        if scope["type"] == "http" and path == LOGIN_PATH:
            await self._login(scope, receive, send)
        elif scope["type"] == "http" and path == LOGOUT_PATH:
            ended = f"{COOKIE}=; Max-Age=0; HttpOnly; SameSite=Strict; Path=/".encode()
            await _respond(send, 303, b"", [(b"location", LOGIN_PATH.encode()), (b"set-cookie", ended)])
        elif path in OPEN_PATHS or self._allowed(headers):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        elif scope["method"] == "GET" and b"text/html" in headers.get(b"accept", b""):
            await _respond(send, 303, b"", [(b"location", LOGIN_PATH.encode())])
        else:
            await _respond(send, 401, json.dumps(UNAUTHORIZED).encode(), [(b"content-type", b"application/json")])

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        page = [(b"content-type", b"text/html; charset=utf-8")]
        if scope["method"] != "POST":
            await _respond(send, 200, LOGIN_PAGE.format(message="").encode(), page)
            return
        body = b""
        more = True
        while more and len(body) <= MAX_LOGIN_BODY:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        client = (scope.get("client") or ("?", 0))[0]
        recent = self.failures[client]
        now = time.monotonic()
        while recent and now - recent[0] > LOGIN_WINDOW_S:
            recent.popleft()
        if len(recent) >= LOGIN_FAILURES:
            slow = '<p class="bad">Too many wrong tokens; wait a minute · 错误次数过多，请一分钟后再试</p>'
            await _respond(send, 429, LOGIN_PAGE.format(message=slow).encode(), [*page, (b"retry-after", b"60")])
            return
        given = parse_qs(body[:MAX_LOGIN_BODY].decode("utf-8", "replace")).get("token", [""])[0]
        if self.token is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            secure = "; Secure" if scope.get("scheme") == "https" else ""
            value = session_value(self.key, int(time.time()))
            cookie = f"{COOKIE}={value}; Max-Age={self.max_age}; HttpOnly; SameSite=Strict; Path=/{secure}"
            await _respond(send, 303, b"", [(b"location", b"/"), (b"set-cookie", cookie.encode())])
            return
        recent.append(now)
        wrong = '<p class="bad">Wrong token · 令牌不正确</p>'
        await _respond(send, 401, LOGIN_PAGE.format(message=wrong).encode(), page)


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
