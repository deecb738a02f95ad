"""The readers of the formats teams keep their knowledge in: slide decks, workbooks, EPUB books and e-mails.

Every fixture is generated here. Each test checks that what the file holds (headings, cells, notes, attachments)
is in the text, in reading order, and where a span is: its page (a deck's slide) and its section path.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from email.message import EmailMessage

import docx
import openpyxl
import pptx
import pytest
from pptx.enum.shapes import PP_PLACEHOLDER
from pptx.util import Inches

from rag.errors import TooLargeError, UnreadableDocumentError, UnsupportedFormatError
from rag.ingest import format_of, page_of, read_bytes
from rag.sections import Sections
from rag.settings import Settings


def make_deck() -> bytes:
    """Three slides: a title with bullets, a table and notes; a text box in a group; a picture-only slide."""
    deck = pptx.Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[1])  # Title and Content
    body = first.placeholders[1].text_frame
    body.text = "Revenue grew 12% in 2024"
    bullet = body.add_paragraph()
    bullet.text = "Asia led the growth"
    bullet.level = 1
    table = first.shapes.add_table(4, 3, Inches(1), Inches(4), Inches(6), Inches(2)).table
    # "Asia" merged down over Europe's row; the text then written to the covered cell is not shown, nor read.
    table.cell(1, 0).merge(table.cell(2, 0))
    for r, row in enumerate([("Region", "2023", "2024"), ("Asia", "10", "12"), ("Europe", "8", "9"), ("", "", "")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    # The title placeholder comes after the body in the shape tree; the reader puts it first all the same.
    first.shapes.title.text = "Quarterly results"
    first.notes_slide.notes_text_frame.text = "Mention the new Singapore office."
    second = deck.slides.add_slide(deck.slide_layouts[5])  # Title Only
    second.shapes.title.text = "Next steps 下一步"
    group = second.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(2), Inches(4), Inches(1)).text_frame.text = "Hire two engineers\vin 上海"
    deck.slides.add_slide(deck.slide_layouts[6])  # Blank: a slide with no text keeps its page
    fourth = deck.slides.add_slide(deck.slide_layouts[5])
    fourth.shapes.title.text = "Thanks"
    buf = io.BytesIO()
    deck.save(buf)
    return buf.getvalue()


DECK_SLIDES = [
    "Quarterly results\n\n"
    "Revenue grew 12% in 2024\nAsia led the growth\n\n"
    "Region | 2023 | 2024\nAsia | 10 | 12\nAsia | 8 | 9\n\n"
    "Mention the new Singapore office.",
    "Next steps 下一步\n\nHire two engineers\nin 上海",
    "",
    "Thanks",
]


def test_a_deck_reads_slide_by_slide_title_first_then_text_tables_and_notes() -> None:
    extracted = read_bytes(make_deck(), "deck.pptx")
    assert extracted.text == "\n\n".join(DECK_SLIDES)
    assert extracted.format == "pptx"
    lengths = [len(slide) + 2 for slide in DECK_SLIDES]
    assert extracted.pages == (0, lengths[0], lengths[0] + lengths[1], lengths[0] + lengths[1] + lengths[2])
    assert [(h.level, h.title) for h in extracted.outline] == [
        (1, "Quarterly results"),
        (1, "Next steps 下一步"),
        (1, "Thanks"),
    ]
    assert all(extracted.text.startswith(h.title, h.start) for h in extracted.outline)
    sections = Sections(extracted.outline)
    notes = extracted.text.index("Singapore")
    assert page_of(extracted.pages, notes) == 1 and sections.at(notes) == "Quarterly results"
    shanghai = extracted.text.index("上海")
    assert page_of(extracted.pages, shanghai) == 2 and sections.at(shanghai) == "Next steps 下一步"
    assert page_of(extracted.pages, extracted.text.index("Thanks")) == 4


def test_a_decks_footer_date_and_slide_number_are_dropped() -> None:
    deck = pptx.Presentation()
    layout = deck.slide_layouts[5]
    slide = deck.slides.add_slide(layout)
    slide.shapes.title.text = "Roadmap"
    # What PowerPoint puts on a slide when its footer, date and number are ticked: copies of the layout's.
    for placeholder in layout.placeholders:
        if placeholder.placeholder_format.type in (
            PP_PLACEHOLDER.FOOTER,
            PP_PLACEHOLDER.DATE,
            PP_PLACEHOLDER.SLIDE_NUMBER,
        ):
            slide.shapes.clone_placeholder(placeholder)
    for shape in slide.placeholders:
        if shape.placeholder_format.type != PP_PLACEHOLDER.TITLE:
            shape.text_frame.text = f"Confidential {shape.placeholder_format.type}"
    slide.shapes.add_textbox(Inches(1), Inches(2), Inches(4), Inches(1)).text_frame.text = "Ship in May"
    assert len(slide.placeholders) == 4
    buf = io.BytesIO()
    deck.save(buf)
    assert read_bytes(buf.getvalue(), "footer.pptx").text == "Roadmap\n\nShip in May"


def make_workbook() -> bytes:
    workbook = openpyxl.Workbook()
    sales = workbook.active
    sales.title = "Sales"
    sales.append(["Region", "Year", "Revenue", None, "Closed"])
    sales.append(["Asia", 2024, 12.5, "estimate", True])
    sales.append([])  # an empty row is left out
    sales.append(["Europe", 2023.0, 9, None, False])
    sales.append(["亚洲", 2025, None, None, None])
    dates = workbook.create_sheet("Milestones 里程碑")
    dates.append([dt.date(2024, 3, 31), "Launch in\nSingapore"])  # no header row: its first cell is a date
    dates.append([dt.datetime(2024, 6, 1, 14, 5), "Review"])
    workbook.create_sheet("Empty")
    buf = io.BytesIO()
    workbook.save(buf)
    return buf.getvalue()


def test_a_workbook_reads_a_section_per_sheet_and_each_row_with_its_headers() -> None:
    extracted = read_bytes(make_workbook(), "book.xlsx")
    assert extracted.text == (
        "Sales\n\n"
        "Region; Year; Revenue; Closed\n"
        "Region: Asia; Year: 2024; Revenue: 12.5; estimate; Closed: TRUE\n"
        "Region: Europe; Year: 2023; Revenue: 9; Closed: FALSE\n"
        "Region: 亚洲; Year: 2025\n\n"
        "Milestones 里程碑\n\n"
        "2024-03-31; Launch in Singapore\n"
        "2024-06-01 14:05:00; Review"
    )
    assert extracted.format == "xlsx" and extracted.pages == ()
    assert [(h.level, h.title) for h in extracted.outline] == [(1, "Sales"), (1, "Milestones 里程碑")]
    sections = Sections(extracted.outline)
    assert sections.at(extracted.text.index("Region: Europe")) == "Sales"
    assert sections.at(extracted.text.index("Review")) == "Milestones 里程碑"


def test_a_sheet_past_the_row_or_cell_limit_is_refused_with_the_limit() -> None:
    workbook = openpyxl.Workbook()
    workbook.active.title = "Log"
    for n in range(30):
        workbook.active.append([n, n * 2, n * 3])
    workbook.active["A1000"] = "far below"  # the rows between cost reading as much as rows with cells
    buf = io.BytesIO()
    workbook.save(buf)
    assert "far below" in read_bytes(buf.getvalue(), "log.xlsx", Settings(max_sheet_rows=1000)).text
    with pytest.raises(TooLargeError, match=r"log\.xlsx: its sheet 'Log' runs past row 999 \(RAG_MAX_SHEET_ROWS\)"):
        read_bytes(buf.getvalue(), "log.xlsx", Settings(max_sheet_rows=999))
    with pytest.raises(TooLargeError, match=r"log\.xlsx: it has over 80 cells \(RAG_MAX_SHEET_CELLS\); split"):
        read_bytes(buf.getvalue(), "log.xlsx", Settings(max_sheet_cells=80))


def test_a_sheet_that_declares_a_huge_size_is_read_by_its_cells() -> None:
    """A sheet's <dimension> pads every row read to its width; a forged A1:XFD1048576 is not believed."""
    buf = io.BytesIO()
    workbook = openpyxl.Workbook()
    workbook.active.append(["Name", "Team"])
    workbook.active.append(["Ada", "Core"])
    workbook.save(buf)
    forged = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as source, zipfile.ZipFile(forged, "w") as target:
        for info in source.infolist():
            part = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                part = part.replace(b'<dimension ref="A1:B2"/>', b'<dimension ref="A1:XFD1048576"/>')
                assert b"XFD1048576" in part
            target.writestr(info, part)
    extracted = read_bytes(forged.getvalue(), "forged.xlsx", Settings(max_sheet_cells=10))
    assert extracted.text == "Sheet\n\nName; Team\nName: Ada; Team: Core"


CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""
# The manifest lists chapter 2 first; the spine, the reading order, puts chapter 1 first. The nav document is in
# the manifest and not the spine, as EPUB 3 books have it.
PACKAGE = """<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Tea</dc:title></metadata>
<manifest>
<item id="c2" href="text/chapter%202.xhtml" media-type="application/xhtml+xml"/>
<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
<item id="c1" href="text/ch1.xhtml" media-type="application/xhtml+xml"/>
<item id="css" href="style.css" media-type="text/css"/>
</manifest>
<spine><itemref idref="c1"/><itemref idref="c2"/></spine>
</package>"""
CHAPTER_1 = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>One</title><link rel="stylesheet" href="../style.css"/></head>
<body><h1>Chapter 1. Green tea</h1><p>Green tea is
not fermented.</p>
<ul><li>Longjing 龙井</li><li>Biluochun, or <code>碧螺春</code></li></ul></body></html>"""
CHAPTER_2 = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><body><h1>Chapter 2. Brewing</h1><h2>2.1 Water</h2>
<table><tr><th>Tea</th><th>Water °C</th></tr><tr><td>Green</td><td>80</td></tr></table>
<pre>boil(water)
  wait(3)</pre></body></html>"""


def make_epub(spine_encrypted: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/epub+zip", zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", CONTAINER)
        archive.writestr("OEBPS/content.opf", PACKAGE)
        archive.writestr("OEBPS/text/ch1.xhtml", CHAPTER_1)
        archive.writestr("OEBPS/text/chapter 2.xhtml", CHAPTER_2)
        archive.writestr("OEBPS/nav.xhtml", "<html><body><nav><ol><li>Contents</li></ol></nav></body></html>")
        archive.writestr("OEBPS/style.css", "p { margin: 0 }")
        encrypted = "OEBPS/text/ch1.xhtml" if spine_encrypted else "OEBPS/fonts/a.otf"
        archive.writestr(
            "META-INF/encryption.xml",
            '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
            'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:CipherData>'
            f'<enc:CipherReference URI="{encrypted}"/></enc:CipherData></enc:EncryptedData></encryption>',
        )
    return buf.getvalue()


