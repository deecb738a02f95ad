"""Feedback on answers: the record a thumbs-up or thumbs-down leaves, its checks, and its export as eval rows.

A record keeps what the user saw (question, answer, citations) and what made it (the index generation, a digest
of the settings), so that a flagged answer can become a candidate row of the eval dataset: `export_rows` writes
one per thumbs-down or commented answer, marked unchecked until a maintainer has written its reference answer,
key facts and evidence quote (`rag eval validate` lists what each still needs).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from rag.errors import InputError
from rag.settings import Settings
from rag.store import open_store
from rag.text import UNSAFE_CHARS, detect_language

Rating = Literal["up", "down"]
RATINGS: tuple[Rating, ...] = ("up", "down")
CITATION_FIELDS = ("n", "doc", "start", "end", "text", "score", "page")
# A row made from feedback is named by this prefix and the record's id, so that a second export names it alike.
ROW_PREFIX = "feedback-"


@dataclass(frozen=True)
class Feedback:
    """One rating of one answer, as stored in the collection's catalog."""

    id: str
    created: str
    rating: Rating
    question: str
    answer: str
    citations: tuple[dict[str, Any], ...]
    comment: str
    correct_doc: str | None
    correct_quote: str | None
    generation: int
    settings_digest: str

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON."""
        return {
            "id": self.id,
            "created": self.created,
            "rating": self.rating,
            "question": self.question,
            "answer": self.answer,
            "citations": list(self.citations),
            "comment": self.comment,
            "correct_source": None
            if self.correct_doc is None
            else {"doc": self.correct_doc, "quote": self.correct_quote},
            "generation": self.generation,
            "settings_digest": self.settings_digest,
        }


def feedback_of(data: Mapping[str, Any]) -> Feedback:
    """A record from its JSON (`Feedback.to_dict`)."""
    source = data.get("correct_source") or {}
    return Feedback(
        id=data["id"],
        created=data["created"],
        rating=data["rating"],
        question=data["question"],
        answer=data["answer"],
        citations=tuple(data["citations"]),
        comment=data["comment"],
        correct_doc=source.get("doc"),
        correct_quote=source.get("quote"),
        generation=int(data["generation"]),
        settings_digest=data["settings_digest"],
    )


def settings_digest(settings: Settings) -> str:
    """A digest of every setting but the secrets: two answers made under the same settings share it."""
    public = settings.model_dump(mode="json", exclude={"api_token", "llm_api_key", "milvus_token"})
    return hashlib.sha256(json.dumps(public, sort_keys=True, default=str).encode()).hexdigest()


def _text(value: str, what: str, limit: int, setting: str) -> str:
    if UNSAFE_CHARS.search(value):
        raise InputError(f"the {what} holds control characters or unpaired surrogates; send plain UTF-8 text")
    if len(value) > limit:
        raise InputError(f"the {what} is {len(value)} characters long; the limit is {limit} ({setting})")
    return value


def _citation(item: Mapping[str, Any], limit: int) -> dict[str, Any]:
    cited = {key: item.get(key) for key in CITATION_FIELDS}
    for key in ("doc", "text"):
        cited[key] = _text(str(cited[key] or ""), f"citation's {key}", limit, "RAG_FEEDBACK_MAX_ANSWER_CHARS")
    return cited


def make_feedback(
    settings: Settings,
    documents: Mapping[str, Any],
    generation: int,
    question: str,
    answer: str,
    citations: Sequence[Mapping[str, Any]],
    rating: str,
    comment: str = "",
    correct_doc: str | None = None,
    correct_quote: str | None = None,
) -> Feedback:
    """A checked record of a rating; InputError saying what to change otherwise.

    `question` has passed the question checks already. A correct source must name a document of the collection
    (`documents`): it is looked up there, never opened as a path.
    """
    if rating not in RATINGS:
        raise InputError(f"rating must be one of {RATINGS}, not {rating!r}")
    answer_limit, comment_limit = settings.feedback_max_answer_chars, settings.feedback_max_comment_chars
    if len(citations) > settings.feedback_max_citations:
        raise InputError(
            f"{len(citations)} citations; the limit is {settings.feedback_max_citations} (RAG_FEEDBACK_MAX_CITATIONS)"
        )
    doc = correct_doc.strip() if correct_doc is not None else None
    if doc is not None and doc not in documents:
        raise InputError(
            f"the correct source {doc!r} is not a document of the collection; name one that `rag documents` lists"
        )
    quote = correct_quote
    if quote is not None:
        if doc is None:
            raise InputError("a quote of the correct source needs its document (`correct_source.doc`)")
        quote = _text(quote, "quote", comment_limit, "RAG_FEEDBACK_MAX_COMMENT_CHARS").strip() or None
    return Feedback(
        id=uuid.uuid4().hex,
        # To the microsecond, so that the order of the records is the order they came in.
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        rating="up" if rating == "up" else "down",
        question=question,
        answer=_text(answer, "answer", answer_limit, "RAG_FEEDBACK_MAX_ANSWER_CHARS"),
        citations=tuple(_citation(c, answer_limit) for c in citations),
        comment=_text(comment, "comment", comment_limit, "RAG_FEEDBACK_MAX_COMMENT_CHARS").strip(),
        correct_doc=doc or None,
        correct_quote=quote,
        generation=generation,
        settings_digest=settings_digest(settings),
    )


def flagged(item: Feedback) -> bool:
    """Whether a record asks for a test: a thumbs-down, or any rating with a comment."""
    return item.rating == "down" or bool(item.comment)


def export_row(item: Feedback, texts: Mapping[str, str], languages: Mapping[str, str]) -> dict[str, Any]:
    """A candidate eval row for a record, `"checked": false` until a maintainer completes it.

    The reference answer and the key facts are left for the maintainer (the answer given was flagged, so it is
    no reference); the feedback itself rides along under `feedback`. The correct source, when it is still in the
    collection (`texts`, its documents' stored text), is the evidence document, and its quote the evidence quote
    only if it is found exactly in that text.
    """
    lang = detect_language(item.question)
    evidence: list[dict[str, str]] = []
    kind = "same"
    if item.correct_doc is not None and item.correct_doc in texts:
        quote = item.correct_quote or ""
        evidence.append({"doc": item.correct_doc, "quote": quote if quote and quote in texts[item.correct_doc] else ""})
        kind = "same" if languages.get(item.correct_doc, lang) == lang else "cross"
    return {
        "id": ROW_PREFIX + item.id,
        "lang": lang,
        "kind": kind,
        "question": item.question,
        "answer": "",
        "evidence": evidence,
        "must_include": [],
        "split": "tune",
        "checked": False,
        "feedback": item.to_dict(),
    }


def export_rows(
    items: Sequence[Feedback], texts: Mapping[str, str], languages: Mapping[str, str], split: str = "tune"
) -> list[dict[str, Any]]:
    """Candidate rows for the flagged records, oldest first, in `split`."""
    chosen = sorted((i for i in items if flagged(i)), key=lambda i: i.created)
    return [export_row(i, texts, languages) | {"split": split} for i in chosen]


def collection_rows(settings: Settings, split: str = "tune") -> list[dict[str, Any]]:
    """Candidate rows for the flagged feedback of the configured collection, without loading a model."""
    store = open_store(settings)
    documents = store.read().documents if store.generation() else []
    texts = {d.name: d.text for d in documents}
    return export_rows(store.feedback(), texts, {d.name: d.language for d in documents}, split)
