from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader, PdfWriter
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from rag.errors import TooLargeError, UnreadableDocumentError, UnsupportedFormatError
from rag.ingest import Extracted, format_of, page_of, pdf, read_bytes, read_path
from rag.sections import Heading
from rag.settings import Settings

ZH = "一带一路倡议于2013年由中国提出。该倡议旨在加强亚洲、欧洲和非洲之间的互联互通。"
ZH_PARAGRAPH = (
    "一带一路倡议于二〇一三年由中国提出，旨在通过基础设施建设、贸易和投资加强亚洲、欧洲和非洲之间的互联互通。"
    "十年来，已有一百五十多个国家和三十多个国际组织签署了合作文件。"
    "这些项目涵盖港口、铁路、公路、电力和通信等领域，为沿线国家创造了大量就业机会。"
    "与此同时，一些学者也关注项目的债务可持续性和环境影响，认为应当加强透明度和风险管理。"
)
ZH_TRADITIONAL = (
    "一帶一路倡議於2013年由中國提出，旨在透過基礎設施建設、貿易和投資加強亞洲、歐洲和非洲之間的互聯互通。"
    "十年來，已有一百五十多個國家和三十多個國際組織簽署了合作文件。"
    "這些項目涵蓋港口、鐵路、公路、電力和通訊等領域，為沿線國家創造了大量就業機會。"
    "與此同時，一些學者也關注項目的債務可持續性和環境影響，認為應當加強透明度和風險管理。"
)


def make_pdf(pages: list[list[str]], font: str = "Helvetica") -> bytes:
    """A PDF with one page per entry, each line drawn as text; an empty entry is a page with only a rectangle."""
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf)
    for lines in pages:
        pdf.setFont(font, 12)
        for i, line in enumerate(lines):
            pdf.drawString(72, 720 - 20 * i, line)
        if not lines:
            pdf.rect(100, 100, 200, 200, fill=1)
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


