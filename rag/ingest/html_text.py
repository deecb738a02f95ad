"""Render a parsed web page as the text we index: every block of its body, in reading order.

Documentation is all content, so nothing is picked as "the main text": headings, paragraphs, list items,
definition terms and descriptions, table rows and code blocks each become a block, blocks separated by a blank
line. Only what a reader of the page never reads as its text goes: scripts, styles, templates, form controls,
navigation (`<nav>`, `role="navigation"`) and the site's header and footer around the content.

Inside a block, the source file's whitespace is markup, not text: runs of it become one space (none where a line
wrap falls between two Chinese characters), so a wrapped paragraph reads as one. `<br>` is a line break; `<pre>`
keeps its lines exactly. A table is one line a row, its cells joined by " | ", as the Word reader writes them.
A block read inside `h1`–`h6` carries the heading's level, for the document's outline.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bs4 import BeautifulSoup, NavigableString, PageElement, Tag

from rag.text import CJK_RANGES

BLOCK_SEPARATOR = "\n\n"
CELL_SEPARATOR = " | "
# Never text: code, styles, templates and what is shown instead of a script.
HTML_NOISE = frozenset({"script", "style", "noscript", "template", "head", "title"})
# Form controls rather than whole <form>s: ASP.NET pages wrap the entire body in one <form>.
HTML_CONTROLS = frozenset({"input", "select", "textarea", "button"})
# The site's own chrome around the content; inside <article> or <main> they are the article's (title, byline).
HTML_CHROME = frozenset({"header", "footer"})
CONTENT_ROOTS = ("article", "main")
# Elements whose start and end break the text into blocks; everything else is inline.
HTML_BLOCKS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "dialog"),
        *("dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4"),
        *("h5", "h6", "header", "hgroup", "hr", "html", "legend", "li", "main", "menu", "ol", "p", "section"),
        *("summary", "ul"),
    }
)
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# The permalink glyph documentation generators put in headings (Sphinx ¶, rustdoc §, mdBook and others #).
ANCHOR_GLYPHS = frozenset({"¶", "§", "#", "🔗"})
# A whitespace run; the line-break marker `<br>` leaves (\0) survives the collapse and becomes a newline.
SPACE_RUN = re.compile(r"[^\S\0]+")
LINE_MARK = "\0"
CJK_GAP = re.compile(f"(?<=[{CJK_RANGES}，。、；：！？”）])[^\\S\0]*\n[^\\S\0]*(?=[{CJK_RANGES}“（])")
AROUND_MARK = re.compile(r" ?\0 ?")


def page_text(soup: BeautifulSoup) -> str:
    """The text of a parsed page: its blocks in reading order, separated by a blank line."""
    return BLOCK_SEPARATOR.join(text for text, _ in page_blocks(soup))


def page_blocks(soup: BeautifulSoup) -> list[tuple[str, int | None]]:
    """The blocks of a parsed page in reading order, each with its heading level (None: not a heading)."""
    drop_chrome(soup)
    return list(_blocks(soup))


def drop_chrome(soup: BeautifulSoup) -> None:
    """Remove scripts, styles, form controls, navigation and the site's header and footer from a parsed page."""
    for element in soup.find_all(True):
        if element.decomposed:
            continue
        if _is_chrome(element):
            element.decompose()


def _is_chrome(element: Tag) -> bool:
    name = element.name
    if name in HTML_NOISE or name in HTML_CONTROLS or name == "nav":
        return True
    if element.get("role") == "navigation":
        return True
    if name in HTML_CHROME:
        return element.find_parent(CONTENT_ROOTS) is None and element.find_parent(role="main") is None
    return name == "a" and element.get_text().strip() in ANCHOR_GLYPHS


def _blocks(root: Tag) -> Iterator[tuple[str, int | None]]:
    """The page's blocks and their heading levels, walked without recursion (pages nest deeper than the stack)."""
    inline: list[str] = []
    heading: int | None = None  # the level of the heading being read
    stack: list[tuple[PageElement, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if not isinstance(node, Tag):
            if type(node) is NavigableString:  # not a comment, doctype or CDATA
                inline.append(str(node))
            continue
        name = node.name
        if name in ("pre", "table"):
            yield from _flush(inline, heading)
            block = _pre_text(node) if name == "pre" else _table_text(node)
            if block:
                yield block, None
            continue
        if name == "br":
            inline.append(LINE_MARK)
            continue
        if name not in HTML_BLOCKS and name not in HEADINGS:
            stack.extend((child, False) for child in reversed(node.contents))
            continue
        yield from _flush(inline, heading)
        if name in HEADINGS:
            heading = None if leaving else int(name[1])
        if not leaving:
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))
    yield from _flush(inline, heading)


def _flush(inline: list[str], heading: int | None) -> Iterator[tuple[str, int | None]]:
    """The inline text gathered so far as one block (if it holds any), and the buffer emptied."""
    text = inline_text("".join(inline))
    inline.clear()
    if text:
        yield text, heading


def inline_text(raw: str) -> str:
    """Running text with the source's whitespace collapsed: one space, or none across a wrap in Chinese."""
    text = SPACE_RUN.sub(" ", CJK_GAP.sub("", raw))
    return AROUND_MARK.sub("\n", text).strip()


def _pre_text(pre: Tag) -> str:
    """A code block's lines as written, without the line break HTML ignores after `<pre>` or trailing blanks."""
    text = pre.get_text()
    if text.startswith("\n"):
        text = text[1:]
    return "\n".join(line.rstrip() for line in text.rstrip().split("\n"))


def _table_text(table: Tag) -> str:
    """A table: its caption, then one line a row with its cells joined by " | "; a nested table stays in its cell."""
    lines: list[str] = []
    caption = table.find("caption")
    if caption is not None and caption.find_parent("table") is table:
        lines.append(_cell_text(caption))
    for row in table.find_all("tr"):
        if row.find_parent("table") is not table:
            continue
        cells = [_cell_text(cell) for cell in row.find_all(["td", "th"], recursive=False)]
        if any(cells):
            lines.append(CELL_SEPARATOR.join(cells))
    return "\n".join(line for line in lines if line)


def _cell_text(cell: Tag) -> str:
    """A cell's text on one line: its blocks and line breaks joined by spaces."""
    return " ".join(" ".join(text for text, _ in _blocks(cell)).split("\n"))
