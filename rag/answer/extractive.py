"""The extractive composer: the selected sentences quoted as they stand, each followed by its `[n]` marker.

Quotes come in reading order within a document (documents in the order of their best sentence), so a
passage reads as it does in its source. The offline default: no model writes anything.
"""

from __future__ import annotations

from rag.answer.assess import Assessor
from rag.answer.select import score
from rag.data import Answer, Citation, Document
from rag.retrieval import Retrieval

ABSTAIN = {
    "en": "The documents do not contain an answer to this question.",
    "zh": "文档中没有找到这个问题的答案。",
}
CROSS_NOTE = {
    "en": "The sources for this answer are in Chinese; they are quoted as written.",
    "zh": "以下依据来自英文文献，按原文引用。",
}


class ExtractiveComposer:
    """Quotes the evidence the assessment selected, or abstains with the reason."""

    name = "extractive"

    def __init__(self, assessor: Assessor, documents: dict[str, Document]) -> None:
        self.assessor = assessor
        self.documents = documents

    def compose(self, retrieval: Retrieval) -> Answer:
        """An answer for the retrieval's question, or an abstention saying what was missing."""
        a = self.assessor.assess(retrieval)
        lang = retrieval.language
        confidence, reason = a.decision.confidence, a.decision.reason
        if not a.decision.answer:
            return Answer(retrieval.query, ABSTAIN[lang], True, lang, [], retrieval.hits, confidence, reason, self.name)
        doc_order = list(dict.fromkeys(p.sentence.doc for p in a.picked))
        ordered = sorted(a.picked, key=lambda p: (doc_order.index(p.sentence.doc), p.sentence.start))
        parts = [CROSS_NOTE[lang]] if all(p.sentence.language != lang for p in ordered) else []
        citations = []
        for n, p in enumerate(ordered, start=1):
            s = p.sentence
            source = self.documents[s.doc].text[s.start : s.end]
            weight = round(score(a.question, p, self.assessor.weights), 4)
            citations.append(Citation(n, s.doc, s.start, s.end, source, weight, s.page))
            parts.append(f"{s.text} [{n}]")
        text = ("" if lang == "zh" else " ").join(parts)
        return Answer(retrieval.query, text, False, lang, citations, retrieval.hits, confidence, "", self.name)
