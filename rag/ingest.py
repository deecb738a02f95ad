"""Turn an uploaded file's bytes into the text we index and cite: one reader per format.

Every reader returns an `Extracted` whose `text` is final: chunk and citation offsets point into it, so nothing
downstream may change it. Readers that know headings (HTML, Markdown, Word, EPUB; a slide's title, a sheet's
name, an e-mail's subject and attachments) also return the outline: each heading's level, title and start offset
in `text` (see `rag.sections`). A file of a supported type that yields no text raises `UnreadableDocumentError`
with a message saying why and what to do; no parser's own exception gets out.

PDFs are read page by page with both pypdf and pdfium, and each page keeps the better of the two texts (see
`rag.pdf_text`, which also drops running headers and footers and rejoins hyphenated words). pdfium alone reads a
file pypdf fails on (pdfium repairs more damage) or cannot decrypt (AES needs the `cryptography` package, which
pypdf does not pull in). A page with (almost) no text but an image on it is a scan: pdfium renders it and
`rag.ocr` reads it, as it reads PNG and JPEG uploads.

Word, PowerPoint and Excel files and EPUB books are zip archives of XML. A deck's slides are its pages, so a
citation's page is the slide; a workbook's sheets and an e-mail's attachments are sections. An e-mail's
attachments are read by the readers of their own types.

Before any parser sees a PDF, a zip archive or a web page, what it would inflate to is measured against the limits
in `Settings` (a PDF's streams and an archive's parts, unpacked; a page's elements and depth; a sheet's rows and
cells as they are read), whichever library then reads it: a small file that unpacks to gigabytes is refused in
milliseconds with a TooLargeError naming the limit; an image over `max_image_pixels` is refused before it is
decoded. `rag.isolation` runs all of this in a child process bounded in memory and time, for what the measures
miss.
"""

from __future__ import annotations

import bisect
import datetime as dt
import io
import math
import mimetypes
import posixpath
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import cast
from urllib.parse import unquote

import docx
import openpyxl
import pptx
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from bs4 import BeautifulSoup, UnicodeDammit
from charset_normalizer import from_bytes
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from lxml import etree
from markdown_it import MarkdownIt
from markdown_it.token import Token
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from PIL import Image, ImageOps, UnidentifiedImageError
from pptx.enum.shapes import PP_PLACEHOLDER
from pptx.shapes.autoshape import Shape
from pptx.shapes.base import BaseShape
from pptx.shapes.graphfrm import GraphicFrame
from pptx.shapes.group import GroupShape
from pptx.slide import Slide
from pptx.table import Table as SlideTable
from pptx.text.text import TextFrame
from pypdf import PasswordType, PdfReader
from pypdf.errors import LimitReachedError

from rag import ocr
from rag.errors import RagError, TooLargeError, UnreadableDocumentError, UnsupportedFormatError
from rag.html_text import page_blocks, page_text
from rag.pdf_text import better_page, rejoin_hyphens, without_running_lines
from rag.sections import Heading, Outline, heading_title
from rag.settings import Settings
from rag.text import CJK_RANGES

# What the readers make of a file. A change to any reader's output bumps it: an index whose text an older reader
# made is then due for a rebuild, which reads the folder's files again (2: HTML read whole, PDF page by page;
# 3: scanned PDF pages and images read by OCR; HTML, Markdown and Word keep their outline).
READER_VERSION = 3
SUPPORTED: dict[str, str] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".epub": "epub",
    ".eml": "eml",
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
}

# What to save an old binary Office file as, for the message refusing it.
SAVE_AS = {".doc": ".docx", ".ppt": ".pptx", ".xls": ".xlsx"}

