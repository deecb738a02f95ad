from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from rag import Pipeline
from rag.answer import Composer
from rag.data import Answer
from rag.errors import InputError
from rag.eval.dataset import Evidence, Example
from rag.eval.gate import check, make_baseline, read_baseline
from rag.eval.metrics import QuestionResult, make_report, run_questions
from rag.retrieval import Retrieval

from ..conftest import ROOT


def _result(qid: str, found: bool, abstained: bool = False, split: str = "test") -> QuestionResult:
    r = QuestionResult(qid, "en", "same", "q", "a", abstained, 10.0, split=split)
    r.evidence_found_at = [1 if found else None]
    r.evidence_cited = [found]
    return r


def test_gate_names_metric_and_regressed_questions() -> None:
    baseline = make_baseline(make_report([_result("q1", True), _result("q2", True)]))
    gate = check(make_report([_result("q1", True), _result("q2", False)]), baseline)
    assert not gate.passed
    assert "test/recall@10" in gate.failures
    assert gate.regressed_questions["test/recall@10"] == ["q2"]
    assert check(make_report([_result("q1", True), _result("q2", True)]), baseline).passed


def test_both_splits_are_gated() -> None:
    both = [_result("a", True, split="tune"), _result("b", True, split="test")]
    baseline = make_baseline(make_report(both))
    assert set(baseline["splits"]) == {"tune", "test"}
    gate = check(make_report([_result("a", False, split="tune"), _result("b", True, split="test")]), baseline)
    assert set(gate.failures) >= {"tune/recall@10"} and not any(k.startswith("test/") for k in gate.failures)


def test_lower_is_better_metrics_fail_upwards() -> None:
    baseline = make_baseline(make_report([_result("q1", True), _result("q2", True)]))
    gate = check(make_report([_result("q1", True), _result("q2", True, abstained=True)]), baseline)
    assert "test/false_abstention" in gate.failures


class Faulty:
    """A composer that spoils what the one it wraps answers."""

    name = "faulty"

    def __init__(self, inner: Composer) -> None:
        self.inner = inner

    def spoil(self, answer: Answer) -> Answer:
        raise NotImplementedError

    def compose(self, retrieval: Retrieval, instructions: str = "") -> Answer:
        return self.spoil(self.inner.compose(retrieval, instructions))

    def stream(self, retrieval: Retrieval, instructions: str = "") -> Iterator[str | Answer]:
        yield self.compose(retrieval, instructions)


class ShiftedCitations(Faulty):
    """Right answer text, citations whose offsets are off by a few characters."""

    def spoil(self, answer: Answer) -> Answer:
        return replace(answer, citations=[replace(c, start=c.start + 4, end=c.end + 4) for c in answer.citations])


class WrongSource(Faulty):
    """Each claim points at the exact span of another, unrelated sentence."""

    def __init__(self, inner: Composer, decoy: tuple[str, int, int, str]) -> None:
        super().__init__(inner)
        self.decoy = decoy

    def spoil(self, answer: Answer) -> Answer:
        doc, start, end, text = self.decoy
        return replace(
            answer, citations=[replace(c, doc=doc, start=start, end=end, text=text) for c in answer.citations]
        )


def _examples(fake_pipe: Pipeline) -> list[Example]:
    text = fake_pipe.documents["en.txt"].text
    quote = "The Silk Road Fund was set up in 2014."
    start = text.index(quote)
    ev = (Evidence("en.txt", quote, start, start + len(quote)),)
    return [
        Example(f"q{i}-{split}", "en", "same", "When was the Silk Road Fund set up?", "In 2014.", ev, ("2014",), split)
        for i in range(2)
        for split in ("tune", "test")
    ]


def test_gate_catches_a_planted_faulty_composer(fake_pipe: Pipeline) -> None:
    examples = _examples(fake_pipe)
    honest = make_report(run_questions(fake_pipe, examples))
    assert honest.splits["test"]["citation_exactness"] == 1.0 and honest.splits["test"]["faithfulness"] == 1.0
    baseline = make_baseline(honest)
    assert check(honest, baseline).passed

    shifted = fake_pipe.derived(wrap_composer=ShiftedCitations)
    gate = check(make_report(run_questions(shifted, examples)), baseline)
    assert "test/citation_exactness" in gate.failures and "tune/citation_exactness" in gate.failures

    text = fake_pipe.documents["zh.md"].text
    decoy_text = "亚投行于2016年开业。"
    decoy = ("zh.md", text.index(decoy_text), text.index(decoy_text) + len(decoy_text), decoy_text)
    wrong = fake_pipe.derived(wrap_composer=lambda inner: WrongSource(inner, decoy))
    report = make_report(run_questions(wrong, examples))
    assert report.splits["test"]["citation_exactness"] == 1.0
    gate = check(report, baseline)
    assert "test/faithfulness" in gate.failures and "test/evidence_cited" in gate.failures


def test_missing_baseline_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--update-baseline"):
        read_baseline(tmp_path / "none.json")


@pytest.mark.e2e
def test_gate_fails_when_retrieval_is_broken(tmp_path: Path) -> None:
    """top_k=1 starves the composer and recall: the committed baseline must catch it.

    The seeds' questions alone show it (the whole eval runs once, in `make eval`), at a seventh of the time.
    """
    out = tmp_path / "report.json"
    page = tmp_path / "report.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rag.cli",
            "eval",
            "--top-k",
            "1",
            "--no-ablation",
            "--dataset",
            "eval/datasets/seeds.jsonl",
            "--baseline",
            "eval/baseline.json",
            "--out",
            str(out),
            "--html",
            str(page),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "regression gate: FAILED" in done.stderr
    assert "test/recall@10" in done.stderr and "regressed questions: " in done.stderr
    report = json.loads(out.read_text())
    assert report["splits"]["test"]["recall@10"] < 0.7
    html = page.read_text()
    assert "Regression gate: failed." in html and "data:image/png;base64," in html
