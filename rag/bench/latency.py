"""Query latency: `search` and `ask` in-process with a per-stage breakdown, and `ask` over HTTP with 8 clients.

The HTTP benchmark starts `rag serve` as its own process on 127.0.0.1 (timing its start-up), drives it with
a bounded number of requests from concurrent asyncio clients, and stops it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from rag.bench.common import percentiles
from rag.pipeline import Pipeline

STARTUP_LIMIT_S = 120.0


def bench_queries(pipe: Pipeline, questions: list[str], n: int) -> dict[str, Any]:
    """Single-threaded `search` and `ask` latency over `n` questions (cycled), with where the time goes."""
    cycled = [questions[i % len(questions)] for i in range(n)]
    pipe.ask(cycled[0])  # first call warms caches; not counted
    search_ms: list[float] = []
    ask_ms: list[float] = []
    stages: dict[str, list[float]] = defaultdict(list)
    for q in cycled:
        t0 = time.perf_counter()
        retrieval = pipe.retrieve(q)
        search_ms.append((time.perf_counter() - t0) * 1e3)
        for name, ms in retrieval.timings_ms.items():
            stages[name].append(ms)
        _, timings = pipe.ask_timed(q)
        ask_ms.append(timings["total"])
        stages["compose"].append(timings["compose"])
    return {
        "search_ms": percentiles(search_ms),
        "ask_ms": percentiles(ask_ms),
        "stages_ms": {k: percentiles(v) for k, v in stages.items()},
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _load(base: str, questions: list[str], clients: int, requests: int, limit_s: float) -> dict[str, Any]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(questions[i % len(questions)])
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + limit_s

    async def client(http: httpx.AsyncClient) -> None:
        while not queue.empty() and time.monotonic() < deadline:
            q = queue.get_nowait()
            t0 = time.perf_counter()
            try:
                r = await http.post(f"{base}/v1/ask", json={"question": q})
                if r.status_code != 200:
                    errors.append(f"HTTP {r.status_code}")
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
            latencies.append((time.perf_counter() - t0) * 1e3)

    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    wall = time.perf_counter() - t0
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "throughput_rps": round(len(latencies) / wall, 2),
        "latency_ms": percentiles(latencies),
    }


def bench_http(
    questions: list[str], clients: int, requests: int, limit_s: float, env: dict[str, str]
) -> dict[str, Any]:
    """Start `rag serve`, time its start-up, load it with `clients` concurrent clients, stop it."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "rag.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    t0 = time.perf_counter()
    server = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"rag serve exited: {server.stderr.read().decode()[-500:] if server.stderr else ''}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - t0 > STARTUP_LIMIT_S:
                raise RuntimeError("rag serve did not become ready")
            time.sleep(0.05)
        startup = time.perf_counter() - t0
        result = asyncio.run(_load(base, questions, clients, requests, limit_s))
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"startup_s": round(startup, 2), **result}


def corpus_env(corpus: Path, index: Path) -> dict[str, str]:
    """Environment for a server over a given corpus and index."""
    return {"RAG_CORPUS_DIR": str(corpus), "RAG_INDEX_DIR": str(index)}
