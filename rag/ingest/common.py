"""What every reader shares: the `Extracted` result, joining blocks with their outline, decoding, damage checks."""

from __future__ import annotations

import bisect
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

from charset_normalizer import from_bytes
from lxml import etree

from rag.errors import TooLargeError, UnreadableDocumentError
from rag.sections import Heading, Outline, heading_title

# What to save an old binary Office file as, for the message refusing it.
SAVE_AS = {".doc": ".docx", ".ppt": ".pptx", ".xls": ".xlsx"}
PAGE_SEPARATOR = "\n\n"
BLOCK_SEPARATOR = "\n\n"
CELL_SEPARATOR = " | "
NEWLINES = re.compile(r"\r\n?")


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


def page_of(pages: tuple[int, ...], offset: int) -> int | None:
    """The 1-based page holding `offset` of a PDF's text, given its page starts; None when there are no pages."""
    if not pages:
        return None
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    return bisect.bisect_right(pages, offset)


def page_starts(texts: list[str]) -> tuple[int, ...]:
    """The start offset of each of `texts` once joined by PAGE_SEPARATOR."""
    starts: list[int] = []
    offset = 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + len(PAGE_SEPARATOR)
    return tuple(starts)


def joined(blocks: Sequence[tuple[str, int | None]]) -> tuple[str, Outline]:
    """Blocks (text, heading level or None) joined by a blank line, blank ones left out, and their outline."""
    return assembled(
        [(text, () if level is None else (Heading(level, heading_title(text), 0),)) for text, level in blocks]
    )


def assembled(parts: Sequence[tuple[str, Outline]]) -> tuple[str, Outline]:
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


def one_line(text: str) -> str:
    """A cell's text on one line: its lines' whitespace runs one space."""
    return " ".join(text.split())


def normalize_newlines(text: str) -> str:
    """`text` with Windows (CR LF) and old Mac (CR) line ends turned into LF."""
    return NEWLINES.sub("\n", text)


def decode(data: bytes, name: str) -> str:
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


def check_unzipped_size(data: bytes, name: str, limit: int, kind: str) -> None:
    """Refuse a zip that would unpack to more than `limit` bytes (a zip bomb); `kind` names the format expected.

    zipfile reads no entry past its declared size, so the declared sizes bound what parsing can allocate.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise damaged(name, kind, exc) from exc
    if total > limit:
        raise TooLargeError(
            f"{name} unpacks to {total / 2**20:.0f} MiB, {total / len(data):.0f} times its size, over the "
            f"{limit / 2**20:.0f} MiB a file may unpack to here (RAG_MAX_INFLATED_BYTES); it may be a zip bomb"
        )


def damaged(name: str, kind: str, reason: object) -> UnreadableDocumentError:
    """The error for a zip-based file that cannot be read: damaged, or another format under this suffix."""
    for old, new in SAVE_AS.items():
        if new in kind:
            return UnreadableDocumentError(
                f"{name} is damaged or not {kind} ({reason}); if it is an old {old}, save it as {new} and upload that"
            )
    return UnreadableDocumentError(
        f"{name} is damaged or not {kind} ({reason}); open it in its application, save it again and upload it"
    )


def raise_if_out_of_memory(exc: Exception) -> None:
    """Let a parser's failure for want of memory out as MemoryError, not as a damaged file.

    lxml (python-docx's parser) reports a failed allocation as a syntax error.
    """
    if isinstance(exc, MemoryError):
        raise exc
    if isinstance(exc, etree.LxmlError) and getattr(exc, "code", None) == etree.ErrorTypes.ERR_NO_MEMORY:
        raise MemoryError(f"lxml: {exc}") from exc
