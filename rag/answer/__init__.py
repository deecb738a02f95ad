"""The answer step: from retrieved passages to a cited answer, or an abstention that says what was missing.

question (what is asked) → evidence (numbered candidate sentences) → select → decide (calibrated
answerability) → a `Composer` renders the answer. The extractive composer is the offline default; the LLM
composer (`RAG_COMPOSER=llm`) has an OpenAI-compatible endpoint write it from the numbered candidates.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from rag.data import Answer
from rag.retrieval import Retrieval


class Composer(Protocol):
    """Turns a retrieval into an answer.

    It takes the whole `Retrieval` rather than (question, language, hits): the retrieval also carries the
    centred query vectors and the dictionary translation that evidence scoring reads, so nothing is embedded
    twice.
    """

    name: str

    def compose(self, retrieval: Retrieval, instructions: str = "") -> Answer:
        """A cited answer or an abstention; `instructions` are an operator's (a chat's system message)."""
        ...

    def stream(self, retrieval: Retrieval, instructions: str = "") -> Iterator[str | Answer]:
        """The answer's text in pieces as it is written (if it is), then the `Answer`; see `rag.answer.stream`."""
        ...
