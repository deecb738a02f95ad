"""Overload on /v1/ask: `locust -f bench/locustfile.py --headless -u 100 -r 100 -t 30s --host http://127.0.0.1:8000`.

Each user asks the seed questions in turn with no pause, far more than two cores serve. With back-pressure
(`RAG_MAX_IN_FLIGHT`, `RAG_QUEUE_TIMEOUT_S`) the excess gets 503 with Retry-After, counted here as expected,
and the answers that are served stay fast. Run it against a local server only.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from locust import HttpUser, task

QUESTIONS = [
    json.loads(line)["question"]
    for line in (Path(__file__).resolve().parent.parent / "eval/datasets/seeds.jsonl").read_text("utf-8").splitlines()
    if line.strip()
]


class Asker(HttpUser):
    """Asks one question after another."""

    def on_start(self) -> None:
        """Each user starts at its own place in the question list."""
        self.questions = itertools.cycle(QUESTIONS[id(self) % len(QUESTIONS) :] + QUESTIONS)

    @task
    def ask(self) -> None:
        """One question; a 503 is back-pressure doing its job, not a failure."""
        with self.client.post("/v1/ask", json={"question": next(self.questions)}, catch_response=True) as r:
            if r.status_code == 503 and r.headers.get("retry-after"):
                r.request_meta["name"] = "/v1/ask 503 busy"  # apart from the answers' latency
                r.success()
