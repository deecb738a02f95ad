"""Gradio UI: chat in English or Chinese with each answer's sources, search, and the documents of the collection.

Labels follow the language of the question. Answers stream in as they are written; with an LLM configured the
earlier turns let a follow-up stand on its own. Abstentions show the nearest passages as "related", never as
sources. Each answer in the chat keeps its sources, named by document and page, linked to the document text at
the cited place (`document_page`). The documents tab uploads, lists and deletes. Errors are shown in words.
"""

from __future__ import annotations

import html
import logging
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gradio as gr
from gradio.utils import get_upload_folder as gradio_upload_folder

from rag.answer.question import NAME_RUN
from rag.conversation import Turn
from rag.data import Answer, Document, Hit
from rag.errors import InputError, RagError
from rag.ingest import SUPPORTED
from rag.lexical import ZH_STOP, jieba_tokenizer
from rag.pipeline import Pipeline

log = logging.getLogger(__name__)
# What the UI says about a fault of its own; the traceback goes to the server log, never to the browser.
INTERNAL = "⚠ Something went wrong on the server; the log has the details. · 服务器出错，详情见日志。"

CONTEXT_CHARS = 300
UPLOAD_TTL_S = 3600
VIEW_PATH = "/view"
MAX_EXAMPLES = 4
# Chinese example topics: words of at least this many characters (shorter ones are too general to ask about).
MIN_ZH_TOPIC = 3
LEADING_ARTICLE = re.compile(r"^(?:The|A|An) ")
DOCUMENT_COLUMNS = ["name", "language", "format", "chunks", "pages", "size", "added"]
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
    """Where a span is, as a reader says it: the document, and its page when it has pages."""
    return f"{item.doc}, p. {item.page}" if item.page else item.doc


def view_link(item: Hit | Any) -> str:
    """The URL of the document text scrolled to the span (served by `document_page`)."""
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


def document_page(doc: Document, start: int, end: int) -> str:
    """A page with a document's extracted text, the span [start, end) marked and scrolled to."""
    start, end = max(0, min(start, len(doc.text))), max(0, min(end, len(doc.text)))
    end = max(start, end)
    e = html.escape
    body = f'{e(doc.text[:start])}<mark id="cite">{e(doc.text[start:end])}</mark>{e(doc.text[end:])}'
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{e(doc.name)}</title></head>'
        f'<body style="max-width:50em;margin:auto;font-family:sans-serif"><h2>{e(doc.name)}</h2>'
        f'<p style="white-space:pre-wrap;line-height:1.5">{body}</p></body></html>'
    )


def _topic(doc: Document) -> str | None:
    """The most frequent multi-word name of an English document, or long word of a Chinese one."""
    if doc.language == "zh":
        words = jieba_tokenizer().lcut(doc.clean)  # type: ignore[attr-defined]
        counts = Counter(w for w in words if len(w) >= MIN_ZH_TOPIC and w not in ZH_STOP and not w.isascii())
    else:
        names = (" ".join(m.group(0).split()) for m in NAME_RUN.finditer(doc.clean))
        counts = Counter(LEADING_ARTICLE.sub("", name) for name in names)
    return counts.most_common(1)[0][0] if counts else None


def corpus_examples(pipe: Pipeline) -> list[str]:
    """Example questions: the settings' if given, else one per document on its most frequent name.

    Up to MAX_EXAMPLES, each in its document's language, so that they fit whatever collection is loaded.
    """
    if pipe.settings.examples:
        return list(pipe.settings.examples)
    out = []
    for doc in list(pipe.documents.values())[: 3 * MAX_EXAMPLES]:
        topic = _topic(doc)
        if topic:
            out.append(
                f"关于{topic}，文档中说了什么？"
                if doc.language == "zh"
                else f"What do the documents say about {topic}?"
            )
    return list(dict.fromkeys(out))[:MAX_EXAMPLES]


def read_upload(path: Path) -> bytes:
    """The bytes of a file uploaded through the UI, then the file itself is removed.

    Only files in Gradio's upload folder are read: a call to the UI's API may name any path.
    """
    folder = Path(gradio_upload_folder()).resolve()
    resolved = path.resolve()
    if not resolved.is_relative_to(folder) or not resolved.is_file():
        raise InputError(f"{path.name} was not uploaded through this page; upload the file again")
    try:
        return resolved.read_bytes()
    finally:
        # The collection keeps the text; a copy in the upload folder would outlive a delete.
        resolved.unlink(missing_ok=True)


def documents_table(pipe: Pipeline) -> list[list[Any]]:
    """Rows of the documents tab's table."""
    return [[getattr(i, c) for c in DOCUMENT_COLUMNS] for i in pipe.document_infos()]


