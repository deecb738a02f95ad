from __future__ import annotations

from pathlib import Path

import pytest

from rag.translate import NAME_CHARS, NAME_CONTEXT, NAME_WINDOWS, Dictionary, get_dictionary, translate


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Dictionary:
    return get_dictionary(tmp_path_factory.mktemp("cedict"))


def test_chinese_words_get_english_glosses(d: Dictionary) -> None:
    t = translate("多边主义面临哪些挑战？", "zh", 24, lambda _: False, d)
    assert "multilateral" in t.words
    assert "challenge" in t.words


def test_dictionary_words_are_merged_from_jieba_pieces(d: Dictionary) -> None:
    assert "一带一路" in d.segment("一带一路倡议是哪一年提出的")


def test_parsed_dictionary_is_cached(d: Dictionary, tmp_path: Path) -> None:
    first = get_dictionary(tmp_path)
    cached = list(tmp_path.glob("dictionaries/cedict-*.npz"))
    assert len(cached) == 1
    get_dictionary.cache_clear()
    assert get_dictionary(tmp_path).zh_en == first.zh_en


def test_english_phrases_get_chinese_headwords_preferring_the_corpus(d: Dictionary) -> None:
    t = translate("When was the Belt and Road Initiative proposed?", "en", 24, lambda _: False, d)
    assert t.terms["belt and road initiative"][0] == "一带一路"
    known = {"城市"}
    cities = translate("How many cities?", "en", 24, lambda w: w in known, d)
    assert cities.terms["cities"][0] == "城市"
    assert all(len(w) > 1 for ws in cities.terms.values() for w in ws)


def test_an_unlisted_compound_is_read_from_its_parts(d: Dictionary) -> None:
    # 经济带 is not in CC-CEDICT; its parts are: "Economic Belt" must count as a mention of it.
    assert ("economic", "belt") in d.compositions("经济带")
    assert d.compositions("经济") == [] and d.compositions("丝绸之路") == []


def test_names_the_dictionary_lacks_are_spelled_as_english_writes_them(d: Dictionary) -> None:
    t = translate("按刘洪的说法，万太勇在杭州提出了什么？", "zh", 24, lambda _: False, d)
    assert t.terms["刘洪"] == ["liu hong"] and t.terms["万太勇"] == ["wan taiyong"]
    assert t.terms["杭州"] == ["hangzhou"]
    assert d.spelling("苗绿", "nr") == ["miao lü", "miao lv", "miao lu"]
    # A word jieba does not tag as a name is not romanized, even when the dictionary lacks it.
    assert "熬过" not in translate("熬过起步期之后怎么样？", "zh", 24, lambda _: False, d).terms


def test_the_tagger_reads_bounded_windows_around_words_without_gloss(
    d: Dictionary, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its HMM costs milliseconds a character on text it does not know: a long run of rare characters must not reach
    # it whole, and a name must still be read from the words around it.
    read: list[str] = []
    tag = d.proper_names
    monkeypatch.setattr(d, "proper_names", lambda text: read.append(text) or tag(text))
    rare = "".join(chr(0x9F00 + i) for i in range(300))
    t = translate(f"按刘洪的说法，{rare}", "zh", 24, lambda _: False, d)
    assert t.terms["刘洪"] == ["liu hong"]
    assert 0 < len(read) <= NAME_WINDOWS
    assert all(len(w) <= 2 * NAME_CONTEXT + NAME_CHARS[1] for w in read)


def test_question_words_are_not_translated(d: Dictionary) -> None:
    t = translate("眼下在朝哪几个方向深化？大致要做哪几步？", "zh", 24, lambda _: False, d)
    assert not any(w.startswith(("哪", "几")) for w in t.terms)
