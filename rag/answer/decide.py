"""Answerability as one calibrated decision: a logistic model over a few signals, coefficients in JSON.

The signals read the best sentence (the first selected) against the rest, and the selection as a whole:
- `score`: the best sentence's selection score (centred similarity + lexical evidence − rank cost);
- `own_coverage`: the share of the question's concepts the best sentence mentions on its own;
- `margin`: how far the best sentence scores above the next candidate (an answer stands out from its
  neighbours; when the fact is missing, several sentences on the topic score alike);
- `type_found`: 1 unless a year or a quantity is asked and the best sentence holds none (for "how many X",
  a number next to X);
- `missing_concept`: the weight share of the heaviest question concept that neither the selected sentences nor
  the heads of their documents mention. A head (title, authors, abstract) says what a whole document is about,
  so "according to Liu Hong" is satisfied by a sentence of Liu Hong's paper that never names him.

Similarity alone cannot decide: near misses (the topic is there, the one fact asked is not) score almost as
high as answerable questions. The model is fitted on the tune split, near misses by ablation included (every
answerable question asked again with its evidence cut out), by `rag eval calibrate`, cross-validated; the file
records how. Token alignment through the encoder's own token states was measured as a further signal and did
no better than `score` (README, answerability).
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

FEATURES = ("score", "own_coverage", "margin", "type_found", "missing_concept")
DEFAULT_MODEL = Path(__file__).with_name("answerability.json")
TYPE_NAMES = {
    "en": {"year": "year or date", "quantity": "number"},
    "zh": {"year": "年份或日期", "quantity": "数字"},
}
REASONS = {
    "en": {
        "nothing": "No passage was found for this question.",
        "empty": "The question has no words to look for in the documents.",
        "type": "The passages on this topic give no {what} for it.",
        "concept": "No passage on this topic mentions “{what}”.",
        "weak": "The closest passages are only loosely related to the question.",
    },
    "zh": {
        "nothing": "没有找到与这个问题相关的段落。",
        "empty": "问题里没有可以在文档中查找的词。",
        "type": "相关段落没有给出所问的{what}。",
        "concept": "相关段落都没有提到“{what}”。",
        "weak": "最接近的段落与问题关系不大。",
    },
}


@dataclass(frozen=True)
class Features:
    """The signals the decision reads, in the order of `FEATURES`."""

    score: float
    own_coverage: float
    margin: float
    type_found: float
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


def features(
    question: Question, picked: list[Candidate], scores: list[float], heads: tuple[str, ...] = ()
) -> tuple[Features, Concept | None]:
    """The decision's signals for the selected sentences, and the heaviest concept they do not mention.

    `scores` are the selection scores of all candidates, best first (so `scores[0]` is the first pick's);
    `heads` are the openings of the picked sentences' documents.
    """
    if not picked:
        return Features(0.0, 0.0, 0.0, float(question.asked is None), 1.0), None
    best = picked[0].text
    mentioned = set(question.mentioned([p.text for p in picked])) | set(question.mentioned(list(heads)))
    missing = [c for c in question.concepts if c not in mentioned]
    heaviest = max(missing, key=lambda c: c.weight, default=None)
    total = sum(c.weight for c in question.concepts)
    return (
        Features(
            score=scores[0],
            own_coverage=question.coverage([best]),
            margin=scores[0] - scores[1] if len(scores) > 1 else scores[0],
            type_found=float(question.has_asked_type(best)),
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

    def decide(
        self, question: Question, f: Features, heaviest: Concept | None, any_evidence: bool, typed: bool = True
    ) -> Decision:
        """Answer when the confidence reaches the threshold; otherwise say what was missing.

        `typed` is whether any selected sentence holds the kind of fact asked: a year or a count that none of
        them states cannot be quoted, however close the topic, so without it the answer is always a refusal.
        """
        words = REASONS[question.language]
        if not question.has_content:
            return Decision(False, 0.0, words["empty"])
        p = self.confidence(f)
        if any_evidence and typed and p >= self.threshold:
            return Decision(True, round(p, 4), "")
        if not any_evidence:
            reason = words["nothing"]
        elif (not typed or not f.type_found) and question.asked:
            reason = words["type"].format(what=TYPE_NAMES[question.language][question.asked])
        elif heaviest is not None and f.missing_concept > 0:
            reason = words["concept"].format(what=heaviest.word)
        else:
            reason = words["weak"]
        return Decision(False, round(p, 4), reason)
