"""The OpenAI-compatible routes: `/v1/models` and `/v1/chat/completions`, as the official SDK and chat tools use them.

A conversation's last user message is the question; the earlier turns make a follow-up stand on its own (with an
LLM configured, see `rag.conversation`). System (or developer) messages are the operator's instructions: the LLM
composer follows them, the extractive one cannot and says so with 422. Content may be a string or a list of
text parts. Citations ride in an extra `citations` field (in the last chunk when streaming), and `usage` counts
tokens with tiktoken.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from rag.answer.stream import Delta
from rag.conversation import Turn
from rag.data import Answer
from rag.errors import InputError, NotFoundError
from rag.filters import Filter
from rag.offline import get_encoding
from rag.serve.models import citation
from rag.serve.service import Service

MODEL_NAME = "rag-bilingual"
# OpenAI's accounting for chat prompts: a few tokens of framing per message, and three that prime the reply.
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3
INSTRUCTION_ROLES = frozenset({"system", "developer"})


class TextPart(BaseModel):
    """A part of a message's content; only text parts are read."""

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    """One OpenAI-style chat message."""

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        """The content as one string; InputError for parts that are not text (images, audio, files)."""
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        other = sorted({p.type for p in self.content if p.type != "text"})
        if other:
            raise InputError(f"only text content is supported, got parts of type {', '.join(other)}")
        return "\n".join(p.text or "" for p in self.content)


class ChatRequest(BaseModel):
    """The subset of OpenAI's chat completions request this service reads."""

    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    stream: bool = Field(default=False, strict=True)
    filter: Filter | None = Field(default=None, description="Not OpenAI's: the documents to answer from.")


def conversation(messages: list[ChatMessage]) -> tuple[list[Turn], str]:
    """The user and assistant turns, ending with the last user message, and the system instructions joined."""
    instructions, turns = [], []
    for m in messages:
        if m.role in INSTRUCTION_ROLES:
            instructions.append(m.text())
        elif m.role in ("user", "assistant"):
            if text := m.text().strip():
                turns.append(Turn(m.role, text))
        else:
            raise InputError(f"messages of role {m.role!r} are not supported: this service calls no tools")
    while turns and turns[-1].role != "user":
        turns.pop()
    if not turns:
        raise InputError("no user message with content")
    return turns, "\n".join(i for i in instructions if i.strip())


def completion(req: ChatRequest) -> dict[str, Any]:
    """The fields every completion (or chunk of one) of a request starts with."""
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": req.model or MODEL_NAME}


def model_card() -> dict[str, Any]:
    """The one model this service serves, as `/v1/models` lists it."""
    return {"id": MODEL_NAME, "object": "model", "created": 0, "owned_by": "rag-bilingual"}


def openai_router(service: Service) -> APIRouter:
    """`/v1/models` and `/v1/chat/completions` over the service's pipeline."""
    router = APIRouter(prefix="/v1")
    settings = service.settings
    encoding: Any = get_encoding(settings.tiktoken_encoding, settings.cache_dir / "tiktoken")

    def tokens(text: str) -> int:
        return len(encoding.encode(text, disallowed_special=()))

    def usage(messages: list[ChatMessage], answer: Answer) -> dict[str, int]:
        prompt = sum(TOKENS_PER_MESSAGE + tokens(m.role) + tokens(m.text()) for m in messages) + TOKENS_REPLY_PRIMING
        completion = tokens(answer.text)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    @router.get("/models")
    def models() -> Any:
        """The model to name in chat completions (any name is accepted)."""
        return {"object": "list", "data": [model_card()]}

    @router.get("/models/{model}")
    def model(model: str) -> Any:
        """One model's card."""
        if model != MODEL_NAME:
            raise NotFoundError(f"no model named {model!r}; this service serves {MODEL_NAME!r}")
        return model_card()

    def extra(answer: Answer) -> dict[str, Any]:
        """What rides beside OpenAI's fields: the citations, who wrote the answer and why it is not the LLM's."""
        return {
            "citations": [citation(c) for c in answer.citations],
            "composer": answer.composer,
            "warning": answer.warning,
        }

    @router.post("/chat/completions")
    def chat(req: ChatRequest) -> Any:
        """OpenAI-compatible chat over the documents; citations ride in `citations`."""
        turns, instructions = conversation(req.messages)
        if not req.stream:
            answer, _ = service().chat(turns, instructions, req.filter)
            message = {"role": "assistant", "content": answer.text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            body = {"object": "chat.completion", "choices": [choice], "usage": usage(req.messages, answer)}
            return completion(req) | body | extra(answer)
        # Retrieval and the composer's first step run now: their errors are a status, before any byte is sent.
        stream = service().chat_stream(turns, instructions, req.filter).start()
        chunk = completion(req) | {"object": "chat.completion.chunk"}

        def data(delta: dict[str, Any], finish: str | None = None, **more: Any) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return f"data: {json.dumps(chunk | {'choices': [choice]} | more, ensure_ascii=False)}\n\n"

        def chunks() -> Iterator[str]:
            yield data({"role": "assistant", "content": ""})
            for event in stream:
                # The protocol has no reset: the answer that replaces a cut-off one follows it, after the warning.
                yield data({"content": event.text if isinstance(event, Delta) else f"\n\n⚠ {event.warning}\n\n"})
            answer = stream.answer()
            yield data({}, "stop", usage=usage(req.messages, answer), **extra(answer))
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    return router
