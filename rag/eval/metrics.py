"""Run a dataset through the pipeline and score retrieval, citations, answers, faithfulness and abstention."""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from rag.data import Answer, Hit
from rag.eval.dataset import Evidence, Example
from rag.eval.faithfulness import check_answer, citation_precision
from rag.pipeline import Pipeline

RECALL_KS = (1, 3, 5, 10)
# Metrics where lower is better; every other metric is better higher.
LOWER_IS_BETTER = frozenset({"false_abstention", "latency_p50_ms", "latency_p95_ms"})


def overlaps(start: int, end: int, doc: str, ev: Evidence) -> bool:
    """Whether a span of `doc` overlaps the evidence quote's character range."""
    return doc == ev.doc and start < ev.end and ev.start < end


@dataclass
class QuestionResult:
    """Everything measured for one question, kept for the report and the gate."""

    id: str
    lang: str
    kind: str
    question: str
    answer: str
    abstained: bool
    latency_ms: float
    evidence_found_at: list[int | None] = field(default_factory=list)
    evidence_cited: list[bool] = field(default_factory=list)
    citations_exact: int = 0
    citations_total: int = 0
    citations_supporting: int = 0
    citations_attached: int = 0
    atoms_found: list[str] = field(default_factory=list)
    atoms_missing: list[str] = field(default_factory=list)
    similarity: float | None = None
    claims_supported: int = 0
    claims_total: int = 0
    unsupported_claims: list[str] = field(default_factory=list)
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    cited: list[dict[str, Any]] = field(default_factory=list)
    expected: list[dict[str, Any]] = field(default_factory=list)

    @property
    def answerable(self) -> bool:
        """Whether the corpus holds the answer."""
        return self.kind != "unanswerable"

    def failures(self) -> list[str]:
        """The checks this question failed, in words."""
        out = []
        if not self.answerable:
            if not self.abstained:
                out.append("answered an unanswerable question")
            return out
        if self.abstained:
            out.append("abstained on an answerable question")
        if any(r is None or r > 10 for r in self.evidence_found_at):
            out.append("evidence not in the top 10")
        if not self.abstained and not any(self.evidence_cited):
            out.append("no evidence cited")
        if self.atoms_missing and not self.abstained:
            out.append("missing key facts: " + ", ".join(self.atoms_missing))
        if self.citations_exact < self.citations_total:
            out.append("a citation differs from the source at its offsets")
        if self.unsupported_claims:
            out.append("unsupported claims")
        return out


@dataclass
class Report:
    """Metrics overall and per `lang × kind`, and the per-question results."""

    metrics: dict[str, float]
    groups: dict[str, dict[str, float]]
    questions: list[QuestionResult]
    dataset: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "dataset": self.dataset,
            "metrics": self.metrics,
            "groups": self.groups,
            "questions": [asdict(q) | {"failures": q.failures()} for q in self.questions],
        }


def _span(doc: str, start: int, end: int, text: str) -> dict[str, Any]:
    return {"doc": doc, "start": start, "end": end, "text": text}


