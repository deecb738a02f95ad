"""Fidelity of the readers: what a document holds (headings, lists, terms, tables, code) is in its text, in order."""

from __future__ import annotations

import io

import docx
import pytest
from reportlab.pdfgen import canvas

from rag.ingest import pdf, read_bytes
from rag.settings import Settings

MANUAL = """<!DOCTYPE html><html><head><title>Packaging manual</title><style>p { margin: 0 }</style></head><body>
<header><a href="/">Site home</a> <form><input name="q"><button>Search</button></form></header>
<nav><ul><li><a href="/prev">Previous chapter</a></li></ul></nav>
<div role="navigation"><a href="/toc">Table of contents</a></div>
<main>
<header><h1>6. Building packages<a class="headerlink" href="#b">¶</a></h1></header>
<p>The targets of debian/rules: <code>debian/rules build</code> and
   <code>fakeroot make -f debian/rules
   binary</code> execute rules for <code>build</code> and <code>binary</code> targets.</p>
<h2>6.1 Helper directories</h2>
<p>有以下的
辅助目录：</p>
<dl>
<dt><code>/tools/</code></dt><dd>用于创建启动盘的工具。</dd>
<dt><code>/doc/</code></dt><dd>基本文档。</dd>
<dt>preinst</dt><dd><p>Runs before unpacking:</p><pre>dpkg-divert --divert /bin/login.debian /bin/login</pre></dd>
</dl>
<h3>6.1.1 Steps</h3>
<ol>
<li>Get the source:
<pre><button class="copy">Copy</button>apt-get source foo
cd foo-1.0</pre></li>
<li>Build it
  <ul><li>with <code>dpkg-buildpackage</code></li><li>or with sbuild</li></ul>
</li>
</ol>
<table><caption>Table 6-1: ports</caption>
<thead><tr><th>Port</th><th>Use</th></tr></thead>
<tbody><tr><td>587</td><td>submission with <code>STARTTLS</code></td></tr>
<tr><td>465</td><td><p>submission</p><p>over TLS</p></td></tr></tbody></table>
<p>Write to<br>the list at
<a href="mailto:x">debian-devel@lists.debian.org</a>
for help.</p>
<script>document.write("script text")</script><noscript>Enable JavaScript</noscript>
<template><p>template text</p></template>
</main>
<footer><p>Copyright 2024 the authors</p></footer>
</body></html>"""

MANUAL_TEXT = (
    "6. Building packages\n\n"
    "The targets of debian/rules: debian/rules build and fakeroot make -f debian/rules binary execute rules for "
    "build and binary targets.\n\n"
    "6.1 Helper directories\n\n"
    "有以下的辅助目录：\n\n"
    "/tools/\n\n用于创建启动盘的工具。\n\n"
    "/doc/\n\n基本文档。\n\n"
    "preinst\n\nRuns before unpacking:\n\ndpkg-divert --divert /bin/login.debian /bin/login\n\n"
    "6.1.1 Steps\n\n"
    "Get the source:\n\napt-get source foo\ncd foo-1.0\n\n"
    "Build it\n\nwith dpkg-buildpackage\n\nor with sbuild\n\n"
    "Table 6-1: ports\nPort | Use\n587 | submission with STARTTLS\n465 | submission over TLS\n\n"
    "Write to\nthe list at debian-devel@lists.debian.org for help."
)


def test_html_keeps_headings_terms_lists_code_and_tables_in_reading_order() -> None:
    assert read_bytes(MANUAL.encode(), "manual.html").text == MANUAL_TEXT


@pytest.mark.parametrize(
    "chrome",
    [
        *("Site home", "Search", "Previous chapter", "Table of contents", "¶", "Copyright", "script text"),
        *("Enable JavaScript", "template text", "Packaging manual", "p { margin"),
    ],
)
def test_html_drops_only_chrome(chrome: str) -> None:
    assert chrome not in read_bytes(MANUAL.encode(), "manual.html").text


def test_html_nested_table_stays_in_its_cell_and_pre_in_a_cell_is_one_line() -> None:
    page = (
        "<table><tr><td>outer</td><td><table><tr><td>inner a</td><td>inner b</td></tr></table></td></tr>"
        "<tr><td>code</td><td><pre>a = 1\nb = 2</pre></td></tr></table>"
    )
    assert read_bytes(page.encode(), "t.html").text == "outer | inner a | inner b\ncode | a = 1 b = 2"


def test_html_far_deeper_than_pythons_stack_reads() -> None:
    depth = 5000
    page = "<span>" * depth + "deep text" + "</span>" * depth
    # The walk itself has no depth limit; RAG_MAX_HTML_DEPTH refuses such a page first by default.
    assert read_bytes(page.encode(), "deep.html", Settings(max_html_depth=2 * depth)).text == "deep text"


