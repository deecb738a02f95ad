from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rag.errors import InputError
from rag.eval.gate import check, make_baseline, read_baseline
from rag.eval.metrics import QuestionResult, Report, aggregate

from ..conftest import ROOT


def _result(qid: str, found: bool, abstained: bool = False) -> QuestionResult:
    r = QuestionResult(qid, "en", "same", "q", "a", abstained, 10.0)
    r.evidence_found_at = [1 if found else None]
    r.evidence_cited = [found]
    return r


def _report(*results: QuestionResult) -> Report:
    rs = list(results)
    return Report(aggregate(rs), {}, rs, "synthetic")


def test_gate_names_metric_and_regressed_questions() -> None:
    baseline = make_baseline(_report(_result("q1", True), _result("q2", True)))
    gate = check(_report(_result("q1", True), _result("q2", False)), baseline)
    assert not gate.passed
    assert "recall@10" in gate.failures
    assert gate.regressed_questions["recall@10"] == ["q2"]
    assert check(_report(_result("q1", True), _result("q2", True)), baseline).passed


def test_lower_is_better_metrics_fail_upwards() -> None:
    baseline = make_baseline(_report(_result("q1", True), _result("q2", True)))
    gate = check(_report(_result("q1", True), _result("q2", True, abstained=True)), baseline)
    assert "false_abstention" in gate.failures


def test_missing_baseline_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--update-baseline"):
        read_baseline(tmp_path / "none.json")


@pytest.mark.e2e
def test_gate_fails_when_retrieval_is_broken(tmp_path: Path) -> None:
    """top_k=1 starves the composer and recall: the committed baseline must catch it."""
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
    assert "recall@10" in done.stderr and "regressed questions: " in done.stderr
    report = json.loads(out.read_text())
    assert report["metrics"]["recall@10"] < 0.7
    html = page.read_text()
    assert "Regression gate: failed." in html and "data:image/png;base64," in html
