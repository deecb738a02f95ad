"""Selection: which candidate sentences an answer quotes.

Each candidate scores by semantic and lexical evidence together (a lexical match alone misses paraphrase; a
semantic one alone misses the exact term), with a small cost per passage rank. The best goes first; others
follow when they add a concept the picks miss (the other part of a two-part question, another item of a list)
or score nearly as well, within a character budget. The kind of fact asked is not something selection adds on
its own: a sentence with some year beside a sentence on the topic is how near misses look (a signing date for
an entry-into-force question), and the decision needs to see that the best evidence lacks it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.answer.evidence import Candidate
from rag.answer.question import Question
from rag.data import Citation, Document
from rag.settings import Settings


@dataclass(frozen=True)
class SelectionWeights:
    """The knobs of selection, from `Settings` (chosen on the tune split)."""

    lexical: float
    rank_penalty: float
    keep_margin: float
    max_sentences: int
    max_chars: int

    @classmethod
    def from_settings(cls, s: Settings) -> SelectionWeights:
        """The weights the settings hold."""
        return cls(
            s.answer_lexical_weight,
            s.answer_rank_penalty,
            s.answer_keep_margin,
            s.answer_sentences,
            s.answer_max_chars,
        )


def score(question: Question, c: Candidate, w: SelectionWeights) -> float:
    """How well one candidate answers the question on its own."""
    return c.semantic + w.lexical * c.lexical - w.rank_penalty * c.rank


def citation(
    n: int, cand: Candidate, question: Question, w: SelectionWeights, documents: dict[str, Document]
) -> Citation:
    """The citation `[n]` for a candidate: the exact span of its sentence, scored as selection scores it."""
    s = cand.sentence
    span = documents[s.doc].text[s.start : s.end]
    return Citation(n, s.doc, s.start, s.end, span, round(score(question, cand, w), 4), s.page, s.section)


def select(question: Question, candidates: list[Candidate], w: SelectionWeights) -> list[Candidate]:
    """The sentences to quote, best first; empty when there are no candidates."""
    ranked = sorted(candidates, key=lambda c: (-score(question, c, w), c.n))
    if not ranked:
        return []
    best = score(question, ranked[0], w)
    picked = [ranked[0]]
    chars = len(ranked[0].text)
    for cand in ranked[1:]:
        if len(picked) >= w.max_sentences:
            break
        texts = [p.text for p in picked]
        # The same words twice (a table row repeated, a sentence quoted in two documents) say nothing new.
        if chars + len(cand.text) > w.max_chars or cand.text in texts:
            continue
        gain = question.coverage([*texts, cand.text]) - question.coverage(texts)
        if gain > 0 or score(question, cand, w) >= best - w.keep_margin:
            picked.append(cand)
            chars += len(cand.text)
    return picked
