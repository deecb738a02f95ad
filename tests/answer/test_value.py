from __future__ import annotations

import pytest

from rag.answer.question import Concept, Question
from rag.answer.value import asked_value, dates, render, restated, values

WHEN = Question("When?", "en", (), "year")
HOW_MUCH = Question("How much?", "en", (), "quantity")
COUNTRIES = Concept("countries", frozenset({frozenset({"countri"})}), frozenset({"国家"}), 1.0)
HOW_MANY = Question("How many countries?", "en", (COUNTRIES,), "quantity", COUNTRIES)


@pytest.mark.parametrize(
    ("text", "zh", "en"),
    [
        ("In September 2013, President Xi proposed", "2013年9月", "September 2013"),
        ("It was signed on 15 November 2020 by", "2020年11月15日", "15 November 2020"),
        ("signed on November 15, 2020.", "2020年11月15日", "15 November 2020"),
        ("1985年12月7日，南亚区域合作联盟成立", "1985年12月7日", "7 December 1985"),
        ("Especially in 2001, after more than ten years", "2001年", "2001"),
    ],
)
def test_a_date_is_read_in_either_language_and_written_in_the_askers(text: str, zh: str, en: str) -> None:
    value = asked_value(WHEN, text)
    assert value is not None
    assert render(value, "zh") == zh and render(value, "en") == en


@pytest.mark.parametrize(
    ("text", "zh", "en"),
    [
        ("a fund of 3.5 billion US dollars", "35亿", "3.5 billion"),
        ("总额为35亿美元", "35亿", "3.5 billion"),
        ("trade grew by 14.8% last year", "14.8%", "14.8%"),
        ("it approved 12,000 loans", "1.2万", "12,000"),
    ],
)
def test_an_amount_keeps_its_scale_across_languages(text: str, zh: str, en: str) -> None:
    value = asked_value(HOW_MUCH, text)
    assert value is not None
    assert render(value, "zh") == zh and render(value, "en") == en


def test_no_value_when_the_sentence_holds_several_or_none() -> None:
    assert asked_value(WHEN, "Proposed in 2013, it had grown by 2023.") is None
    assert asked_value(WHEN, "It was proposed long ago.") is None
    assert asked_value(Question("What?", "en", (), None), "In 2013.") is None
    # For "how many X", one number next to X; a year is not a count, and with two counts the quote answers.
    value = asked_value(HOW_MANY, "As of January 2023, China had signed agreements with 151 countries.")
    assert value is not None and render(value, "en") == "151"
    assert asked_value(HOW_MANY, "China had signed with 151 countries and 32 organizations.") is None
    far = "The bank approved 20 projects last year, most of them in power and transport, across many countries."
    assert asked_value(HOW_MANY, far) is None


def test_a_year_inside_a_date_is_not_a_second_date() -> None:
    assert len(dates("On 15 November 2020 and in 2020年11月15日")) == 2
    assert [v.number for v in values("2013年9月的35亿")] == [2013.0, 3.5e9]


def test_restated_takes_out_only_values_the_spans_state() -> None:
    assert restated("2013年9月", "In September 2013, he proposed").strip() == ""
    assert restated("35亿，2014年", "3.5 billion dollars in 2015").startswith("，")
