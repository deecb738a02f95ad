"""The regression gate: compare a report with a stored baseline of metric values and tolerances.

A baseline file holds, per split (`tune` and `test`) and gated metric, the value it had and how far it may
fall, plus each question's pass/fail on the checks behind those metrics, so a failure can name the questions
that regressed. Both splits are gated: a change tuned on `tune` must not cost `test`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.eval.metrics import LOWER_IS_BETTER, QuestionResult, Report

# Gated metrics and their default tolerances (absolute). Latency is not gated: shared machines are noisy.
DEFAULT_TOLERANCES = {
    "recall@10": 0.03,
    "recall@5": 0.05,
    "mrr": 0.05,
    "evidence_cited": 0.05,
    "citation_exactness": 0.0,
    "citation_precision": 0.05,
    "key_facts": 0.05,
    "faithfulness": 0.05,
    "abstention": 0.08,
    "ablation_refusal": 0.08,
    "false_abstention": 0.05,
}
BASELINE_FORMAT = 2


def question_checks(q: QuestionResult) -> dict[str, bool]:
    """The per-question checks that the gated metrics add up."""
    if not q.answerable:
        return {"ablation_refusal" if q.ablated else "abstention": q.abstained}
    return {
        "recall@10": all(r is not None and r <= 10 for r in q.evidence_found_at),
        "evidence_cited": all(q.evidence_cited),
        "key_facts": not q.atoms_missing,
        "false_abstention": not q.abstained,
        "faithfulness": not q.unsupported_claims,
    }


@dataclass(frozen=True)
class GateResult:
    """What the gate found: per failed metric, a message and the questions that regressed on it."""

    failures: dict[str, str]
    regressed_questions: dict[str, list[str]]

    @property
    def passed(self) -> bool:
        """True when no gated metric fell below its baseline minus tolerance."""
        return not self.failures


def make_baseline(report: Report, tolerances: dict[str, float] | None = None) -> dict[str, Any]:
    """A baseline capturing this report."""
    tol = dict(DEFAULT_TOLERANCES if tolerances is None else tolerances)
    return {
        "format": BASELINE_FORMAT,
        "dataset": report.dataset,
        "splits": {
            split: {
                name: {"value": metrics[name], "tolerance": t}
                for name, t in tol.items()
                if name in metrics and not math.isnan(metrics[name])
            }
            for split, metrics in report.splits.items()
        },
        "questions": {q.id: question_checks(q) for q in report.questions},
    }


def read_baseline(path: Path) -> dict[str, Any]:
    """Load a baseline file; InputError with the path when it is missing or malformed."""
    hint = "create it with `rag eval --update-baseline`"
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"baseline {path} is missing or unreadable ({exc}); {hint}") from exc
    if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT or not isinstance(data.get("splits"), dict):
        raise InputError(f"baseline {path} is not a format-{BASELINE_FORMAT} baseline with per-split metrics; {hint}")
    return data


def check(report: Report, baseline: dict[str, Any]) -> GateResult:
    """Compare the report with the baseline."""
    failures: dict[str, str] = {}
    regressed: dict[str, list[str]] = {}
    before = baseline.get("questions", {})
    for split, specs in baseline["splits"].items():
        metrics = report.splits.get(split, {})
        now = {q.id: question_checks(q) for q in report.questions if q.split == split}
        for name, spec in specs.items():
            key = f"{split}/{name}"
            value, tol = float(spec["value"]), float(spec["tolerance"])
            current = metrics.get(name, float("nan"))
            if math.isnan(current):
                failures[key] = f"{key}: not measured (baseline {value:.3f})"
                continue
            worse = current > value + tol if name in LOWER_IS_BETTER else current < value - tol
            if worse:
                failures[key] = f"{key}: {current:.3f} vs baseline {value:.3f} (tolerance {tol:.3f})"
                regressed[key] = sorted(
                    qid
                    for qid, checks in now.items()
                    if before.get(qid, {}).get(name) is True and checks.get(name) is False
                )
    return GateResult(failures, regressed)
