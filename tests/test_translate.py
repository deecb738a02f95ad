from __future__ import annotations

from rag.translate import get_dictionary, translate


def test_chinese_words_get_english_glosses() -> None:
    t = translate("多边主义面临哪些挑战？", "zh", 24)
    assert "multilateral" in t.words
    assert "challenge" in t.words


def test_dictionary_words_are_merged_from_jieba_pieces() -> None:
    assert "一带一路" in get_dictionary().segment("一带一路倡议是哪一年提出的")


def test_english_phrases_get_chinese_headwords_preferring_the_corpus() -> None:
    t = translate("When was the Belt and Road Initiative proposed?", "en", 24)
    assert t.terms["belt and road initiative"][0] == "一带一路"
    known = {"城市"}
    cities = translate("How many cities?", "en", 24, known=lambda w: w in known)
    assert cities.terms["cities"][0] == "城市"
    assert all(len(w) > 1 for ws in cities.terms.values() for w in ws)
