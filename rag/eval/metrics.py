"""Run a dataset through the pipeline and score retrieval, citations, answers, faithfulness and abstention.

Citations are checked against the files on disk, not against the pipeline's own copy of them: exactness
compares each citation's text with the file at its offsets, and faithfulness compares each claim with what
the file holds at the offsets it cites. A composer that quotes one sentence and points at another fails both.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.data import Answer, Hit
from rag.eval.ablation import SUFFIX, source_name
from rag.eval.dataset import SPLITS, Evidence, Example, eval_index_dir, has_fact
from rag.eval.faithfulness import check_answer, citation_precision
from rag.ingest import read_path
from rag.pipeline import Pipeline
from rag.settings import Settings

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
    split: str = "tune"
    corpus: str = ""
    confidence: float = 0.0
    reason: str = ""
    composer: str = "extractive"
    warning: str = ""
    ablated: bool = False
    evidence_found_at: list[int | None] = field(default_factory=list)
    evidence_cited: list[bool] = field(default_factory=list)
    citations_exact: int = 0
    citations_total: int = 0
    citations_supporting: int = 0
    citations_attached: int = 0
    atoms_found: list[str] = field(default_factory=list)
    atoms_missing: list[str] = field(default_factory=list)
    # Key facts stated in the asker's language (a quote in the other language states them only in its own).
    atoms_in_language: list[str] = field(default_factory=list)
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
    splits: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "dataset": self.dataset,
            "metrics": self.metrics,
            "splits": self.splits,
            "groups": self.groups,
            "questions": [asdict(q) | {"failures": q.failures()} for q in self.questions],
        }


def _span(doc: str, start: int, end: int, text: str) -> dict[str, Any]:
    return {"doc": doc, "start": start, "end": end, "text": text}


class DiskSources:
    """The corpus files on disk, each read once through its reader: what citations are checked against.

    The check does not trust the index: it extracts the text from the file itself.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.texts: dict[str, str | None] = {}

    def span(self, doc: str, start: int, end: int) -> str | None:
        """The file's text at [start, end), or None when the file is missing or the span lies outside it."""
        if doc not in self.texts:
            path = self.folder / doc
            self.texts[doc] = read_path(path).text if path.is_file() else None
        text = self.texts[doc]
        if text is None or not 0 <= start <= end <= len(text):
            return None
        return text[start:end]


def score_question(
    ex: Example, answer: Answer, latency_ms: float, pipe: Pipeline, sources: DiskSources
) -> QuestionResult:
    """Measure one answer against its example."""
    s = pipe.settings
    res = QuestionResult(ex.id, ex.lang, ex.kind, ex.question, answer.text, answer.abstained, latency_ms)
    res.split, res.corpus, res.ablated = ex.split, _corpus_name(ex.corpus), ex.ablated
    res.confidence, res.reason = answer.confidence, answer.reason
    res.composer, res.warning = answer.composer, answer.warning
    res.retrieved = [_span(h.doc, h.start, h.end, h.text) for h in answer.passages]
    res.cited = [_span(c.doc, c.start, c.end, c.text) | {"n": c.n} for c in answer.citations]
    res.expected = [_span(e.doc, e.start, e.end, e.quote) for e in ex.evidence]
    res.evidence_found_at = [_first_rank(answer.passages, ev) for ev in ex.evidence]
    res.evidence_cited = [any(overlaps(c.start, c.end, c.doc, ev) for c in answer.citations) for ev in ex.evidence]
    on_disk = [sources.span(c.doc, c.start, c.end) for c in answer.citations]
    res.citations_total = len(answer.citations)
    res.citations_exact = sum(text == c.text for text, c in zip(on_disk, answer.citations, strict=True))
    # Claims are judged against what the files hold at the cited offsets.
    checked = replace(
        answer,
        citations=[replace(c, text=text or "") for text, c in zip(on_disk, answer.citations, strict=True)],
    )
    encode = pipe.embedder.encode_queries
    thresholds = (s.faithfulness_threshold, s.faithfulness_cross_threshold)
    res.citations_supporting, res.citations_attached = citation_precision(checked, encode, *thresholds)
    claims = check_answer(checked, encode, *thresholds)
    res.claims_total = len(claims)
    res.claims_supported = sum(c.supported for c in claims)
    res.unsupported_claims = [f"{c.text} ({c.reason})" for c in claims if not c.supported]
    if ex.answerable:
        # A written answer is in the asker's language and must state the facts in it; quotes state them as written.
        language = ex.lang if answer.composer == "llm" else None
        res.atoms_found = [a for a in ex.must_include if has_fact(a, answer.text, language)]
        res.atoms_missing = [a for a in ex.must_include if not has_fact(a, answer.text, language)]
        res.atoms_in_language = [a for a in ex.must_include if has_fact(a, answer.text, ex.lang)]
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


def _corpus_name(folder: Path | None) -> str:
    return source_name(folder) if folder is not None else ""


