"""Wire the stages together: a collection snapshot → retriever → assessor → composer, renewed after each write.

Every request reads the current `State` once; a write (here, by another process, or by another replica of a
Milvus store) commits a new generation, and the next request loads it while requests already running finish on
the state they started with. Answers come whole (`ask`) or as an `AnswerStream` (`ask_stream`); a conversation's
last turn is first made to stand on its own (`chat_stream`, through the LLM when one is configured).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rag.answer import Composer
from rag.answer.assess import Assessor
from rag.answer.extractive import ExtractiveComposer
from rag.answer.llm import LLMComposer
from rag.answer.question import informativeness
from rag.answer.stream import AnswerStream
from rag.collection import Collection, Progress, WriteReport
from rag.collection.opening import open_collection
from rag.conversation import Turn, standalone_question
from rag.data import Answer, Document, Hit
from rag.dictionaries import load_jieba
from rag.embedding import Embedder, load_embedder
from rag.errors import InputError
from rag.feedback import Feedback, make_feedback
from rag.filters import Filter, FilterLike, Meta
from rag.lexical import LexicalIndex, jieba_tokenizer
from rag.llm import ChatModel, LLMUnavailableError, RateLimitedLog, make_chat_model
from rag.offline import force_offline, install_tiktoken_encodings
from rag.retrieval import Retrieval, Retriever
from rag.settings import Settings
from rag.snapshot import DocumentInfo, Snapshot
from rag.text import UNSAFE_CHARS, detect_language
from rag.translate import Dictionary, get_dictionary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class State:
    """One snapshot of the collection and the stages built over it."""

    snapshot: Snapshot
    retriever: Retriever
    assessor: Assessor
    composer: Composer


def warm_up(cache_dir: Path) -> None:
    """Load what the first question needs that the index does not: the dictionaries, the word frequencies.

    jieba's and CC-CEDICT's dictionaries come from their cached form in `cache_dir` (made on first use).
    """
    load_jieba(cache_dir)
    jieba_tokenizer()
    get_dictionary(cache_dir)
    informativeness("warm")


def warm_up_chinese() -> None:
    """Load what only some Chinese questions need, so that the first of them does not wait for it.

    jieba's tagger (its word tags, read from `dict.txt`) and pypinyin, for names CC-CEDICT lacks, and wordfreq's
    Chinese list with its own jieba dictionary: about 0.3 s for a Chinese question and 0.7 s for one with such a
    name, when the first one loads them.
    """
    import jieba.posseg  # noqa: F401 - importing it builds the tagger

    Dictionary.spelling("杭州", "ns")
    informativeness("中国")


class Pipeline:
    """The question-answering service's core: `search` returns passages, `ask` a cited answer.

    Documents come and go through `add_document` and `remove_documents`.
    """

    def __init__(self, settings: Settings, embedder: Embedder, collection: Collection) -> None:
        self.settings = settings
        self.embedder = embedder
        self.collection = collection
        self._wrap: Callable[[Composer], Composer] | None = None
        self.chat_model: ChatModel | None = make_chat_model(settings)
        self.llm_failures = RateLimitedLog(settings.llm_warning_interval_s)
        self._reload = threading.Lock()
        self._state = self._build(collection.snapshot())
        if not self._state.snapshot.chunks:
            log.warning("the collection is empty: upload documents, or add files to %s", settings.corpus_dir)

    @classmethod
    def load(
        cls,
        settings: Settings | None = None,
        rebuild: bool = False,
        embedder: Embedder | None = None,
        sync: bool = True,
    ) -> Pipeline:
        """Open the collection (see `open_collection`) and load its current state.

        `embedder` replaces the one `settings.embedder` names (tests pass a small fake).
        """
        settings = settings or Settings()
        force_offline()
        install_tiktoken_encodings(settings.cache_dir / "tiktoken")
        embedder = embedder or load_embedder(settings)
        # What the first question needs besides the index and the model, loaded now so that it is answered as fast
        # as the rest, while the query encoder's session is built on a thread of its own (ONNX Runtime lets go of
        # the interpreter lock there; the dictionaries hold it). The collection waits for the encoder's dimension.
        warm_up(settings.cache_dir)
        collection = Collection(settings, embedder)
        open_collection(settings, collection, sync, rebuild)
        return cls(settings, embedder, collection)

    def derived(
        self, settings: Settings | None = None, wrap_composer: Callable[[Composer], Composer] | None = None
    ) -> Pipeline:
        """A pipeline over the same collection and model, with other settings or a wrapped composer.

        Tests give the API a token this way, and evaluation plants faulty composers to prove its checks fail.
        """
        other = copy.copy(self)
        other.settings = settings or self.settings
        if (
            other.settings.composer != self.settings.composer
            or other.settings.llm_base_url != self.settings.llm_base_url
        ):
            other.chat_model = make_chat_model(other.settings)
        other._wrap = wrap_composer or self._wrap
        other._reload = threading.Lock()
        other._state = other._build(self._state.snapshot)
        return other

    def _build(self, snapshot: Snapshot) -> State:
        lexical = LexicalIndex(snapshot.chunk_tokens)
        retriever = Retriever(snapshot, lexical, self.embedder, self.settings)
        assessor = Assessor(self.settings, retriever, lexical, snapshot.documents)
        composer: Composer = (
            ExtractiveComposer(assessor, snapshot.documents)
            if self.chat_model is None
            else LLMComposer(assessor, snapshot.documents, self.settings, self.chat_model, self.llm_failures)
        )
        if self._wrap is not None:
            composer = self._wrap(composer)
        return State(snapshot, retriever, assessor, composer)

    @property
    def state(self) -> State:
        """The current state, reloaded first when a write has committed since it was loaded.

        While one thread reloads, the others go on with the state they have.
        """
        state = self._state
        if self.collection.generation() != state.snapshot.generation and self._reload.acquire(blocking=False):
            try:
                if self.collection.generation() != self._state.snapshot.generation:
                    self._state = self._build(self.collection.snapshot())
            finally:
                self._reload.release()
        return self._state

    @property
    def stored(self) -> Snapshot:
        """The current snapshot of the collection."""
        return self.state.snapshot

    @property
    def retriever(self) -> Retriever:
        """The current retriever."""
        return self.state.retriever

    @property
    def assessor(self) -> Assessor:
        """The current assessor."""
        return self.state.assessor

    @property
    def composer(self) -> Composer:
        """The current composer."""
        return self.state.composer

    @property
    def documents(self) -> dict[str, Document]:
        """The current documents by name."""
        return self.state.snapshot.documents

    def document_infos(self) -> list[DocumentInfo]:
        """The listing of the current documents, by name."""
        return list(self.state.snapshot.infos.values())

    def add_document(
        self,
        data: bytes,
        name: str,
        progress: Progress | None = None,
        tags: tuple[str, ...] | None = None,
        meta: Meta | None = None,
    ) -> tuple[DocumentInfo, bool]:
        """Add or replace a document from a file's bytes; (its listing, whether anything changed).

        `progress` hears (stage, done, total) as the file is read, embedded and saved. `tags` and `meta` are what
        filters select it by; when neither is given, a replaced document keeps its own.
        """
        info, changed = self.collection.add_bytes(data, name, progress=progress, tags=tags, meta=meta)
        self.state  # noqa: B018 - load the new generation now, so the writer's next request sees it
        return info, changed

    def remove_documents(self, names: list[str]) -> WriteReport:
        """Delete documents by name; after it no answer cites them."""
        report = self.collection.remove(names)
        self.state  # noqa: B018 - load the new generation now
        return report

    def record_feedback(
        self,
        question: str,
        answer: str,
        citations: list[dict[str, Any]],
        rating: str,
        comment: str = "",
        correct_doc: str | None = None,
        correct_quote: str | None = None,
    ) -> Feedback:
        """Record a rating of an answer in the collection's store, with the generation and settings it was rated at.

        The generation is the one current now, which is the answer's unless a write committed in between.
        """
        snapshot = self.stored
        item = make_feedback(
            self.settings,
            snapshot.documents,
            snapshot.generation,
            self._check(question, "question"),
            answer,
            citations,
            rating,
            comment,
            correct_doc,
            correct_quote,
        )
        self.collection.store.add_feedback(item)
        return item

    def _check(self, text: str, what: str) -> str:
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"the {what} is empty; type a question in English or Chinese")
        if UNSAFE_CHARS.search(text):
            raise InputError(f"the {what} holds control characters or unpaired surrogates; send plain UTF-8 text")
        if len(text) > self.settings.max_question_chars:
            raise InputError(
                f"the {what} is {len(text)} characters long; the limit is {self.settings.max_question_chars} "
                "(RAG_MAX_QUESTION_CHARS)"
            )
        return text.strip()

    def _top_k(self, top_k: int | None) -> int:
        k = self.settings.top_k if top_k is None else top_k
        if not 1 <= k <= self.settings.candidates:
            raise InputError(f"top_k must be between 1 and {self.settings.candidates}, got {k}")
        return k

    def retrieve(self, query: str, top_k: int | None = None, filter: FilterLike = None) -> Retrieval:
        """Retrieval with its translation and per-stage timings, from the documents `filter` keeps.

        `filter` is a `Filter`, or its mapping or JSON.
        """
        return self.state.retriever.retrieve(self._check(query, "query"), self._top_k(top_k), Filter.of(filter))

    def search(self, query: str, top_k: int | None = None, filter: FilterLike = None) -> list[Hit]:
        """The top_k passages for `query` from the documents `filter` keeps, best first."""
        return self.retrieve(query, top_k, filter).hits

    def ask(self, question: str, top_k: int | None = None, instructions: str = "", filter: FilterLike = None) -> Answer:
        """A cited answer from the documents `filter` keeps, or an abstention with the nearest passages."""
        return self.ask_timed(question, top_k, instructions, filter)[0]

    def ask_timed(
        self, question: str, top_k: int | None = None, instructions: str = "", filter: FilterLike = None
    ) -> tuple[Answer, dict[str, float]]:
        """`ask`, with the milliseconds spent retrieving, composing and in total."""
        timings: dict[str, float] = {}
        parts = self._parts(timings, question, top_k, instructions, Filter.of(filter), streaming=False)
        return AnswerStream(parts, timings).answer(), timings

    def ask_stream(
        self,
        question: str,
        top_k: int | None = None,
        instructions: str = "",
        language: str | None = None,
        filter: FilterLike = None,
    ) -> AnswerStream:
        """The answer as the composer writes it (see `AnswerStream`); its `timings` fill in as it runs.

        `language` is the language to answer in when it is not the question's (a rewritten follow-up).
        """
        timings: dict[str, float] = {}
        return AnswerStream(self._parts(timings, question, top_k, instructions, Filter.of(filter), language), timings)

    def _parts(
        self,
        timings: dict[str, float],
        question: str,
        top_k: int | None,
        instructions: str,
        where: Filter | None,
        language: str | None = None,
        streaming: bool = True,
        warning: str = "",
    ) -> Iterator[str | Answer]:
        """The composer's parts for a question, timed into `timings`; the answer takes `warning` if it has none."""
        t0 = time.perf_counter()
        state = self.state
        retrieval = state.retriever.retrieve(self._check(question, "question"), self._top_k(top_k), where)
        if language is not None:
            retrieval.language = language
        t1 = time.perf_counter()
        timings["retrieve"] = round((t1 - t0) * 1e3, 2)
        composer = state.composer
        parts = composer.stream(retrieval, instructions) if streaming else [composer.compose(retrieval, instructions)]
        for part in parts:
            if isinstance(part, Answer):
                t2 = time.perf_counter()
                timings |= {"compose": round((t2 - t1) * 1e3, 2), "total": round((t2 - t0) * 1e3, 2)}
                if warning and not part.warning:
                    part = replace(part, warning=warning)
            yield part

    def standalone(self, turns: list[Turn]) -> tuple[str, str]:
        """The question a conversation's last user turn asks, standing on its own; and a warning, if any.

        When the LLM endpoint fails to rewrite it, the turn is taken as written and the warning says so.
        """
        if not turns or turns[-1].role != "user":
            raise InputError("a conversation must end with a user message")
        for turn in turns:
            self._check(turn.content, "message")
        try:
            question = standalone_question(
                turns, self.chat_model, self.settings.history_turns, self.settings.max_question_chars
            )
        except LLMUnavailableError as exc:
            self.llm_failures.warning(
                "the LLM endpoint failed: %s %s; taking the follow-up as written", exc, exc.detail
            )
            return turns[-1].content, f"the LLM endpoint failed ({exc}); the follow-up was answered as written"
        return question, ""

    def chat_stream(self, turns: list[Turn], instructions: str = "", filter: FilterLike = None) -> AnswerStream:
        """`ask_stream` for a conversation: its last user turn, made to stand on its own, answered in its language."""
        timings: dict[str, float] = {}
        return AnswerStream(self._chat_parts(timings, turns, instructions, Filter.of(filter), True), timings)

    def chat(
        self, turns: list[Turn], instructions: str = "", filter: FilterLike = None
    ) -> tuple[Answer, dict[str, float]]:
        """The answer to a conversation's last user turn (see `chat_stream`), with its timings."""
        timings: dict[str, float] = {}
        stream = AnswerStream(self._chat_parts(timings, turns, instructions, Filter.of(filter), False), timings)
        return stream.answer(), timings

    def _chat_parts(
        self, timings: dict[str, float], turns: list[Turn], instructions: str, where: Filter | None, streaming: bool
    ) -> Iterator[str | Answer]:
        question, warning = self.standalone(turns)
        language = detect_language(turns[-1].content)
        yield from self._parts(timings, question, None, instructions, where, language, streaming, warning)
