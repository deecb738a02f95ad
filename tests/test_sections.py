"""Outlines and section paths: readers keep headings, and every chunk, sentence, hit and citation names its section."""

from __future__ import annotations

import html
import io
import sqlite3
from types import SimpleNamespace

import docx
import pytest
from fastapi.testclient import TestClient

from rag import Pipeline
from rag.catalog import Catalog
from rag.cli.answers import _where
from rag.ingest import read_bytes
from rag.sections import Heading, Sections, outline_from_json, outline_to_json, page_label
from rag.serve.app import create_app
from ui.render import place

from .conftest import FakeEmbedder

HOLD = "Guide › 7. Basics of the package management system › 7.12 How do I put a package on hold?"
FAQ_HTML = """<!DOCTYPE html><html><head><title>Guide</title></head><body>
<nav><a href="/">Home</a></nav>
<h1>Guide</h1>
<p>This guide answers common questions about packages.</p>
<h2>7. Basics of the package management system</h2>
<p>Packages are archives with the files of a program and scripts that install them.</p>
<h3>7.11 What is a virtual package?</h3>
<p>A virtual package names a feature that several real packages provide.</p>
<h3>7.12 How do I put a <code>package</code> on hold?</h3>
<p>Run apt-mark hold with the package name, and the upgrade leaves that package at its version.</p>
<h2>8. Keeping the system up to date</h2>
<p>Upgrades come from the archive listed in the sources file.</p>
</body></html>"""
FAQ_MARKDOWN = """# Guide

This guide answers common questions about packages.

## 7. Basics of the package management system

Packages are archives.

- a list item with
  # a heading inside it, which stays a line of the list

### 7.12 How do I put a package on hold?

Run apt-mark hold with the package name.

8\\. Keeping the system up to date
----------------------------------

Upgrades come from the archive.
"""
QUESTION = "How do I stop apt from upgrading a package, with apt-mark hold?"


def faq_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Guide", level=0)  # Word's Title style
    document.add_paragraph("This guide answers common questions about packages.")
    document.add_heading("7. Basics of the package management system", level=1)
    document.add_paragraph("Packages are archives.")
    document.add_heading("7.12 How do I put a package on hold?", level=2)
    document.add_paragraph("Run apt-mark hold with the package name.")
    document.add_heading("8. Keeping the system up to date", level=1)
    document.add_paragraph("Upgrades come from the archive.")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def titles_at_their_starts(text: str, outline: tuple[Heading, ...]) -> None:
    for heading in outline:
        assert text[heading.start : heading.start + len(heading.title)] == heading.title


def test_html_outline_has_every_heading_level_title_and_start() -> None:
    extracted = read_bytes(FAQ_HTML.encode(), "faq.html")
    assert [(h.level, h.title) for h in extracted.outline] == [
        (1, "Guide"),
        (2, "7. Basics of the package management system"),
        (3, "7.11 What is a virtual package?"),
        (3, "7.12 How do I put a package on hold?"),
        (2, "8. Keeping the system up to date"),
    ]
    titles_at_their_starts(extracted.text, extracted.outline)


def test_markdown_outline_has_atx_and_setext_headings_not_those_inside_lists() -> None:
    extracted = read_bytes(FAQ_MARKDOWN.encode(), "faq.md")
    assert [(h.level, h.title) for h in extracted.outline] == [
        (1, "Guide"),
        (2, "7. Basics of the package management system"),
        (3, "7.12 How do I put a package on hold?"),
        (2, "8. Keeping the system up to date"),
    ]
    titles_at_their_starts(extracted.text, extracted.outline)
    assert "a heading inside it" in extracted.text


def test_docx_outline_has_title_and_heading_styles() -> None:
    extracted = read_bytes(faq_docx(), "faq.docx")
    assert [(h.level, h.title) for h in extracted.outline] == [
        (0, "Guide"),
        (1, "7. Basics of the package management system"),
        (2, "7.12 How do I put a package on hold?"),
        (1, "8. Keeping the system up to date"),
    ]
    titles_at_their_starts(extracted.text, extracted.outline)
    sections = Sections(extracted.outline)
    assert sections.at(extracted.text.index("Run apt-mark")) == HOLD


@pytest.mark.parametrize(("data", "name"), [(b"Plain text.\n\n# not a heading", "a.txt")])
def test_plain_text_has_no_outline(data: bytes, name: str) -> None:
    assert read_bytes(data, name).outline == ()


def test_a_section_path_closes_headings_of_the_same_or_a_deeper_level() -> None:
    outline = (Heading(1, "A", 0), Heading(2, "B", 10), Heading(3, "C", 20), Heading(2, "D", 30), Heading(1, "E", 40))
    sections = Sections(outline)
    assert [sections.at(i) for i in (0, 5, 15, 25, 35, 45)] == ["A", "A", "A › B", "A › B › C", "A › D", "E"]
    assert Sections((Heading(2, "late", 50),)).at(10) == ""
    assert outline_from_json(outline_to_json(outline)) == outline


def test_a_section_spans_its_subsections_up_to_the_next_heading_of_its_level() -> None:
    outline = (Heading(1, "A", 0), Heading(2, "B", 10), Heading(3, "C", 20), Heading(2, "D", 30), Heading(1, "E", 40))
    sections = Sections(outline)
    assert [sections.around(i, 50) for i in (5, 15, 25, 35, 45)] == [(0, 40), (10, 30), (20, 30), (30, 40), (40, 50)]
    assert Sections((Heading(2, "late", 50),)).around(10, 80) == (0, 50)
    assert Sections(()).around(10, 80) == (0, 80)


