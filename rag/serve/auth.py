"""One gate in front of every route: with `RAG_API_TOKEN` set, only `/healthz` and the login page answer without it.

The gate wraps the whole ASGI app (the API, the mounted Gradio UI and the UI's own API under `/gradio_api/`), so a
route added later cannot slip past it. API clients send `Authorization: Bearer <token>`. A browser without it is
sent to `/login` once; the token typed there opens a session, whose random id becomes an HttpOnly cookie that the
UI's page, assets and calls then carry. Sessions are kept here, in the serving process (`rag serve` runs one):
`/logout` and expiry end a session for every copy of its cookie, and a restart ends them all. The cookie is named
after the port, so that two services on one host keep their sessions apart.

Wrong credentials (bearer tokens and logins) from one address are limited to `max_failures` a window; past that
they get 429 with `Retry-After`. The right token is checked first and always passes, so a guesser on the same
address (or behind the same proxy) never locks out the owner.
"""

from __future__ import annotations

import hmac
import json
import math
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/healthz"})
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
COOKIE_PREFIX = "rag_session_"
# Over HTTPS the browser then refuses the cookie unless it is Secure, host-only and for the whole path.
HOST_PREFIX = "__Host-"
MAX_LOGIN_BODY = 4096
SESSION_ID_BYTES = 32
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


def cookie_name(scope: Scope) -> str:
    """The session cookie's name for the server this request reached: one per port, `__Host-` over HTTPS."""
    port = (scope.get("server") or ("", 0))[1]
    prefix = HOST_PREFIX if scope.get("scheme") in ("https", "wss") else ""
    return f"{prefix}{COOKIE_PREFIX}{port}"