def test_an_epub_reads_its_chapters_in_spine_order_as_web_pages() -> None:
    extracted = read_bytes(make_epub(), "tea.epub")
    assert extracted.text == (
        "Chapter 1. Green tea\n\nGreen tea is not fermented.\n\nLongjing 龙井\n\nBiluochun, or 碧螺春\n\n"
        "Chapter 2. Brewing\n\n2.1 Water\n\nTea | Water °C\nGreen | 80\n\nboil(water)\n  wait(3)"
    )
    assert extracted.format == "epub"
    assert [(h.level, h.title) for h in extracted.outline] == [
        (1, "Chapter 1. Green tea"),
        (1, "Chapter 2. Brewing"),
        (2, "2.1 Water"),
    ]
    assert Sections(extracted.outline).at(extracted.text.index("80")) == "Chapter 2. Brewing › 2.1 Water"


def test_an_epub_with_encrypted_chapters_is_refused_as_drm() -> None:
    with pytest.raises(UnreadableDocumentError, match=r"drm\.epub is protected by DRM"):
        read_bytes(make_epub(spine_encrypted=True), "drm.epub")


def test_an_epub_without_its_container_or_a_chapter_is_unreadable() -> None:
    with pytest.raises(UnreadableDocumentError, match=r"bad\.epub is damaged or not an EPUB book"):
        read_bytes(zip_of({"mimetype": b"application/epub+zip"}), "bad.epub")
    parts = {"META-INF/container.xml": CONTAINER.encode(), "OEBPS/content.opf": PACKAGE.encode()}
    with pytest.raises(
        UnreadableDocumentError, match=r"bad\.epub is damaged or not an EPUB book \(it has no OEBPS/text/ch1\.xhtml\)"
    ):
        read_bytes(zip_of(parts), "bad.epub")


