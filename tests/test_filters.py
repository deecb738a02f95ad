"""Filters and document labels: checked strictly (an error names the field), and matched as written."""

from __future__ import annotations

from typing import Any

import pytest

from rag.errors import InputError
from rag.filters import Filter, check_meta, check_tags, parse_meta
from rag.snapshot import DocumentInfo


def info(name: str = "2024-report.pdf", **fields: Any) -> DocumentInfo:
    base: dict[str, Any] = {
        "language": "en",
        "format": "pdf",
        "chunks": 1,
        "size": 1,
        "characters": 1,
        "pages": 1,
        "sha256": "",
        "source": "upload",
        "added": "2026-06-30T12:00:00Z",
        "tags": ("hr", "policy"),
        "meta": {"year": 2024, "team": "hr", "final": True, "due": "2026-01-31"},
    }
    return DocumentInfo(name, **(base | fields))


@pytest.mark.parametrize(
    ("where", "kept"),
    [
        ({}, True),
        ({"documents": ["2024-*"]}, True),
        ({"documents": ["2023-*", "*.docx"]}, False),
        ({"language": ["zh", "en"]}, True),
        ({"language": ["zh"]}, False),
        ({"format": ["pdf"]}, True),
        ({"tags": ["hr"]}, True),
        ({"tags": ["hr", "finance"]}, False),  # every tag named
        ({"meta": {"year": 2024}}, True),
        ({"meta": {"year": "2024"}}, False),  # a string is not the number
        ({"meta": {"year": [2023, 2024]}}, True),
        ({"meta": {"year": {"gte": 2020, "lt": 2024}}}, False),
        ({"meta": {"year": {"gt": 2023.5}}}, True),
        ({"meta": {"final": 1}}, False),  # a number is not a yes
        ({"meta": {"final": True}}, True),
        ({"meta": {"due": {"gte": "2026-01-01", "lte": "2026-01-31T23:59:59Z"}}}, True),
        ({"meta": {"team": {"gte": "2026-01-01"}}}, False),  # no date: out of any date range
        ({"meta": {"owner": "kim"}}, False),  # a key the document lacks
        ({"added": {"gte": "2026-06-30"}}, True),
        ({"added": {"lt": "2026-06-30T12:00:00+00:00"}}, False),
    ],
)
def test_a_filter_keeps_what_every_condition_holds_for(where: dict[str, Any], kept: bool) -> None:
    assert Filter.model_validate(where).keeps(info()) is kept


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({"lang": ["zh"]}, "filter.lang: Extra inputs are not permitted"),
        ({"language": ["fr"]}, "filter.language.0: Input should be 'en' or 'zh'"),
        ({"format": ["pdff"]}, "filter.format: unknown format 'pdff'; the formats are docx"),
        ({"tags": "hr"}, "filter.tags: Input should be a valid list"),
        ({"documents": []}, "filter.documents: List should have at least 1 item"),
        ({"meta": {"year": {}}}, "filter.meta: year: a range needs at least one of gte, gt, lte, lt"),
        ({"meta": {"year": {"from": 1}}}, "filter.meta: year: from: Extra inputs are not permitted"),
        ({"meta": {"year": {"gte": 1, "lt": "2024-01-01"}}}, "year: a range's bounds are all numbers or all dates"),
        ({"meta": {"due": {"gte": "soon"}}}, "due: 'soon' is no ISO 8601 date"),
        ({"meta": {"year": None}}, "filter.meta: year: give a value, a list of values or a range"),
        ({"meta": {"year": []}}, "year: a list of values holds at least one"),
        ({"added": {"gte": 5}}, "filter.added: the bounds of added are dates"),
        ("{not json", "filter: Invalid JSON"),
    ],
)
def test_a_wrong_filter_is_an_input_error_naming_the_field(where: Any, message: str) -> None:
    with pytest.raises(InputError) as caught:
        Filter.of(where)
    assert message in str(caught.value)


def test_equal_filters_have_one_key() -> None:
    a = Filter.model_validate({"tags": ["hr"], "meta": {"year": {"gte": 2023}}})
    b = Filter.of('{"meta": {"year": {"gte": 2023}}, "tags": ["hr"]}')
    assert b is not None and a.key() == b.key() and Filter.model_validate_json(a.key()) == a
    assert Filter.of(None) is None and Filter.of(a) is a


def test_labels_are_checked_when_a_document_is_added() -> None:
    assert check_tags([" hr ", "hr", "policy"]) == ("hr", "policy")
    assert parse_meta('{"year": 2024, "team": "hr", "final": false}') == {"year": 2024, "team": "hr", "final": False}
    assert parse_meta("") == {}
    for bad, message in [
        (lambda: check_tags([""]), "a tag is 1 to 64 characters with no comma"),
        (lambda: check_tags(["a,b"]), "no comma"),
        (lambda: check_tags([str(n) for n in range(65)]), "at most 64 tags"),
        (lambda: check_meta({"2024": 1}), "metadata key '2024': a key is a letter or _"),
        (lambda: check_meta({"year": {"a": 1}}), "metadata year: a value is a string, a number or true/false"),
        (lambda: check_meta({"x": float("nan")}), "metadata x: a value is"),
        (lambda: check_meta({"note": "x" * 1001}), "at most 1000 characters"),
        (lambda: parse_meta("[1]"), "meta must be a JSON object"),
        (lambda: parse_meta("{year: 1}"), "meta is not JSON"),
    ]:
        with pytest.raises(InputError) as caught:
            bad()
        assert message in str(caught.value)
