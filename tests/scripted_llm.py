"""A scripted OpenAI-compatible chat server on a free local port: real HTTP, replies chosen by the test.

It speaks the two forms the pipeline's client uses: a plain chat completion, and a streamed one (server-sent
`chat.completion.chunk` events ending with `[DONE]`). A test sets `reply` to a function of the request body that
returns a `Reply`; the server records every request body it was sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SOURCE_LINE = re.compile(r"^sentence \[(\d+)\]: (.*)$", re.M)


@dataclass
class Reply:
    """What the server answers: `text` (streamed in `pieces` when asked to stream), or a fault."""

    text: str = ""
    pieces: list[str] | None = None
    delay_s: float = 0.0  # before the reply starts
    piece_delay_s: float = 0.0  # between streamed pieces
    status: int = 200
    raw: bytes | None = None  # a body that is not a chat completion
    drop_after: int | None = None  # close the stream after this many pieces


def sources_of(body: dict[str, Any]) -> dict[int, str]:
    """The numbered source sentences in a request's prompt."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    return {int(n): text for n, text in SOURCE_LINE.findall(user)}


def quote_first_source(body: dict[str, Any]) -> Reply:
    """The default script: the first source quoted, cited as [1]."""
    sources = sources_of(body)
    return Reply(f"{sources[1]} [1]" if sources else "The documents do not say.")


@dataclass
class ScriptedLLM:
    """The server's state: the script and what it was sent."""

    reply: Callable[[dict[str, Any]], Reply] = quote_first_source
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    @property
    def base_url(self) -> str:
        """What RAG_LLM_BASE_URL is set to."""
        return f"http://127.0.0.1:{self.port}/v1"

    def replies(self, *replies: Reply) -> None:
        """Answer the next requests with these replies in turn (the last one from then on)."""
        queue = list(replies)

        def next_reply(body: dict[str, Any]) -> Reply:
            return queue.pop(0) if len(queue) > 1 else queue[0]

        self.reply = next_reply

    def answering(self) -> list[dict[str, Any]]:
        """The requests that asked for an answer (not a follow-up rewrite)."""
        return [r for r in self.requests if any("<<<SOURCES>>>" in m["content"] for m in r["messages"])]


def _handler(llm: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._send(200, json.dumps({"object": "list", "data": [{"id": "scripted", "object": "model"}]}).encode())

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            llm.requests.append(body)
            reply = llm.reply(body)
            time.sleep(reply.delay_s)
            if reply.status != 200:
                self._send(reply.status, json.dumps({"error": {"message": "scripted failure"}}).encode())
            elif reply.raw is not None:
                self._send(200, reply.raw)
            elif body.get("stream"):
                self._stream(reply)
            else:
                message = {"role": "assistant", "content": reply.text}
                done = {
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "scripted"),
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
                self._send(200, json.dumps(done).encode())

        def _stream(self, reply: Reply) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            pieces = reply.pieces if reply.pieces is not None else re.findall(r"\S+\s*|\s+", reply.text)
            for i, piece in enumerate(pieces):
                if reply.drop_after is not None and i == reply.drop_after:
                    self.wfile.flush()
                    self.connection.close()
                    return
                delta = {"content": piece} | ({"role": "assistant"} if i == 0 else {})
                chunk = {
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "scripted",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                time.sleep(reply.piece_delay_s)
            end = {
                "id": "chatcmpl-scripted",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "scripted",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
            self.wfile.flush()
            self.close_connection = True

    return Handler


@contextmanager
def scripted_llm() -> Iterator[ScriptedLLM]:
    """A running scripted server; stopped on exit."""
    llm = ScriptedLLM()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(llm))
    server.daemon_threads = True
    llm.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield llm
    finally:
        server.shutdown()
        server.server_close()