def make_pdf_with_pages(pages: list[list[str]]) -> bytes:
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf)
    for lines in pages:
        pdf.setFont("Helvetica", 11)
        for i, line in enumerate(lines):
            pdf.drawString(72, 760 - 16 * i, line)
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


def test_docx_headings_lists_and_tables_keep_their_lines() -> None:
    document = docx.Document()
    document.add_heading("Release notes", level=0)
    document.add_heading("1. Install", level=1)
    document.add_paragraph("Run the installer.")
    document.add_paragraph("first step", style="List Bullet")
    document.add_paragraph("second step", style="List Number")
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([("Port", "Use"), ("587", "submission")]):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    document.add_heading("2. Configure", level=2)
    document.add_paragraph("Edit the file.")
    buf = io.BytesIO()
    document.save(buf)
    assert read_bytes(buf.getvalue(), "notes.docx").text == (
        "Release notes\n\n1. Install\n\nRun the installer.\n\nfirst step\n\nsecond step\n\n"
        "Port | Use\n587 | submission\n\n2. Configure\n\nEdit the file."
    )


def test_docx_nested_table_stays_in_its_cell() -> None:
    document = docx.Document()
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "outer"
    inner = table.cell(0, 1).add_table(rows=1, cols=2)
    inner.cell(0, 0).text = "inner a"
    inner.cell(0, 1).text = "inner b"
    buf = io.BytesIO()
    document.save(buf)
    assert read_bytes(buf.getvalue(), "nested.docx").text == "outer | inner a | inner b"


def test_markdown_html_block_keeps_its_terms_and_rows_apart() -> None:
    source = (
        "Before.\n\n<dl><dt>preinst</dt><dd>runs before unpacking</dd></dl>\n\n"
        "<table><tr><td>587</td><td>submission</td></tr></table>\n"
    )
    assert read_bytes(source.encode(), "raw.md").text == (
        "Before.\n\npreinst\n\nruns before unpacking\n\n587 | submission"
    )


def test_markdown_keeps_headings_lists_tables_code_and_inline_html_code() -> None:
    source = """# Install

1. Get it:

   ```sh
   apt-get source foo
   ```

2. Build with `dpkg-buildpackage`
   - nested item

Term
: not a definition list in CommonMark, kept as text

| Port | Use |
| ---- | --- |
| 587  | `STARTTLS` |

<p>Raw <code>html code</code> kept.</p>
"""
    assert read_bytes(source.encode(), "install.md").text == (
        "Install\n\n"
        "Get it:\napt-get source foo\nBuild with dpkg-buildpackage\nnested item\n\n"
        "Term : not a definition list in CommonMark, kept as text\n\n"
        "Port | Use\n587 | STARTTLS\n\n"
        "Raw html code kept."
    )


def test_pdf_words_hyphenated_across_lines_are_rejoined() -> None:
    data = make_pdf_with_pages([["The infor-", "mation is kept; a well-known", "term-", "based one too."]])
    assert read_bytes(data, "hyphen.pdf").text == "The information is kept; a well-known\nterm-based one too."


def test_pdf_page_reader_is_chosen_by_quality(monkeypatch: pytest.MonkeyPatch) -> None:
    good = "After you release a package, you will soon need to update it."
    run_together = good.replace(" ", "")
    monkeypatch.setattr(pdf, "_pypdf_pages", lambda data, name: [run_together, good, "b'' 描 b''b'' 述"])
    monkeypatch.setattr(pdf, "_pdfium_pages", lambda data, name: [good, good.replace("need", "ned"), "描述"])
    text = read_bytes(make_pdf_with_pages([["x"], ["x"], ["x"]]), "mixed.pdf").text
    assert text == f"{good}\n\n{good}\n\n描述"


TOPICS = ["ports and services", "mail transport", "name resolution", "time keeping"]


def test_pdf_running_headers_and_footers_are_removed() -> None:
    bodies = [
        [f"This page is about {topic}.", f"Its second line on {topic},", "a third", f"and {topic} again."]
        for topic in TOPICS
    ]
    pages = [["Debian Handbook - chapter 3", *body, f"Page {n} of 4"] for n, body in enumerate(bodies, start=1)]
    result = read_bytes(make_pdf_with_pages(pages), "book.pdf")
    assert result.text == "\n\n".join("\n".join(body) for body in bodies)
    assert result.pages == tuple(result.text.index(f"This page is about {topic}") for topic in TOPICS)


def test_pdf_short_pages_keep_their_lines_even_when_repeated() -> None:
    pages = [["Chapter 3", "Same closing line."] for _ in range(4)]
    assert read_bytes(make_pdf_with_pages(pages), "short.pdf").text == "\n\n".join(
        ["Chapter 3\nSame closing line."] * 4
    )
