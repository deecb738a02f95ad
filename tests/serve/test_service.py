"""The service as `rag serve` runs it: the port answers at once, /healthz says loading, then ready, then the UI."""

from __future__ import annotations

import threading

import httpx

from rag import Pipeline, Settings
from rag.serve.app import create_app
from rag.serve.service import Service

from ..conftest import FakeEmbedder, serving


def test_the_port_answers_while_the_index_loads_and_the_ui_follows(settings: Settings) -> None:
    release = threading.Event()

    def slow_load(s: Settings) -> Pipeline:
        release.wait(30)
        return Pipeline.load(s, embedder=FakeEmbedder())

    service = Service(settings)
    app = create_app(service)
    with serving(app) as url:
        done = threading.Event()
        service.load_in_background(slow_load, lambda pipe: (app.state.late_ui.mount(app, pipe), done.set()), print)
        health = httpx.get(f"{url}healthz")
        assert health.status_code == 503 and health.json() == {"ready": False, "status": "loading"}
        busy = httpx.post(f"{url}v1/search", json={"query": "fund"})
        assert busy.status_code == 503 and busy.headers["retry-after"] == "2" and "loading" in busy.text
        page = httpx.get(f"{url}")
        assert page.status_code == 503 and "Loading the index" in page.text
        release.set()
        assert done.wait(120), "the UI was not mounted"
        assert httpx.get(f"{url}healthz").json() == {"ready": True, "status": "ready"}
        assert httpx.post(f"{url}v1/search", json={"query": "fund"}).status_code == 200
        assert httpx.get(f"{url}").status_code == 200
        searched = {"data": ["Silk Road Fund", [], [], []]}  # the query, then no documents, languages or tags chosen
        event = httpx.post(f"{url}gradio_api/call/search", json=searched).json()["event_id"]
        assert "en.txt" in httpx.get(f"{url}gradio_api/call/search/{event}", timeout=30).text


def test_a_failed_load_is_reported_and_stays_unready(settings: Settings) -> None:
    empty = settings.model_copy(update={"corpus_dir": settings.corpus_dir.parent / "nothing-here"})
    service = Service(empty)
    app = create_app(service, with_ui=False)
    failures: list[str] = []
    done = threading.Event()
    with serving(app) as url:
        service.load_in_background(
            lambda s: Pipeline.load(s, embedder=FakeEmbedder()), print, lambda why: (failures.append(why), done.set())
        )
        assert done.wait(60)
        assert "does not exist" in failures[0]
        health = httpx.get(f"{url}healthz")
        assert health.status_code == 503 and health.json()["status"] == "failed"
        assert "failed to load" in httpx.post(f"{url}v1/search", json={"query": "x"}).json()["error"]["message"]