def auroc(scores: list[float], labels: list[bool]) -> float:
    """Area under the ROC curve: the chance that a random positive scores above a random negative (ties half)."""
    pos = np.array([s for s, y in zip(scores, labels, strict=True) if y])
    neg = np.array([s for s, y in zip(scores, labels, strict=True) if not y])
    if not len(pos) or not len(neg):
        return float("nan")
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return round(float(wins) / (len(pos) * len(neg)), 4)


def aggregate(results: list[QuestionResult]) -> dict[str, float]:
    """The metrics over a set of question results."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable and not r.ablated]
    ablated = [r for r in results if r.ablated]
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
    in_language = sum(len(r.atoms_in_language) for r in answerable)
    m["key_facts_in_language"] = _ratio(in_language, sum(b for _, b in atoms))
    sims = [r.similarity for r in answerable if r.similarity is not None]
    m["answer_similarity"] = round(statistics.fmean(sims), 4) if sims else float("nan")
    m["faithfulness"] = _ratio(sum(r.claims_supported for r in results), sum(r.claims_total for r in results))
    m["abstention"] = _ratio(sum(r.abstained for r in unanswerable), len(unanswerable))
    m["ablation_refusal"] = _ratio(sum(r.abstained for r in ablated), len(ablated))
    refusals = [r.abstained for r in results if not r.answerable]
    m["near_miss_refusal"] = _ratio(sum(refusals), len(refusals))
    m["false_abstention"] = _ratio(sum(r.abstained for r in answerable), len(answerable))
    # With an LLM configured, the answers it wrote (the rest fell back to quotes, or abstained before a call).
    m["composed_by_llm"] = _ratio(sum(r.composer == "llm" for r in results), len(results))
    m["answerability_auroc"] = auroc([r.confidence for r in results], [r.answerable for r in results])
    # Each answerable question against its own twin with the evidence cut: the same words, the fact gone.
    twins = {r.id.removesuffix(SUFFIX) for r in ablated}
    paired = [r for r in results if r.ablated or r.id in twins]
    m["paired_auroc"] = auroc([r.confidence for r in paired], [r.answerable for r in paired])
    lat = sorted(r.latency_ms for r in results)
    if lat:
        m["latency_p50_ms"] = round(lat[len(lat) // 2], 1)
        m["latency_p95_ms"] = round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1)
    return m


def run_questions(pipe: Pipeline, examples: list[Example]) -> list[QuestionResult]:
    """Ask every question of one corpus and score the answers against the corpus files on disk."""
    sources = DiskSources(pipe.settings.corpus_dir)
    results = []
    for ex in examples:
        t0 = time.perf_counter()
        answer = pipe.ask(ex.question)
        latency = (time.perf_counter() - t0) * 1e3
        results.append(score_question(ex, answer, latency, pipe, sources))
    return results


def make_report(results: list[QuestionResult], dataset: str = "") -> Report:
    """Metrics overall, per split, and per split × corpus, language and kind."""
    splits: dict[str, list[QuestionResult]] = defaultdict(list)
    groups: dict[str, list[QuestionResult]] = defaultdict(list)
    for r in results:
        splits[r.split].append(r)
        for name in (r.corpus, r.lang, f"{r.lang}/{'ablated' if r.ablated else r.kind}"):
            if name:
                groups[f"{r.split}/{name}"].append(r)
    return Report(
        metrics=aggregate(results),
        groups={g: aggregate(rs) for g, rs in sorted(groups.items())},
        questions=results,
        dataset=dataset,
        splits={s: aggregate(splits[s]) for s in SPLITS if s in splits},
    )


def evaluate(pipe: Pipeline, examples: list[Example], dataset: str = "") -> Report:
    """Ask every question of one corpus and score the answers."""
    return make_report(run_questions(pipe, examples), dataset)


def corpus_settings(base: Settings, corpus: Path) -> Settings:
    """Settings for evaluating on `corpus`: the configured index for the configured corpus, else its own."""
    if corpus.resolve() == base.corpus_dir.resolve():
        return base
    return base.model_copy(update={"corpus_dir": corpus, "index_dir": eval_index_dir(corpus)})


def by_corpus(
    base: Settings, examples: list[Example], load: Callable[[Settings], Pipeline] = Pipeline.load
) -> Iterator[tuple[Pipeline, list[Example]]]:
    """The examples grouped by corpus folder, each group with a pipeline loaded on its corpus."""
    groups: dict[Path, list[Example]] = defaultdict(list)
    for ex in examples:
        groups[ex.corpus or base.corpus_dir].append(ex)
    for corpus, group in groups.items():
        yield load(corpus_settings(base, corpus)), group


def evaluate_suite(
    base: Settings,
    examples: list[Example],
    dataset: str = "",
    load: Callable[[Settings], Pipeline] = Pipeline.load,
) -> Report:
    """Evaluate examples over several corpora: one pipeline per corpus folder, one report for all."""
    results = [r for pipe, group in by_corpus(base, examples, load) for r in run_questions(pipe, group)]
    return make_report(results, dataset)
