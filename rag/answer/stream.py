"""One answer as it is written: iterate an `AnswerStream` for its text, or call `.answer()` for the whole `Answer`.

A composer (or a server's event stream) gives the answer's text in pieces, or none, and then the `Answer`, whose
text is the truth: what the pieces left out is sent in the pieces of a finished text. Should that text not
continue what was sent (the LLM endpoint failed midway and the sources are quoted instead), the stream says
`Reset` and sends the answer's text again. Every edge renders these events; none decodes the parts itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rag.data import Answer

# A stream of a finished text: pieces that end after whitespace or Chinese punctuation.
DELTA = re.compile(r".+?(?:\s+|[。，；！？、]|$)", re.S)


def pieces(text: str) -> list[str]:
    """A finished text in the pieces a stream sends it in."""
    return DELTA.findall(text)


@dataclass(frozen=True)
class Delta:
    """More of the answer's text."""

    text: str


@dataclass(frozen=True)
class Reset:
    """Drop the text sent so far: the deltas of the answer that replaces it follow; `warning` says why."""

    warning: str


Event = Delta | Reset
Part = str | Reset | Answer


class AnswerStream:
    """The events of one answer, then the answer itself, in the manner of simonw/llm's `Response`.

    Nothing runs until the stream is first stepped (iterated, `start()` or `answer()`), so an error of the
    question, of retrieval or of the composer is raised there, as the `RagError` it is. `timings` is the dict its
    producer fills in as it runs (the pipeline's retrieve, compose and total milliseconds; remotely, the server's).
    """

    def __init__(self, parts: Iterable[Part], timings: dict[str, float] | None = None) -> None:
        self._parts = iter(parts)
        self.timings: dict[str, float] = {} if timings is None else timings
        self._first: Part | None = None
        self._sent = ""
        self._answer: Answer | None = None

    def start(self) -> AnswerStream:
        """Run up to the first part, so that its errors are raised before anything is sent; the stream itself."""
        if self._first is None and self._answer is None:
            self._first = self._next()
        return self

    def _next(self) -> Part:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        part = next(self._parts, None)
        if part is None:
            raise RuntimeError("the answer stream ended without its answer")
        return part

    def __iter__(self) -> Iterator[Event]:
        while self._answer is None:
            part = self._next()
            if isinstance(part, Answer):
                self._answer = part
                yield from self._rest(part)
            elif isinstance(part, Reset):
                self._sent = ""
                yield part
            else:
                self._sent += part
                yield Delta(part)

    def _rest(self, answer: Answer) -> Iterator[Event]:
        if not answer.text.startswith(self._sent):
            self._sent = ""
            yield Reset(answer.warning)
        for piece in pieces(answer.text[len(self._sent) :]):
            yield Delta(piece)

    def answer(self) -> Answer:
        """The whole answer, running whatever of the stream has not run."""
        while self._answer is None:
            for _ in self:
                pass
        return self._answer
