"""`rag index`, `add`, `remove`, `migrate` and `documents`: the commands that build and change the collection."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from rag.cli.common import (
    EXIT_USER_ERROR,
    AsJson,
    Corpus,
    Names,
    Paths,
    _collection,
    _report,
    _settings,
    app,
)


@app.command()
def index(
    corpus: Corpus = None,
    rebuild: Annotated[bool, typer.Option(help="Re-chunk and re-embed every document.")] = False,
    yes: Annotated[
        bool,
        typer.Option("--yes", help="With --rebuild of a damaged catalog: set it aside without asking (for scripts)."),
    ] = False,
) -> None:
    """Sync the index with the corpus folder: add new files, replace changed ones, delete vanished ones.

    Only what changed is embedded. Documents added with `rag add` or uploaded stay; a rebuild re-embeds them from
    their stored text. Should the catalog be damaged, `--rebuild` says which documents setting it aside would
    drop, and asks.
    """
    from rag.collection import Collection
    from rag.embedding import load_embedder
    from rag.offline import force_offline, install_tiktoken_encodings

    settings = _settings(corpus)
    force_offline()
    install_tiktoken_encodings(settings.cache_dir / "tiktoken")
    collection = Collection(settings, load_embedder(settings))
    folder = settings.corpus_dir if settings.corpus_dir.is_dir() else None
    damage = collection.damage(folder) if rebuild else None
    if damage is not None:
        typer.echo(damage.warning(str(settings.index_dir)), err=True)
        if not yes and not sys.stdin.isatty():
            typer.echo("error: not set aside; run again with --yes to go ahead", err=True)
            raise typer.Exit(EXIT_USER_ERROR)
        if not yes and not typer.confirm("Set it aside and rebuild?", default=False, err=True):
            raise typer.Exit(EXIT_USER_ERROR)
        report = collection.rebuild(folder, set_aside_damaged=True)
    elif rebuild or collection.stale() is not None:
        report = collection.rebuild(folder)
    else:
        report = collection.sync(settings.corpus_dir)
    _report(report)
    snap = collection.snapshot()
    typer.echo(
        f"index ready: {len(snap.infos)} documents, {len(snap.chunks)} chunks, {len(snap.sentences)} sentences"
        f" at {settings.index_dir}"
    )


@app.command()
def add(
    paths: Paths,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="A tag for filters to select by (repeat for more).")
    ] = None,
    meta: Annotated[
        str | None, typer.Option("--meta", help='Metadata for filters, a JSON object: {"year": 2024, "team": "hr"}.')
    ] = None,
) -> None:
    """Add files to the index, or replace the documents of the same name; only these files are embedded.

    With --tag or --meta, every file gets those tags and that metadata; without, a replaced document keeps its own.
    """
    from rag.filters import parse_meta

    tags = tuple(tag) if tag else None
    report = _collection(_settings()).add_paths(paths, tags=tags, meta=parse_meta(meta) if meta is not None else None)
    _report(report)
    if not report.changed and report.skipped and not report.unchanged:
        raise typer.Exit(EXIT_USER_ERROR)


@app.command()
def remove(names: Names) -> None:
    """Delete documents from the index."""
    _report(_collection(_settings()).remove(names))


@app.command()
def migrate(
    to: Annotated[str, typer.Option("--to", help="The store to copy into: milvus (or faiss).")] = "milvus",
) -> None:
    """Copy the collection of RAG_VECTOR_STORE (faiss by default) into another store, without re-embedding.

    The target (RAG_MILVUS_URI, RAG_MILVUS_COLLECTION) is replaced by the copy; then serve with RAG_VECTOR_STORE=milvus.
    """
    from rag.errors import InputError
    from rag.migrate import migrate as copy

    if to not in ("faiss", "milvus"):
        raise InputError(f"--to must be faiss or milvus, not {to!r}")
    count, where = copy(_settings(), to)
    typer.echo(f"copied {count} documents to {where}; serve them with RAG_VECTOR_STORE={to}")


@app.command()
def documents(as_json: AsJson = False) -> None:
    """List the indexed documents."""
    from dataclasses import asdict

    from rag.collection import list_documents

    infos = list_documents(_settings())
    if as_json:
        typer.echo(json.dumps([asdict(i) for i in infos], ensure_ascii=False, indent=2))
        return
    for i in infos:
        labels = "".join(f"  #{t}" for t in i.tags) + (f"  {json.dumps(i.meta, ensure_ascii=False)}" if i.meta else "")
        typer.echo(f"{i.name}  {i.format}  {i.language}  {i.chunks} chunks  {i.size} bytes  added {i.added}{labels}")
