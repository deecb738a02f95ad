"""The chat model behind the LLM composer: any OpenAI-compatible endpoint, through langchain's `ChatOpenAI`.

Whatever goes wrong on the way (the endpoint is down, slow, answers with an error status or with something
that is not a chat completion) comes out as one `LLMUnavailableError`, which the composer answers by falling
back to the extractive answer. langchain is imported only when an LLM is configured.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any, Protocol

from rag.errors import RagError
from rag.settings import Settings

log = logging.getLogger(__name__)

# (role, content) with role "system", "user" or "assistant".
Message = tuple[str, str]


class LLMUnavailableError(RagError):
    """The LLM endpoint did not give a usable answer (down, timed out, an error status, not a chat completion).

    The message says what happened, to follow "the LLM endpoint failed: "; it may reach clients, so what the
    endpoint itself said is kept apart in `detail`, for the log.
    """

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class ChatModel(Protocol):
    """What the composer needs from a chat model."""

    name: str

    def complete(self, messages: list[Message]) -> str:
        """The whole reply."""
        ...

    def stream(self, messages: list[Message]) -> Iterator[str]:
        """The reply in pieces, as the endpoint sends them."""
        ...


class OpenAIChat:
    """An OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp's server, a hosted model) through `ChatOpenAI`."""

    def __init__(self, settings: Settings) -> None:
        from langchain_openai import ChatOpenAI

        if not settings.llm_base_url or not settings.llm_model:
            raise LLMUnavailableError("no endpoint is configured (RAG_LLM_BASE_URL, RAG_LLM_MODEL)")
        self.name = f"{settings.llm_model}@{settings.llm_base_url}"
        # No retries: a failed call falls back to the extractive answer at once instead of keeping the user waiting.
        # A key is required by the client even where the endpoint ignores it.
        self.model: Any = ChatOpenAI(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key or "unused",  # type: ignore[arg-type]
            timeout=settings.llm_timeout_s,
            max_retries=0,
            temperature=settings.llm_temperature,
            max_completion_tokens=settings.llm_max_tokens,
        )

    def complete(self, messages: list[Message]) -> str:
        """The whole reply; LLMUnavailableError when there is none."""
        try:
            reply = self.model.invoke(messages)
        except Exception as exc:
            raise _unavailable(exc) from exc
        text = reply.content if isinstance(reply.content, str) else ""
        if not text.strip():
            raise LLMUnavailableError("the answer was empty")
        return text

    def stream(self, messages: list[Message]) -> Iterator[str]:
        """The reply's pieces as they arrive; LLMUnavailableError when it fails, before or during the reply."""
        finished = False
        try:
            for chunk in self.model.stream(messages):
                finished = finished or bool(chunk.response_metadata.get("finish_reason"))
                if isinstance(chunk.content, str) and chunk.content:
                    yield chunk.content
        except Exception as exc:
            raise _unavailable(exc) from exc
        if not finished:
            # The connection closed without the last chunk: what came is a fragment, not the answer.
            raise LLMUnavailableError("the stream ended before the model finished its answer")


def _unavailable(exc: Exception) -> Exception:
    """The error to report for an exception from the client; others than the endpoint's own faults pass unchanged.

    `openai`'s errors cover connection, timeout and status failures; a body that is not a chat completion
    surfaces from langchain as ValueError (bad JSON, no chunks) or TypeError (no `choices`).
    """
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return LLMUnavailableError("it timed out (RAG_LLM_TIMEOUT_S)")
    if isinstance(exc, openai.APIConnectionError):
        return LLMUnavailableError(f"cannot connect to it ({exc.__cause__ or exc})")
    if isinstance(exc, openai.APIStatusError):
        return LLMUnavailableError(f"it answered HTTP {exc.status_code}", str(exc.message)[:500])
    if isinstance(exc, openai.OpenAIError | ValueError | TypeError):
        return LLMUnavailableError(f"its reply is not a chat completion ({type(exc).__name__})", str(exc)[:500])
    return exc


def make_chat_model(settings: Settings) -> ChatModel | None:
    """The configured chat model, or None for the extractive composer."""
    return OpenAIChat(settings) if settings.composer == "llm" else None


class RateLimitedLog:
    """Logs a warning at most once per interval; the repeats in between are counted and reported with the next."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.last = float("-inf")
        self.suppressed = 0

    def warning(self, message: str, *args: object) -> None:
        """Log now, or count it when the last one was less than the interval ago."""
        now = time.monotonic()
        if now - self.last < self.interval_s:
            self.suppressed += 1
            return
        if self.suppressed:
            log.warning(message + " (and %d more since the last report)", *args, self.suppressed)
        else:
            log.warning(message, *args)
        self.last, self.suppressed = now, 0
