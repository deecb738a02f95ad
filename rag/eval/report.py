"""Render an evaluation report: a console table and a self-contained HTML page with charts."""

from __future__ import annotations

import base64
import html
import io
import math

from rag.eval.gate import GateResult
from rag.eval.metrics import Report

SUMMARY = (
    "recall@1",
    "recall@5",
    "recall@10",
    "mrr",
    "evidence_cited",
    "citation_exactness",
    "citation_precision",
    "key_facts",
    "key_facts_in_language",
    "answer_similarity",
    "faithfulness",
    "abstention",
    "ablation_refusal",
    "near_miss_refusal",
    "false_abstention",
    "answerability_auroc",
    "paired_auroc",
    "composed_by_llm",
    "latency_p50_ms",
    "latency_p95_ms",
)
CHARTED = (
    "recall@10",
    "evidence_cited",
    "key_facts",
    "faithfulness",
    "abstention",
    "ablation_refusal",
    "false_abstention",
)


def _fmt(v: float) -> str:
    return "–" if math.isnan(v) else f"{v:.3f}" if v <= 1 else f"{v:.1f}"


def table(report: Report) -> str:
    """The metrics overall, per split and per group, as aligned text."""
    groups = {"all": report.metrics, **report.splits, **report.groups}
    width = max(len(g) for g in groups)
    head = " ".join(f"{m:>12}" for m in SUMMARY)
    lines = [f"{'':<{width}} {head}"]
    for name, m in groups.items():
        lines.append(f"{name:<{width}} " + " ".join(f"{_fmt(m.get(k, float('nan'))):>12}" for k in SUMMARY))
    return "\n".join(lines)


def _chart(report: Report, metric: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    names = [g for g, m in report.groups.items() if not math.isnan(m.get(metric, float("nan")))]
    values = [report.groups[g][metric] for g in names]
    fig, ax = plt.subplots(figsize=(5, 2.6), dpi=90)
    ax.bar(names, values, color="#4c78a8")
    ax.set_ylim(0, 1)
    ax.set_title(metric)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _spans(spans: list[dict[str, object]]) -> str:
    e = html.escape
    items = "".join(
        f"<li><code>{e(str(s['doc']))} [{s['start']}:{s['end']}]</code> {e(str(s['text'])[:300])}</li>" for s in spans
    )
    return f"<ul>{items}</ul>" if items else "<p><i>none</i></p>"


def render_html(report: Report, gate: GateResult | None = None) -> str:
    """One HTML file: summary, gate verdict, charts, and the details of every failed question."""
    e = html.escape
    groups = {"all": report.metrics, **report.splits, **report.groups}
    rows = "".join(
        f"<tr><th>{e(g)}</th>" + "".join(f"<td>{_fmt(m.get(k, float('nan')))}</td>" for k in SUMMARY) + "</tr>"
        for g, m in groups.items()
    )
    verdict = ""
    if gate is not None:
        if gate.passed:
            verdict = "<p class=ok>Regression gate: passed.</p>"
        else:
            items = "".join(
                f"<li>{e(msg)}<br>regressed: {e(', '.join(gate.regressed_questions.get(metric, [])) or '–')}</li>"
                for metric, msg in gate.failures.items()
            )
            verdict = f"<div class=bad><p>Regression gate: failed.</p><ul>{items}</ul></div>"
    charts = "".join(f'<img alt="{m}" src="data:image/png;base64,{_chart(report, m)}">' for m in CHARTED)
    failed = []
    for q in report.questions:
        problems = q.failures()
        if not problems:
            continue
        failed.append(
            f"<details><summary><b>{e(q.id)}</b> ({e(q.split)}/{e(q.corpus)}/{e(q.lang)}/{e(q.kind)}): "
            f"{e('; '.join(problems))}</summary>"
            f"<p><b>Question:</b> {e(q.question)}</p><p><b>Answer:</b> {e(q.answer)}</p>"
            f"<p><b>Confidence:</b> {q.confidence:.3f} {e(q.reason)}</p>"
            f"<p><b>Expected evidence</b></p>{_spans(q.expected)}"
            f"<p><b>Cited</b></p>{_spans(q.cited)}<p><b>Retrieved</b></p>{_spans(q.retrieved)}"
            + (
                f"<p><b>Unsupported claims</b></p><ul>{''.join(f'<li>{e(c)}</li>' for c in q.unsupported_claims)}</ul>"
                if q.unsupported_claims
                else ""
            )
            + "</details>"
        )
    head = "".join(f"<th>{e(k)}</th>" for k in SUMMARY)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Evaluation report</title>
<style>body{{font:14px sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:3px 6px;text-align:right}}.ok{{color:#060}}.bad{{color:#a00}}img{{margin:4px}}details{{margin:6px 0}}</style>
</head><body><h1>Evaluation report</h1><p>Dataset: {e(report.dataset)} · {len(report.questions)} questions</p>
{verdict}<table><tr><th></th>{head}</tr>{rows}</table><h2>By split × language × kind</h2>{charts}
<h2>Failed questions ({len(failed)})</h2>{"".join(failed) or "<p>none</p>"}</body></html>"""
