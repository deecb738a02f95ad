"""Plain text (any encoding) and Markdown (rendered to its text, headings kept as the outline)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bs4 import BeautifulSoup
from markdown_it import MarkdownIt
from markdown_it.token import Token

from rag.ingest.common import CELL_SEPARATOR, Extracted, decode, joined, normalize_newlines
from rag.ingest.html_text import page_text
from rag.settings import Settings
from rag.text import CJK_RANGES

# A soft break (marked \0 while rendering) between two Chinese characters: a wrap, not a space.
CJK_SOFT_BREAK = re.compile(f"(?<=[{CJK_RANGES}])\0(?=[{CJK_RANGES}])")
# Markdown containers whose lines stay together in one block: a list's items, a table's rows.
MD_GROUP_OPENS = frozenset({"bullet_list_open", "ordered_list_open", "table_open"})
MD_GROUP_CLOSES = frozenset({"bullet_list_close", "ordered_list_close", "table_close"})


def read_text(data: bytes, name: str, settings: Settings) -> Extracted:
    """A plain text file, exactly as decoded apart from line ends."""
    return Extracted(normalize_newlines(decode(data, name)), "text")


def read_markdown(data: bytes, name: str, settings: Settings) -> Extracted:
    """A Markdown file as plain text: each block's text without markup, blocks separated by a blank line."""
    source = normalize_newlines(decode(data, name))
    tokens = MarkdownIt("commonmark").enable("table").parse(source)
    text, outline = joined(_markdown_blocks(tokens))
    return Extracted(text, "markdown", outline=outline)


def _markdown_blocks(tokens: Sequence[Token]) -> list[tuple[str, int | None]]:
    """The blocks of a Markdown token stream with their heading levels (None: not a heading).

    A list's items and a table's rows are lines of one block; a heading inside a list is a line of it.
    """
    blocks: list[tuple[str, int | None]] = []
    lines: list[str] = []  # lines of the outermost list or table being read
    row: list[str] | None = None  # cells of the table row being read
    depth = 0
    heading: int | None = None  # the level of the heading whose text comes next
    for token in tokens:
        if token.type == "heading_open":
            heading = int(token.tag[1])
        elif token.type == "heading_close":
            heading = None
        elif token.type in MD_GROUP_OPENS:
            depth += 1
        elif token.type in MD_GROUP_CLOSES:
            depth -= 1
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            lines.append(CELL_SEPARATOR.join(row))
            row = None
        text = _markdown_block_text(token)
        if text is not None:
            if row is not None:
                row.append(text)
            elif depth:
                lines.append(text)
            else:
                blocks.append((text, heading))
        if depth == 0 and lines:
            blocks.append(("\n".join(lines), None))
            lines = []
    return blocks


def _markdown_block_text(token: Token) -> str | None:
    """The text a block-level token contributes, or None for structure (opening and closing tags, rules)."""
    if token.type == "inline":
        return _inline_text(token.children or [])
    if token.type in ("fence", "code_block"):
        return token.content.rstrip("\n")
    if token.type == "html_block":
        return page_text(BeautifulSoup(token.content, "html.parser"))
    return None


def _inline_text(children: Sequence[Token]) -> str:
    """The plain text of an inline token: text, code and image alt text, without markup or link targets.

    A soft line break (a wrap inside a paragraph) becomes a space, or nothing between two Chinese characters.
    """
    out = ""
    for child in children:
        if child.type in ("text", "code_inline", "image"):
            out += child.content
        elif child.type == "hardbreak":
            out += "\n"
        elif child.type == "softbreak":
            out += "\0"
    return CJK_SOFT_BREAK.sub("", out).replace("\0", " ")