PAGE_SEPARATOR = "\n\n"
BLOCK_SEPARATOR = "\n\n"
CELL_SEPARATOR = " | "
# Pages of a PDF: a book is a few thousand; an empty page costs parsing time all the same.
MAX_PDF_PAGES = 5000
# A stream keyword (not endstream's) and the end of line after it, where a PDF stream's data starts.
PDF_STREAM = re.compile(rb"(?<!end)stream(?:\r\n|\n|\r)")
# How far before its stream keyword a stream's dictionary is looked for; real ones are a few hundred bytes.
PDF_DICT_WINDOW = 4096
PDF_IMAGE = re.compile(rb"/Subtype\s*/Image\b")
# Compressed bytes fed to zlib at a time: zlib inflates at most about 1,032 times, so 16 KB in is at most 17 MB out.
INFLATE_INPUT = 16 * 1024
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
NEWLINES = re.compile(r"\r\n?")
# A soft break (marked \0 while rendering) between two Chinese characters: a wrap, not a space.
CJK_SOFT_BREAK = re.compile(f"(?<=[{CJK_RANGES}])\0(?=[{CJK_RANGES}])")
# Markdown containers whose lines stay together in one block: a list's items, a table's rows.
MD_GROUP_OPENS = frozenset({"bullet_list_open", "ordered_list_open", "table_open"})
MD_GROUP_CLOSES = frozenset({"bullet_list_close", "ordered_list_close", "table_close"})
# Word's built-in heading styles by name (styles.xml names built-ins in English whatever the UI language);
# Title is above Heading 1.
DOCX_HEADING = re.compile(r"Heading ([1-9])")
DOCX_TITLE = "Title"
# What each zip-based format is, as a message refusing a file names it.
DOCX_KIND = "a Word .docx file"
PPTX_KIND = "a PowerPoint .pptx file"
XLSX_KIND = "an Excel .xlsx workbook"
EPUB_KIND = "an EPUB book"
# Placeholders a layout repeats on every slide, as running headers and footers repeat on a PDF's pages.
SLIDE_CHROME = frozenset(
    {PP_PLACEHOLDER.SLIDE_NUMBER, PP_PLACEHOLDER.DATE, PP_PLACEHOLDER.FOOTER, PP_PLACEHOLDER.HEADER}
)
SLIDE_LINE_BREAK = re.compile(r"[\n\v]")  # python-pptx writes a line break inside a paragraph as a vertical tab
# Between a sheet row's cells. Not the " | " of grid tables: each cell here is named ("Region: Asia"), and ";" is
# a clause mark the chunker and the sentence cutter cut at, so an over-long row is cut between its cells.
ROW_CELL_SEPARATOR = "; "
HEADER_SEPARATOR = ": "
EPUB_CONTAINER = "META-INF/container.xml"
EPUB_ENCRYPTION = "META-INF/encryption.xml"
EPUB_NS = {"c": "urn:oasis:names:tc:opendocument:xmlns:container", "opf": "http://www.idpf.org/2007/opf"}
XMLENC_CIPHER_REFERENCE = "{http://www.w3.org/2001/04/xmlenc#}CipherReference"
EPUB_DOCUMENT_TYPES = frozenset({"application/xhtml+xml", "text/html"})
# An e-mail's head block, in this order; the subject comes first, as the message's heading.
MAIL_HEADERS = ("From", "To", "Cc", "Date")
# Any of these makes a file an e-mail; a file with none is something else with the wrong suffix.
MAIL_IDENTITY = ("From", "To", "Subject", "Date", "Message-ID")


@dataclass(frozen=True)
class Extracted:
    """A document's text as we index it.

    `pages` is set for PDFs, images and slide decks only (a slide is a page): the start offset in `text` of each
    page, first 0, strictly increasing.
    `ocr_confidence` is set when OCR read some of the text: its mean confidence (0-1) over the pages it read.
    `outline` holds the headings, in order, each starting where its text does in `text`; empty when the format
    has none (plain text, PDF, images).
    """

    text: str
    format: str
    pages: tuple[int, ...] = ()
    ocr_confidence: float | None = None
    outline: Outline = ()


def format_of(name: str) -> str:
    """The format of the file called `name`, by its suffix; UnsupportedFormatError if no reader handles it."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED:
        shown = suffix or "(no suffix)"
        hint = f"; save it as {SAVE_AS[suffix]} and upload that" if suffix in SAVE_AS else ""
        raise UnsupportedFormatError(
            f"{name}: unsupported type {shown}; supported: {', '.join(sorted(SUPPORTED))}{hint}"
        )
    return SUPPORTED[suffix]


def read_path(path: Path, settings: Settings | None = None) -> Extracted:
    """Extract the text of the file at `path`."""
    format_of(path.name)  # refuse an unsupported file before reading it all
    return read_bytes(path.read_bytes(), path.name, settings)


def read_bytes(data: bytes, name: str, settings: Settings | None = None) -> Extracted:
    """Extract the text of a file's bytes, picking the reader by the suffix of `name`; limits from `settings`."""
    fmt = format_of(name)
    if not data:
        raise UnreadableDocumentError(f"{name} is empty; upload a file that has text in it")
    extracted = READERS[fmt](data, name, settings or Settings())
    if not extracted.text.strip():
        raise UnreadableDocumentError(
            f"no text could be extracted from {name}; check that it holds text and not only images"
        )
    return extracted


def page_of(pages: tuple[int, ...], offset: int) -> int | None:
    """The 1-based page holding `offset` of a PDF's text, given its page starts; None when there are no pages."""
    if not pages:
        return None
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    return bisect.bisect_right(pages, offset)


def _joined(blocks: Sequence[tuple[str, int | None]]) -> tuple[str, Outline]:
    """Blocks (text, heading level or None) joined by a blank line, blank ones left out, and their outline."""
    return _assembled(
        [(text, () if level is None else (Heading(level, heading_title(text), 0),)) for text, level in blocks]
    )


def _assembled(parts: Sequence[tuple[str, Outline]]) -> tuple[str, Outline]:
    """Texts joined by a blank line, blank ones left out, each text's outline moved to where the text starts."""
    kept: list[str] = []
    outline: list[Heading] = []
    offset = 0
    for text, headings in parts:
        if not text.strip():
            continue
        outline.extend(Heading(h.level, h.title, offset + h.start) for h in headings)
        kept.append(text)
        offset += len(text) + len(BLOCK_SEPARATOR)
    return BLOCK_SEPARATOR.join(kept), tuple(outline)


