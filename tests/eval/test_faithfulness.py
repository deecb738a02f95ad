from __future__ import annotations

import math

import numpy as np
import pytest

from rag import Answer, Citation, Pipeline
from rag.eval.faithfulness import check_answer, citation_precision, split_claims

SPAN = "In 2017, the number of overseas students in China exceeded 600 thousand for the first time."


def _answer(text: str, *cited: str) -> Answer:
    cites = [Citation(n, "d.txt", 0, len(t), t, 1.0) for n, t in enumerate(cited, start=1)]
    return Answer("q", text, False, "en", citations=cites)


def test_split_claims_keeps_markers_and_decimals() -> None:
    claims = split_claims("Note first. Growth was 14.8% in 2017. [1] [2] 比重升至23.53%。 [3]")
    assert claims == [("Note first.", ()), ("Growth was 14.8% in 2017.", (1, 2)), ("比重升至23.53%。", (3,))]


def test_quoted_claim_is_supported() -> None:
    claims = check_answer(_answer(f"{SPAN} [1]", SPAN), None, 0.9)
    assert [c.supported for c in claims] == [True]


def test_number_missing_from_citation_is_flagged() -> None:
    claims = check_answer(_answer("Overseas students in China exceeded 700 thousand in 2017. [1]", SPAN), None, 0.9)
    assert not claims[0].supported
    assert "lack 700" in claims[0].reason


def test_uncited_number_is_flagged_and_unknown_marker_too() -> None:
    claims = check_answer(_answer("There were 600 thousand students. Extra [2]", SPAN), None, 0.9)
    assert [c.supported for c in claims] == [False, False]
    assert "without a citation" in claims[0].reason and "no citation" in claims[1].reason


@pytest.mark.e2e
def test_citation_that_does_not_support_its_sentence(pipe: Pipeline) -> None:
    unrelated = "The Silk Road Fund has signed 17 projects, promising to invest $7 billion."
    answer = _answer(f"{SPAN} [1] Overseas student numbers passed a new record that year. [2]", SPAN, unrelated)
    good, total = citation_precision(answer, pipe.embedder.encode_queries, pipe.settings.faithfulness_threshold)
    assert (good, total) == (1, 2)
    paraphrase = _answer("More than 600 thousand overseas students were in China in 2017. [1]", SPAN)
    claims = check_answer(paraphrase, pipe.embedder.encode_queries, pipe.settings.faithfulness_threshold)
    assert claims[0].supported, claims[0].reason


def test_a_claim_in_another_language_is_held_to_the_cross_lingual_threshold() -> None:
    def encode(texts: list[str]) -> np.ndarray:  # any two texts score 0.87
        return np.array([[1.0, 0.0], [0.87, math.sqrt(1 - 0.87**2)]])[: len(texts)]

    zh = _answer("在华留学生人数首次超过了这一规模。 [1]", SPAN)
    en = _answer("Overseas students in China passed that figure for the first time. [1]", SPAN)
    assert check_answer(zh, encode, 0.88, 0.865)[0].supported
    assert not check_answer(en, encode, 0.88, 0.865)[0].supported
    assert not check_answer(zh, encode, 0.88)[0].supported


@pytest.mark.e2e
def test_a_faithful_translation_is_supported_and_a_wrong_span_is_not(pipe: Pipeline) -> None:
    """A Chinese claim citing an English span: held to the cross-lingual threshold, which still rejects a wrong span."""
    s = pipe.settings
    encode = pipe.embedder.encode_queries
    translated = _answer("2017年，在华留学生人数首次超过60万。 [1]", SPAN)
    claims = check_answer(translated, encode, s.faithfulness_threshold, s.faithfulness_cross_threshold)
    assert claims[0].supported, claims[0].reason
    wrong = _answer("2017年，丝路基金签约了17个项目。 [1]", SPAN)
    claims = check_answer(wrong, encode, s.faithfulness_threshold, s.faithfulness_cross_threshold)
    assert not claims[0].supported


def test_a_value_restated_in_the_askers_language_is_supported_and_a_wrong_one_is_not() -> None:
    span = "In September 2013, President Xi Jinping proposed the Silk Road Economic Belt; it raised 3.5 billion."
    claims = check_answer(_answer("2013年9月[1]。35亿[1]。2014年9月[1]。", span), None, 0.9)
    assert [c.supported for c in claims] == [True, True, False]
    assert "lack 2014" in claims[2].reason