def test_a_citation_opens_its_section_under_its_path_with_the_span_lit(fake_pipe: Pipeline) -> None:
    fake_pipe.add_document(FAQ_HTML.encode(), "faq.html")
    text = fake_pipe.documents["faq.html"].text
    start = text.index("Run apt-mark")
    end = text.index(" at its version") + len(" at its version")
    with TestClient(create_app(fake_pipe, with_ui=False)) as client:
        page = client.get(f"/view/faq.html?start={start}&end={end}").text
        whole = client.get(f"/view/faq.html?start={start}&end={end}&text=1&whole=1").text
    assert f'<span id="section">{html.escape(HOLD)}</span>' in page
    assert f'<mark id="cite">{text[start:end]}</mark>' in page
    assert "<strong>7.12 How do I put a package on hold?</strong>" in page
    # Only the section: not its neighbour 7.11, nor the next chapter.
    assert "virtual package" not in page and "Upgrades come" not in page
    assert 'id="whole" href="/view/faq.html?start=' in page
    assert f'<mark id="cite">{text[start:end]}</mark>' in whole and "virtual package" in whole
    assert 'id="section"' not in whole


def test_a_citation_under_7_12_names_its_section_and_stays_exact(fake_pipe: Pipeline) -> None:
    fake_pipe.add_document(FAQ_HTML.encode(), "faq.html")
    text = fake_pipe.documents["faq.html"].text
    answer = fake_pipe.ask(QUESTION)
    assert not answer.abstained
    cited = [c for c in answer.citations if c.doc == "faq.html"]
    # The heading's own sentence or the answer under it: both lie in 7.12's span.
    assert cited and text.index("7.12 How") <= cited[0].start < text.index("8. Keeping")
    for c in answer.citations:
        assert c.text == fake_pipe.documents[c.doc].text[c.start : c.end]
    assert cited[0].section == HOLD
    hit = next(h for h in fake_pipe.search(QUESTION) if h.doc == "faq.html" and "apt-mark" in h.text)
    assert hit.section == Sections(fake_pipe.documents["faq.html"].outline).at(hit.start)
    assert hit.text == text[hit.start : hit.end]
    # A document without headings has no sections.
    assert all(c.section == "" for c in fake_pipe.collection.snapshot().chunks if c.doc == "en.txt")


def test_sections_survive_a_reload_from_the_catalog(fake_pipe: Pipeline) -> None:
    fake_pipe.add_document(FAQ_HTML.encode(), "faq.html")
    before = fake_pipe.collection.snapshot().sentences
    again = Pipeline.load(fake_pipe.settings, embedder=FakeEmbedder())
    after = again.collection.snapshot().sentences
    assert [s.section for s in after] == [s.section for s in before]
    assert HOLD in {s.section for s in after}


def test_an_older_catalog_without_the_outline_column_reads_and_gains_it_at_a_write(fake_pipe: Pipeline) -> None:
    path = fake_pipe.settings.index_dir / "catalog.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("ALTER TABLE documents DROP COLUMN outline")
    catalog = Catalog(path)
    assert {r.outline for r in catalog.read().documents} == {()}
    fake_pipe.add_document(FAQ_MARKDOWN.encode(), "faq.md")
    records = {r.name: r for r in catalog.read().documents}
    assert records["faq.md"].outline[-1].title == "8. Keeping the system up to date"
    assert records["en.txt"].outline == ()


def test_the_api_returns_section_on_citations_and_hits(fake_pipe: Pipeline) -> None:
    fake_pipe.add_document(FAQ_HTML.encode(), "faq.html")
    with TestClient(create_app(fake_pipe, with_ui=False)) as client:
        answer = client.post("/v1/ask", json={"question": QUESTION}).json()
        hits = client.post("/v1/search", json={"query": QUESTION}).json()["hits"]
    cited = [c for c in answer["citations"] if c["doc"] == "faq.html"]
    assert cited and cited[0]["section"] == HOLD
    assert all("section" in p for p in answer["passages"])
    assert {h["section"] for h in hits if h["doc"] == "en.txt"} <= {""}
    sections = Sections(fake_pipe.documents["faq.html"].outline)
    faq_hits = [h for h in hits if h["doc"] == "faq.html"]
    assert faq_hits and all(h["section"] == sections.at(h["start"]) != "" for h in faq_hits)


def test_the_cli_and_the_ui_name_the_section() -> None:
    item = SimpleNamespace(doc="faq.html", page=None, start=3, end=9, section=HOLD)
    assert _where(item) == f"faq.html — {HOLD} [3:9]"
    assert place(item) == f"faq.html — {HOLD}"
    bare = SimpleNamespace(doc="a.pdf", page=2, start=0, end=1, section="")
    assert _where(bare) == "a.pdf p. 2 [0:1]"
    assert place(bare) == "a.pdf, p. 2"


def test_a_decks_pages_are_named_slides() -> None:
    assert page_label("deck.PPTX", 3) == "slide 3"
    assert page_label("paper.pdf", 3) == "p. 3"