def _one_line(text: str) -> str:
    """A cell's text on one line: its lines' whitespace runs one space."""
    return " ".join(text.split())


# -- text -------------------------------------------------------------------------------------------------------


def _normalize_newlines(text: str) -> str:
    """`text` with Windows (CR LF) and old Mac (CR) line ends turned into LF."""
    return NEWLINES.sub("\n", text)


def _decode(data: bytes, name: str) -> str:
    """Decode a text file: UTF-8 (with or without BOM) first, else the encoding charset-normalizer finds."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is None:
        raise UnreadableDocumentError(
            f"{name}: cannot tell its character encoding (is it a text file?); save it as UTF-8 and upload again"
        )
    return str(best)


def _read_text(data: bytes, name: str, settings: Settings) -> Extracted:
    """A plain text file, exactly as decoded apart from line ends."""
    return Extracted(_normalize_newlines(_decode(data, name)), "text")


# -- markdown ---------------------------------------------------------------------------------------------------


def _read_markdown(data: bytes, name: str, settings: Settings) -> Extracted:
    """A Markdown file as plain text: each block's text without markup, blocks separated by a blank line."""
    source = _normalize_newlines(_decode(data, name))
    tokens = MarkdownIt("commonmark").enable("table").parse(source)
    text, outline = _joined(_markdown_blocks(tokens))
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


# -- pdf --------------------------------------------------------------------------------------------------------


def _read_pdf(data: bytes, name: str, settings: Settings) -> Extracted:
    """A PDF's pages' text joined by a blank line, with each page's start offset; empty pages keep their place.

    A page whose text layer has almost nothing on it but holds an image (a scan) is read by OCR instead.
    """
    _check_pdf_streams(data, name, settings.max_inflated_bytes)
    layers = [_normalize_newlines(text).strip() for text in _pdf_page_texts(data, name)]
    ocr_texts = _ocr_scanned_pages(data, name, layers, settings)
    read = [ocr_texts[index].text if index in ocr_texts else text for index, text in enumerate(layers)]
    texts = [rejoin_hyphens(text) for text in without_running_lines(read)]
    if not any(texts):
        raise UnreadableDocumentError(
            f"{name} has no text layer, and OCR found no text on its pages; if it is a scan, scan it again at "
            "300 dpi or more and upload that"
        )
    return Extracted(PAGE_SEPARATOR.join(texts), "pdf", _starts(texts), _mean_confidence(list(ocr_texts.values())))


def _starts(texts: list[str]) -> tuple[int, ...]:
    """The start offset of each of `texts` once joined by PAGE_SEPARATOR."""
    starts: list[int] = []
    offset = 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + len(PAGE_SEPARATOR)
    return tuple(starts)


def _ocr_scanned_pages(data: bytes, name: str, layers: list[str], settings: Settings) -> dict[int, ocr.PageText]:
    """OCR's text of each page (by index) whose text layer is under `ocr_page_min_chars` and that has an image.

    A page OCR reads less text on than its layer holds keeps its layer.
    """
    thin = [index for index, text in enumerate(layers) if len("".join(text.split())) < settings.ocr_page_min_chars]
    if not thin:
        return {}
    read: dict[int, ocr.PageText] = {}
    document = pdfium.PdfDocument(data)
    try:
        for index in thin:
            page = document[index]
            try:
                if next(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]), None) is None:
                    continue
                found = ocr.read_image(_render_page(page, settings), f"{name}, page {index + 1}", settings)
            finally:
                page.close()
            if len(found.text) > len(layers[index]):
                read[index] = found
    finally:
        document.close()
    return read


def _render_page(page: pdfium.PdfPage, settings: Settings) -> Image.Image:
    """A PDF page as a grayscale image at `ocr_dpi`, or as many dots per inch as `max_image_pixels` allows."""
    width, height = page.get_size()  # in points, 72 an inch
    scale = min(settings.ocr_dpi / 72, math.sqrt(settings.max_image_pixels / max(1.0, width * height)))
    return page.render(scale=scale, grayscale=True).to_pil()


def _mean_confidence(pages: list[ocr.PageText]) -> float | None:
    """The mean of the pages' OCR confidences, None when OCR read no page."""
    known = [page.confidence for page in pages if page.confidence is not None]
    return sum(known) / len(known) if known else None


def _check_pdf_streams(data: bytes, name: str, limit: int) -> None:
    """Refuse a PDF whose streams, images aside, inflate to more than `limit` bytes (a decompression bomb).

    Streams are found by their keyword and inflated a slice at a time, the output counted and dropped, so the
    measure itself holds at most a slice's output. pypdf has limits of its own, pdfium none; both decode every
    stream a page's text needs, and neither decodes an image to read text.
    """
    total = 0
    for match in PDF_STREAM.finditer(data):
        head = data[max(0, match.start() - PDF_DICT_WINDOW) : match.start()]
        if PDF_IMAGE.search(head[max(0, head.rfind(b"obj")) :]):
            continue
        total += _inflated_size(data, match.end(), limit - total)
        if total > limit:
            raise TooLargeError(
                f"{name}'s streams inflate to over {limit / 2**20:.0f} MiB (RAG_MAX_INFLATED_BYTES), from a "
                f"{len(data) / 2**20:.1f} MiB file; it looks like a decompression bomb"
            )


