"""The LLM composer: an OpenAI-compatible endpoint writes the answer in the asker's language; we check every citation.

The assessment runs first and decides as it does for the extractive composer: when it abstains, the endpoint is
not called. Otherwise the model is shown the numbered source sentences (`rag.answer.prompt`), and its reply is
rewritten as it arrives (`rag.answer.markers`): markers for sources that were not sent are dropped, the rest
renumbered and tied to the exact span of their sentence. A sentence without a marker is unsupported;
`Answer.grounded` is the share of sentences that are not. A reply that says the sources do not answer is an
abstention. When the endpoint fails, or its reply cites none of the sources, the answer is the extractive one,
with `composer="extractive"` and a warning: a fault of the endpoint is never an error of the service.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from rag.answer.assess import Assessment, Assessor
from rag.answer.extractive import ExtractiveComposer
from rag.answer.markers import MarkerRewriter, answer_sentences, grounded_share
from rag.answer.prompt import NOT_FOUND, Source, choose_sources, messages
from rag.answer.select import citation
from rag.answer.stream import AnswerStream
from rag.answer.value import checked_value, render
from rag.data import Answer, Document
from rag.llm import ChatModel, LLMUnavailableError, RateLimitedLog
from rag.retrieval import Retrieval
from rag.settings import Settings

# A reply with no valid marker that says the sources lack the answer, in its own words.
DENIAL = re.compile(
    r"\b(?:do|does|did)(?: not|n't) (?:say|mention|contain|state|specify|provide|include|answer|give|cover)\b"
    r"|\bnot (?:mentioned|stated|specified|provided|given|covered|included)\b|\bno information\b"
    r"|没有(?:提到|提及|说明|给出|提供|涉及|相关|答案|信息)|未(?:提到|提及|说明|给出|涉及)|无法回答|不包含",
    re.I,
)
NOT_ANSWERED = {
    "en": "The sources found do not answer this question.",
    "zh": "找到的来源没有回答这个问题。",
}
FAILED = "the LLM endpoint failed ({why}); the answer quotes the sources instead"
UNCITED = "the LLM's answer cited none of the sources it was given; the answer quotes the sources instead"
UNWORDED = re.compile(r"[\W_]+")


def says_not_found(text: str, cited: bool) -> bool:
    """Whether a reply declines: it opens with the agreed sentence, or cites nothing and denies in other words."""
    plain = UNWORDED.sub("", text).lower()
    if any(plain.startswith(UNWORDED.sub("", s).lower()) for s in NOT_FOUND.values()):
        return True
    return not cited and bool(DENIAL.search(text))


class LLMComposer:
    """Answers through a chat model, with the extractive composer as the fallback."""

    name = "llm"

    def __init__(
        self,
        assessor: Assessor,
        documents: dict[str, Document],
        settings: Settings,
        model: ChatModel,
        failures: RateLimitedLog,
    ) -> None:
        self.assessor = assessor
        self.documents = documents
        self.settings = settings
        self.model = model
        self.failures = failures
        self.extractive = ExtractiveComposer(assessor, documents)

    def compose(self, retrieval: Retrieval, instructions: str = "") -> Answer:
        """The whole answer from one plain (not streamed) call."""
        return AnswerStream(self._run(retrieval, instructions, streaming=False)).answer()

    def stream(self, retrieval: Retrieval, instructions: str = "") -> Iterator[str | Answer]:
        """The answer's text as the endpoint writes it (markers already checked), then the answer."""
        yield from self._run(retrieval, instructions, streaming=True)

    def _run(self, retrieval: Retrieval, instructions: str, streaming: bool) -> Iterator[str | Answer]:
        a = self.assessor.assess(retrieval)
        if not a.decision.answer:
            yield replace(self.extractive.render(a, retrieval), composer=self.name)
            return
        s = self.settings
        sources = choose_sources(a, self.assessor.weights, self.documents, s.llm_sources, s.llm_context_chars)
        checked = checked_value(a.question, a.picked)
        n = next((src.n for src in sources if checked and src.candidate == checked[0]), None)
        note = (n, render(checked[1], retrieval.language)) if checked and n else None
        prompt = messages(retrieval.query, retrieval.language, sources, s.llm_answer_sentences, instructions, note)
        rewriter = MarkerRewriter(len(sources))
        try:
            if streaming:
                started = False
                for piece in self.model.stream(prompt):
                    # Pieces add up to the answer's text: no leading whitespace, no trailing (below).
                    out = rewriter.feed(piece) if started else rewriter.feed(piece).lstrip()
                    if out:
                        started = True
                        yield out
            else:
                rewriter.feed(self.model.complete(prompt))
            if (tail := rewriter.flush().rstrip()) and streaming:
                yield tail
            if not rewriter.text.strip():
                raise LLMUnavailableError("the answer was empty")
        except LLMUnavailableError as exc:
            self.failures.warning(
                "the LLM endpoint failed: %s %s; answering with quotes from the sources", exc, exc.detail
            )
            yield self.extractive.render(a, retrieval, FAILED.format(why=exc))
            return
        yield self._answer(a, retrieval, sources, rewriter)

    def _answer(self, a: Assessment, retrieval: Retrieval, sources: list[Source], rewriter: MarkerRewriter) -> Answer:
        lang, text = retrieval.language, rewriter.text.strip()
        confidence = a.decision.confidence
        if says_not_found(text, bool(rewriter.mapping)):
            return Answer(
                retrieval.query,
                text,
                True,
                lang,
                confidence=confidence,
                reason=NOT_ANSWERED[lang],
                composer=self.name,
                passages=retrieval.hits,
            )
        if not rewriter.mapping:
            self.failures.warning("%s", UNCITED)
            return self.extractive.render(a, retrieval, UNCITED)
        citations = []
        for n, m in sorted(rewriter.mapping.items(), key=lambda item: item[1]):
            citations.append(citation(m, sources[n - 1].candidate, a.question, self.assessor.weights, self.documents))
        sentences = answer_sentences(text)
        return Answer(
            retrieval.query,
            text,
            False,
            lang,
            confidence=confidence,
            composer=self.name,
            grounded=grounded_share(sentences),
            sentences=sentences,
            citations=citations,
            passages=retrieval.hits,
        )
