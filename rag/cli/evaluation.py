"""`rag eval` (with `calibrate`, `validate` and `feedback export`): answer quality against a dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rag.cli.common import (
    EXIT_REGRESSION,
    EXIT_USER_ERROR,
    Ablation,
    Composer,
    Corpus,
    Datasets,
    TopK,
    _examples,
    _settings,
    eval_app,
    feedback_app,
)


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