def _inflated_size(data: bytes, start: int, limit: int) -> int:
    """How many bytes the zlib stream at `data[start:]` inflates to, counted up to just past `limit`.

    Data that is not zlib's (another filter, or none) counts what it inflated to before zlib gave up: the
    parsers, not this measure, judge damage.
    """
    inflater = zlib.decompressobj()
    size = 0
    view = memoryview(data)
    for offset in range(start, len(data), INFLATE_INPUT):
        try:
            size += len(inflater.decompress(view[offset : offset + INFLATE_INPUT]))
        except zlib.error:
            break
        if inflater.eof or size > limit:
            break
    return size


def _pdf_page_texts(data: bytes, name: str) -> list[str]:
    """Each page's text: the better of pypdf's and pdfium's, or pdfium's when pypdf fails (see the module doc).

    A file that pypdf stops at its decompression limits is refused, not retried: pdfium has no such limit, and a
    small file that inflates to gigabytes (a decompression bomb) would take the server's memory.
    """
    try:
        texts = _pypdf_pages(data, name)
    except UnreadableDocumentError:
        raise
    except LimitReachedError as exc:
        raise UnreadableDocumentError(
            f"{name} decompresses to more than a document holds ({exc}); it looks like a decompression bomb"
        ) from exc
    except Exception as first:  # pypdf raises many types on damaged files, not only PdfReadError
        _raise_if_out_of_memory(first)
        try:
            return _pdfium_pages(data, name)
        except UnreadableDocumentError:
            raise
        except Exception as exc:
            _raise_if_out_of_memory(exc)
            raise _pdfium_error(name, exc, first) from exc
    try:
        others = _pdfium_pages(data, name)
    except Exception as exc:  # pdfium fails on files pypdf reads; pypdf's pages then stand as they are
        _raise_if_out_of_memory(exc)
        return texts
    return [better_page(a, b) for a, b in zip(texts, others, strict=True)] if len(others) == len(texts) else texts


def _pypdf_pages(data: bytes, name: str) -> list[str]:
    """Each page's text by pypdf, trying the empty user password on an encrypted file."""
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise _encrypted(name)
    _check_pages(len(reader.pages), name)
    return [page.extract_text() for page in reader.pages]


def _check_pages(count: int, name: str) -> None:
    if count > MAX_PDF_PAGES:
        raise UnreadableDocumentError(f"{name} has {count} pages; the limit is {MAX_PDF_PAGES}: split it first")


def _pdfium_pages(data: bytes, name: str) -> list[str]:
    """Each page's text by pdfium (which opens files with an empty user password by itself)."""
    document = pdfium.PdfDocument(data)
    try:
        _check_pages(len(document), name)
        texts: list[str] = []
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return texts
    finally:
        document.close()


def _pdfium_error(name: str, exc: Exception, first: Exception) -> UnreadableDocumentError:
    """The error for a PDF neither reader could open: encrypted, or damaged (with pypdf's reason, the clearer)."""
    if isinstance(exc, pdfium.PdfiumError) and exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
        return _encrypted(name)
    return UnreadableDocumentError(
        f"{name} is damaged or not a PDF ({first}); save or export it as PDF again and upload it"
    )


def _encrypted(name: str) -> UnreadableDocumentError:
    """The error for a PDF that only opens with a password."""
    return UnreadableDocumentError(f"{name} is encrypted; remove the password and upload again")


# -- images -----------------------------------------------------------------------------------------------------


def _read_image(data: bytes, name: str, settings: Settings) -> Extracted:
    """A PNG or JPEG read by OCR, as one page (a photo turned the way its camera recorded it)."""
    Image.MAX_IMAGE_PIXELS = settings.max_image_pixels
    try:
        with warnings.catch_warnings():
            # Pillow only warns between the limit and twice it; both are refused here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                image = ImageOps.exif_transpose(opened)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLargeError(
            f"{name} has more pixels than the {settings.max_image_pixels:,} an image may have here "
            f"(RAG_MAX_IMAGE_PIXELS) ({exc}); scale it down to 300 dpi and upload it again"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnreadableDocumentError(
            f"{name} is damaged or not a PNG or JPEG image ({exc}); open it in an image viewer, save it again and "
            "upload it"
        ) from exc
    page = ocr.read_image(image, name, settings)
    return Extracted(page.text, "image", (0,), page.confidence)


# -- zip archives: docx, pptx, xlsx, epub -----------------------------------------------------------------------


