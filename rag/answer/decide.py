"""Answerability as one calibrated decision: a logistic model over a few signals, coefficients in JSON.

The signals, computed from the selected sentences:
- `semantic`: their best centred similarity to the question;
- `coverage`: the share of the question's concepts they mention together;
- `rank`: 1 / (1 + rank of the passage the best of them comes from);
- `type_missing`: 1 when a year or a quantity is asked and none of them holds one (for "how many X", a number
  next to X);
- `missing_concept`: the weight share of the heaviest question concept none of them mentions.

Raw similarity alone cannot decide: near misses (the topic is there, the one fact asked is not) score as high
as answerable questions. The coefficients and the threshold are fitted on the tune split by
`rag eval calibrate` (cross-validated); the file records how.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.answer.evidence import Candidate
from rag.answer.question import Concept, Question
from rag.errors import ModelError

FEATURES = ("semantic", "coverage", "rank", "type_missing", "missing_concept")
DEFAULT_MODEL = Path(__file__).with_name("answerability.json")
TYPE_NAMES = {
    "en": {"year": "year or date", "quantity": "number"},
    "zh": {"year": "年份或日期", "quantity": "数字"},
}
REASONS = {
    "en": {
        "nothing": "No passage was found for this question.",
        "type": "The passages on this topic give no {what} for it.",
        "concept": "No passage on this topic mentions “{what}”.",
        "weak": "The closest passages are only loosely related to the question.",
    },
    "zh": {
        "nothing": "没有找到与这个问题相关的段落。",
        "type": "相关段落没有给出所问的{what}。",
        "concept": "相关段落都没有提到“{what}”。",
        "weak": "最接近的段落与问题关系不大。",
    },
}


@dataclass(frozen=True)
class Features:
    """The signals the decision reads, in the order of `FEATURES`."""

    semantic: float
    coverage: float
    rank: float
    type_missing: float
    missing_concept: float

    def values(self) -> list[float]:
        """The signals as a vector, in the order of `FEATURES`."""
        return [getattr(self, name) for name in FEATURES]


@dataclass(frozen=True)
class Decision:
    """Whether to answer, how sure, and (for an abstention) what was missing, in the question's language."""

    answer: bool
    confidence: float
    reason: str


def features(question: Question, picked: list[Candidate]) -> tuple[Features, Concept | None]:
    """The decision's signals for the selected sentences, and the heaviest concept they do not mention."""
    if not picked:
        return Features(0.0, 0.0, 0.0, float(question.asked is not None), 1.0), None
    texts = [p.text for p in picked]
    mentioned = set(question.mentioned(texts))
    missing = [c for c in question.concepts if c not in mentioned]
    heaviest = max(missing, key=lambda c: c.weight, default=None)
    total = sum(c.weight for c in question.concepts)
    return (
        Features(
            semantic=max(p.semantic for p in picked),
            coverage=sum(c.weight for c in question.concepts if c in mentioned) / total if total else 0.0,
            rank=1.0 / (1 + picked[0].rank),
            type_missing=float(not any(question.has_asked_type(t) for t in texts)),
            missing_concept=heaviest.weight / total if heaviest and total else 0.0,
        ),
        heaviest,
    )


class Answerability:
    """The fitted logistic model and its threshold."""

    def __init__(self, coefficients: dict[str, float], intercept: float, threshold: float) -> None:
        missing = [f for f in FEATURES if f not in coefficients]
        if missing:
            raise ModelError(f"answerability model lacks coefficients for {', '.join(missing)}")
        self.weights = [float(coefficients[f]) for f in FEATURES]
        self.intercept = float(intercept)
        self.threshold = float(threshold)

    @classmethod
    def load(cls, path: Path | None = None, threshold: float | None = None) -> Answerability:
        """Read a model file written by `rag eval calibrate` (the bundled one by default).

        `threshold` replaces the file's.
        """
        path = path or DEFAULT_MODEL
        try:
            raw: dict[str, Any] = json.loads(path.read_text("utf-8"))
            return cls(raw["coefficients"], raw["intercept"], raw["threshold"] if threshold is None else threshold)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"answerability model {path} is unreadable ({exc}); set RAG_ANSWERABILITY_MODEL") from exc

    def confidence(self, f: Features) -> float:
        """Probability that the selected sentences answer the question."""
        z = self.intercept + sum(w * x for w, x in zip(self.weights, f.values(), strict=True))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def decide(self, question: Question, f: Features, heaviest: Concept | None, any_evidence: bool) -> Decision:
        """Answer when the confidence reaches the threshold; otherwise say what was missing."""
        p = self.confidence(f)
        if any_evidence and p >= self.threshold:
            return Decision(True, round(p, 4), "")
        words = REASONS[question.language]
        if not any_evidence:
            reason = words["nothing"]
        elif f.type_missing and question.asked:
            reason = words["type"].format(what=TYPE_NAMES[question.language][question.asked])
        elif heaviest is not None and f.missing_concept > 0:
            reason = words["concept"].format(what=heaviest.word)
        else:
            reason = words["weak"]
        return Decision(False, round(p, 4), reason)
