"""Turn an uploaded file's bytes into the text we index and cite: one reader per format.

Every reader returns an `Extracted` whose `text` is final: chunk and citation offsets point into it, so nothing
downstream may change it. Readers that know headings (HTML, Markdown, Word) also return the outline: each
heading's level, title and start offset in `text` (see `rag.sections`). A file of a supported type that
yields no text raises `UnreadableDocumentError` with a message saying why and what to do; no parser's own
exception gets out.

PDFs are read page by page with both pypdf and pdfium, and each page keeps the better of the two texts (see
`rag.pdf_text`, which also drops running headers and footers and rejoins hyphenated words). pdfium alone reads a
file pypdf fails on (pdfium repairs more damage) or cannot decrypt (AES needs the `cryptography` package, which
pypdf does not pull in). A page with (almost) no text but an image on it is a scan: pdfium renders it and
`rag.ocr` reads it, as it reads PNG and JPEG uploads.

Before any parser sees a PDF, a Word file or a web page, what it would inflate to is measured against the limits
in `Settings` (a PDF's streams and a Word file's parts, unpacked; a page's elements and depth), whichever library
then reads it: a small file that unpacks to gigabytes is refused in milliseconds with a TooLargeError naming the
limit; an image over `max_image_pixels` is refused before it is decoded. `rag.isolation` runs all of this
in a child process bounded in memory and time, for what the measures miss.
"""

from __future__ import annotations

import bisect
import io
import math
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import docx
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from bs4 import BeautifulSoup, UnicodeDammit
from charset_normalizer import from_bytes
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from lxml import etree
from markdown_it import MarkdownIt
from markdown_it.token import Token
from PIL import Image, ImageOps, UnidentifiedImageError
from pypdf import PasswordType, PdfReader
from pypdf.errors import LimitReachedError

from rag import ocr
from rag.errors import TooLargeError, UnreadableDocumentError, UnsupportedFormatError
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


@dataclass(frozen=True)
class Extracted:
    """A document's text as we index it.

    `pages` is set for PDFs and images only: the start offset in `text` of each page, first 0, strictly increasing.
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
        raise UnsupportedFormatError(f"{name}: unsupported type {shown}; supported: {', '.join(sorted(SUPPORTED))}")
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
    kept: list[str] = []
    outline: list[Heading] = []
    offset = 0
    for text, level in blocks:
        if not text.strip():
            continue
        if level is not None:
            outline.append(Heading(level, heading_title(text), offset))
        kept.append(text)
        offset += len(text) + len(BLOCK_SEPARATOR)
    return BLOCK_SEPARATOR.join(kept), tuple(outline)


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


# -- docx -------------------------------------------------------------------------------------------------------


def _check_unzipped_size(data: bytes, name: str, limit: int) -> None:
    """Refuse a zip that would unpack to more than `limit` bytes (a zip bomb).

    zipfile reads no entry past its declared size, so the declared sizes bound what parsing can allocate.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise UnreadableDocumentError(f"{name} is damaged or not a Word .docx file ({exc})") from exc
    if total > limit:
        raise TooLargeError(
            f"{name} unpacks to {total / 2**20:.0f} MiB, {total / len(data):.0f} times its size, over the "
            f"{limit / 2**20:.0f} MiB a Word file may hold here (RAG_MAX_INFLATED_BYTES); it may be a zip bomb"
        )


def _read_docx(data: bytes, name: str, settings: Settings) -> Extracted:
    """A Word file's body in document order: paragraphs and table rows, blocks separated by a blank line."""
    _check_unzipped_size(data, name, settings.max_inflated_bytes)
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = [
            (_table_text(item), None) if isinstance(item, Table) else (item.text, _docx_heading_level(item))
            for item in document.iter_inner_content()
        ]
    except Exception as exc:  # a bad zip, a zip that is not a Word file, broken XML: each its own type
        _raise_if_out_of_memory(exc)
        raise UnreadableDocumentError(
            f"{name} is damaged or not a Word .docx file ({exc}); if it is an old .doc, save it as .docx "
            "and upload again"
        ) from exc
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
}
