"""The extractive composer: the selected sentences quoted as they stand, each followed by its `[n]` marker.

Quotes come in reading order within a document (documents in the order of their best sentence), so a
passage reads as it does in its source. When a year, a date or a quantity is asked and a quoted sentence
states exactly one, that value comes first, written in the asker's language and cited (`rag.answer.value`).
The offline default: no model writes anything.
"""

from __future__ import annotations

from collections.abc import Iterator

from rag.answer.assess import Assessment, Assessor
from rag.answer.evidence import Candidate
from rag.answer.select import citation
from rag.answer.value import checked_value, render
from rag.data import Answer, AnswerSentence, Document
from rag.errors import InputError
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

    def compose(self, retrieval: Retrieval, instructions: str = "") -> Answer:
        """An answer for the retrieval's question, or an abstention saying what was missing.

        It quotes and cannot follow instructions: InputError when there are any.
        """
        if instructions.strip():
            raise InputError(
                "the extractive composer quotes the documents and cannot follow instructions (a system message); "
                "configure an LLM (RAG_COMPOSER=llm) or leave the system message out"
            )
        return self.render(self.assessor.assess(retrieval), retrieval)

    def stream(self, retrieval: Retrieval, instructions: str = "") -> Iterator[str | Answer]:
        """The answer, written whole (its `AnswerStream` sends the text in pieces)."""
        yield self.compose(retrieval, instructions)

    @staticmethod
    def _short_answer(a: Assessment, ordered: list[Candidate], lang: str) -> AnswerSentence | None:
        """The checked value in the asker's language, cited by the number of the sentence that states it."""
        checked = checked_value(a.question, a.picked)
        if checked is None:
            return None
        source, value = checked
        n = ordered.index(source) + 1
        return AnswerSentence(
            f"{render(value, lang)}[{n}]。" if lang == "zh" else f"{render(value, lang)} [{n}].", (n,)
        )

    def render(self, a: Assessment, retrieval: Retrieval, warning: str = "") -> Answer:
        """The answer an assessment gives: the selected sentences quoted, or the abstention with its reason."""
        lang = retrieval.language
        confidence, reason = a.decision.confidence, a.decision.reason
        if not a.decision.answer:
            return Answer(
                retrieval.query,
                ABSTAIN[lang],
                True,
                lang,
                confidence=confidence,
                reason=reason,
                composer=self.name,
                warning=warning,
                passages=retrieval.hits,
            )
        doc_order = list(dict.fromkeys(p.sentence.doc for p in a.picked))
        ordered = sorted(a.picked, key=lambda p: (doc_order.index(p.sentence.doc), p.sentence.start))
        parts = [CROSS_NOTE[lang]] if all(p.sentence.language != lang for p in ordered) else []
        citations, sentences = [], []
        for n, p in enumerate(ordered, start=1):
            s = p.sentence
            citations.append(citation(n, p, a.question, self.assessor.weights, self.documents))
            sentences.append(AnswerSentence(f"{s.text} [{n}]", (n,)))
            parts.append(sentences[-1].text)
        short = self._short_answer(a, ordered, lang)
        if short is not None:
            sentences.insert(0, short)
            parts.insert(0, short.text)
        text = ("" if lang == "zh" else " ").join(parts)
        return Answer(
            retrieval.query,
            text,
            False,
            lang,
            confidence=confidence,
            composer=self.name,
            warning=warning,
            sentences=sentences,
            citations=citations,
            passages=retrieval.hits,
        )
