"""Measure what HTML readers keep of real documentation pages, per element type.

    python eval/html_readers.py PAGE.html [PAGE.html ...]

For each page, the elements of its body once chrome is dropped (as `rag.ingest.html_text` drops it: scripts, styles,
navigation, the site's header and footer) are the reference: headings, definition terms and descriptions, list
items, table cells, code blocks (by line) and the body's words. An element counts as kept when its text, with
whitespace and Markdown marks (* _ ` \\ # |) taken out on both sides, occurs in the reader's output; words count
as a multiset. "headings in order" is the share found in order, each after the one before. Readers that are not
installed (inscriptis, html2text) are left out of the table.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bs4 import BeautifulSoup

from rag import ingest
from rag.ingest.html_text import drop_chrome

MARKUP = re.compile(r"\*\*|`|^#+ |\\[-*_.#`]|^ *[*+-] ", re.M)
MARKS = re.compile(r"[*_`\\#|\s]+")
WORD = re.compile(r"[\u3400-\u9fff]|[^\W_]+")
OURS = "dom walk (rag.ingest.html_text)"
HEADING_TAGS = ["h1", "h2", "h3", "h4", "h5", "h6"]


def norm(text: str) -> str:
    return MARKS.sub("", text)


def readers() -> dict[str, Callable[[str], str]]:
    found: dict[str, Callable[[str], str]] = {OURS: _ours}
    try:
        import trafilatura

        found["trafilatura default+tables"] = lambda html: trafilatura.extract(html, include_tables=True) or ""
        found["trafilatura recall+formatting"] = lambda html: (
            trafilatura.extract(html, include_tables=True, include_formatting=True, favor_recall=True) or ""
        )
    except ImportError:
        pass
    try:
        from inscriptis import get_text

        found["inscriptis"] = get_text
    except ImportError:
        pass
    try:
        import html2text

        def h2t(html: str) -> str:
            converter = html2text.HTML2Text()
            converter.body_width = 0
            converter.ignore_links = True
            converter.ignore_images = True
            return converter.handle(html)

        found["html2text"] = h2t
    except ImportError:
        pass
    return found


def _ours(html: str) -> str:
    return ingest.read_bytes(html.encode(), "page.html").text


def reference(html: str) -> dict[str, list[str]]:
    soup = BeautifulSoup(html, "html.parser")
    drop_chrome(soup)
    body = soup.body or soup
    ref: dict[str, list[str]] = {
        "headings": [h.get_text(" ") for h in body.find_all(HEADING_TAGS)],
        "dt": [e.get_text(" ") for e in body.find_all("dt")],
        "dd": [e.get_text(" ") for e in body.find_all("dd")],
        "li": [e.get_text(" ") for e in body.find_all("li") if not e.find(["ul", "ol", "pre", "table", "dl"])],
        "table cells": [e.get_text(" ") for e in body.find_all(["td", "th"]) if not e.find("table")],
        "pre lines": [line for e in body.find_all("pre") for line in e.get_text().split("\n")],
        "p on one line": [" ".join(e.get_text().split()) for e in body.find_all("p") if not e.find(["br", "pre"])],
    }
    rows = [[norm(c.get_text(" ")) for c in tr.find_all(["td", "th"], recursive=False)] for tr in body.find_all("tr")]
    ref = {kind: [t for t in texts if norm(t)] for kind, texts in ref.items()}
    ref["rows on one line"] = ["\0".join(row) for row in rows if any(row) and not any("\0" in c for c in row)]
    ref["source marks"] = [body.get_text()]
    return ref | {"words": [body.get_text(" ")]}


def kept(ref: dict[str, list[str]], output: str) -> dict[str, tuple[int, int]]:
    flat = norm(output)
    special = ("words", "p on one line", "rows on one line", "source marks")
    out = {
        kind: (sum(norm(t) in flat for t in texts), len(texts)) for kind, texts in ref.items() if kind not in special
    }
    spaced = "\n".join(" ".join(line.split()) for line in output.split("\n"))
    out["p on one line"] = (sum(p in spaced for p in ref["p on one line"]), len(ref["p on one line"]))
    lines = [norm(line) for line in output.split("\n")]
    out["rows on one line"] = (
        sum(any(_in_order(r.split("\0"), line) for line in lines) for r in ref["rows on one line"]),
        len(ref["rows on one line"]),
    )
    marks = len(MARKUP.findall(output)) - len(MARKUP.findall(ref["source marks"][0]))
    pos = in_order = 0
    for heading in ref["headings"]:
        at = flat.find(norm(heading), pos)
        if at >= 0:
            in_order += 1
            pos = at
    out["headings in order"] = (in_order, len(ref["headings"]))
    source, got = Counter(WORD.findall(ref["words"][0])), Counter(WORD.findall(output))
    out["words"] = (sum(min(n, got[w]) for w, n in source.items()), sum(source.values()))
    out["marks added per 1000 words"] = (max(0, marks) * 1000, sum(source.values()))
    return out


def _in_order(cells: list[str], line: str) -> bool:
    pos = 0
    for cell in cells:
        at = line.find(cell, pos)
        if at < 0:
            return False
        pos = at + len(cell)
    return True


def main(paths: list[str]) -> None:
    found = readers()
    totals: dict[str, Counter[str]] = {name: Counter() for name in found}
    for path in paths:
        html = Path(path).read_text(encoding="utf-8", errors="replace")
        ref = reference(html)
        soup = BeautifulSoup(html, "html.parser")
        drop_chrome(soup)
        stripped = str(soup)  # the libraries read the page without its chrome, as the product fed trafilatura
        for name, read in found.items():
            for kind, (k, n) in kept(ref, read(html if name == OURS else stripped)).items():
                totals[name][kind + "/k"] += k
                totals[name][kind + "/n"] += n
    kinds = [
        "headings",
        "headings in order",
        "dt",
        "dd",
        "li",
        "table cells",
        "pre lines",
        "words",
        "p on one line",
        "rows on one line",
        "marks added per 1000 words",
    ]
    first = totals[next(iter(found))]
    print(f"{len(paths)} pages; elements: " + ", ".join(f"{k} {first[k + '/n']}" for k in kinds))
    print("| reader | " + " | ".join(kinds) + " |")
    print("| --- |" + " --- |" * len(kinds))
    for name, t in totals.items():
        cells = [f"{t[k + '/k'] / t[k + '/n']:.3g}" if t[k + "/n"] else "-" for k in kinds]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
