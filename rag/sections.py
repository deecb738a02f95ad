"""A document's outline (its headings, where each starts) and the section path of any offset of its text.

A reader that knows headings (HTML `h1`–`h6`, Markdown `#`, Word's Title and Heading N styles) returns them with
the offset in the stored text where each heading's own text starts, so the outline points into the same text the
citations do. A heading covers the text from its start to the next heading of the same or a higher level; the
section path of an offset names the headings that cover it, outermost first.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from typing import NamedTuple

# Files whose pages are slides (the PowerPoint reader makes a page of each).
SLIDE_SUFFIXES = (".pptx",)

# Between the titles of a section path: "Guide › 7. Basics › 7.12 How do I put a package on hold?".
PATH_SEPARATOR = " › "


class Heading(NamedTuple):
    """One heading: its level (smaller is outer; Word's Title is 0, h1 and Heading 1 are 1), title and start."""

    level: int
    title: str
    start: int


Outline = tuple[Heading, ...]


def heading_title(text: str) -> str:
    """A heading's text as a path shows it: on one line, its whitespace runs one space."""
    return " ".join(text.split())


def outline_to_json(outline: Outline) -> str:
    """The outline as stored: a JSON list of [level, title, start]."""
    return json.dumps([list(h) for h in outline], ensure_ascii=False)


def outline_from_json(stored: str) -> Outline:
    """An outline stored by `outline_to_json`."""
    return tuple(Heading(int(level), str(title), int(start)) for level, title, start in json.loads(stored))


class Sections:
    """The section path of each offset of a text, from its outline (headings in order of their starts)."""

    __slots__ = ("_ends", "_paths", "_starts")

    def __init__(self, outline: Sequence[Heading]) -> None:
        self._starts = [h.start for h in outline]
        self._paths: list[str] = []
        # Where each heading's section ends: at the next heading of the same or a higher level (None: the end).
        self._ends: list[int | None] = [None] * len(outline)
        open_headings: list[tuple[int, Heading]] = []
        for i, heading in enumerate(outline):
            while open_headings and open_headings[-1][1].level >= heading.level:
                self._ends[open_headings.pop()[0]] = heading.start
            open_headings.append((i, heading))
            self._paths.append(PATH_SEPARATOR.join(h.title for _, h in open_headings))

    def at(self, offset: int) -> str:
        """The path of the headings covering `offset`; "" before the first heading or without an outline."""
        i = bisect.bisect_right(self._starts, offset) - 1
        return self._paths[i] if i >= 0 else ""

    def around(self, offset: int, length: int) -> tuple[int, int]:
        """The innermost section covering `offset`, as [start, end) of a text `length` long.

        Before the first heading it is the text up to that heading; without an outline, the whole text.
        """
        i = bisect.bisect_right(self._starts, offset) - 1
        if i < 0:
            return 0, self._starts[0] if self._starts else length
        end = self._ends[i]
        return self._starts[i], length if end is None else end


def page_label(doc: str, page: int) -> str:
    """How a reader names a page of the document: a deck's pages are its slides."""
    return f"slide {page}" if doc.lower().endswith(SLIDE_SUFFIXES) else f"p. {page}"
