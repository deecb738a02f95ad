from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rag import Pipeline, Settings
from rag.serve.app import create_app
from rag.testing import FakeEmbedder

from .scripted_llm import ScriptedLLM, scripted_llm

# Starlette's test client names its host "testserver"; a service bound to loopback answers loopback names only.
os.environ.setdefault("RAG_ALLOWED_HOSTS", '["testserver", "127.0.0.1", "localhost"]')

__all__ = ["FakeEmbedder"]  # tests import it from here

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SERVER_START_S = 60


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of a real LLM run only when asked for by marker (`make test-llm` runs `pytest -m llm`)."""
    if "llm" in (config.option.markexpr or ""):
        return
    chosen = [i for i in items if i.get_closest_marker("llm") is None]
    if len(chosen) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i.get_closest_marker("llm") is not None])
        items[:] = chosen


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "en.txt").write_text(
        "The Silk Road Fund was set up in 2014. It invests in infrastructure along the route.\n\n"
        "The bank approved 20 projects by the end of 2017. Trade grew by 14.8% last year.\n",
        "utf-8",
    )
    (folder / "zh.md").write_text("多边主义面临挑战。中国在2001年加入世界贸易组织。\n\n亚投行于2016年开业。", "utf-8")
    return folder


@pytest.fixture
def settings(tmp_path: Path, corpus: Path, shared_cache: Path) -> Settings:
    return Settings(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=shared_cache, min_language_chunks=1)


@pytest.fixture
def fake_pipe(settings: Settings) -> Pipeline:
    return Pipeline.load(settings, embedder=FakeEmbedder())


@pytest.fixture
def client(fake_pipe: Pipeline) -> Iterator[TestClient]:
    """The API (no UI) over the fake-embedder pipeline, through Starlette's test client."""
    with TestClient(create_app(fake_pipe, with_ui=False)) as c:
        yield c


@pytest.fixture(scope="session")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """The product on its defaults: real bundled model, real seeds, index under index/.

    Under pytest-xdist the workers take turns: one builds a missing index while the others wait and then load it,
    rather than all embedding the seeds at once (the write lock serializes only the commits).
    """
    shared = tmp_path_factory.getbasetemp().parent
    with (shared / "seeds-index.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return Pipeline.load()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    """A scripted OpenAI-compatible endpoint on a free local port."""
    with scripted_llm() as server:
        yield server


@pytest.fixture
def llm_settings(settings: Settings, llm: ScriptedLLM) -> Settings:
    return settings.model_copy(
        update={"composer": "llm", "llm_base_url": llm.base_url, "llm_model": "scripted", "llm_timeout_s": 1.0}
    )


@pytest.fixture
def llm_pipe(llm_settings: Settings) -> Pipeline:
    """The fake-embedder pipeline answering through the scripted endpoint."""
    return Pipeline.load(llm_settings, embedder=FakeEmbedder())


def free_port() -> int:
    """A local port nothing listens on (a stopped endpoint)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app on uvicorn on a free local port, in a thread; its base URL."""
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_S
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Milvus gRPC server (milvus-lite's) on a free local port, for the replica tests; its URI."""
    import subprocess
    import sys

    port = free_port()
    data = tmp_path_factory.mktemp("milvus")
    cmd = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data), "--host", "127.0.0.1"]
    server = subprocess.Popen([*cmd, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + SERVER_START_S
    try:
        while True:
            assert server.poll() is None, f"milvus-lite server exited: {server.stderr.read() if server.stderr else ''}"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "milvus-lite server did not start"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def no_server_errors(operations: list[Any], examples: int = 25) -> None:
    """Call each schemathesis operation with `examples` generated requests; none may get a 5xx."""
    from hypothesis import HealthCheck, given
    from hypothesis import settings as run

    for operation in operations:

        @given(operation.as_strategy())
        @run(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
        def no_5xx(case: Any) -> None:
            response = case.call()
            assert response.status_code < 500, f"{case.method} {case.formatted_path} {case.body!r}: {response.text}"

        no_5xx()
