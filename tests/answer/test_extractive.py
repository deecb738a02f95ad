from __future__ import annotations

import pytest

from rag import Answer, Pipeline
from rag.answer.extractive import ABSTAIN, CROSS_NOTE

EN_000 = "000_52703944bae284e8.txt"
EN_002 = "002_ce563350fb3624db.txt"
ZH_004 = "004_cd34105e53f3530d.txt"


def _cited(pipe: Pipeline, answer: Answer) -> list[tuple[str, str]]:
    for c in answer.citations:
        assert pipe.documents[c.doc].text[c.start : c.end] == c.text
        assert f"[{c.n}]" in answer.text
    return [(c.doc, c.text) for c in answer.citations]


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("question", "lang", "doc", "fact"),
    [
        (
            "How many countries had signed Belt and Road agreements with China as of January 2023?",
            "en",
            EN_000,
            "151 countries",
        ),
        ("How much has the Silk Road Fund promised to invest?", "en", EN_002, "$7 billion"),
        ("2011年“占领运动”发生在多少个城市？", "zh", ZH_004, "951个城市"),
        ("南亚区域合作联盟是哪一年成立的？", "zh", ZH_004, "1985年12月7日"),
        ("中国是哪一年加入世界贸易组织的？", "zh", EN_000, "in 2001"),
        ("By how much did the share of world GDP of the BRICS countries rise?", "en", ZH_004, "23.53%"),
    ],
)
def test_answers_cite_the_right_span(pipe: Pipeline, question: str, lang: str, doc: str, fact: str) -> None:
    answer = pipe.ask(question)
    assert not answer.abstained, answer.text
    assert answer.language == lang
    assert any(d == doc and fact in text for d, text in _cited(pipe, answer)), answer.citations
    if all(c.doc.startswith("004") != (lang == "zh") for c in answer.citations):
        assert CROSS_NOTE[lang] in answer.text


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("question", "first"),
    [
        ("中国是哪一年加入世界贸易组织的？", "2001年[1]。"),  # from "in 2001" in an English paper
        ("南亚区域合作联盟是哪一年成立的？", "1985年12月7日[1]。"),
    ],
)
def test_the_asked_value_comes_first_in_the_askers_language(pipe: Pipeline, question: str, first: str) -> None:
    answer = pipe.ask(question)
    assert answer.text.startswith(first), answer.text
    assert answer.sentences[0].text == first and answer.sentences[0].citations == (1,)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("question", "lang", "missing"),
    [
        ("When did the RCEP agreement enter into force?", "en", ""),
        # The topic is there and scores well; no selected sentence gives the count, so it is refused anyway.
        ("How many member countries does the Asian Infrastructure Investment Bank have?", "en", "number"),
        ("联合国目前有多少个会员国？", "zh", "数字"),
    ],
)
def test_unanswerable_questions_abstain(pipe: Pipeline, question: str, lang: str, missing: str) -> None:
    answer = pipe.ask(question)
    assert answer.abstained
    assert answer.text == ABSTAIN[lang]
    assert answer.reason and answer.language == lang
    if missing:
        assert missing in answer.reason
    else:
        assert answer.confidence < pipe.assessor.model.threshold
    assert answer.citations == []
    assert 0 < len(answer.passages) <= 10


@pytest.mark.e2e
def test_ocr_noise_stays_out_of_answers(pipe: Pipeline) -> None:
    answer = pipe.ask("What did the reform of the IMF do for China's voting share?")
    assert not answer.abstained
    assert "ÿ" not in answer.text


@pytest.mark.e2e
def test_a_when_question_without_a_dated_answer_says_what_is_missing(pipe: Pipeline) -> None:
    answer = pipe.ask("When did the RCEP agreement enter into force?")
    assert answer.abstained and "year or date" in answer.reason


def test_fake_pipeline_answers_from_its_corpus(fake_pipe: Pipeline) -> None:
    answer = fake_pipe.ask("When was the Silk Road Fund set up?")
    assert not answer.abstained
    assert "2014" in answer.text
    assert answer.citations[0].doc == "en.txt"
    assert answer.composer == "extractive" and 0 < answer.confidence <= 1 and answer.reason == ""
    for c in answer.citations:
        assert fake_pipe.documents[c.doc].text[c.start : c.end] == c.text


@pytest.mark.e2e
def test_a_compound_the_dictionary_lacks_is_matched_by_its_parts(pipe: Pipeline) -> None:
    # 经济带 is not in CC-CEDICT; the English source says "Silk Road Economic Belt".
    answer = pipe.ask("丝绸之路经济带是在哪一年提出的？")
    assert not answer.abstained, answer.reason
    assert any("2013" in c.text and "Economic Belt" in c.text for c in answer.citations)
