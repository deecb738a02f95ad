"""The `rag` command line: build the index, ask, search, evaluate."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from rag.errors import RagError
from rag.sections import page_label
from rag.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Bilingual question answering over your documents.")
eval_app = typer.Typer(
    add_completion=False, help="Evaluate answer quality against a dataset.", invoke_without_command=True
)
app.add_typer(eval_app, name="eval")
feedback_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Feedback users gave on answers.")
eval_app.add_typer(feedback_app, name="feedback")

EXIT_USER_ERROR = 2
EXIT_REGRESSION = 1

Corpus = Annotated[
    Path | None,
    typer.Option("--corpus", help="Folder of documents: PDF, DOCX, HTML, Markdown, text (default: seeds/)."),
]
TopK = Annotated[int | None, typer.Option("--top-k", "-k", help="Passages to return (default: 10).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
DEFAULT_DATASETS = [Path("eval/datasets/seeds.jsonl"), Path("eval/datasets/debian.jsonl")]
Datasets = Annotated[
    list[Path] | None,
    typer.Option("--dataset", help="JSONL dataset; repeat for several (default: seeds and debian)."),
]

Ablation = Annotated[
    bool,
    typer.Option(
        help="Also ask every answerable question of a corpus copy with its evidence cut out (near misses by "
        "ablation; the copies are indexed once and cached)."
    ),
]


def _examples(datasets: list[Path] | None, settings: Settings, ablation: bool = False) -> tuple[list[Path], list[Any]]:
    from rag.eval import load_dataset
    from rag.eval.ablation import near_misses

    paths = datasets or DEFAULT_DATASETS
    examples = [ex for path in paths for ex in load_dataset(path, settings.corpus_dir)]
    return paths, examples + near_misses(settings, examples) if ablation else examples


def _settings(corpus: Path | None = None, **extra: Any) -> Settings:
    overrides: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
    if corpus is not None:
        overrides["corpus_dir"] = corpus
    return Settings(**overrides)


def _pipeline(settings: Settings, sync: bool = False) -> Any:
    from rag.pipeline import Pipeline

    return Pipeline.load(settings, sync=sync)


def _collection(settings: Settings) -> Any:
    """The collection for a write, refusing one made with other settings (that needs `rag index --rebuild`)."""
    from rag.collection import Collection
    from rag.embedding import load_embedder
    from rag.errors import IndexStaleError
    from rag.offline import force_offline, install_tiktoken_encodings

    force_offline()
    install_tiktoken_encodings(settings.cache_dir / "tiktoken")
    collection = Collection(settings, load_embedder(settings))
    stale = collection.stale()
    if stale is not None:
        raise IndexStaleError(f"the index was built with another {stale}; run `rag index --rebuild` first")
    return collection


def _report(report: Any) -> None:
    for what in ("added", "replaced", "removed"):
        for name in getattr(report, what):
            typer.echo(f"{what:>8}  {name}")
    for name, why in report.skipped:
        typer.echo(f" skipped  {name}: {why}", err=True)
    typer.echo(report.summary())


Paths = Annotated[list[Path], typer.Argument(help="Files or folders (a folder adds its supported files).")]
Names = Annotated[list[str], typer.Argument(help="Document names, as `rag documents` lists them.")]


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
def add(paths: Paths) -> None:
    """Add files to the index, or replace the documents of the same name; only these files are embedded."""
    report = _collection(_settings()).add_paths(paths)
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
        typer.echo(f"{i.name}  {i.format}  {i.language}  {i.chunks} chunks  {i.size} bytes  added {i.added}")


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


Composer = Annotated[
    str | None, typer.Option("--composer", help="extractive (quotes, the default) or llm (RAG_LLM_BASE_URL's model).")
]


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
    question: str, corpus: Corpus = None, top_k: TopK = None, as_json: AsJson = False, composer: Composer = None
) -> None:
    """Answer a question with citations, or say the documents do not answer it.

    With RAG_SERVER_URL set, a running `rag serve` answers (no model or index is loaded here).
    """
    settings = _settings()
    url = _remote(settings, corpus=corpus, composer=composer)
    if url is not None:
        from rag import remote

        stream = remote.ask_stream(url, _token(settings), question, top_k)
        if as_json:
            typer.echo(json.dumps(stream.answer().to_dict(), ensure_ascii=False, indent=2))
            return
        _print_answer(_stream_answer(stream))
        return
    pipe = _pipeline(_settings(corpus, composer=composer))
    if as_json:
        typer.echo(json.dumps(pipe.ask(question, top_k).to_dict(), ensure_ascii=False, indent=2))
        return
    _print_answer(_stream_answer(pipe.ask_stream(question, top_k)))


@app.command()
def search(query: str, corpus: Corpus = None, top_k: TopK = None, as_json: AsJson = False) -> None:
    """The passages that best match a query, in either language (through RAG_SERVER_URL when it is set)."""
    settings = _settings()
    url = _remote(settings, corpus=corpus)
    if url is not None:
        from rag import remote

        hits = remote.search(url, _token(settings), query, top_k)
    else:
        hits = _pipeline(_settings(corpus)).search(query, top_k)
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


@eval_app.callback()
def evaluate_cmd(
    ctx: typer.Context,
    dataset: Datasets = None,
    baseline: Annotated[Path | None, typer.Option(help="Baseline to gate against.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the full report as JSON.")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML report.")] = None,
    update_baseline: Annotated[bool, typer.Option(help="Write the results as the new baseline.")] = False,
    corpus: Corpus = None,
    top_k: TopK = None,
    composer: Composer = None,
    ablation: Ablation = True,
) -> None:
    """Run the dataset, print metrics, and exit 1 when a gated metric regressed against the baseline."""
    if ctx.invoked_subcommand is not None:
        return
    from rag.eval.gate import check, make_baseline, read_baseline
    from rag.eval.metrics import evaluate_suite
    from rag.eval.report import render_html, table

    settings = _settings(corpus, top_k=top_k, composer=composer)
    paths, examples = _examples(dataset, settings, ablation)
    report = evaluate_suite(settings, examples, dataset=" + ".join(map(str, paths)))
    typer.echo(table(report))
    gate = None
    if baseline is not None and not update_baseline:
        gate = check(report, read_baseline(baseline))
    if out is not None:
        out.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=1), "utf-8")
    if html_out is not None:
        html_out.write_text(render_html(report, gate), "utf-8")
    if update_baseline:
        target = baseline or Path("eval/baseline.json")
        target.write_text(json.dumps(make_baseline(report), ensure_ascii=False, indent=1) + "\n", "utf-8")
        typer.echo(f"baseline written to {target}")
    if gate is not None:
        if gate.passed:
            typer.echo("regression gate: passed")
            return
        typer.echo("regression gate: FAILED", err=True)
        for metric, message in gate.failures.items():
            qs = ", ".join(gate.regressed_questions.get(metric, [])) or "-"
            typer.echo(f"  {message}; regressed questions: {qs}", err=True)
        raise typer.Exit(EXIT_REGRESSION)


@eval_app.command("calibrate")
def calibrate_cmd(
    dataset: Datasets = None,
    out: Annotated[Path, typer.Option(help="Model file to write.")] = Path("rag/answer/answerability.json"),
    corpus: Corpus = None,
    ablation: Ablation = True,
) -> None:
    """Fit the answerability model on the tune split (cross-validated) and write its coefficients as JSON."""
    from rag.eval.calibrate import calibrate

    settings = _settings(corpus)
    paths, examples = _examples(dataset, settings, ablation)
    model = calibrate(settings, examples, out, [str(p) for p in paths])
    typer.echo(json.dumps(model, indent=1, ensure_ascii=False))
    typer.echo(f"answerability model written to {out}")


@eval_app.command("validate")
def validate(dataset: Path, corpus: Corpus = None) -> None:
    """Check a dataset file: exact quotes, unique ids, atoms present in the answers."""
    from rag.eval.dataset import read_examples, validate_dataset

    problems = validate_dataset(dataset, _settings(corpus).corpus_dir)
    for p in problems:
        typer.echo(p, err=True)
    if problems:
        raise typer.Exit(EXIT_USER_ERROR)
    typer.echo(f"{dataset}: {len(read_examples(dataset))} examples, valid")


@feedback_app.command("export")
def feedback_export(
    out: Annotated[
        Path | None,
        typer.Option(help="JSONL file to add the rows to (rows it holds already are kept); default: print them."),
    ] = None,
    split: Annotated[str, typer.Option(help="The split of the rows: tune or test.")] = "tune",
) -> None:
    """Write thumbs-down and commented answers as candidate eval rows, marked `"checked": false`.

    Each needs a reference answer, key facts and an exact evidence quote before it counts; `rag eval validate`
    says what each row still lacks. A row already in --out (by id) is not written again, so its edits stay.
    """
    from rag.errors import InputError
    from rag.eval.dataset import SPLITS
    from rag.feedback import collection_rows

    if split not in SPLITS:
        raise InputError(f"--split must be one of {SPLITS}, not {split!r}")
    rows = collection_rows(_settings(), split)
    if out is None:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    have = _row_ids(out)
    fresh = [row for row in rows if row["id"] not in have]
    with out.open("a", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in fresh)
    typer.echo(
        f"{len(fresh)} candidate rows added to {out} ({len(rows) - len(fresh)} were there already); complete "
        f'each and set "checked": true; `rag eval validate {out}` lists what each still needs'
    )


def _row_ids(path: Path) -> set[str]:
    """The ids of the rows of a JSONL file (none when it does not exist)."""
    from rag.errors import InputError

    if not path.exists():
        return set()
    ids = set()
    for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            ids.add(str(json.loads(line)["id"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(
                f"{path}:{n} is not a row with an id ({exc!r}); fix it, or export to another --out"
            ) from exc
    return ids


def main() -> None:
    """Entry point: run the app, turning the project's errors into a message and exit code 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The project's own progress and start-up messages; other libraries stay at warnings.
    logging.getLogger("rag").setLevel(logging.INFO)
    try:
        # Without standalone mode click returns an Exit's code instead of raising it.
        code = app(standalone_mode=False)
    except RagError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USER_ERROR)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:
        import click
        from pydantic import ValidationError

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, ValidationError):
            typer.echo(f"error: invalid setting: {exc}", err=True)
            sys.exit(EXIT_USER_ERROR)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
