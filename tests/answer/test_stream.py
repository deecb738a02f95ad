"""`AnswerStream` over a fake composer's parts: deltas, a reset, the whole answer, and errors on the first step."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from rag.answer.stream import AnswerStream, Delta, Reset
from rag.data import Answer, AnswerSentence, Citation, Hit
from rag.errors import InputError
from rag.serve.models import AskResponse, answer_body, answer_of, edge_model

ANSWER = Answer(
    "When was the fund set up?",
    "It was set up in 2014 [1].",
    False,
    "en",
    confidence=0.9,
    sentences=[AnswerSentence("It was set up in 2014 [1].", (1,))],
    citations=[Citation(1, "en.txt", 0, 38, "The Silk Road Fund was set up in 2014.", 1.5, page=2, section="Fund")],
    passages=[Hit("en.txt", 0, 80, "The Silk Road Fund was set up in 2014. It invests.", 0.06, 7, "en")],
)


def composer(*parts: str | Answer, log: list[str] | None = None) -> Iterator[str | Answer]:
    """A composer's stream: `log` hears when it starts, so a test sees that nothing ran before the first step."""
    if log is not None:
        log.append("started")
    yield from parts


def texts(events: list[Delta | Reset]) -> str:
    return "".join(e.text for e in events if isinstance(e, Delta))


def test_the_pieces_pass_as_deltas_and_the_answer_adds_what_they_left_out() -> None:
    stream = AnswerStream(composer("It was ", "set up", ANSWER))
    events = list(stream)
    assert events[:2] == [Delta("It was "), Delta("set up")]
    assert all(isinstance(e, Delta) for e in events) and texts(events) == ANSWER.text
    assert stream.answer() is ANSWER


def test_an_answer_written_whole_is_sent_in_pieces() -> None:
    events = list(AnswerStream(composer(ANSWER)))
    assert len(events) > 1 and texts(events) == ANSWER.text


def test_an_answer_that_does_not_continue_the_text_sent_resets_it() -> None:
    fallback = replace(ANSWER, text="2014 [1]. The fund was set up in 2014. [1]", warning="the LLM endpoint failed")
    events = list(AnswerStream(composer("The fund ", "was", fallback)))
    assert events[:3] == [Delta("The fund "), Delta("was"), Reset("the LLM endpoint failed")]
    assert texts(events[3:]) == fallback.text


def test_a_reset_from_the_producer_starts_the_text_again_and_is_passed_on() -> None:
    """A server's `reset` event (the remote client's parts): the answer then continues the text after it."""
    events = list(AnswerStream(composer("Half an ans", Reset("cut off"), "It was set up", ANSWER)))
    assert events[:3] == [Delta("Half an ans"), Reset("cut off"), Delta("It was set up")]
    assert Reset("cut off") not in events[3:] and texts(events[2:]) == ANSWER.text


def test_answer_runs_the_rest_of_a_stream_stopped_midway() -> None:
    stream = AnswerStream(composer("It was ", "set up", ANSWER))
    assert next(iter(stream)) == Delta("It was ")
    assert stream.answer() is ANSWER and list(stream) == []


def test_nothing_runs_until_the_first_step_and_its_error_is_raised_there() -> None:
    def refusing() -> Iterator[str | Answer]:
        raise InputError("the question is empty; type a question in English or Chinese")
        yield ANSWER

    log: list[str] = []
    stream = AnswerStream(composer(ANSWER, log=log))
    assert log == []
    assert stream.start() is stream and log == ["started"]
    assert texts(list(stream)) == ANSWER.text  # the part `start` ran ahead to is not lost
    for step in (lambda s: s.start(), lambda s: next(iter(s)), lambda s: s.answer()):
        with pytest.raises(InputError, match="the question is empty"):
            step(AnswerStream(refusing()))


def test_a_stream_that_ends_without_its_answer_says_so() -> None:
    with pytest.raises(RuntimeError, match="ended without its answer"):
        AnswerStream(composer("It was ")).answer()


def test_the_api_body_is_derived_from_the_answer_and_reads_back_into_it() -> None:
    body = answer_body(ANSWER, {"total": 1.5})
    assert list(body) == [*AskResponse.model_json_schema(mode="serialization")["properties"]]
    assert body["answer"] == ANSWER.text and "question" not in body and body["timings_ms"] == {"total": 1.5}
    assert body["citations"][0] == {
        "doc": "en.txt",
        "start": 0,
        "end": 38,
        "text": "The Silk Road Fund was set up in 2014.",
        "score": 1.5,
        "page": 2,
        "section": "Fund",
        "n": 1,
    }
    assert "chunk_id" not in body["passages"][0] and body["sentences"][0]["supported"] is True
    # The hit's retrieval bookkeeping is not sent, so it reads back as unknown; all else is as it was.
    assert answer_of(body, ANSWER.question) == replace(
        ANSWER, passages=[replace(h, chunk_id=-1, language="") for h in ANSWER.passages]
    )


def test_a_derived_model_refuses_to_describe_a_field_its_record_lacks() -> None:
    with pytest.raises(TypeError, match=r"Hit has no fields \['confidence'\]"):
        edge_model(Hit, describe={"confidence": "not a field of a hit"})
