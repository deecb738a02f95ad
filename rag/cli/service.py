"""`rag serve` and `rag bench`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rag.cli.common import (
    EXIT_USER_ERROR,
    Corpus,
    _settings,
    app,
)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    corpus: Corpus = None,
) -> None:
    """Serve the HTTP API under /v1 and the chat UI at /.

    The port answers at once: /healthz says `loading` (503) until the index is synced and loaded, then `ready`;
    the UI follows a few seconds later.
    """
    import uvicorn

    from rag.errors import InputError
    from rag.pipeline import Pipeline, warm_up_chinese
    from rag.serve.app import create_app
    from rag.serve.browser_guard import is_loopback
    from rag.serve.service import Service

    settings = _settings(corpus, host=host, port=port)
    if settings.api_token is None and not is_loopback(settings.host):
        raise InputError(
            f"refusing to serve on {settings.host} without RAG_API_TOKEN: anyone who can reach it could read and "
            "change the documents. Set RAG_API_TOKEN, or serve on 127.0.0.1 behind a proxy that authenticates"
        )
    service = Service(settings)
    web = create_app(service)
    server = uvicorn.Server(uvicorn.Config(web, host=settings.host, port=settings.port, log_level="warning"))
    url = f"http://{settings.host}:{settings.port}/"

    def ready(pipe: Any) -> None:
        typer.echo(f"ready: answering on {url} (API docs at /docs); the UI is loading")
        web.state.late_ui.mount(web, pipe)
        typer.echo(f"UI ready at {url}")
        warm_up_chinese()

    def failed(why: str) -> None:
        typer.echo(f"error: {why}", err=True)
        server.should_exit = True

    service.load_in_background(lambda s: Pipeline.load(s, sync=True), ready, failed)
    typer.echo(f"listening on {url}; loading the index (/healthz says when it is ready)")
    server.run()
    if service.failure is not None:
        raise typer.Exit(EXIT_USER_ERROR)


@app.command()
def bench(
    quick: Annotated[bool, typer.Option(help="A small run (under 2 minutes) that checks the benchmark code.")] = False,
    out: Annotated[Path, typer.Option(help="Where results go.")] = Path("bench/results"),
    dataset: Annotated[Path, typer.Option(help="Questions to cycle.")] = Path("eval/datasets/seeds.jsonl"),
) -> None:
    """Benchmark build, latency, HTTP throughput, index types at scale, and the LangChain recipe."""
    import tempfile

    from rag.bench.run import FULL, QUICK, run

    with tempfile.TemporaryDirectory(prefix="rag-bench-") as work:
        run(QUICK if quick else FULL, out, dataset, Path(work))
    typer.echo(f"results in {out}/ ({'quick.md' if quick else 'README.md'} and the run's JSON)")
