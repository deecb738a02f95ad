"""How answers and sources are shown: HTML in the sources panel, Markdown in the chat.

Everything that comes from a document, an upload's name or a model is escaped: HTML in the panels, Markdown
(`plain`) in the chat and the documents tab's status.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import quote

from rag.data import Answer, Document, Hit
from rag.pipeline import Pipeline
from rag.sections import page_label
from rag.serve.views import VIEW_PATH

CONTEXT_CHARS = 300

LABELS = {
    "en": {
        "sources": "Sources",
        "related": "Related passages (not sources: the documents do not answer this)",
        "none": "No passages.",
        "confidence": "Confidence that the sources answer the question",
        "unsupported": "{n} of this answer's {total} sentences cite no source: they are not backed by the documents.",
    },
    "zh": {
        "sources": "来源",
        "related": "相关段落（并非依据：文档没有回答这个问题）",
        "none": "没有段落。",
        "confidence": "来源回答了这个问题的置信度",
        "unsupported": "这个回答的 {total} 句中有 {n} 句没有标注来源，文档不能证实它们。",
    },
}


# ASCII punctuation that Markdown may read as markup; a backslash before any of it shows it as written.
MARKDOWN_SPECIAL = re.compile(r"[\\`*_{}\[\]()#+\-.!|~>$&:]")
SENTENCE_START = re.compile(r"(?<=[.!?。！？])\s*")


def _paragraph(doc: Document, start: int, end: int) -> tuple[int, int]:
    """The paragraph around a span, at most CONTEXT_CHARS either side, cut at sentence ends."""
    lo = max(0, start - CONTEXT_CHARS)
    left = doc.text.rfind("\n\n", lo, start)
    if left >= 0:
        a = left + 2
    else:
        first = SENTENCE_START.search(doc.text, lo, start) if lo > 0 else None
        a = first.end() if first else lo
    right = doc.text.find("\n\n", end, end + CONTEXT_CHARS)
    if right >= 0:
        return a, right
    hi = min(len(doc.text), end + CONTEXT_CHARS)
    ends = [m.start() for m in SENTENCE_START.finditer(doc.text, end, hi)]
    return a, (ends[-1] if ends and hi < len(doc.text) else hi)


def highlight(doc: Document, start: int, end: int) -> str:
    """HTML of the span's paragraph with the span marked."""
    a, b = _paragraph(doc, start, end)
    e = html.escape
    return f"{e(doc.text[a:start])}<mark>{e(doc.text[start:end])}</mark>{e(doc.text[end:b])}"


def place(item: Hit | Any) -> str:
    """Where a span is, as a reader says it: the document, its page when it has pages, and its section path."""
    where = f"{item.doc}, {page_label(item.doc, item.page)}" if item.page else item.doc
    return f"{where} — {item.section}" if item.section else where


def view_link(item: Hit | Any) -> str:
    """The URL of the span's place: a PDF's page, else its section (`rag.serve.views`)."""
    return f"{VIEW_PATH}/{quote(item.doc)}?start={item.start}&end={item.end}#cite"


def _items(answer: Answer) -> list[tuple[str, Hit | Any]]:
    if answer.abstained:
        return [("•", h) for h in answer.passages[:3]]
    return [(f"[{c.n}]", c) for c in answer.citations]


def sources_html(pipe: Pipeline, answer: Answer) -> str:
    """The sources panel for an answer."""
    labels = LABELS[answer.language]
    items = _items(answer)
    title = labels["related"] if answer.abstained else labels["sources"]
    confidence = f"<p><small>{labels['confidence']}: {answer.confidence:.2f}</small></p>"
    if not items:
        return f"<h3>{html.escape(title)}</h3>{confidence}<p>{labels['none']}</p>"
    documents = pipe.documents
    blocks = [
        f'<div class="source"><b>{mark} <a href="{html.escape(view_link(s))}" target="_blank">'
        f"{html.escape(place(s))}</a></b>"
        f'<p style="white-space:pre-wrap">{highlight(documents[s.doc], s.start, s.end)}</p></div>'
        for mark, s in items
        if s.doc in documents
    ]
    return f"<h3>{html.escape(title)}</h3>{confidence}" + "".join(blocks)


def plain(text: str) -> str:
    """Text shown as written in the chat's Markdown: no link, image, HTML or emphasis can come out of it.

    Answers quote documents, and an LLM may repeat what a document planted; a Markdown image or an `<img>` there
    would make the browser fetch a URL of the document's choosing.
    """
    return MARKDOWN_SPECIAL.sub(r"\\\g<0>", text).replace("<", "&lt;")


def status(*lines: str) -> str:
    """Lines for a Markdown status box, each shown as written (they name uploads and documents), a blank line apart.

    A document named `[Session expired](https://evil.example).txt` would otherwise be a live link in the box.
    """
    return "\n\n".join(plain(line) for line in lines)


def chat_message(answer: Answer) -> str:
    """An answer as the chat shows it, with its sources under it, so that earlier answers keep theirs.

    A warning (the LLM endpoint failed) and sentences that cite nothing are said in words. Everything that comes
    from a document or a model is shown as plain text (`plain`).
    """
    text = plain(f"{answer.text}\n\n{answer.reason}" if answer.reason else answer.text)
    unsupported = [s for s in answer.sentences if not s.supported]
    if unsupported and not answer.abstained:
        note = LABELS[answer.language]["unsupported"].format(n=len(unsupported), total=len(answer.sentences))
        text += f"\n\n⚠ {note}"
    if answer.warning:
        text += f"\n\n⚠ {plain(answer.warning)}"
    items = _items(answer)
    if not items:
        return text
    title = LABELS[answer.language]["related" if answer.abstained else "sources"]
    lines = [f"- {plain(mark)} [{plain(place(s))}]({view_link(s)})" for mark, s in items]
    return f"{text}\n\n**{title}**\n" + "\n".join(lines)
