"""The pages a citation opens: a PDF page's image with the span lit, or the span marked in its section.

The PDF viewer links to the pages before and after and to the extracted text; a document with headings shows the
section that holds the span under its heading path, with a link to the whole text. The service serves these
before the UI has loaded. The document's name is escaped wherever it is shown and quoted wherever it is in a URL.
"""

from __future__ import annotations

import html
from urllib.parse import quote

from rag.data import Document
from rag.page_image import Lit

VIEW_PATH = "/view"

LABELS = {
    "en": {
        "page": "Page {n} of {total}",
        "previous": "← Previous page",
        "next": "Next page →",
        "text": "Extracted text",
        "not found": "The cited passage could not be found on this page's image; the extracted text shows it.",
        "elsewhere": "The cited passage is not on this page.",
        "whole": "Whole document",
        "before headings": "Before the first heading",
    },
    "zh": {
        "page": "第 {n} 页，共 {total} 页",
        "previous": "← 上一页",
        "next": "下一页 →",
        "text": "提取的文本",
        "not found": "在这一页的图像上找不到引用的段落；提取的文本中标出了它。",
        "elsewhere": "引用的段落不在这一页。",
        "whole": "整篇文档",
        "before headings": "第一个标题之前",
    },
}


def page_path(name: str, page: int) -> str:
    """The path of the viewer of page `page` of document `name`; its image is at this path plus `.png`."""
    return f"{VIEW_PATH}/{quote(name, safe='')}/page/{page}"


def text_link(name: str, start: int, end: int, whole: bool = False) -> str:
    """The URL of the document's extracted text scrolled to the span: its section, or with `whole` all of it."""
    more = "&whole=1" if whole else ""
    return f"{VIEW_PATH}/{quote(name, safe='')}?start={start}&end={end}&text=1{more}#cite"


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


def _marked(doc: Document, a: int, b: int, start: int, end: int) -> str:
    """HTML of text [a, b) with the span [start, end) marked and the headings in it bold (a heading is its line)."""
    e = html.escape
    cuts: list[tuple[int, int, str]] = [(start, end, "cite")]
    for h in doc.outline:
        line_end = doc.text.find("\n", h.start)
        h_end = len(doc.text) if line_end < 0 else line_end
        if a <= h.start and h_end <= b and (h_end <= start or h.start >= end):
            cuts.append((h.start, h_end, "heading"))
    out, at = [], a
    for lo, hi, kind in sorted(cuts):
        out.append(e(doc.text[at:lo]))
        piece = e(doc.text[lo:hi])
        out.append(f'<mark id="cite">{piece}</mark>' if kind == "cite" else f"<strong>{piece}</strong>")
        at = hi
    out.append(e(doc.text[at:b]))
    return "".join(out)


def document_page(doc: Document, start: int, end: int, whole: bool = False) -> str:
    """A page with a document's extracted text, the span [start, end) marked and scrolled to.

    A document with headings shows the section that holds the span, under its heading path, with a link to the
    whole text (`whole` shows that).
    """
    start, end = max(0, min(start, len(doc.text))), max(0, min(end, len(doc.text)))
    end = max(start, end)
    e = html.escape
    labels = LABELS.get(doc.language, LABELS["en"])
    a, b, header = 0, len(doc.text), ""
    if doc.outline and not whole:
        a, b = doc.sections.around(start, len(doc.text))
        b = max(b, end)
        path = doc.sections.at(start)
        link = text_link(doc.name, start, end, whole=True)
        header = (
            f'<p><span id="section">{e(path or labels["before headings"])}</span> · '
            f'<a id="whole" href="{e(link)}">{labels["whole"]}</a></p>'
        )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{e(doc.name)}</title></head>'
        f'<body style="max-width:50em;margin:auto;font-family:sans-serif"><h2>{e(doc.name)}</h2>{header}'
        f'<p style="white-space:pre-wrap;line-height:1.5">{_marked(doc, a, b, start, end)}</p></body></html>'
    )
