"""What every command of the `rag` command line shares: the apps, the options, settings and the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

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
FilterJson = Annotated[
    str | None,
    typer.Option(
        "--filter",
        help='Only the documents it keeps, as JSON: {"documents": ["2024-*"], "language": ["zh"], '
        '"format": ["pdf"], "tags": ["hr"], "meta": {"year": {"gte": 2023}}, "added": {"gte": "2026-01-01"}}.',
    ),
]
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

Composer = Annotated[
    str | None, typer.Option("--composer", help="extractive (quotes, the default) or llm (RAG_LLM_BASE_URL's model).")
]