def _check_unzipped_size(data: bytes, name: str, limit: int, kind: str) -> None:
    """Refuse a zip that would unpack to more than `limit` bytes (a zip bomb); `kind` names the format expected.

    zipfile reads no entry past its declared size, so the declared sizes bound what parsing can allocate.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise _damaged(name, kind, exc) from exc
    if total > limit:
        raise TooLargeError(
            f"{name} unpacks to {total / 2**20:.0f} MiB, {total / len(data):.0f} times its size, over the "
            f"{limit / 2**20:.0f} MiB a file may unpack to here (RAG_MAX_INFLATED_BYTES); it may be a zip bomb"
        )


def _read_docx(data: bytes, name: str, settings: Settings) -> Extracted:
    """A Word file's body in document order: paragraphs and table rows, blocks separated by a blank line."""
    _check_unzipped_size(data, name, settings.max_inflated_bytes, DOCX_KIND)
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = [
            (_table_text(item), None) if isinstance(item, Table) else (item.text, _docx_heading_level(item))
            for item in document.iter_inner_content()
        ]
    except Exception as exc:  # a bad zip, a zip that is not a Word file, broken XML: each its own type
        _raise_if_out_of_memory(exc)
        raise _damaged(name, DOCX_KIND, exc) from exc
    text, outline = _joined(blocks)
    return Extracted(text, "docx", outline=outline)


def _docx_heading_level(paragraph: Paragraph) -> int | None:
    """The outline level of a paragraph in Word's Title (0) or Heading N (N) style; None for any other."""
    style = paragraph.style
    name = style.name if style is not None else None
    if name == DOCX_TITLE:
        return 0
    match = DOCX_HEADING.fullmatch(name or "")
    return int(match.group(1)) if match else None


def _table_text(table: Table) -> str:
    """A table as one line per row, cells joined by " | ".

    A cell spanning several columns comes once. A cell merged down several rows repeats on each, which keeps
    every row line readable on its own in a chunk.
    """
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if cell is not previous:  # python-docx yields a column-spanning cell once per column
                cells.append(_cell_text(cell))
            previous = cell
        if any(text.strip() for text in cells):
            rows.append(CELL_SEPARATOR.join(cells))
    return "\n".join(rows)


def _cell_text(cell: _Cell) -> str:
    """A cell's paragraphs and nested tables on one line (python-docx's `cell.text` leaves nested tables out)."""
    parts = [_table_text(item) if isinstance(item, Table) else item.text for item in cell.iter_inner_content()]
    return " ".join(" ".join(part.split("\n")) for part in parts if part.strip())


def _damaged(name: str, kind: str, reason: object) -> UnreadableDocumentError:
    """The error for a zip-based file that cannot be read: damaged, or another format under this suffix."""
    for old, new in SAVE_AS.items():
        if new in kind:
            return UnreadableDocumentError(
                f"{name} is damaged or not {kind} ({reason}); if it is an old {old}, save it as {new} and upload that"
            )
    return UnreadableDocumentError(
        f"{name} is damaged or not {kind} ({reason}); open it in its application, save it again and upload it"
    )


# -- pptx -------------------------------------------------------------------------------------------------------


def _read_pptx(data: bytes, name: str, settings: Settings) -> Extracted:
    """A slide deck, a page per slide: its title (a heading), its other text and tables, then its speaker notes.

    A slide with no text keeps its page, as an empty PDF page does.
    """
    _check_unzipped_size(data, name, settings.max_inflated_bytes, PPTX_KIND)
    try:
        slides = [_joined(_slide_blocks(slide)) for slide in pptx.Presentation(io.BytesIO(data)).slides]
    except Exception as exc:  # python-pptx raises many types on a damaged or foreign package
        _raise_if_out_of_memory(exc)
        raise _damaged(name, PPTX_KIND, exc) from exc
    texts = [text for text, _ in slides]
    starts = _starts(texts)
    outline = tuple(
        Heading(h.level, h.title, start + h.start)
        for start, (_, headings) in zip(starts, slides, strict=True)
        for h in headings
    )
    return Extracted(PAGE_SEPARATOR.join(texts), "pptx", starts, outline=outline)


def _slide_blocks(slide: Slide) -> list[tuple[str, int | None]]:
    """A slide's blocks: the title (level 1), every other shape's text in reading order, the speaker notes."""
    title = slide.shapes.title
    blocks: list[tuple[str, int | None]] = [] if title is None else [(_frame_text(title.text_frame), 1)]
    blocks.extend((text, None) for text in _shape_texts(slide.shapes, title))
    if slide.has_notes_slide:  # reading `notes_slide` would add an empty one to a slide without
        notes = slide.notes_slide.notes_text_frame
        if notes is not None:
            blocks.append((_frame_text(notes), None))
    return blocks


