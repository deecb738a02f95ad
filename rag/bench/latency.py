"""Query latency: `search` and `ask` in-process with a per-stage breakdown, and `ask` over HTTP under load.

The HTTP benchmark starts `rag serve` as its own process on 127.0.0.1, timing its start-up (the port answers,
`/healthz` says ready, the UI is up), drives it with a bounded number of requests from concurrent asyncio clients
at each client count, times the CLI cold and through the server, and stops it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any

import httpx

from rag.bench.common import percentiles
from rag.pipeline import Pipeline
from rag.settings import Settings

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


def _wait(base: str, path: str, server: subprocess.Popen[bytes], t0: float) -> tuple[float, float]:
    """Seconds from t0 until `path` first answers at all, and until it answers 200."""
    first = None
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"rag serve exited: {server.stderr.read().decode()[-500:] if server.stderr else ''}")
        try:
            status = httpx.get(f"{base}{path}", timeout=1).status_code
            first = first or time.perf_counter() - t0
            if status == 200:
                return first, time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        if time.perf_counter() - t0 > STARTUP_LIMIT_S:
            raise RuntimeError(f"rag serve did not answer 200 on {path}")
        time.sleep(0.05)


def _cli_s(args: list[str], env: dict[str, str], runs: int) -> float:
    """Median wall time of a `rag` command."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rag.cli", *args], env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return round(sorted(times)[len(times) // 2], 2)


def bench_http(
    questions: list[str], clients: tuple[int, ...], requests: int, limit_s: float, env: dict[str, str], cli_runs: int
) -> dict[str, Any]:
    """Start `rag serve` and time its start-up (port, ready, UI); load it with each client count; time the CLI.

    The CLI is timed cold (it loads the index itself) and warm (`RAG_SERVER_URL`, through this server).
    """
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "rag.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    full_env = {**os.environ, **env}
    t0 = time.perf_counter()
    server = subprocess.Popen(cmd, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        listening, ready = _wait(base, "/healthz", server, t0)
        _, ui = _wait(base, "/", server, t0)
        loads = {str(n): asyncio.run(_load(base, questions, n, requests, limit_s)) for n in clients}
        ask = ["ask", questions[0]]
        cli = {
            "cold_s": _cli_s(ask, full_env, cli_runs),
            "warm_s": _cli_s(ask, {**full_env, "RAG_SERVER_URL": base}, cli_runs),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)
    startup = {"listening_s": round(listening, 2), "ready_s": round(ready, 2), "ui_s": round(ui, 2)}
    return {"startup": startup, "load": loads, "cli": cli}


def corpus_env(settings: Settings) -> dict[str, str]:
    """Environment for a server over the corpus and index of `settings`, with the embedder that index was built by."""
    return {
        "RAG_CORPUS_DIR": str(settings.corpus_dir),
        "RAG_INDEX_DIR": str(settings.index_dir),
        "RAG_EMBEDDER": settings.embedder,
    }