def build_ui(pipe: Pipeline) -> gr.Blocks:
    """The chat, search and documents UI over a loaded pipeline."""

    def respond(
        message: str, history: list[dict[str, Any]], turns: list[Turn]
    ) -> Iterator[tuple[list[dict[str, Any]], str, str, list[Turn]]]:
        """Stream the answer into the chat; the conversation so far (`turns`) lets a follow-up stand alone."""
        history = [*history, {"role": "user", "content": message}]
        asked = [*turns, Turn("user", message)]
        try:
            text = ""
            for part, _ in pipe.chat_stream(asked):
                if isinstance(part, str):
                    text += part
                    yield [*history, {"role": "assistant", "content": plain(text)}], "", "", turns
                    continue
                done = [*history, {"role": "assistant", "content": chat_message(part)}]
                yield done, sources_html(pipe, part), "", [*asked, Turn("assistant", part.text)]
        except RagError as exc:
            yield [*history, {"role": "assistant", "content": f"⚠ {exc}"}], "", "", turns
        except Exception:
            log.exception("the chat failed on %r", message[:200])
            yield [*history, {"role": "assistant", "content": INTERNAL}], "", "", turns

    def search(query: str) -> str:
        try:
            hits = pipe.search(query)
        except RagError as exc:
            return f"<p>⚠ {html.escape(str(exc))}</p>"
        except Exception:
            log.exception("the search failed on %r", query[:200])
            return f"<p>{html.escape(INTERNAL)}</p>"
        return "".join(
            f'<div class="hit"><b>{i}. <a href="{html.escape(view_link(h))}" target="_blank">'
            f"{html.escape(place(h))}</a></b> <small>{h.score:.4f}</small>"
            f"<p>{html.escape(' '.join(h.text.split()))}</p></div>"
            for i, h in enumerate(hits, start=1)
        )

    def names() -> Any:
        return gr.update(choices=sorted(pipe.documents), value=None)

    def add(paths: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[str, list[list[Any]], Any]:  # noqa: B008 - Gradio's progress idiom
        lines = []
        for i, path in enumerate(paths or []):
            name = Path(path).name
            progress((i, len(paths or [])), desc=f"indexing {name}")
            try:
                info, changed = pipe.add_document(read_upload(Path(path)), name)
            except RagError as exc:
                lines.append(f"⚠ {name}: {exc}")
                continue
            except Exception:
                log.exception("the upload of %r failed", name)
                lines.append(f"⚠ {name}: {INTERNAL}")
                continue
            what = "added · 已添加" if changed else "unchanged · 未改变"
            lines.append(f"✓ {name}: {what} ({info.language}, {info.chunks} chunks)")
        return "\n\n".join(lines), documents_table(pipe), names()

    def delete(name: str | None) -> tuple[str, list[list[Any]], Any]:
        if not name:
            return "Choose a document first · 请先选择文档", documents_table(pipe), names()
        try:
            pipe.remove_documents([name])
        except RagError as exc:
            return f"⚠ {exc}", documents_table(pipe), names()
        return f"✓ {name}: deleted · 已删除", documents_table(pipe), names()

    # Uploads that are never added to the collection are removed from Gradio's cache after a while.
    with gr.Blocks(title="rag-bilingual", delete_cache=(UPLOAD_TTL_S, UPLOAD_TTL_S)) as demo:
        gr.Markdown("## Ask the documents · 向文档提问")
        with gr.Tab("Chat · 问答"):
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(label="Answers · 回答", height=420, elem_id="chat")
                    box = gr.Textbox(label="Question · 问题", placeholder="English or 中文", elem_id="question")
                    ask = gr.Button("Ask · 提问", variant="primary", elem_id="ask")
                    examples = corpus_examples(pipe)
                    if examples:
                        gr.Examples(examples, inputs=box)
                with gr.Column(scale=2):
                    panel = gr.HTML(label="Sources · 来源", elem_id="sources")
            turns = gr.State([])
            ask.click(respond, [box, chatbot, turns], [chatbot, panel, box, turns])
            box.submit(respond, [box, chatbot, turns], [chatbot, panel, box, turns])
        with gr.Tab("Search · 检索"):
            query = gr.Textbox(label="Query · 查询", elem_id="query")
            results = gr.HTML(elem_id="results")
            gr.Button("Search · 检索", elem_id="search").click(search, query, results)
            query.submit(search, query, results)
        with gr.Tab("Documents · 文档"):
            files = gr.File(
                label="Add or replace · 添加或替换 (" + ", ".join(sorted(SUPPORTED)) + ")",
                file_count="multiple",
                file_types=sorted(SUPPORTED),
                elem_id="upload",
            )
            upload = gr.Button("Add to the collection · 加入文档库", variant="primary", elem_id="add")
            status = gr.Markdown(elem_id="upload-status")
            table = gr.Dataframe(
                value=lambda: documents_table(pipe), headers=DOCUMENT_COLUMNS, interactive=False, elem_id="documents"
            )
            with gr.Row():
                chosen = gr.Dropdown(choices=sorted(pipe.documents), label="Document · 文档", elem_id="chosen")
                remove = gr.Button("Delete · 删除", variant="stop", elem_id="delete")
            upload.click(add, files, [status, table, chosen])
            remove.click(delete, chosen, [status, table, chosen])
            demo.load(lambda: (documents_table(pipe), names()), None, [table, chosen])
    return demo