def make_docx_attachment() -> bytes:
    document = docx.Document()
    document.add_heading("Budget 2025", level=1)
    document.add_paragraph("Travel: 4,000 EUR")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def make_mail(attached_mail: EmailMessage | None = None) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "Li Wei <li.wei@example.org>"
    mail["To"] = "team@example.org, 王芳 <wang@example.org>"
    mail["Subject"] = "预算 and the plan for 2025"
    mail["Date"] = "Tue, 01 Dec 2026 09:00:00 +0000"
    mail.set_content("Hi team,\nthe budget is attached.\n")
    mail.add_alternative("<p>Hi team,</p><p>the <b>HTML</b> budget is attached.</p>", subtype="html")
    mail.add_attachment(
        make_docx_attachment(),
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="budget.docx",
    )
    mail.add_attachment("Remember the deadline: 15 January.\n", filename="notes.txt")
    mail.add_attachment(b"PK\x03\x04", maintype="application", subtype="zip", filename="archive.zip")  # not read
    if attached_mail is not None:
        mail.add_attachment(attached_mail)
    return mail


def test_an_email_reads_its_head_plain_body_and_attachments_each_under_its_name() -> None:
    earlier = EmailMessage()
    earlier["From"] = "wang@example.org"
    earlier["Subject"] = "Travel costs"
    earlier.set_content("Flights to Chengdu cost 900 EUR.")
    extracted = read_bytes(make_mail(earlier).as_bytes(), "mail.eml")
    assert extracted.text == (
        "预算 and the plan for 2025\n\n"
        "From: Li Wei <li.wei@example.org>\nTo: team@example.org, 王芳 <wang@example.org>\n"
        "Date: Tue, 01 Dec 2026 09:00:00 +0000\n\n"
        "Hi team,\nthe budget is attached.\n\n"
        "budget.docx\n\nBudget 2025\n\nTravel: 4,000 EUR\n\n"
        "notes.txt\n\nRemember the deadline: 15 January.\n\n"
        "attachment.eml\n\nTravel costs\n\nFrom: wang@example.org\n\nFlights to Chengdu cost 900 EUR."
    )
    assert extracted.format == "eml" and extracted.pages == ()
    assert all(extracted.text.startswith(h.title, h.start) for h in extracted.outline)
    sections = Sections(extracted.outline)
    assert sections.at(extracted.text.index("Hi team")) == "预算 and the plan for 2025"
    assert sections.at(extracted.text.index("4,000")) == "预算 and the plan for 2025 › budget.docx › Budget 2025"
    assert sections.at(extracted.text.index("15 January")) == "预算 and the plan for 2025 › notes.txt"
    assert sections.at(extracted.text.index("Chengdu")) == (
        "预算 and the plan for 2025 › attachment.eml › Travel costs"
    )


def test_an_html_only_email_reads_its_html_body_as_a_web_page() -> None:
    mail = EmailMessage()
    mail["Subject"] = "Release notes"
    mail.set_content("<h1>Version 2</h1><p>Faster <code>search</code>.</p><script>x()</script>", subtype="html")
    extracted = read_bytes(mail.as_bytes(), "notes.eml")
    assert extracted.text == "Release notes\n\nVersion 2\n\nFaster search."
    assert Sections(extracted.outline).at(extracted.text.index("Faster")) == "Release notes › Version 2"