def encrypt(data: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password, "owner-secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx() -> bytes:
    document = docx.Document()
    document.add_heading("年度报告", level=1)
    document.add_paragraph("第一段：一带一路倡议于2013年提出。")
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([("年份", "项目数"), ("2013", "12")]):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    document.add_paragraph("")  # an empty paragraph leaves no empty block
    document.add_paragraph("第二段：表格之后的文字。")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


HTML = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Belt and Road</title>
<style>body { color: red }</style><script>var tracking = "script text";</script></head><body>
<header><h1>Example News Site</h1><p>Your daily source</p></header>
<nav><ul><li><a href="/">Home page</a></li><li><a href="/about">About us</a></li>
<li><a href="/zh">中文导航</a></li></ul></nav>
<main><article>
<h2>The Belt and Road Initiative</h2>
<p>The Belt and Road Initiative was proposed by China in 2013. It aims to improve connectivity between Asia,
Europe and Africa through infrastructure, trade and investment.</p>
<p>一带一路倡议于2013年由中国提出。该倡议旨在通过基础设施建设、贸易和投资，加强亚洲、欧洲和非洲之间的互联互通。</p>
<table><tr><th>Year</th><th>Projects</th></tr><tr><td>2013</td><td>12</td></tr></table>
</article></main>
<aside>Related stories sidebar</aside>
<footer><p>Copyright 2024 Example 版权所有</p><a href="/privacy">Privacy policy</a></footer>
</body></html>"""


def test_format_of_and_unsupported_suffix() -> None:
    assert format_of("A.PDF") == "pdf" and format_of("x.htm") == "html" and format_of("notes.markdown") == "markdown"
    with pytest.raises(UnsupportedFormatError) as err:
        format_of("report.xls")
    assert str(err.value) == (
        "report.xls: unsupported type .xls; supported: .docx, .eml, .epub, .htm, .html, .jpeg, .jpg, .markdown, .md, "
        ".pdf, .png, .pptx, .text, .txt, .xlsx; save it as .xlsx and upload that"
    )
    with pytest.raises(UnsupportedFormatError, match="no suffix"):
        read_bytes(b"text", "README")


def test_text_keeps_content_and_normalizes_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes("\ufeffline one\r\nline two\rline three\n\n  indented 中文\n".encode())
    assert read_path(path) == Extracted("line one\nline two\nline three\n\n  indented 中文\n", "text")


@pytest.mark.parametrize(("text", "encoding"), [(ZH_PARAGRAPH, "gbk"), (ZH_TRADITIONAL, "big5")])
def test_legacy_chinese_encodings_decode(text: str, encoding: str) -> None:
    assert read_bytes(text.encode(encoding), "zh.txt") == Extracted(text, "text")


@pytest.mark.parametrize("name", ["empty.txt", "empty.pdf", "empty.docx", "empty.md"])
def test_empty_file_is_unreadable(name: str) -> None:
    with pytest.raises(UnreadableDocumentError, match=f"{name} is empty"):
        read_bytes(b"", name)


def test_whitespace_only_text_is_unreadable() -> None:
    with pytest.raises(UnreadableDocumentError, match=r"no text could be extracted from blank\.txt"):
        read_bytes(b" \r\n\t\n", "blank.txt")


def test_markdown_becomes_plain_text() -> None:
    source = """# Belt *and* Road

Some **bold** and _emphasis_ with a [link](https://example.com/x) and `code`.
A wrapped line 中文
继续。

- first item
- second [item](https://example.com/y)

```python
print("kept # as code")
```

| Year | Projects |
|------|----------|
| 2013 | **12** |
"""
    assert read_bytes(source.encode(), "doc.md") == Extracted(
        "Belt and Road\n\n"
        "Some bold and emphasis with a link and code. A wrapped line 中文继续。\n\n"
        "first item\nsecond item\n\n"
        'print("kept # as code")\n\n'
        "Year | Projects\n2013 | 12",
        "markdown",
        outline=(Heading(1, "Belt and Road", 0),),
    )


def test_chinese_pdf() -> None:
    result = read_bytes(make_pdf([[ZH[:17], ZH[17:]]], font="STSong-Light"), "zh.pdf")
    assert result == Extracted(f"{ZH[:17]}\n{ZH[17:]}", "pdf", (0,))


def test_pdf_pages_and_page_of() -> None:
    pages = [["Page one text."], [], ["Page three holds the phrase about ports."]]
    result = read_bytes(make_pdf(pages), "three.pdf")
    assert result.text == "Page one text.\n\n\n\nPage three holds the phrase about ports."
    assert result.pages == (0, 16, 18)
    offset = result.text.index("phrase about ports")
    assert page_of(result.pages, offset) == 3
    assert page_of(result.pages, 0) == 1 and page_of(result.pages, 13) == 1
    assert page_of((), 5) is None


def test_encrypted_pdf() -> None:
    locked = encrypt(make_pdf([["Secret text."]]), "secret")
    with pytest.raises(UnreadableDocumentError, match=r"locked\.pdf is encrypted; remove the password"):
        read_bytes(locked, "locked.pdf")
    assert read_bytes(encrypt(make_pdf([["Open text."]]), ""), "open.pdf").text == "Open text."


def test_pdfium_reads_what_pypdf_cannot(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("/Root")

    monkeypatch.setattr(pdf, "PdfReader", broken)
    result = read_bytes(make_pdf([["First page."], ["Second page."]]), "odd.pdf")
    assert result == Extracted("First page.\n\nSecond page.", "pdf", (0, 13))
    with pytest.raises(UnreadableDocumentError, match="is encrypted"):
        read_bytes(encrypt(make_pdf([["Secret text."]]), "secret"), "locked.pdf")


def one_page_pdf(stream: bytes, eof: bool = True) -> bytes:
    """A one-page PDF whose content is `stream`, FlateDecode; without `eof`, no %%EOF (pypdf cannot open it)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        b"<< /Filter /FlateDecode /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n" % (len(objects) + 1, xref)
    return bytes(out + (b"%%EOF\n" if eof else b""))


def bomb_pdf(inflated_bytes: int) -> bytes:
    """A one-page PDF with a line of text whose content stream is small compressed and `inflated_bytes` inflated."""
    return one_page_pdf(zlib.compress(b"BT /F1 12 Tf 72 720 Td (A little text.) Tj ET\n" + b" " * inflated_bytes, 9))


def test_a_pdf_that_inflates_past_pypdfs_limits_is_refused_not_handed_to_pdfium() -> None:
    data = bomb_pdf(100 * 2**20)
    assert len(data) < 2**20
    with pytest.raises(UnreadableDocumentError, match="decompression bomb"):
        read_bytes(data, "bomb.pdf")


def test_a_pdf_with_too_many_pages_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "MAX_PDF_PAGES", 2)
    with pytest.raises(UnreadableDocumentError, match=r"long\.pdf has 3 pages; the limit is 2"):
        read_bytes(make_pdf([["one"], ["two"], ["three"]]), "long.pdf")


def test_pdf_without_text_layer_or_images() -> None:
    with pytest.raises(UnreadableDocumentError, match=r"scan\.pdf has no text layer, and OCR found no text on its"):
        read_bytes(make_pdf([[], []]), "scan.pdf")


@pytest.mark.parametrize("data", [b"this is not a pdf at all", make_pdf([["Some text."]])[:300]])
def test_corrupt_pdf(data: bytes) -> None:
    with pytest.raises(UnreadableDocumentError, match=r"bad\.pdf is damaged or not a PDF") as err:
        read_bytes(data, "bad.pdf")
    assert err.value.__cause__ is not None


def test_docx_paragraphs_and_tables_in_order() -> None:
    result = read_bytes(make_docx(), "report.docx")
    assert result == Extracted(
        "年度报告\n\n第一段：一带一路倡议于2013年提出。\n\n年份 | 项目数\n2013 | 12\n\n第二段：表格之后的文字。",
        "docx",
        outline=(Heading(1, "年度报告", 0),),
    )


def test_docx_merged_cell_comes_once() -> None:
    document = docx.Document()
    table = document.add_table(rows=1, cols=3)
    table.cell(0, 0).merge(table.cell(0, 1)).text = "合并单元格"
    table.cell(0, 2).text = "右边"
    buf = io.BytesIO()
    document.save(buf)
    assert read_bytes(buf.getvalue(), "merged.docx").text == "合并单元格 | 右边"


def zip_of(member: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(member, "not a Word part")
    return buf.getvalue()


@pytest.mark.parametrize("data", [b"plain text, not a zip", make_docx()[:500], zip_of("hello.txt")])
def test_corrupt_docx(data: bytes) -> None:
    with pytest.raises(UnreadableDocumentError, match=r"bad\.docx is damaged or not a Word \.docx file"):
        read_bytes(data, "bad.docx")


def test_html_keeps_the_body_and_drops_chrome() -> None:
    assert read_bytes(HTML.encode(), "page.html").text == (
        "The Belt and Road Initiative\n\n"
        "The Belt and Road Initiative was proposed by China in 2013. It aims to improve connectivity between Asia, "
        "Europe and Africa through infrastructure, trade and investment.\n\n"
        "一带一路倡议于2013年由中国提出。该倡议旨在通过基础设施建设、贸易和投资，加强亚洲、欧洲和非洲之间的互联互通。\n\n"
        "Year | Projects\n2013 | 12\n\n"
        "Related stories sidebar"
    )


def test_short_html_page_in_declared_charset() -> None:
    page = (
        '<html><head><meta charset="gbk"><script>var x = 1;</script></head><body>'
        '<nav><a href="/">首页</a></nav><p>标题</p><p>短文。</p><footer>页脚</footer></body></html>'
    )
    assert read_bytes(page.encode("gbk"), "short.htm") == Extracted("标题\n\n短文。", "html")


def test_html_without_text_is_unreadable() -> None:
    with pytest.raises(UnreadableDocumentError, match=r"no text could be extracted from nav\.html"):
        read_bytes(b"<html><body><nav><a href='/'>Home</a></nav></body></html>", "nav.html")


def test_a_docx_that_would_unpack_past_the_limit_is_refused() -> None:
    limit = Settings().max_inflated_bytes
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (limit + 1))
    assert len(buf.getvalue()) < 2**20  # a small upload that would unpack past the limit
    with pytest.raises(TooLargeError, match=r"RAG_MAX_INFLATED_BYTES\); it may be a zip bomb"):
        read_bytes(buf.getvalue(), "bomb.docx")