def score_question(
    ex: Example, answer: Answer, latency_ms: float, pipe: Pipeline, sources: dict[str, str]
) -> QuestionResult:
    """Measure one answer against its example."""
    s = pipe.settings
    res = QuestionResult(ex.id, ex.lang, ex.kind, ex.question, answer.text, answer.abstained, latency_ms)
    res.retrieved = [_span(h.doc, h.start, h.end, h.text) for h in answer.passages]
    res.cited = [_span(c.doc, c.start, c.end, c.text) | {"n": c.n} for c in answer.citations]
    res.expected = [_span(e.doc, e.start, e.end, e.quote) for e in ex.evidence]
    res.evidence_found_at = [_first_rank(answer.passages, ev) for ev in ex.evidence]
    res.evidence_cited = [any(overlaps(c.start, c.end, c.doc, ev) for c in answer.citations) for ev in ex.evidence]
    res.citations_total = len(answer.citations)
    res.citations_exact = sum(sources[c.doc][c.start : c.end] == c.text for c in answer.citations)
    encode = pipe.embedder.encode_queries
    res.citations_supporting, res.citations_attached = citation_precision(answer, encode, s.faithfulness_threshold)
    claims = check_answer(answer, encode, s.faithfulness_threshold)
    res.claims_total = len(claims)
    res.claims_supported = sum(c.supported for c in claims)
    res.unsupported_claims = [f"{c.text} ({c.reason})" for c in claims if not c.supported]
    if ex.answerable:
        low = answer.text.lower()
        res.atoms_found = [a for a in ex.must_include if a.lower() in low]
        res.atoms_missing = [a for a in ex.must_include if a.lower() not in low]
        if not answer.abstained:
            vecs = encode([answer.text, ex.answer])
            res.similarity = float(vecs[0] @ vecs[1])
    return res


def _first_rank(hits: list[Hit], ev: Evidence) -> int | None:
    for rank, h in enumerate(hits, start=1):
        if overlaps(h.start, h.end, h.doc, ev):
            return rank
    return None


def _ratio(num: float, den: float) -> float:
    return round(num / den, 4) if den else float("nan")


def aggregate(results: list[QuestionResult]) -> dict[str, float]:
    """The metrics over a set of question results."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    found = [rank for r in answerable for rank in r.evidence_found_at]
    m: dict[str, float] = {"questions": float(len(results))}
    for k in RECALL_KS:
        m[f"recall@{k}"] = _ratio(sum(1 for x in found if x is not None and x <= k), len(found))
    first = [min((x for x in r.evidence_found_at if x is not None), default=None) for r in answerable]
    m["mrr"] = _ratio(sum(1 / x for x in first if x), len(first))
    cited = [c for r in answerable for c in r.evidence_cited]
    m["evidence_cited"] = _ratio(sum(cited), len(cited))
    m["citation_exactness"] = _ratio(sum(r.citations_exact for r in results), sum(r.citations_total for r in results))
    m["citation_precision"] = _ratio(
        sum(r.citations_supporting for r in results), sum(r.citations_attached for r in results)
    )
    atoms = [(len(r.atoms_found), len(r.atoms_found) + len(r.atoms_missing)) for r in answerable]
    m["key_facts"] = _ratio(sum(a for a, _ in atoms), sum(b for _, b in atoms))
    sims = [r.similarity for r in answerable if r.similarity is not None]
    m["answer_similarity"] = round(statistics.fmean(sims), 4) if sims else float("nan")
    m["faithfulness"] = _ratio(sum(r.claims_supported for r in results), sum(r.claims_total for r in results))
    m["abstention"] = _ratio(sum(r.abstained for r in unanswerable), len(unanswerable))
    m["false_abstention"] = _ratio(sum(r.abstained for r in answerable), len(answerable))
    lat = sorted(r.latency_ms for r in results)
    if lat:
        m["latency_p50_ms"] = round(lat[len(lat) // 2], 1)
        m["latency_p95_ms"] = round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1)
    return m


def evaluate(pipe: Pipeline, examples: list[Example], dataset: str = "") -> Report:
    """Ask every question and score the answers."""
    sources = {name: doc.text for name, doc in pipe.documents.items()}
    results = []
    for ex in examples:
        t0 = time.perf_counter()
        answer = pipe.ask(ex.question)
        latency = (time.perf_counter() - t0) * 1e3
        results.append(score_question(ex, answer, latency, pipe, sources))
    groups: dict[str, list[QuestionResult]] = defaultdict(list)
    for r in results:
        groups[r.lang].append(r)
        groups[f"{r.lang}/{r.kind}"].append(r)
    return Report(
        metrics=aggregate(results),
        groups={g: aggregate(rs) for g, rs in sorted(groups.items())},
        questions=results,
        dataset=dataset,
    )
