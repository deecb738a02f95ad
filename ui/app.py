"""Gradio UI: chat in English or Chinese with each answer's sources, search, and the documents of the collection.

Labels follow the language of the question. Answers stream in as they are written; with an LLM configured the
earlier turns let a follow-up stand on its own. Abstentions show the nearest passages as "related", never as
sources. Each answer in the chat keeps its sources, named by document and page, linked to the document text at
the cited place (`rag.serve.views`), and a thumbs-up and a thumbs-down: a rating, with the comment and correct
source given beside the chat, is recorded as `POST /v1/feedback` records it. The documents tab uploads, lists and
deletes. Errors are shown in words.
"""

from __future__ import annotations

import html
import logging
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder as gradio_upload_folder

from rag.answer.question import NAME_RUN
from rag.answer.stream import Reset
from rag.conversation import Turn
from rag.data import Answer, Document
from rag.errors import InputError, RagError
from rag.ingest import SUPPORTED
from rag.lexical import ZH_STOP, jieba_tokenizer
from rag.pipeline import Pipeline
from rag.serve.models import citation
from ui.render import chat_message, place, plain, sources_html, status, view_link

log = logging.getLogger(__name__)
# What the UI says about a fault of its own; the traceback goes to the server log, never to the browser.
INTERNAL = "⚠ Something went wrong on the server; the log has the details. · 服务器出错，详情见日志。"

UPLOAD_TTL_S = 3600
MAX_EXAMPLES = 4
# An upload's progress bar: where each stage of a file starts within the file's share, and how much of it it takes.
# Embedding is most of the time of a write; reading a PDF and saving, the rest.
STAGES = {"reading": (0.0, 0.1), "embedding": (0.1, 0.8), "saving": (0.9, 0.1)}
STAGE_NAMES = {"reading": "reading · 读取", "embedding": "embedding · 向量化", "saving": "saving · 保存"}
# Chinese example topics: words of at least this many characters (shorter ones are too general to ask about).
MIN_ZH_TOPIC = 3
LEADING_ARTICLE = re.compile(r"^(?:The|A|An) ")
DOCUMENT_COLUMNS = ["name", "title", "language", "format", "chunks", "pages", "size", "added", "tags"]


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


def rated_answer(question: str, answer: Answer) -> dict[str, Any]:
    """What a rating of an answer records: the question, the answer, its citations as the API gives them."""
    return {"question": question, "answer": answer.text, "citations": [citation(c) for c in answer.citations]}


def documents_table(pipe: Pipeline) -> list[list[Any]]:
    """Rows of the documents tab's table."""
    return [
        [", ".join(i.tags) if c == "tags" else getattr(i, c) for c in DOCUMENT_COLUMNS] for i in pipe.document_infos()
    ]


