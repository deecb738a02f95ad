"""Admission counts work, not connections: open browser tabs and slow uploads leave the slots to questions.

Over real sockets, with two slots and a one-second wait for one: on a service where a connection held its slot
for as long as it stayed open, each check below would wait out that second and get 503.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from rag import Pipeline
from rag.serve.app import create_app
from rag.snapshot import DocumentInfo

from ..conftest import serving

SLOTS = {"max_in_flight": 2, "max_queue": 4, "queue_timeout_s": 1.0}
BOUNDARY = "trickle"
TEXT = b"The Silk Road Fund was set up in 2014 to invest along the route. " * 20


def _answers_questions(url: str) -> None:
    status = httpx.get(f"{url}v1/status", timeout=30)
    assert status.status_code == 200, status.text
    ask = httpx.post(f"{url}v1/ask", json={"question": "When was the Silk Road Fund set up?"}, timeout=30)
    assert ask.status_code == 200, ask.text


@contextmanager
def _open_stream(url: str, path: str) -> Iterator[None]:
    """A GET whose response has started and stays open, as a browser tab keeps its heartbeat.

    A raw socket, read no further than the first event: an HTTP client may close a stream it is not reading.
    """
    where = urlsplit(url)
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        reply = b""
        while b"ALIVE" not in reply:
            chunk = sock.recv(4096)
            assert chunk, f"the stream closed: {reply!r}"
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200 "), reply
        yield


def test_open_ui_tabs_hold_no_slot(fake_pipe: Pipeline) -> None:
    pipe = fake_pipe.derived(settings=fake_pipe.settings.model_copy(update=SLOTS))
    with serving(create_app(pipe)) as url, ExitStack() as tabs:
        for tab in ("one", "two", "three"):
            tabs.enter_context(_open_stream(url, f"/gradio_api/heartbeat/{tab}"))
        _answers_questions(url)
        assert httpx.get(url, timeout=30).status_code == 200  # a further tab loads


def _multipart_head(name: str, size: int) -> tuple[bytes, bytes]:
    """The request head and the opening of the body of an upload whose file is `size` bytes."""
    opening = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    closing = f"\r\n--{BOUNDARY}--\r\n".encode()
    head = (
        "POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(opening) + size + len(closing)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return head + opening, closing


def _status_line(sock: socket.socket) -> bytes:
    reply = b""
    while b"\r\n" not in reply:
        chunk = sock.recv(4096)
        assert chunk, "the server closed the connection without an answer"
        reply += chunk
    return reply.split(b"\r\n", 1)[0]


def test_uploads_still_arriving_hold_no_slot_and_take_one_once_they_have(fake_pipe: Pipeline) -> None:
    pipe = fake_pipe.derived(settings=fake_pipe.settings.model_copy(update=SLOTS))
    with serving(create_app(pipe, with_ui=False)) as url:
        where = urlsplit(url)
        uploads = []
        for i in range(3):
            head, closing = _multipart_head(f"slow{i}.txt", len(TEXT))
            sock = socket.create_connection((where.hostname, where.port), timeout=30)
            sock.sendall(head + TEXT[: len(TEXT) // 2])  # half the file, then nothing for now
            uploads.append((sock, closing))
        try:
            _answers_questions(url)
            for sock, closing in uploads:
                sock.sendall(TEXT[len(TEXT) // 2 :] + closing)
            assert [_status_line(sock) for sock, _ in uploads] == [b"HTTP/1.1 201 Created"] * 3
        finally:
            for sock, _ in uploads:
                sock.close()
        names = {d["name"] for d in httpx.get(f"{url}v1/documents", timeout=30).json()}
        assert {"slow0.txt", "slow1.txt", "slow2.txt"} <= names


def test_a_busy_upload_gets_503_with_retry_after_once_its_body_is_in(
    fake_pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipe = fake_pipe.derived(settings=fake_pipe.settings.model_copy(update=SLOTS | {"max_in_flight": 1}))
    entered, leave = threading.Event(), threading.Event()
    real_add = Pipeline.add_document

    def held_add(self: Pipeline, data: bytes, name: str, **labels: Any) -> tuple[DocumentInfo, bool]:
        entered.set()
        assert leave.wait(30)
        return real_add(self, data, name, **labels)

    monkeypatch.setattr(Pipeline, "add_document", held_add)
    with serving(create_app(pipe, with_ui=False)) as url:
        upload = f"{url}v1/documents"
        first = threading.Thread(
            target=httpx.post, args=(upload,), kwargs={"files": {"file": ("first.txt", TEXT)}, "timeout": 30}
        )
        first.start()
        try:
            assert entered.wait(30)
            busy = httpx.post(upload, files={"file": ("second.txt", TEXT)}, timeout=30)
        finally:
            leave.set()
            first.join(30)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert busy.json()["error"]["type"] == "BusyError"
