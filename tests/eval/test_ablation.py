from __future__ import annotations

import json
from pathlib import Path

from rag.eval.ablation import SUFFIX, near_misses, source_name
from rag.eval.dataset import load_dataset
from rag.eval.metrics import QuestionResult, aggregate
from rag.settings import Settings

FUND = "The Silk Road Fund was set up in 2014 with 40 billion dollars."
BANK = "The bank approved 20 projects by the end of 2017."


def _dataset(tmp_path: Path, corpus: Path) -> Path:
    rows = [
        {"id": "fund", "lang": "en", "kind": "same", "question": "When was the Silk Road Fund set up?",
         "answer": "In 2014.", "evidence": [{"doc": "en.txt", "quote": FUND}], "must_include": ["2014"]},
        # Its key fact is still stated elsewhere after the cut, so it makes no near miss.
        {"id": "bank", "lang": "en", "kind": "same", "question": "How many projects had the bank approved?",
         "answer": "20 projects by 2017.", "evidence": [{"doc": "en.txt", "quote": BANK}], "must_include": ["20"]},
        {"id": "none", "lang": "en", "kind": "unanswerable", "question": "Who founded the bank?", "answer": "",
         "evidence": [], "must_include": [], "split": "test"},
    ]  # fmt: skip
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return path


def test_the_twin_asks_a_copy_with_every_quote_cut_and_keeps_its_split(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "en.txt").write_text(
        f"Intro about the route.\n\n{FUND} It invests along the route.\n\n{BANK} 20 of them.\n"
    )
    (corpus / "zh.md").write_text("亚投行于2016年开业。", "utf-8")
    settings = Settings(corpus_dir=corpus, cache_dir=tmp_path / "cache")
    examples = load_dataset(_dataset(tmp_path, corpus), corpus)

    twins = near_misses(settings, examples)

    assert [t.id for t in twins] == ["fund" + SUFFIX]
    twin = twins[0]
    assert twin.kind == "unanswerable" and twin.ablated and twin.near_miss and twin.split == "tune"
    assert twin.question == examples[0].question and not twin.evidence and not twin.must_include
    assert twin.corpus is not None and source_name(twin.corpus) == "corpus"
    cut = (twin.corpus / "en.txt").read_text("utf-8")
    assert FUND not in cut and BANK not in cut and "It invests along the route." in cut
    assert (twin.corpus / "zh.md").read_text("utf-8") == "亚投行于2016年开业。"
    # The same content gives the same folder, so its index is built once.
    assert near_misses(settings, examples)[0].corpus == twin.corpus
    (corpus / "en.txt").write_text(f"{FUND} Changed.\n\n{BANK}\n")
    changed = near_misses(settings, load_dataset(_dataset(tmp_path, corpus), corpus))
    assert changed[0].corpus != twin.corpus
    # The earlier copy is never asked again, so it is removed.
    assert changed[0].corpus is not None and changed[0].corpus.is_dir() and not twin.corpus.exists()


def _result(qid: str, kind: str, abstained: bool, confidence: float, ablated: bool = False) -> QuestionResult:
    r = QuestionResult(qid, "en", kind, "q", "a", abstained, 1.0, confidence=confidence, ablated=ablated)
    r.evidence_found_at, r.evidence_cited = [1], [not abstained]
    return r


def test_refusals_of_written_and_ablated_near_misses_are_reported_apart() -> None:
    results = [
        _result("a", "same", False, 0.9),
        _result("b", "same", False, 0.6),
        _result("a" + SUFFIX, "unanswerable", True, 0.3, ablated=True),
        _result("b" + SUFFIX, "unanswerable", False, 0.7, ablated=True),
        _result("w", "unanswerable", True, 0.8),
    ]
    m = aggregate(results)
    assert m["abstention"] == 1.0 and m["ablation_refusal"] == 0.5
    assert m["near_miss_refusal"] == round(2 / 3, 4)
    # a (0.9) beats both twins, b (0.6) beats one of them.
    assert m["paired_auroc"] == 0.75
    assert m["answerability_auroc"] == round(4 / 6, 4)
