from __future__ import annotations

from rag.question import QUANTITY, YEAR, asked_type


def test_asked_type() -> None:
    assert asked_type("When did China join the WTO?") is YEAR
    assert asked_type("一带一路倡议是哪一年提出的？") is YEAR
    assert asked_type("How many projects were approved?") is QUANTITY
    assert asked_type("有多少国家和地区加入？") is QUANTITY
    assert asked_type("What is hard connectivity?") is None


def test_quantity_ignores_ordinals_and_a() -> None:
    assert not QUANTITY.search("中国是第一个签字的国家，也是唯一一个发展中国家")
    assert QUANTITY.search("已有11个疫苗") and QUANTITY.search("八个国家")
