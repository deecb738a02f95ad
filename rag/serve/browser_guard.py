"""What a hostile web page could make a visitor's browser do to this service, and the checks that stop it.

- DNS rebinding: a page on `evil.example` whose name is made to resolve to 127.0.0.1 talks to a service bound to
  loopback as if it were its own origin. Requests must name this service in their `Host` (`allowed_hosts`).
- Cross-site writes: a form on another site may POST an upload or a delete (multipart needs no preflight). A
  request that changes something and comes from a page of another origin (its `Origin` header) is refused.
- Cross-origin reads (CORS): another origin's page may read a response only if `RAG_CORS_ORIGINS` names that
  origin, and never with the browser's cookies. Every `Access-Control-*` header a route sets (Gradio answers any
  localhost origin, with credentials) is dropped here, and a preflight from an origin not named gets 403. Pages on
  another port of the same host are other origins, though the browser sends them this service's cookies.
- What rendered content may do: documents and LLM answers are untrusted text. The security headers keep images
  to this origin (so a planted `<img>` or Markdown image cannot carry data away) and the pages out of frames.
"""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CORS_PREFIX = b"access-control-"
CORS_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_HEADERS = b"authorization, content-type"
CORS_MAX_AGE_S = b"600"
SECURITY_HEADERS = [
    (b"content-security-policy", b"img-src 'self' data: blob:; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


def is_loopback(host: str) -> bool:
    """Whether a bind address or host name is this machine only."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind_host: str, configured: list[str]) -> frozenset[str] | None:
    """The host names requests may name: the configured ones, else loopback's when bound to loopback.

    None means any: a service bound to a public address is reached by names it cannot know, and must have a
    token (`rag serve` refuses otherwise).
    """
    if configured:
        return frozenset(h.lower() for h in [*configured, bind_host])
    if is_loopback(bind_host):
        return frozenset({*LOOPBACK_NAMES, bind_host})
    return None


def _host_name(value: str) -> str:
    """`example.org:8000` → `example.org`, `[::1]:8000` → `::1`."""
    return (urlsplit(f"//{value}").hostname or "").lower()


class BrowserGuard:
    """ASGI middleware: trusted `Host`, same-origin writes, CORS for named origins only, security headers."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str] | None, cors_origins: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts
        self.cors_origins = cors_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a request from a foreign host or origin; otherwise pass it on and add the headers."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        if self.hosts is not None and _host_name(host) not in self.hosts:
            await _refuse(scope, send, f"host {host!r} is not served here; add it to RAG_ALLOWED_HOSTS")
            return
        origin = headers.get(b"origin", b"").decode("latin-1")
        # "null" is what a sandboxed frame or a local file sends: as foreign as any other site.
        foreign = bool(origin) and urlsplit(origin).netloc.lower() != host.lower()
        # CORS covers HTTP only: a websocket from another origin is refused whatever RAG_CORS_ORIGINS says.
        shared = foreign and scope["type"] == "http" and origin.lower() in self.cors_origins
        preflight = scope["type"] == "http" and scope["method"] == "OPTIONS"
        if foreign and preflight and b"access-control-request-method" in headers:
            await self._preflight(scope, send, origin, shared)
            return
        changes = scope["type"] == "websocket" or scope["method"] in UNSAFE_METHODS
        if changes and foreign and not shared:
            await _refuse(scope, send, f"requests from pages of {origin} may not change anything here")
            return
        cors = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")] if shared else []

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if not k.lower().startswith(CORS_PREFIX)]
                message["headers"] = [*kept, *cors, *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)

    async def _preflight(self, scope: Scope, send: Send, origin: str, shared: bool) -> None:
        """Answer a CORS preflight here, before the token gate: browsers send it without credentials."""
        if not shared:
            await _refuse(scope, send, f"pages of {origin} may not call this service; add it to RAG_CORS_ORIGINS")
            return
        allow = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", CORS_METHODS),
            (b"access-control-allow-headers", CORS_HEADERS),
            (b"access-control-max-age", CORS_MAX_AGE_S),
            (b"vary", b"Origin"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": [*allow, *SECURITY_HEADERS]})
        await send({"type": "http.response.body", "body": b""})


async def _refuse(scope: Scope, send: Send, message: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"error": {"type": "Forbidden", "message": message}}).encode()
    await send({"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