def _shape_texts(shapes: Iterable[BaseShape], title: BaseShape | None) -> Iterator[str]:
    """The text of each shape but the title and the layout's footers, in the order of the slide's shape tree.

    That order is PowerPoint's reading order: its Reading Order pane shows it and screen readers follow it. A
    group's shapes are read in its place; pictures, charts and diagrams have no text here.
    """
    for shape in shapes:
        if shape == title or (shape.is_placeholder and shape.placeholder_format.type in SLIDE_CHROME):
            continue
        if isinstance(shape, GroupShape):
            yield from _shape_texts(shape.shapes, None)
        elif isinstance(shape, Shape):  # autoshapes, text boxes and placeholders: what holds a text frame
            yield _frame_text(shape.text_frame)
        elif isinstance(shape, GraphicFrame) and shape.has_table:
            yield _slide_table_text(shape.table)


def _frame_text(frame: TextFrame) -> str:
    """A text box's paragraphs and line breaks, a line each, blank ones left out."""
    lines = (line.strip() for p in frame.paragraphs for line in SLIDE_LINE_BREAK.split(p.text))
    return "\n".join(line for line in lines if line)


def _slide_table_text(table: SlideTable) -> str:
    """A slide's table as one line per row, cells joined by " | ", merged cells as the Word reader writes them.

    A cell spanning several columns comes once; a cell merged down several rows repeats on each.
    """
    down: dict[tuple[int, int], str] = {}  # (row, column) of a cell merged down into: the merged cell's text
    rows: list[str] = []
    for r, row in enumerate(table.rows):
        cells: list[str] = []
        for c, cell in enumerate(row.cells):
            if cell.is_merge_origin:
                text = _one_line(cell.text)
                down.update(((r + below, c), text) for below in range(1, cell.span_height))
                cells.append(text)
            elif not cell.is_spanned:
                cells.append(_one_line(cell.text))
            elif (r, c) in down:
                cells.append(down[(r, c)])
        if any(cells):
            rows.append(CELL_SEPARATOR.join(cells))
    return "\n".join(rows)


# -- xlsx -------------------------------------------------------------------------------------------------------


def _read_xlsx(data: bytes, name: str, settings: Settings) -> Extracted:
    """A workbook: a section per sheet, headed by its name, and a line per row with each cell after its header.

    A sheet's header row is its first row with anything in it, when that holds only text; each later row reads
    "Region: Asia; Year: 2024", so that a row read alone, in a chunk or a citation, says what its numbers are.
    A sheet without such a row has its cells joined by "; ". Empty rows, empty cells and empty sheets are left
    out. A formula's value is the one the workbook last saved (a file no spreadsheet application has computed
    has none).
    """
    _check_unzipped_size(data, name, settings.max_inflated_bytes, XLSX_KIND)
    blocks: list[tuple[str, int | None]] = []
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            cells = 0
            for sheet in workbook.worksheets:
                lines, cells = _sheet_lines(sheet, name, settings, cells)
                if lines:
                    blocks += [(sheet.title, 1), ("\n".join(lines), None)]
        finally:
            workbook.close()
    except RagError:
        raise
    except Exception as exc:  # openpyxl raises many types on a damaged or foreign package
        _raise_if_out_of_memory(exc)
        raise _damaged(name, XLSX_KIND, exc) from exc
    text, outline = _joined(blocks)
    return Extracted(text, "xlsx", outline=outline)


def _sheet_lines(sheet: ReadOnlyWorksheet, name: str, settings: Settings, cells: int) -> tuple[list[str], int]:
    """A sheet's rows as lines, and the cells read in the workbook so far (`cells` before this sheet).

    TooLargeError past `max_sheet_rows` rows in the sheet or `max_sheet_cells` cells in the workbook, counted as
    they are read, empty ones included: they cost the reading all the same.
    """
    # The size a sheet declares pads every row read to its width: a forged one would cost time on nothing.
    sheet.reset_dimensions()
    header: list[str] | None = None
    lines: list[str] = []
    for number, row in enumerate(sheet.iter_rows(values_only=True), 1):
        cells += max(1, len(row))
        if number > settings.max_sheet_rows or cells > settings.max_sheet_cells:
            raise _sheet_too_large(name, sheet.title, settings, number > settings.max_sheet_rows)
        values = [_cell_value(value) for value in row]
        if not any(values):
            continue
        if not lines and all(isinstance(value, str) for value in row if value is not None):
            header = values
            lines.append(ROW_CELL_SEPARATOR.join(value for value in values if value))
            continue
        lines.append(ROW_CELL_SEPARATOR.join(_labelled(header, i, value) for i, value in enumerate(values) if value))
    return lines, cells


def _sheet_too_large(name: str, sheet: str, settings: Settings, rows: bool) -> TooLargeError:
    what = (
        f"its sheet {sheet!r} runs past row {settings.max_sheet_rows:,} (RAG_MAX_SHEET_ROWS)"
        if rows
        else f"it has over {settings.max_sheet_cells:,} cells (RAG_MAX_SHEET_CELLS)"
    )
    return TooLargeError(f"{name}: {what}; split the workbook, or save each sheet as its own file, and upload those")


