from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rag.answer.markers import MarkerRewriter, answer_sentences, grounded_share, rewrite


def test_invented_markers_go_and_the_rest_are_renumbered_by_first_use() -> None:
    r = rewrite("Founded in 2014 [3]. Invented [9]. Both [3, 1] and [2][2].", sources=3)
    assert r.text == "Founded in 2014 [1]. Invented. Both [1][2] and [3]."
    assert r.mapping == {3: 1, 1: 2, 2: 3}
    assert r.dropped == [9]


def test_full_width_and_chinese_markers() -> None:
    r = rewrite("丝路基金成立于2014年【2】。亚投行于2016年开业［1］。未知【7】。", sources=2)
    assert r.text == "丝路基金成立于2014年[1]。亚投行于2016年开业[2]。未知。"
    assert r.mapping == {2: 1, 1: 2}


def test_a_dropped_marker_leaves_no_stray_space() -> None:
    assert rewrite("a word [9] next [8].", sources=2).text == "a word next."


def test_years_in_brackets_and_unclosed_brackets_are_text() -> None:
    assert rewrite("As in [2013], see [1", sources=3).text == "As in [2013], see [1"


@given(st.lists(st.integers(min_value=1, max_value=8), min_size=1, max_size=12), st.data())
def test_streaming_in_any_pieces_gives_the_whole_text_rewrite(cuts: list[int], data: st.DataObject) -> None:
    text = data.draw(
        st.text(alphabet="ab .。[]【】,0123456789\n", min_size=0, max_size=80) | st.just("x [1] y [12], z【2】 [3, 4].")
    )
    streamer = MarkerRewriter(sources=3)
    out, at = [], 0
    for cut in cuts * 20:
        if at >= len(text):
            break
        out.append(streamer.feed(text[at : at + cut]))
        at += cut
    out.append(streamer.feed(text[at:]))
    out.append(streamer.flush())
    whole = rewrite(text, sources=3)
    assert "".join(out) == whole.text == streamer.text
    assert streamer.mapping == whole.mapping


def test_sentences_carry_their_markers_and_the_grounded_share() -> None:
    sentences = answer_sentences("Founded in 2014. [1] It invests. Trade grew 14.8% [2].\n- 一带一路于2013年提出。[3]")
    assert [(s.text, s.citations) for s in sentences] == [
        ("Founded in 2014. [1]", (1,)),
        ("It invests.", ()),
        ("Trade grew 14.8% [2].", (2,)),
        ("- 一带一路于2013年提出。[3]", (3,)),
    ]
    assert grounded_share(sentences) == 0.75
    assert grounded_share([]) == 1.0
