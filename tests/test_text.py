from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rag.text import QUANTITY, asked_type, content_length, detect_language, display, sentence_spans


def test_asked_type() -> None:
    assert asked_type("When did China join the WTO?") == "year"
    assert asked_type("一带一路倡议是哪一年提出的？") == "year"
    assert asked_type("How many projects were approved?") == "quantity"
    assert asked_type("What share of world GDP do the BRICS hold?") == "quantity"
    assert asked_type("有多少国家和地区加入？") == "quantity"
    assert asked_type("What is hard connectivity?") is None
    # "When" as a conjunction asks no date; as a question word, in any clause, it does.
    assert asked_type("Where was Xi Jinping when he proposed the Maritime Silk Road?") is None
    assert asked_type("What does rsync's --delete do when mirroring a directory?") is None
    assert asked_type("Why is it 127.0.1.1, and when should I change it?") is None
    assert asked_type("Who wrote it, and when did he write it?") == "year"
    # 哪几 asks which ones, 第几 a rank: neither is answered by a count.
    assert asked_type("中国有几个项目？") == "quantity"
    assert asked_type("一带一路眼下在朝哪几个方向深化？") is None
    assert asked_type("中国的投票权升到了第几位？") is None


def test_quantity_ignores_ordinals_and_a() -> None:
    assert not QUANTITY.search("中国是第一个签字的国家，也是唯一一个发展中国家")
    assert QUANTITY.search("已有11个疫苗") and QUANTITY.search("八个国家")


def test_sentences_split_on_both_languages_and_keep_abbreviations() -> None:
    text = "It grew, e.g. in trade. Then it fell! 中国加入了世贸组织。随后开放。\nA heading"
    pieces = [text[s:e] for s, e in sentence_spans(text, 400)]
    assert pieces == ["It grew, e.g. in trade.", "Then it fell!", "中国加入了世贸组织。", "随后开放。", "A heading"]


def test_long_sentences_are_cut_at_clause_marks() -> None:
    text = "，".join(["这是一个很长的分句"] * 40) + "。"
    spans = sentence_spans(text, 100)
    assert len(spans) > 1 and all(e - s <= 100 for s, e in spans)
    assert "".join(text[s:e] for s, e in spans) == text


def test_long_sentences_are_not_cut_inside_a_quotation() -> None:
    text = (
        "In November of the same year, the United Nations Development Programme and China signed the "
        '"Memorandum of Understanding on Jointly Promoting the One Belt, One Road Initiative", the first of its kind'
    )
    for s, e in sentence_spans(text, 150):
        assert text[s:e].count('"') % 2 == 0, text[s:e]
    assert len(sentence_spans(text, 150)) > 1


@given(st.text(alphabet="ab .!?\n。，中文", max_size=120))
def test_sentence_spans_are_ordered_trimmed_and_inside(text: str) -> None:
    prev = 0
    for s, e in sentence_spans(text, 40):
        assert prev <= s < e <= len(text)
        assert text[s:e] == text[s:e].strip()
        prev = e


def test_display_joins_lines_as_a_reader_sees_them() -> None:
    assert display("The resolver\n   queries them") == "The resolver queries them"
    assert display("中国加入\n世界贸易组织") == "中国加入世界贸易组织"
    assert content_length("ab 中文") == 6
    assert detect_language("这是中文 with a few words") == "zh"