def _labelled(header: list[str] | None, column: int, value: str) -> str:
    """A cell's value after its column's header and ": ", or alone when its column has no header."""
    label = header[column] if header is not None and column < len(header) else ""
    return f"{label}{HEADER_SEPARATOR}{value}" if label else value


def _cell_value(value: object) -> str:
    """A cell's value as a spreadsheet shows it, give or take its number format: 2024, 0.25, TRUE, 2024-03-31."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return _one_line(str(value))


# -- epub -------------------------------------------------------------------------------------------------------


def _read_epub(data: bytes, name: str, settings: Settings) -> Extracted:
    """An EPUB book: its documents in reading (spine) order, each read as a web page is, headings kept."""
    _check_unzipped_size(data, name, settings.max_inflated_bytes, EPUB_KIND)
    blocks: list[tuple[str, int | None]] = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for path in _epub_spine(archive, name):
            markup = _decode_html(_epub_part(archive, path, name), f"{path} in {name}")
            _check_html_shape(markup, name, settings)
            blocks += page_blocks(BeautifulSoup(markup, "html.parser"))
    text, outline = _joined(blocks)
    return Extracted(text, "epub", outline=outline)


def _epub_spine(archive: zipfile.ZipFile, name: str) -> list[str]:
    """The archive paths of the book's documents in spine order, from the package file its container names.

    A book whose documents are encrypted (DRM) is refused; fonts alone may be (font obfuscation).
    """
    container = _epub_xml(archive, EPUB_CONTAINER, name)
    root = container.find("c:rootfiles/c:rootfile", EPUB_NS)
    package_path = root.get("full-path") if root is not None else None
    if not package_path:
        raise _damaged(name, EPUB_KIND, f"{EPUB_CONTAINER} names no package file")
    package = _epub_xml(archive, package_path, name)
    base = posixpath.dirname(package_path)
    manifest = {item.get("id"): item for item in package.iterfind("opf:manifest/opf:item", EPUB_NS)}
    spine: list[str] = []
    for ref in package.iterfind("opf:spine/opf:itemref", EPUB_NS):
        item = manifest.get(ref.get("idref"))
        if item is not None and item.get("media-type") in EPUB_DOCUMENT_TYPES:
            spine.append(posixpath.normpath(posixpath.join(base, unquote(item.get("href", "")))))
    encrypted = _epub_encrypted(archive, name)
    if any(path in encrypted for path in spine):
        raise UnreadableDocumentError(
            f"{name} is protected by DRM (its chapters are encrypted); export it without DRM from the application "
            "it was bought in, or upload its text another way"
        )
    return spine


def _epub_encrypted(archive: zipfile.ZipFile, name: str) -> set[str]:
    """The archive paths the book's encryption.xml lists as encrypted (none without that file)."""
    if EPUB_ENCRYPTION not in archive.namelist():
        return set()
    listing = _epub_xml(archive, EPUB_ENCRYPTION, name)
    return {unquote(ref.get("URI", "")) for ref in listing.iter(XMLENC_CIPHER_REFERENCE)}


def _epub_part(archive: zipfile.ZipFile, path: str, name: str) -> bytes:
    try:
        return archive.read(path)
    except KeyError as exc:
        raise _damaged(name, EPUB_KIND, f"it has no {path}") from exc
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError) as exc:
        raise _damaged(name, EPUB_KIND, f"{path} cannot be unpacked: {exc}") from exc


