"""Web pages: decoded, measured against the element and depth limits, then read whole (`rag.ingest.html_text`)."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, UnicodeDammit

from rag.errors import TooLargeError, UnreadableDocumentError
from rag.ingest.common import Extracted, joined
from rag.ingest.html_text import page_blocks
from rag.settings import Settings

# Skipped when counting a page's elements: what is inside is text to the parser, not elements.
HTML_OPAQUE = re.compile(r"<!--.*?-->|<(script|style|textarea|title)\b.*?</\1\s*>", re.S | re.I)
HTML_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^>]*?(/?)>")
# Elements that never nest, by having no content or an end tag pages leave out (a <p> or <li> left open).
HTML_FLAT = frozenset(
    {
        *("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track"),
        *("wbr", "basefont", "bgsound", "frame", "keygen"),
        *("p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "option", "optgroup", "colgroup"),
        *("rb", "rt", "rtc", "rp"),
    }
)


def read_html(data: bytes, name: str, settings: Settings) -> Extracted:
    """A web page's text: every block of its body in reading order, chrome dropped (see `rag.ingest.html_text`)."""
    markup = decode_html(data, name)
    check_html_shape(markup, name, settings)
    text, outline = joined(page_blocks(BeautifulSoup(markup, "html.parser")))
    return Extracted(text, "html", outline=outline)


def decode_html(data: bytes, name: str) -> str:
    """Decode a web page: UTF-8 first, then the charset the page declares, then a detected one."""
    markup = UnicodeDammit(data, known_definite_encodings=["utf-8"], is_html=True).unicode_markup
    if markup is None:
        raise UnreadableDocumentError(f"{name}: cannot tell its character encoding; save it as UTF-8 and upload again")
    return markup


def check_html_shape(markup: str, name: str, settings: Settings) -> None:
    """Refuse a page with more elements or deeper nesting than the limits, counted from its tags before parsing.

    The parsed tree, not the file, is what costs memory: a few MB of nested <div>s became gigabytes.
    """
    elements = depth = 0
    for match in HTML_TAG.finditer(HTML_OPAQUE.sub("", markup)):
        closing, tag, self_closing = match.groups()
        if not closing:
            elements += 1
        if tag.lower() in HTML_FLAT or self_closing:
            continue
        depth = max(0, depth - 1) if closing else depth + 1
        if depth > settings.max_html_depth:
            raise UnreadableDocumentError(
                f"{name} nests its elements over {settings.max_html_depth} deep (RAG_MAX_HTML_DEPTH), deeper than "
                "any page's text needs; save the page's text as .txt and upload that"
            )
    if elements > settings.max_html_elements:
        raise TooLargeError(
            f"{name} has {elements} elements, over the {settings.max_html_elements} a page may have here "
            "(RAG_MAX_HTML_ELEMENTS); split it, or save its text as .txt and upload that"
        )
