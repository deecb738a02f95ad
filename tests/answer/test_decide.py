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
    f, heaviest = features(RCEP, [cand("The RCEP was signed by fifteen countries.", 0.4, rank=1)], [0.9, 0.8])
    assert f.score == 0.9 and f.margin == pytest.approx(0.1)
    assert f.own_coverage == pytest.approx(2 / 3) and f.missing_concept == pytest.approx(1 / 3)
    assert f.type_found == 0.0 and heaviest is not None and heaviest.word == "forc"
    f, heaviest = features(RCEP, [cand("RCEP came into force in 2022.", 0.6)], [1.2])
    assert f.type_found == 1.0 and f.own_coverage == 1.0 and f.margin == 1.2 and heaviest is None


def test_a_concept_in_the_head_of_the_sentence_s_document_is_not_missing() -> None:
    # "According to Liu Hong": the author is named in the paper's byline, not in the sentence quoted from it.
    liu = Question("What does Liu Hong say RCEP does?", "en", (concept("liu", 2.0), concept("rcep", 1.0)), None)
    picked = [cand("RCEP lowers tariffs across the region.", 0.6)]
    f, heaviest = features(liu, picked, [1.0, 0.5])
    assert heaviest is not None and heaviest.word == "liu" and f.missing_concept == pytest.approx(2 / 3)
    f, heaviest = features(liu, picked, [1.0, 0.5], heads=("The Belt and Road and RCEP. By Liu Hong",))
    assert heaviest is None and f.missing_concept == 0.0


def test_the_asked_type_must_be_in_the_best_sentence_not_beside_it() -> None:
    # A year in a second sentence about something else is how a near miss looks.
    picked = [cand("RCEP entered into force for its members.", 0.6), cand("The bank opened in 2016.", 0.3)]
    f, _ = features(RCEP, picked, [1.0, 0.5])
    assert f.type_found == 0.0 and f.missing_concept == 0.0


def test_decision_is_a_logistic_threshold_with_a_reason_in_the_question_language() -> None:
    model = Answerability({name: 0.0 for name in FEATURES} | {"own_coverage": 10.0}, intercept=-5.0, threshold=0.5)
    full = Features(0.5, 1.0, 1.0, 1.0, 0.0)
    assert model.decide(RCEP, full, None, True).answer
    low = Features(0.5, 0.2, 1.0, 0.0, 0.8)
    refusal = model.decide(RCEP, low, concept("forc", 1.0), True)
    assert not refusal.answer and refusal.confidence < 0.5 and "year" in refusal.reason
    zh = Question("RCEP何时生效？", "zh", RCEP.concepts, None)
    assert model.decide(zh, low, concept("生效", 1.0), True).reason == "相关段落都没有提到“生效”。"
    assert not model.decide(RCEP, full, None, False).answer
    # However sure the model is, a year that no selected sentence states cannot be quoted.
    untyped = model.decide(RCEP, full, None, True, typed=False)
    assert not untyped.answer and untyped.confidence > 0.5 and "year" in untyped.reason


def test_bundled_model_is_a_fitted_json_file(tmp_path: Path) -> None:
    raw = json.loads(DEFAULT_MODEL.read_text())
    assert raw["features"] == list(FEATURES) and raw["fit"]["split"] == "tune"
    assert Answerability.load().threshold == raw["threshold"]
    broken = tmp_path / "m.json"
    broken.write_text(json.dumps({"coefficients": {"score": 1.0}, "intercept": 0, "threshold": 0.5}))
    with pytest.raises(ModelError, match="lacks coefficients"):
        Answerability.load(broken)
