from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.answer.decide import DEFAULT_MODEL, FEATURES, Answerability, Features, features
from rag.answer.evidence import Candidate
from rag.answer.question import Concept, Question
from rag.data import Sentence
from rag.errors import ModelError


def concept(word: str, weight: float) -> Concept:
    return Concept(word, frozenset({frozenset({word})}), frozenset(), weight)


def cand(text: str, semantic: float, rank: int = 0) -> Candidate:
    return Candidate(1, Sentence(1, "d.txt", 0, len(text), text, "en"), rank, semantic, 0.0)


RCEP = Question("When did RCEP enter into force?", "en", (concept("rcep", 2.0), concept("forc", 1.0)), "year")


def test_features_name_what_the_evidence_lacks() -> None:
    f, heaviest = features(RCEP, [cand("The RCEP was signed by fifteen countries.", 0.4, rank=1)])
    assert f.semantic == 0.4 and f.rank == 0.5
    assert f.coverage == pytest.approx(2 / 3) and f.missing_concept == pytest.approx(1 / 3)
    assert f.type_missing == 1.0 and heaviest is not None and heaviest.word == "forc"
    f, heaviest = features(RCEP, [cand("RCEP came into force in 2022.", 0.6)])
    assert f.type_missing == 0.0 and f.coverage == 1.0 and heaviest is None


def test_decision_is_a_logistic_threshold_with_a_reason_in_the_question_language() -> None:
    model = Answerability({name: 0.0 for name in FEATURES} | {"coverage": 10.0}, intercept=-5.0, threshold=0.5)
    full = Features(0.5, 1.0, 1.0, 0.0, 0.0)
    assert model.decide(RCEP, full, None, True).answer
    low = Features(0.5, 0.2, 1.0, 1.0, 0.8)
    refusal = model.decide(RCEP, low, concept("forc", 1.0), True)
    assert not refusal.answer and refusal.confidence < 0.5 and "year" in refusal.reason
    zh = Question("RCEP何时生效？", "zh", RCEP.concepts, None)
    assert model.decide(zh, low, concept("生效", 1.0), True).reason == "相关段落都没有提到“生效”。"
    assert not model.decide(RCEP, full, None, False).answer


def test_bundled_model_is_a_fitted_json_file(tmp_path: Path) -> None:
    raw = json.loads(DEFAULT_MODEL.read_text())
    assert raw["features"] == list(FEATURES) and raw["fit"]["split"] == "tune"
    assert Answerability.load().threshold == raw["threshold"]
    broken = tmp_path / "m.json"
    broken.write_text(json.dumps({"coefficients": {"semantic": 1.0}, "intercept": 0, "threshold": 0.5}))
    with pytest.raises(ModelError, match="lacks coefficients"):
        Answerability.load(broken)