class Sessions:
    """Open sessions: a random id each, valid until it expires or is ended."""

    def __init__(self, max_age_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age_s
        self.clock = clock
        self.expiry: dict[str, float] = {}

    def open(self) -> str:
        """A new session's id; expired ones are forgotten on the way."""
        now = self.clock()
        self.expiry = {sid: until for sid, until in self.expiry.items() if until > now}
        sid = secrets.token_urlsafe(SESSION_ID_BYTES)
        self.expiry[sid] = now + self.max_age
        return sid

    def valid(self, sid: str) -> bool:
        """Whether `sid` names an open session that has not expired."""
        until = self.expiry.get(sid)
        if until is None:
            return False
        if until <= self.clock():
            del self.expiry[sid]
            return False
        return True

    def end(self, sid: str) -> None:
        """End a session: its cookie, wherever copied, no longer opens anything."""
        self.expiry.pop(sid, None)


class FailureLimit:
    """Wrong credentials per client address: at most `max_failures` in any `window_s` seconds."""

    def __init__(self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window_s
        self.clock = clock
        self.failures: dict[str, deque[float]] = defaultdict(deque)
        self.swept = clock()

    def retry_after(self, client: str) -> int | None:
        """Seconds until `client` may try a credential again, or None when it may now."""
        now = self.clock()
        recent = self.failures.get(client)
        if recent is None:
            return None
        while recent and now - recent[0] >= self.window:
            recent.popleft()
        if not recent:
            del self.failures[client]
            return None
        if len(recent) < self.max_failures:
            return None
        return max(1, math.ceil(self.window - (now - recent[0])))

    def record(self, client: str) -> None:
        """Count one wrong credential from `client`."""
        now = self.clock()
        # Addresses that stopped guessing are dropped once a window, so that many addresses cannot grow the map.
        if now - self.swept >= self.window:
            self.failures = defaultdict(
                deque, {c: d for c, d in self.failures.items() if d and now - d[-1] < self.window}
            )
            self.swept = now
        self.failures[client].append(now)


class TokenGate:
    """ASGI middleware: every request but the open paths needs the token, as a bearer header or a session."""

    def __init__(
        self,
        app: ASGIApp,
        token: str | None,
        *,
        session_max_age_s: int,
        max_failures: int,
        failure_window_s: float,
    ) -> None:
        self.app = app
        self.token = token
        self.bearer = f"Bearer {token}".encode() if token else b""
        self.max_age = session_max_age_s
        self.sessions = Sessions(session_max_age_s)
        self.limit = FailureLimit(max_failures, failure_window_s)

    def _session(self, scope: Scope, headers: dict[bytes, bytes]) -> str | None:
        """The id in the request's session cookie, whatever it holds; None without one."""
        try:
            cookie = SimpleCookie(headers.get(b"cookie", b"").decode("latin-1"))
        except CookieError:
            return None
        morsel = cookie.get(cookie_name(scope))
        return None if morsel is None else morsel.value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on when it may; answer it here (login, 401, 429, redirect) when not."""
        if self.token is None or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        headers = dict(scope.get("headers") or [])
        authorization = headers.get(b"authorization")
        sid = self._session(scope, headers)
        if scope["type"] == "http" and path == LOGIN_PATH:
            await self._login(scope, receive, send)
        elif scope["type"] == "http" and path == LOGOUT_PATH:
            if sid is not None:
                self.sessions.end(sid)
            ended = f"{cookie_name(scope)}=; Max-Age=0; HttpOnly; SameSite=Strict; Path=/{_secure(scope)}"
            await _respond(send, 303, b"", [(b"location", LOGIN_PATH.encode()), (b"set-cookie", ended.encode())])
        elif (
            path in OPEN_PATHS
            or (authorization is not None and hmac.compare_digest(authorization, self.bearer))
            or (sid is not None and self.sessions.valid(sid))
        ):
            await self.app(scope, receive, send)
        elif authorization is not None and await self._limited(scope, send):
            return
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        elif scope["method"] == "GET" and b"text/html" in headers.get(b"accept", b""):
            await _respond(send, 303, b"", [(b"location", LOGIN_PATH.encode())])
        else:
            await _respond(send, 401, json.dumps(UNAUTHORIZED).encode(), [(b"content-type", b"application/json")])

    async def _limited(self, scope: Scope, send: Send) -> bool:
        """For a wrong bearer token: answer 429 if its address is over the limit, else count it (and say no)."""
        client = _client(scope)
        wait = self.limit.retry_after(client)
        if wait is None:
            self.limit.record(client)
            return False
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return True
        body = {
            "error": {
                "type": "TooManyFailures",
                "message": f"too many wrong tokens from this address; try again in {wait} s",
            }
        }
        head = [(b"content-type", b"application/json"), (b"retry-after", str(wait).encode())]
        await _respond(send, 429, json.dumps(body).encode(), head)
        return True

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
        given = parse_qs(body[:MAX_LOGIN_BODY].decode("utf-8", "replace")).get("token", [""])[0]
        if self.token is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            cookie = (
                f"{cookie_name(scope)}={self.sessions.open()}; Max-Age={self.max_age}; HttpOnly; SameSite=Strict; "
                f"Path=/{_secure(scope)}"
            )
            await _respond(send, 303, b"", [(b"location", b"/"), (b"set-cookie", cookie.encode())])
            return
        client = _client(scope)
        wait = self.limit.retry_after(client)
        if wait is not None:
            slow = f'<p class="bad">Too many wrong tokens; wait {wait} s · 错误次数过多，请 {wait} 秒后再试</p>'
            await _respond(send, 429, LOGIN_PAGE.format(message=slow).encode(), [*page, (b"retry-after", b"%d" % wait)])
            return
        self.limit.record(client)
        wrong = '<p class="bad">Wrong token · 令牌不正确</p>'
        await _respond(send, 401, LOGIN_PAGE.format(message=wrong).encode(), page)


def _client(scope: Scope) -> str:
    return str((scope.get("client") or ("?", 0))[0])


def _secure(scope: Scope) -> str:
    return "; Secure" if scope.get("scheme") in ("https", "wss") else ""


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