def _epub_xml(archive: zipfile.ZipFile, path: str, name: str) -> etree._Element:
    """A part of the book parsed as XML, with no entity expansion and no network."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        return etree.fromstring(_epub_part(archive, path, name), parser)
    except etree.XMLSyntaxError as exc:
        _raise_if_out_of_memory(exc)
        raise _damaged(name, EPUB_KIND, f"{path} is not XML: {exc}") from exc


# -- eml --------------------------------------------------------------------------------------------------------


def _read_eml(data: bytes, name: str, settings: Settings) -> Extracted:
    """An e-mail: its subject (a heading), a head block (From, To, Cc, Date), its text body, then its attachments.

    The body is the plain text part, else the HTML one read as a web page is. Each attachment of a type a reader
    handles is a section headed by its file name, read by that reader (its headings under the file name; pages
    not kept); an attached e-mail is read the same way, down to `max_attachment_depth`. Attachments of other
    types are left out. An attachment that cannot be read refuses the whole e-mail, naming it.
    """
    message = _parsed_mail(data)
    if not any(message[header] for header in MAIL_IDENTITY):
        raise UnreadableDocumentError(
            f"{name} is not an e-mail: it has none of the headers {', '.join(MAIL_IDENTITY)}; save the message "
            "from the mail application as .eml and upload that"
        )
    text, outline = _assembled(_mail_parts(message, name, settings, 0))
    return Extracted(text, "eml", outline=outline)


def _parsed_mail(data: bytes) -> EmailMessage:
    # The default policy's parser makes EmailMessage objects; the stubs type its result as the base Message.
    return cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(data))


def _mail_parts(message: EmailMessage, name: str, settings: Settings, depth: int) -> list[tuple[str, Outline]]:
    """The texts of a message and their outlines: the subject at level 0, attachments at 1, theirs below."""
    subject = _one_line(str(message["Subject"] or ""))
    head = "\n".join(f"{header}: {_one_line(str(message[header]))}" for header in MAIL_HEADERS if message[header])
    parts: list[tuple[str, Outline]] = [(subject, (Heading(0, subject, 0),)), (head, ())]
    body = message.get_body(preferencelist=("plain", "html"))
    if isinstance(body, EmailMessage):
        parts.append(_mail_body(body, name, settings))
    for attachment in message.iter_attachments():
        if isinstance(attachment, EmailMessage):
            parts.extend(_attachment_parts(attachment, name, settings, depth))
    return parts


def _mail_body(part: EmailMessage, name: str, settings: Settings) -> tuple[str, Outline]:
    """A message's text body, or its HTML body's blocks with their headings (h1 is level 1)."""
    content = _mail_text(part, name)
    if part.get_content_subtype() != "html":
        return _normalize_newlines(content).strip(), ()
    _check_html_shape(content, name, settings)
    return _joined(page_blocks(BeautifulSoup(content, "html.parser")))


def _mail_text(part: EmailMessage, name: str) -> str:
    """A text part decoded by its declared charset, or by the one detected when Python does not know that one."""
    try:
        return str(part.get_content())
    except LookupError:
        return _decode(_payload(part), name)


def _attachment_parts(part: EmailMessage, name: str, settings: Settings, depth: int) -> list[tuple[str, Outline]]:
    """An attachment as a level 1 heading of its file name, then its text; nothing for a type no reader handles.

    The attachment's text is trimmed of the blank lines around it (a text file's last line end), and its own
    headings go below its name.
    """
    filename = _one_line(part.get_filename() or "")
    if not filename:  # an unnamed part gets its type's suffix, as a mail application saving it would
        filename = f"attachment{mimetypes.guess_extension(part.get_content_type()) or ''}"
    fmt = SUPPORTED.get(Path(filename).suffix.lower())
    if fmt is None and part.get_content_type() != "message/rfc822":
        return []
    shown = f"{filename} in {name}"
    if fmt in ("eml", None):
        if depth >= settings.max_attachment_depth:
            raise UnreadableDocumentError(
                f"{name} holds e-mails attached to attached e-mails over {settings.max_attachment_depth} deep "
                f"(RAG_MAX_ATTACHMENT_DEPTH), at {filename}; save the innermost one as its own file and upload it"
            )
        content = part.get_content()
        inner = content if isinstance(content, EmailMessage) else _parsed_mail(_payload(part))
        text, outline = _assembled(_mail_parts(inner, shown, settings, depth + 1))
    else:
        extracted = READERS[fmt](_payload(part), shown, settings)
        text, outline = extracted.text, extracted.outline
    lead = len(text) - len(text.lstrip())
    moved = tuple(Heading(h.level + 2, h.title, max(0, h.start - lead)) for h in outline)
    return [(filename, (Heading(1, filename, 0),)), (text.strip(), moved)]


def _payload(part: EmailMessage) -> bytes:
    """An attachment's bytes, its transfer encoding (base64, quoted-printable) undone."""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


# -- html -------------------------------------------------------------------------------------------------------


def _read_html(data: bytes, name: str, settings: Settings) -> Extracted:
    """A web page's text: every block of its body in reading order, chrome dropped (see `rag.html_text`)."""
    markup = _decode_html(data, name)
    _check_html_shape(markup, name, settings)
    text, outline = _joined(page_blocks(BeautifulSoup(markup, "html.parser")))
    return Extracted(text, "html", outline=outline)


def _decode_html(data: bytes, name: str) -> str:
    """Decode a web page: UTF-8 first, then the charset the page declares, then a detected one."""
    markup = UnicodeDammit(data, known_definite_encodings=["utf-8"], is_html=True).unicode_markup
    if markup is None:
        raise UnreadableDocumentError(f"{name}: cannot tell its character encoding; save it as UTF-8 and upload again")
    return markup


def _check_html_shape(markup: str, name: str, settings: Settings) -> None:
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


def _raise_if_out_of_memory(exc: Exception) -> None:
    """Let a parser's failure for want of memory out as MemoryError, not as a damaged file.

    lxml (python-docx's parser) reports a failed allocation as a syntax error.
    """
    if isinstance(exc, MemoryError):
        raise exc
    if isinstance(exc, etree.LxmlError) and getattr(exc, "code", None) == etree.ErrorTypes.ERR_NO_MEMORY:
        raise MemoryError(f"lxml: {exc}") from exc


READERS: dict[str, Callable[[bytes, str, Settings], Extracted]] = {
    "text": _read_text,
    "markdown": _read_markdown,
    "pdf": _read_pdf,
    "docx": _read_docx,
    "html": _read_html,
    "image": _read_image,
    "pptx": _read_pptx,
    "xlsx": _read_xlsx,
    "epub": _read_epub,
    "eml": _read_eml,
}