def test_an_email_in_an_unknown_charset_is_decoded_by_detection() -> None:
    body = "会议改到星期三下午三点，请大家准时参加，并带上上个季度的销售报告。".encode("gbk")
    raw = b"Subject: meeting\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\n" + body
    assert read_bytes(raw, "gbk.eml").text.endswith("请大家准时参加，并带上上个季度的销售报告。")


def test_emails_attached_past_the_depth_limit_are_refused() -> None:
    inner = EmailMessage()
    inner["Subject"] = "Innermost"
    inner.set_content("deep text")
    for level in range(3):
        outer = EmailMessage()
        outer["Subject"] = f"Fwd {level}"
        outer.set_content("see below")
        outer.add_attachment(inner)
        inner = outer
    assert "deep text" in read_bytes(inner.as_bytes(), "fwd.eml", Settings(max_attachment_depth=3)).text
    with pytest.raises(UnreadableDocumentError, match=r"fwd\.eml holds e-mails .* over 2 deep \(RAG_MAX_ATTACHMENT"):
        read_bytes(inner.as_bytes(), "fwd.eml", Settings(max_attachment_depth=2))


def test_an_unreadable_attachment_refuses_the_email_naming_it() -> None:
    mail = make_mail()
    mail.add_attachment(b"PK not a zip", maintype="application", subtype="octet-stream", filename="broken.docx")
    with pytest.raises(UnreadableDocumentError, match=r"^broken\.docx in mail\.eml is damaged or not a Word"):
        read_bytes(mail.as_bytes(), "mail.eml")


def test_a_file_with_no_mail_headers_is_not_an_email() -> None:
    with pytest.raises(UnreadableDocumentError, match=r"notes\.eml is not an e-mail"):
        read_bytes(b"Just some notes\nwithout any headers.\n", "notes.eml")


def zip_of(parts: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "member"),
    [("bomb.pptx", "ppt/slides/slide1.xml"), ("bomb.xlsx", "xl/worksheets/sheet1.xml"), ("bomb.epub", "a.xhtml")],
)
def test_a_zip_format_that_would_unpack_past_the_limit_is_refused(name: str, member: str) -> None:
    limit = 2**20
    data = zip_of({member: b"\0" * (limit + 1)})
    assert len(data) < 10_000  # a small upload that would unpack past the limit
    with pytest.raises(TooLargeError, match=r"RAG_MAX_INFLATED_BYTES\); it may be a zip bomb"):
        read_bytes(data, name, Settings(max_inflated_bytes=limit))


@pytest.mark.parametrize(
    ("name", "kind", "advice"),
    [
        ("bad.pptx", "a PowerPoint .pptx file", "if it is an old .ppt, save it as .pptx"),
        ("bad.xlsx", "an Excel .xlsx workbook", "if it is an old .xls, save it as .xlsx"),
        ("bad.epub", "an EPUB book", "open it in its application"),
    ],
)
@pytest.mark.parametrize("data", [b"plain text, not a zip", zip_of({"hello.txt": b"not an office part"})])
def test_a_damaged_or_foreign_zip_is_unreadable(name: str, kind: str, advice: str, data: bytes) -> None:
    with pytest.raises(UnreadableDocumentError, match=rf"^{name} is damaged or not {kind}.*{advice}"):
        read_bytes(data, name)


def test_old_binary_office_files_are_unsupported_with_what_to_save_them_as() -> None:
    assert format_of("deck.PPTX") == "pptx" and format_of("a.xlsx") == "xlsx" and format_of("b.eml") == "eml"
    with pytest.raises(UnsupportedFormatError, match=r"slides\.ppt: unsupported type \.ppt; .*; save it as \.pptx"):
        format_of("slides.ppt")
