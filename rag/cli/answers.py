"""`rag ask`, `search` and `chat`: answers and passages in the terminal, from the index here or a running server."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from rag.cli.common import (
    AsJson,
    Composer,
    Corpus,
    FilterJson,
    TopK,
    _pipeline,
    _settings,
    app,
)
from rag.errors import RagError
from rag.filters import Filter
from rag.sections import page_label
from rag.settings import Settings


def _where(item: Any) -> str:
    page = f" {page_label(item.doc, item.page)}" if item.page else ""
    section = f" — {item.section}" if item.section else ""
    return f"{item.doc}{page}{section} [{item.start}:{item.end}]"


def _print_answer(answer: Any) -> None:
    """What follows an answer's text in the terminal: reason, warning, confidence and sources."""
    if answer.reason:
        typer.echo(answer.reason)
    if answer.warning:
        typer.echo(f"warning: {answer.warning}", err=True)
    unsupported = [s for s in answer.sentences if not s.supported]
    if unsupported and not answer.abstained:
        typer.echo(f"({len(unsupported)} of {len(answer.sentences)} sentences cite no source)")
    typer.echo(f"(confidence {answer.confidence:.2f}, {answer.composer})")
    label = "Related passages" if answer.abstained else "Sources"
    items = answer.passages[:3] if answer.abstained else answer.citations
    if items:
        typer.echo(f"\n{label}:")
    for i, c in enumerate(items, start=1):
        n = getattr(c, "n", i)
        typer.echo(f"[{n}] {_where(c)} {' '.join(c.text.split())[:200]}")


def _stream_answer(stream: Any) -> Any:
    """Print the text of an `AnswerStream` as it comes (a line `---` where it starts again); the answer at the end."""
    from rag.answer.stream import Delta

    for event in stream:
        if isinstance(event, Delta):
            typer.echo(event.text, nl=False)
        else:
            typer.echo("\n---")
    typer.echo("")
    return stream.answer()


def _remote(settings: Settings, **local_only: Any) -> str | None:
    """The running server to ask (RAG_SERVER_URL), or None to load the index here."""
    if settings.server_url is None:
        return None
    given = [f"--{name}" for name, value in local_only.items() if value is not None]
    if given:
        from rag.errors import InputError

        raise InputError(f"{', '.join(given)} apply to a local index; unset RAG_SERVER_URL to use them")
    return settings.server_url.rstrip("/")


def _token(settings: Settings) -> str | None:
    return settings.api_token.get_secret_value() if settings.api_token is not None else None


@app.command()
def ask(
    question: str,
    corpus: Corpus = None,
    top_k: TopK = None,
    as_json: AsJson = False,
    composer: Composer = None,
    filter_json: FilterJson = None,
) -> None:
    """Answer a question with citations, or say the documents do not answer it.

    With RAG_SERVER_URL set, a running `rag serve` answers (no model or index is loaded here).
    """
    settings = _settings()
    where = Filter.of(filter_json)
    url = _remote(settings, corpus=corpus, composer=composer)
    if url is not None:
        from rag import remote

        stream = remote.ask_stream(url, _token(settings), question, top_k, where)
        if as_json:
            typer.echo(json.dumps(stream.answer().to_dict(), ensure_ascii=False, indent=2))
            return
        _print_answer(_stream_answer(stream))
        return
    pipe = _pipeline(_settings(corpus, composer=composer))
    if as_json:
        typer.echo(json.dumps(pipe.ask(question, top_k, filter=where).to_dict(), ensure_ascii=False, indent=2))
        return
    _print_answer(_stream_answer(pipe.ask_stream(question, top_k, filter=where)))


@app.command()
def search(
    query: str, corpus: Corpus = None, top_k: TopK = None, as_json: AsJson = False, filter_json: FilterJson = None
) -> None:
    """The passages that best match a query, in either language (through RAG_SERVER_URL when it is set)."""
    settings = _settings()
    where = Filter.of(filter_json)
    url = _remote(settings, corpus=corpus)
    if url is not None:
        from rag import remote

        hits = remote.search(url, _token(settings), query, top_k, where)
    else:
        hits = _pipeline(_settings(corpus)).search(query, top_k, where)
    if as_json:
        typer.echo(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
        return
    for i, h in enumerate(hits, start=1):
        typer.echo(f"{i:>2}. {h.score:.4f} {_where(h)} {' '.join(h.text.split())[:160]}")


@app.command()
def chat(corpus: Corpus = None, composer: Composer = None) -> None:
    """Ask questions interactively until end of input; with an LLM, follow-ups may refer to earlier turns."""
    from rag.conversation import Turn

    pipe = _pipeline(_settings(corpus, composer=composer))
    typer.echo("Ask in English or Chinese; Ctrl-D to quit.")
    turns: list[Turn] = []
    for line in sys.stdin:
        if not line.strip():
            continue
        asked = [*turns, Turn("user", line.strip())]
        try:
            answer = _stream_answer(pipe.chat_stream(asked))
        except RagError as exc:
            typer.echo(f"error: {exc}", err=True)
            continue
        turns = [*asked, Turn("assistant", answer.text)]
        if answer.warning:
            typer.echo(f"warning: {answer.warning}", err=True)
        for c in answer.citations:
            typer.echo(f"  [{c.n}] {_where(c)}")
