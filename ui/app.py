"""Gradio chat UI: ask in English or Chinese, see each answer's sources highlighted in their paragraphs.

Labels follow the language of the question. Abstentions show the nearest passages as "related", never as
sources. Errors are shown in words.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

import gradio as gr

from rag.data import Answer, Document, Hit
from rag.errors import RagError
from rag.pipeline import Pipeline

log = logging.getLogger(__name__)
# What the UI says about a fault of its own; the traceback goes to the server log, never to the browser.
INTERNAL = "⚠ Something went wrong on the server; the log has the details. · 服务器出错，详情见日志。"

CONTEXT_CHARS = 300
EXAMPLES = [
    "2011年“占领运动”发生在多少个城市？",
    "亚投行的核心目标是什么？",
    "Which country was the first to sign the UN Charter?",
    "How many cities saw the 2011 Occupy protests?",
]
LABELS = {
    "en": {
        "sources": "Sources",
        "related": "Related passages (not sources: the documents do not answer this)",
        "none": "No passages.",
        "confidence": "Confidence that the sources answer the question",
    },
    "zh": {
        "sources": "来源",
        "related": "相关段落（并非依据：文档没有回答这个问题）",
        "none": "没有段落。",
        "confidence": "来源回答了这个问题的置信度",
    },
}


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


def sources_html(pipe: Pipeline, answer: Answer) -> str:
    """The sources panel for an answer."""
    labels = LABELS[answer.language]
    items: list[tuple[str, Hit | Any]] = (
        [(f"[{c.n}]", c) for c in answer.citations] if not answer.abstained else [("•", h) for h in answer.passages[:3]]
    )
    title = labels["related"] if answer.abstained else labels["sources"]
    confidence = f"<p><small>{labels['confidence']}: {answer.confidence:.2f}</small></p>"
    if not items:
        return f"<h3>{html.escape(title)}</h3>{confidence}<p>{labels['none']}</p>"
    blocks = [
        f'<div class="source"><b>{mark} {html.escape(s.doc)}</b> <code>[{s.start}:{s.end}]</code>'
        f'<p style="white-space:pre-wrap">{highlight(pipe.documents[s.doc], s.start, s.end)}</p></div>'
        for mark, s in items
    ]
    return f"<h3>{html.escape(title)}</h3>{confidence}" + "".join(blocks)


def build_ui(pipe: Pipeline) -> gr.Blocks:
    """The chat and search UI over a loaded pipeline."""

    def respond(message: str, history: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str, str]:
        history = [*history, {"role": "user", "content": message}]
        try:
            answer = pipe.ask(message)
        except RagError as exc:
            return [*history, {"role": "assistant", "content": f"⚠ {exc}"}], "", ""
        except Exception:
            log.exception("the chat failed on %r", message[:200])
            return [*history, {"role": "assistant", "content": INTERNAL}], "", ""
        text = f"{answer.text}\n\n{answer.reason}" if answer.reason else answer.text
        return [*history, {"role": "assistant", "content": text}], sources_html(pipe, answer), ""

    def search(query: str) -> str:
        try:
            hits = pipe.search(query)
        except RagError as exc:
            return f"<p>⚠ {html.escape(str(exc))}</p>"
        except Exception:
            log.exception("the search failed on %r", query[:200])
            return f"<p>{html.escape(INTERNAL)}</p>"
        return "".join(
            f'<div class="hit"><b>{i}. {html.escape(h.doc)}</b> <code>[{h.start}:{h.end}]</code> '
            f"<small>{h.score:.4f}</small><p>{html.escape(' '.join(h.text.split()))}</p></div>"
            for i, h in enumerate(hits, start=1)
        )

    with gr.Blocks(title="rag-bilingual") as demo:
        gr.Markdown("## Ask the documents · 向文档提问")
        with gr.Tab("Chat · 问答"):
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(label="Answers · 回答", height=420, elem_id="chat")
                    box = gr.Textbox(label="Question · 问题", placeholder="English or 中文", elem_id="question")
                    ask = gr.Button("Ask · 提问", variant="primary", elem_id="ask")
                    gr.Examples(EXAMPLES, inputs=box)
                with gr.Column(scale=2):
                    panel = gr.HTML(label="Sources · 来源", elem_id="sources")
            ask.click(respond, [box, chatbot], [chatbot, panel, box])
            box.submit(respond, [box, chatbot], [chatbot, panel, box])
        with gr.Tab("Search · 检索"):
            query = gr.Textbox(label="Query · 查询", elem_id="query")
            results = gr.HTML(elem_id="results")
            gr.Button("Search · 检索", elem_id="search").click(search, query, results)
            query.submit(search, query, results)
    return demo
