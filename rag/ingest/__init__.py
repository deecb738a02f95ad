"""Read: turn an uploaded file's bytes into the text we index and cite, one reader module per kind of file.

Every reader returns an `Extracted` whose `text` is final: chunk and citation offsets point into it, so nothing
downstream may change it. Readers that know headings (HTML, Markdown, Word, EPUB; a slide's title, a sheet's
name, an e-mail's subject and attachments) also return the outline: each heading's level, title and start offset
in `text` (see `rag.sections`). A file of a supported type that yields no text raises `UnreadableDocumentError`
with a message saying why and what to do; no parser's own exception gets out.

The readers: `plain` (text, Markdown), `pdf` (PDFs, scans and images through `ocr`), `office` (DOCX, PPTX,
XLSX), `epub`, `mail`, `web` (HTML, through `html_text`). A reader module and its parsing libraries are imported
the first time a file of its kind is read, so that the read path (`rag.ingest.page_of`, `Extracted`) and a
process that reads only text never load python-pptx or pdfium.

Before any parser sees a PDF, a zip archive or a web page, what it would inflate to is measured against the limits
in `Settings` (a PDF's streams and an archive's parts, unpacked; a page's elements and depth; a sheet's rows and
cells as they are read), whichever library then reads it: a small file that unpacks to gigabytes is refused in
milliseconds with a TooLargeError naming the limit; an image over `max_image_pixels` is refused before it is
decoded. `rag.isolation` runs all of this in a child process bounded in memory and time, for what the measures
miss.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from rag.errors import UnreadableDocumentError, UnsupportedFormatError
from rag.ingest.common import PAGE_SEPARATOR, SAVE_AS, Extracted, page_of
from rag.settings import Settings

__all__ = [
    "PAGE_SEPARATOR",
    "READER_MODULES",
    "READER_VERSION",
    "SUPPORTED",
    "Extracted",
    "format_of",
    "page_of",
    "read_bytes",
    "read_path",
    "reader",
]

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
# Each format's reader: the module that holds it, and its function there.
READERS: dict[str, tuple[str, str]] = {
    "text": ("plain", "read_text"),
    "markdown": ("plain", "read_markdown"),
    "pdf": ("pdf", "read_pdf"),
    "image": ("pdf", "read_image"),
    "docx": ("office", "read_docx"),
    "pptx": ("office", "read_pptx"),
    "xlsx": ("office", "read_xlsx"),
    "epub": ("epub", "read_epub"),
    "eml": ("mail", "read_eml"),
    "html": ("web", "read_html"),
}
# Every reader module, for a process that forks readers to import them once (`rag.isolation`).
READER_MODULES = tuple(sorted({f"rag.ingest.{module}" for module, _ in READERS.values()}))


def reader(fmt: str) -> Callable[[bytes, str, Settings], Extracted]:
    """The reader of `fmt` (a value of `SUPPORTED`), its module imported on first use."""
    module, function = READERS[fmt]
    read: Callable[[bytes, str, Settings], Extracted] = getattr(
        importlib.import_module(f"rag.ingest.{module}"), function
    )
    return read


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
    extracted = reader(fmt)(data, name, settings or Settings())
    if not extracted.text.strip():
        raise UnreadableDocumentError(
            f"no text could be extracted from {name}; check that it holds text and not only images"
        )
    return extracted