def build_ui(pipe: Pipeline) -> gr.Blocks:
    """The chat, search and documents UI over a loaded pipeline."""

    def respond(
        message: str, history: list[dict[str, Any]], turns: list[Turn], answers: dict[int, dict[str, Any]]
    ) -> Iterator[tuple[list[dict[str, Any]], str, str, list[Turn], dict[int, dict[str, Any]]]]:
        """Stream the answer into the chat; the conversation so far (`turns`) lets a follow-up stand alone.

        `answers` keeps, by the chat message's index, what a rating of each answer records.
        """
        history = [*history, {"role": "user", "content": plain(message)}]
        asked = [*turns, Turn("user", message)]
        try:
            stream, text = pipe.chat_stream(asked), ""
            for event in stream:
                if isinstance(event, Reset):
                    text = ""  # the answer that replaces the text so far follows
                    continue
                text += event.text
                yield [*history, {"role": "assistant", "content": plain(text)}], "", "", turns, answers
            answer = stream.answer()
            done = [*history, {"role": "assistant", "content": chat_message(answer)}]
            kept = answers | {len(history): rated_answer(message, answer)}
            yield done, sources_html(pipe, answer), "", [*asked, Turn("assistant", answer.text)], kept
        except RagError as exc:
            yield [*history, {"role": "assistant", "content": plain(f"⚠ {exc}")}], "", "", turns, answers
        except Exception:
            log.exception("the chat failed on %r", message[:200])
            yield [*history, {"role": "assistant", "content": INTERNAL}], "", "", turns, answers

    def rate(
        answers: dict[int, dict[str, Any]], comment: str, source: str | None, liked: gr.LikeData
    ) -> tuple[str, str, Any]:
        """Record a thumbs-up or thumbs-down on an answer of the chat, with the comment and source beside it."""
        index = liked.index if isinstance(liked.index, int) else liked.index[0]
        answer = answers.get(index)
        if answer is None:
            return status("⚠ Only answers can be rated · 只能评价回答"), comment, source
        if not isinstance(liked.liked, bool):
            return status("The rating sent before stays recorded · 之前的评价仍保留"), comment, source
        try:
            pipe.record_feedback(**answer, rating="up" if liked.liked else "down", comment=comment, correct_doc=source)
        except RagError as exc:
            return status(f"⚠ {exc}"), comment, source
        except Exception:
            log.exception("recording feedback on %r failed", answer["question"][:200])
            return status(INTERNAL), comment, source
        return status("✓ Thank you: your rating is recorded · 谢谢，评价已记录"), "", None

    def search(query: str, docs: list[str], languages: list[str], tags: list[str]) -> str:
        """The hits for `query` from the documents the chosen names, languages and tags keep (none chosen: all)."""
        where = {k: v for k, v in (("documents", docs), ("language", languages), ("tags", tags)) if v}
        try:
            hits = pipe.search(query, filter=where or None)
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

    def all_tags() -> list[str]:
        return sorted({t for i in pipe.document_infos() for t in i.tags})

    def tags() -> Any:
        return gr.update(choices=all_tags(), value=[])

    def choices() -> tuple[Any, Any, Any, Any]:
        """What the dropdowns offer after a write: the correct-source, delete and both filter lists."""
        return names(), names(), gr.update(choices=sorted(pipe.documents), value=[]), tags()

    def add(paths: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[str, list[list[Any]], Any]:  # noqa: B008 - Gradio's progress idiom
        lines = []
        files = paths or []
        for i, path in enumerate(files):
            name = Path(path).name

            def report(stage: str, done: int, total: int, name: str = name, i: int = i) -> None:
                # One bar for the whole upload: each file its share, each stage of a file its part of that.
                begins, takes = STAGES[stage]
                share = (i + begins + takes * done / max(total, 1)) / len(files)
                progress(share, desc=f"{name}: {STAGE_NAMES[stage]}")

            try:
                info, changed = pipe.add_document(read_upload(Path(path)), name, report)
            except RagError as exc:
                lines.append(f"⚠ {name}: {exc}")
                continue
            except Exception:
                log.exception("the upload of %r failed", name)
                lines.append(f"⚠ {name}: {INTERNAL}")
                continue
            what = "added · 已添加" if changed else "unchanged · 未改变"
            pages = f", {info.pages} pages · 页" if info.pages > 1 else ""
            lines.append(f"✓ {name}: {what} ({info.language}, {info.chunks} chunks · 段{pages})")
        return status(*lines), documents_table(pipe), names()

    def delete(name: str | None) -> tuple[str, list[list[Any]], Any]:
        if not name:
            return status("Choose a document first · 请先选择文档"), documents_table(pipe), names()
        try:
            pipe.remove_documents([name])
        except RagError as exc:
            return status(f"⚠ {exc}"), documents_table(pipe), names()
        return status(f"✓ {name}: deleted · 已删除"), documents_table(pipe), names()

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
            with gr.Row():
                comment = gr.Textbox(
                    label="Comment on an answer (optional), then rate it 👍 👎 · 对回答的意见（可选），然后评价",
                    elem_id="feedback-comment",
                    scale=3,
                )
                correct = gr.Dropdown(
                    choices=sorted(pipe.documents),
                    value=None,
                    label="Where the answer is (optional) · 答案所在文档（可选）",
                    elem_id="feedback-source",
                    scale=2,
                )
            rated = gr.Markdown(elem_id="feedback-status")
            turns = gr.State([])
            answers = gr.State({})
            ask.click(respond, [box, chatbot, turns, answers], [chatbot, panel, box, turns, answers])
            box.submit(respond, [box, chatbot, turns, answers], [chatbot, panel, box, turns, answers])
            chatbot.like(rate, [answers, comment, correct], [rated, comment, correct])
        with gr.Tab("Search · 检索"):
            query = gr.Textbox(label="Query · 查询", elem_id="query")
            with gr.Row():
                only_docs = gr.Dropdown(
                    choices=sorted(pipe.documents),
                    multiselect=True,
                    label="Only these documents · 仅限这些文档",
                    elem_id="only-docs",
                )
                only_languages = gr.CheckboxGroup(["en", "zh"], label="Only in · 仅限语言", elem_id="only-languages")
                only_tags = gr.Dropdown(
                    choices=all_tags(), multiselect=True, label="With every tag · 须含全部标签", elem_id="only-tags"
                )
            results = gr.HTML(elem_id="results")
            searched = [query, only_docs, only_languages, only_tags]
            gr.Button("Search · 检索", elem_id="search").click(search, searched, results)
            query.submit(search, searched, results)
        with gr.Tab("Documents · 文档"):
            files = gr.File(
                label="Add or replace · 添加或替换 (" + ", ".join(sorted(SUPPORTED)) + ")",
                file_count="multiple",
                file_types=sorted(SUPPORTED),
                elem_id="upload",
            )
            upload = gr.Button("Add to the collection · 加入文档库", variant="primary", elem_id="add")
            shown = gr.Markdown(elem_id="upload-status")
            table = gr.Dataframe(
                value=lambda: documents_table(pipe), headers=DOCUMENT_COLUMNS, interactive=False, elem_id="documents"
            )
            with gr.Row():
                chosen = gr.Dropdown(choices=sorted(pipe.documents), label="Document · 文档", elem_id="chosen")
                remove = gr.Button("Delete · 删除", variant="stop", elem_id="delete")
            lists = [correct, chosen, only_docs, only_tags]
            upload.click(add, files, [shown, table, chosen]).then(choices, None, lists)
            remove.click(delete, chosen, [shown, table, chosen]).then(choices, None, lists)
            demo.load(lambda: (documents_table(pipe), *choices()), None, [table, *lists])
    slow_polling(demo, pipe.settings.ui_queue_poll_s, pipe.settings.ui_progress_poll_s)
    return demo


def slow_polling(demo: gr.Blocks, events_s: float, progress_s: float) -> None:
    """Make Gradio's queue look for events and progress every `events_s` and `progress_s` seconds.

    Gradio has no option for these intervals, so its queue's attributes are set; a test checks that they
    still exist, since setting a missing one would do nothing.
    """
    queue = demo._queue
    queue.sleep_when_free = events_s
    queue.progress_update_sleep_when_free = progress_s
