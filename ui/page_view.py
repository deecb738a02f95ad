"""The page viewer: a PDF page's image with the cited span lit, links to the pages before and after, and the text.

No Gradio here (the service serves it before the UI has loaded). The document's name is escaped wherever it is
shown and quoted wherever it is in a URL.
"""

from __future__ import annotations

import html
from urllib.parse import quote

from rag.page_image import Lit
from ui.render import VIEW_PATH

LABELS = {
    "en": {
        "page": "Page {n} of {total}",
        "previous": "← Previous page",
        "next": "Next page →",
        "text": "Extracted text",
        "not found": "The cited passage could not be found on this page's image; the extracted text shows it.",
        "elsewhere": "The cited passage is not on this page.",
    },
    "zh": {
        "page": "第 {n} 页，共 {total} 页",
        "previous": "← 上一页",
        "next": "下一页 →",
        "text": "提取的文本",
        "not found": "在这一页的图像上找不到引用的段落；提取的文本中标出了它。",
        "elsewhere": "引用的段落不在这一页。",
    },
}


def page_path(name: str, page: int) -> str:
    """The path of the viewer of page `page` of document `name`; its image is at this path plus `.png`."""
    return f"{VIEW_PATH}/{quote(name, safe='')}/page/{page}"


def text_link(name: str, start: int, end: int) -> str:
    """The URL of the document's extracted text scrolled to the span (the view for documents without pages)."""
    return f"{VIEW_PATH}/{quote(name, safe='')}?start={start}&end={end}&text=1#cite"


def page_viewer(name: str, language: str, page: int, pages: int, start: int, end: int, lit: Lit) -> str:
    """The viewer of page `page` (1-based, of `pages`) of the PDF `name`, the span [start, end) lit on its image."""
    labels = LABELS.get(language, LABELS["en"])
    e = html.escape
    span = f"?start={start}&end={end}"
    around = []
    if page > 1:
        around.append(f'<a id="previous" href="{e(page_path(name, page - 1) + span)}">{labels["previous"]}</a>')
    if page < pages:
        around.append(f'<a id="next" href="{e(page_path(name, page + 1) + span)}">{labels["next"]}</a>')
    around.append(f'<a id="text" href="{e(text_link(name, start, end))}">{labels["text"]}</a>')
    note = "" if lit == "lit" else f'<p id="note"><b>{labels[lit]}</b></p>'
    title = f"{name} · {labels['page'].format(n=page, total=pages)}"
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{e(title)}</title></head>'
        '<body style="max-width:60em;margin:auto;font-family:sans-serif">'
        f"<h2>{e(name)}</h2><p>{e(labels['page'].format(n=page, total=pages))} · {' · '.join(around)}</p>{note}"
        f'<img id="page" alt="{e(title)}" src="{e(page_path(name, page) + ".png" + span)}" '
        'style="max-width:100%;border:1px solid #ccc"></body></html>'
    )
