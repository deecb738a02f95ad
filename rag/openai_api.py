"""The OpenAI-compatible routes: `/v1/models` and `/v1/chat/completions`, as the official SDK and chat tools use them.

A conversation's last user message is the question; the earlier turns make a follow-up stand on its own (with an
LLM configured, see `rag.conversation`). System (or developer) messages are the operator's instructions: the LLM
composer follows them, the extractive one cannot and says so with 422. Content may be a string or a list of
text parts. Citations ride in an extra `citations` field (in the last chunk when streaming), and `usage` counts
tokens with tiktoken.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from rag.api_models import span
from rag.conversation import Turn
from rag.data import Answer
from rag.errors import InputError, NotFoundError
from rag.offline import get_encoding
from rag.service import Service

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

    @router.post("/chat/completions")
    def chat(req: ChatRequest) -> Any:
        """OpenAI-compatible chat over the documents; citations ride in `citations`."""
        turns, instructions = conversation(req.messages)
        parts = service().chat_stream(turns, instructions, streaming=req.stream)
        # The first part comes after retrieval: input errors surface here, as a status, before any byte is sent.
        first = next(parts)
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        base = {"id": cid, "created": created, "model": req.model or MODEL_NAME}
        if not req.stream:
            *_, (answer, _) = [first, *parts]
            if not isinstance(answer, Answer):
                raise TypeError("the composer ended without an answer")
            message = {"role": "assistant", "content": answer.text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return base | {
                "object": "chat.completion",
                "choices": [choice],
                "usage": usage(req.messages, answer),
                "citations": [span(c) | {"n": c.n} for c in answer.citations],
                "composer": answer.composer,
                "warning": answer.warning,
            }

        def chunks() -> Iterator[str]:
            chunk = base | {"object": "chat.completion.chunk"}

            def data(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
                choice = {"index": 0, "delta": delta, "finish_reason": finish}
                return f"data: {json.dumps(chunk | {'choices': [choice]} | extra, ensure_ascii=False)}\n\n"

            yield data({"role": "assistant", "content": ""})
            sent = ""
            for part, _ in itertools.chain([first], parts):
                if isinstance(part, str):
                    sent += part
                    yield data({"content": part})
                    continue
                # A stream cut off by a failing endpoint is followed by the answer that replaces it.
                rest = part.text[len(sent) :] if part.text.startswith(sent) else f"\n\n⚠ {part.warning}\n\n{part.text}"
                if rest:
                    yield data({"content": rest})
                citations = [span(c) | {"n": c.n} for c in part.citations]
                extra = {"citations": citations, "composer": part.composer, "warning": part.warning}
                yield data({}, "stop", usage=usage(req.messages, part), **extra)
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    return router
