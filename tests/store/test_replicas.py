"""Two replicas of the service over one Milvus server: what is written through either is answered by both."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from rag import Pipeline, Settings
from rag.serve.app import create_app

from ..conftest import FakeEmbedder

PORTS = b"The port of Piraeus handled 5 million containers in 2019 after the investment."
WAIT_S = 10.0


def eventually(check: Callable[[], bool]) -> bool:
    """Whether `check` holds within WAIT_S (a replica asks Milvus for the generation about once a second)."""
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_a_write_through_either_replica_is_answered_by_both(settings: Settings, milvus_server: str) -> None:
    shared = settings.model_copy(
        update={"vector_store": "milvus", "milvus_uri": milvus_server, "milvus_collection": "replicas"}
    )
    first = Pipeline.load(shared, embedder=FakeEmbedder())
    # The second replica has a folder of its own and keeps nothing in it: everything comes from the server.
    second = Pipeline.load(
        shared.model_copy(update={"index_dir": settings.index_dir.parent / "replica-2"}), embedder=FakeEmbedder()
    )
    assert not (settings.index_dir.parent / "replica-2").exists()
    a, b = (TestClient(create_app(p, with_ui=False)) for p in (first, second))
    question = {"question": "How many containers did the port of Piraeus handle?"}

    def cited(client: TestClient) -> set[str]:
        return {c["doc"] for c in client.post("/v1/ask", json=question).json()["citations"]}

    assert a.post("/v1/documents", files={"file": ("ports.txt", PORTS, "text/plain")}).status_code == 201
    assert "ports.txt" in cited(a)
    assert eventually(lambda: "ports.txt" in cited(b))
    assert {d["name"] for d in b.get("/v1/documents").json()} == {"en.txt", "zh.md", "ports.txt"}
    assert b.delete("/v1/documents/ports.txt").status_code == 200
    assert "ports.txt" not in cited(b)
    assert eventually(lambda: "ports.txt" not in cited(a))
    for q in ("When was the Silk Road Fund set up?", "亚投行是哪一年开业的？", question["question"]):
        assert _same(a, b, q), q


def _same(a: TestClient, b: TestClient, question: str) -> bool:
    answers = [c.post("/v1/ask", json={"question": question}).json() for c in (a, b)]
    for answer in answers:
        answer.pop("timings_ms")
    return answers[0] == answers[1]
