"""The OpenAI-compatible routes and the LLM composer over real HTTP: the service on uvicorn, the LLM scripted."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from rag import Pipeline, Settings
from rag.offline import get_encoding
from rag.serve.app import create_app

from ..conftest import FakeEmbedder, free_port, serving
from ..scripted_llm import Reply, ScriptedLLM, sources_of

ZH_QUESTION = "丝路基金是哪一年成立的？"
EN_QUESTION = "When was the Silk Road Fund set up?"


@pytest.fixture
def llm_url(llm_pipe: Pipeline) -> Iterator[str]:
    with serving(create_app(llm_pipe, with_ui=False)) as url:
        yield url


def sse(lines: Iterator[str]) -> Iterator[tuple[float, str, dict[str, Any]]]:
    """(arrival time, event, data) of each server-sent event."""
    event = ""
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            yield time.monotonic(), event, json.loads(line[6:])


def test_models_text_parts_and_usage(client: TestClient, settings: Settings) -> None:
    assert client.get("/v1/models").json()["data"][0]["id"] == "rag-bilingual"
    assert client.get("/v1/models/rag-bilingual").json()["object"] == "model"
    assert client.get("/v1/models/gpt-4").status_code == 404
    messages = [{"role": "user", "content": [{"type": "text", "text": EN_QUESTION}]}]
    body = client.post("/v1/chat/completions", json={"messages": messages}).json()
    content = body["choices"][0]["message"]["content"]
    assert "2014" in content and body["citations"][0]["n"] == 1
    enc: Any = get_encoding(settings.tiktoken_encoding, settings.cache_dir / "tiktoken")
    assert body["usage"]["completion_tokens"] == len(enc.encode(content))
    # 3 tokens of framing per message and 3 that prime the reply, as OpenAI counts them.
    assert body["usage"]["prompt_tokens"] == 3 + len(enc.encode("user")) + len(enc.encode(EN_QUESTION)) + 3
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
    r = client.post("/v1/chat/completions", json={"messages": image})
    assert r.status_code == 422 and "only text content" in r.json()["error"]["message"]
    tool = [{"role": "tool", "content": "42"}, {"role": "user", "content": EN_QUESTION}]
    assert client.post("/v1/chat/completions", json={"messages": tool}).status_code == 422


def test_without_an_llm_a_follow_up_is_answered_as_written(client: TestClient, fake_pipe: Pipeline) -> None:
    messages = [
        {"role": "user", "content": "What does the fund invest in?"},
        {"role": "assistant", "content": "It invests in infrastructure along the route. [1]"},
        {"role": "user", "content": EN_QUESTION},
    ]
    body = client.post("/v1/chat/completions", json={"messages": messages}).json()
    assert body["choices"][0]["message"]["content"] == fake_pipe.ask(EN_QUESTION).text


def test_ask_streams_the_llms_tokens_over_http_before_the_end(
    llm_url: str, llm: ScriptedLLM, llm_pipe: Pipeline
) -> None:
    llm.replies(Reply(pieces=["丝路基金", "成立于", "2014年", "[1]", "[7]。"], piece_delay_s=0.3))
    with httpx.stream("POST", f"{llm_url}v1/ask", json={"question": ZH_QUESTION, "stream": True}, timeout=30) as r:
        assert r.status_code == 200
        events = list(sse(r.iter_lines()))
    deltas = [(t, d["text"]) for t, kind, d in events if kind == "delta"]
    done_at, kind, done = events[-1]
    assert kind == "done" and done["composer"] == "llm" and done["grounded"] == 1.0
    assert "".join(text for _, text in deltas) == done["answer"] == "丝路基金成立于2014年[1]。"
    assert deltas[0][0] < done_at - 0.8
    [citation] = done["citations"]
    doc = llm_pipe.documents[citation["doc"]]
    assert doc.text[citation["start"] : citation["end"]] == citation["text"]


def test_chat_completions_stream_through_the_sdk_and_honour_the_system_message(llm_url: str, llm: ScriptedLLM) -> None:
    llm.replies(Reply(pieces=["The fund ", "was set up ", "in 2014 [1]."], piece_delay_s=0.3))
    sdk = openai.OpenAI(base_url=f"{llm_url}v1", api_key="unused")
    messages: Any = [{"role": "system", "content": "Answer like a pirate."}, {"role": "user", "content": EN_QUESTION}]
    t0 = time.monotonic()
    arrivals, pieces, final = [], [], None
    for chunk in sdk.chat.completions.create(model="rag-bilingual", messages=messages, stream=True):
        arrivals.append(time.monotonic() - t0)
        pieces.append(chunk.choices[0].delta.content or "")
        if chunk.choices[0].finish_reason == "stop":
            final = chunk
    assert "".join(pieces) == "The fund was set up in 2014 [1]."
    assert (
        final is not None
        and (final.model_extra or {})["citations"][0]["text"] == "The Silk Road Fund was set up in 2014."
    )
    assert arrivals[1] < arrivals[-1] - 0.5
    assert "Answer like a pirate." in llm.answering()[-1]["messages"][0]["content"]


def test_a_follow_up_is_rewritten_by_the_llm_before_retrieval(llm_url: str, llm: ScriptedLLM) -> None:
    def script(body: dict[str, Any]) -> Reply:
        sources = sources_of(body)
        if not sources:
            return Reply("What does the Silk Road Fund invest in?")
        best = next(n for n, text in sources.items() if "invests" in text)
        return Reply(f"It invests in infrastructure along the route [{best}].")

    llm.reply = script
    messages = [
        {"role": "user", "content": EN_QUESTION},
        {"role": "assistant", "content": "The Silk Road Fund was set up in 2014. [1]"},
        {"role": "user", "content": "And what does it invest in?"},
    ]
    body = httpx.post(f"{llm_url}v1/chat/completions", json={"messages": messages}, timeout=30).json()
    rewrite, answer = llm.requests
    assert (
        "And what does it invest in?" in rewrite["messages"][1]["content"]
        and "2014" in rewrite["messages"][1]["content"]
    )
    assert answer["messages"][1]["content"].endswith("Question: What does the Silk Road Fund invest in?")
    assert body["choices"][0]["message"]["content"] == "It invests in infrastructure along the route [1]."
    assert body["citations"][0]["text"] == "It invests in infrastructure along the route."


def test_a_stopped_endpoint_gets_extractive_answers_and_no_5xx(settings: Settings) -> None:
    down = settings.model_copy(
        update={"composer": "llm", "llm_base_url": f"http://127.0.0.1:{free_port()}/v1", "llm_model": "m"}
    )
    pipe = Pipeline.load(down, embedder=FakeEmbedder())
    with serving(create_app(pipe, with_ui=False)) as url:
        ask = httpx.post(f"{url}v1/ask", json={"question": ZH_QUESTION}, timeout=30)
        with httpx.stream("POST", f"{url}v1/ask", json={"question": ZH_QUESTION, "stream": True}, timeout=30) as r:
            events = list(sse(r.iter_lines()))
        chat = httpx.post(
            f"{url}v1/chat/completions",
            json={
                "messages": [
                    {"role": "user", "content": "Earlier"},
                    {"role": "assistant", "content": "x"},
                    {"role": "user", "content": ZH_QUESTION},
                ]
            },
            timeout=30,
        )
    assert (
        ask.status_code == 200 and ask.json()["composer"] == "extractive" and "cannot connect" in ask.json()["warning"]
    )
    assert ask.json()["citations"][0]["text"] == "The Silk Road Fund was set up in 2014."
    assert events[-1][1] == "done" and events[-1][2]["composer"] == "extractive"
    assert chat.status_code == 200 and chat.json()["composer"] == "extractive" and chat.json()["citations"]
