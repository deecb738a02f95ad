from __future__ import annotations

from rag.answer.evidence import Candidate
from rag.answer.question import Concept, Question
from rag.answer.select import SelectionWeights, score, select
from rag.data import Sentence

WEIGHTS = SelectionWeights(lexical=1.0, rank_penalty=0.01, keep_margin=0.05, max_sentences=3, max_chars=300)


def concept(word: str, weight: float = 1.0) -> Concept:
    return Concept(word, frozenset({frozenset({word})}), frozenset(), weight)


def cand(n: int, text: str, semantic: float, lexical: float, rank: int = 0) -> Candidate:
    return Candidate(n, Sentence(n, "d.txt", n * 100, n * 100 + len(text), text, "en"), rank, semantic, lexical)


QUESTION = Question("When was the fund set up and where is the bank?", "en", (concept("fund"), concept("bank")), "year")


def test_semantic_and_lexical_evidence_add_up() -> None:
    paraphrase = cand(1, "The facility was created in 2014.", semantic=0.5, lexical=0.0)
    keyword = cand(2, "The fund is large.", semantic=0.1, lexical=0.3)
    assert score(QUESTION, paraphrase, WEIGHTS) > score(QUESTION, keyword, WEIGHTS)
    assert score(QUESTION, cand(5, "x", 0.2, 0.2, rank=5), WEIGHTS) < score(QUESTION, cand(6, "x", 0.2, 0.2), WEIGHTS)


def test_second_part_of_a_question_gets_its_own_sentence() -> None:
    fund = cand(1, "The fund was set up in 2014.", semantic=0.6, lexical=0.5)
    bank = cand(2, "The bank sits in Beijing.", semantic=0.2, lexical=0.5)
    filler = cand(3, "The fund is a fund.", semantic=0.2, lexical=0.5)
    picked = select(QUESTION, [filler, bank, fund], WEIGHTS)
    assert picked[0] is fund and bank in picked and filler not in picked


def test_budget_and_count_are_kept() -> None:
    many = [cand(i, f"The fund and the bank, item {i}.", semantic=0.5, lexical=1.0) for i in range(1, 8)]
    assert len(select(QUESTION, many, WEIGHTS)) == 3
    tight = SelectionWeights(1.0, 0.01, 0.05, 3, 40)
    assert len(select(QUESTION, many, tight)) == 1
    assert select(QUESTION, [], WEIGHTS) == []


def test_the_same_sentence_is_not_quoted_twice() -> None:
    row = "fail2ban | bans IPs that cause many authentication errors"
    first, again = cand(1, row, semantic=0.6, lexical=0.5), cand(2, row, semantic=0.6, lexical=0.5, rank=1)
    other = cand(3, "The fund and the bank are old.", semantic=0.58, lexical=0.5)
    assert select(QUESTION, [first, again, other], WEIGHTS) == [first, other]
