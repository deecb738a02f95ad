"""PDFs, page by page with pypdf and pdfium (the better text of each page), scanned pages and images by OCR.

pdfium alone reads a file pypdf fails on (pdfium repairs more damage) or cannot decrypt (AES needs the
`cryptography` package, which pypdf does not pull in). A page with (almost) no text but an image on it is a
scan: pdfium renders it and `rag.ingest.ocr` reads it, as it reads PNG and JPEG uploads. Before either parser
sees a PDF, what its streams inflate to is measured against `max_inflated_bytes`.
"""

from __future__ import annotations

import io
import math
import re
import warnings
import zlib

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageOps, UnidentifiedImageError
from pypdf import PasswordType, PdfReader
from pypdf.errors import LimitReachedError

from rag.errors import TooLargeError, UnreadableDocumentError
from rag.ingest import ocr
from rag.ingest.common import PAGE_SEPARATOR, Extracted, normalize_newlines, page_starts, raise_if_out_of_memory
from rag.ingest.pdf_text import better_page, rejoin_hyphens, without_running_lines
from rag.settings import Settings

# Pages of a PDF: a book is a few thousand; an empty page costs parsing time all the same.
MAX_PDF_PAGES = 5000
# A stream keyword (not endstream's) and the end of line after it, where a PDF stream's data starts.
PDF_STREAM = re.compile(rb"(?<!end)stream(?:\r\n|\n|\r)")
# How far before its stream keyword a stream's dictionary is looked for; real ones are a few hundred bytes.
PDF_DICT_WINDOW = 4096
PDF_IMAGE = re.compile(rb"/Subtype\s*/Image\b")
# Compressed bytes fed to zlib at a time: zlib inflates at most about 1,032 times, so 16 KB in is at most 17 MB out.
INFLATE_INPUT = 16 * 1024


def read_pdf(data: bytes, name: str, settings: Settings) -> Extracted:
    """A PDF's pages' text joined by a blank line, with each page's start offset; empty pages keep their place.

    A page whose text layer has almost nothing on it but holds an image (a scan) is read by OCR instead.
    """
    _check_pdf_streams(data, name, settings.max_inflated_bytes)
    layers = [normalize_newlines(text).strip() for text in _pdf_page_texts(data, name)]
    ocr_texts = _ocr_scanned_pages(data, name, layers, settings)
    read = [ocr_texts[index].text if index in ocr_texts else text for index, text in enumerate(layers)]
    texts = [rejoin_hyphens(text) for text in without_running_lines(read)]
    if not any(texts):
        raise UnreadableDocumentError(
            f"{name} has no text layer, and OCR found no text on its pages; if it is a scan, scan it again at "
            "300 dpi or more and upload that"
        )
    return Extracted(PAGE_SEPARATOR.join(texts), "pdf", page_starts(texts), _mean_confidence(list(ocr_texts.values())))


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
        raise_if_out_of_memory(first)
        try:
            return _pdfium_pages(data, name)
        except UnreadableDocumentError:
            raise
        except Exception as exc:
            raise_if_out_of_memory(exc)
            raise _pdfium_error(name, exc, first) from exc
    try:
        others = _pdfium_pages(data, name)
    except Exception as exc:  # pdfium fails on files pypdf reads; pypdf's pages then stand as they are
        raise_if_out_of_memory(exc)
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


def read_image(data: bytes, name: str, settings: Settings) -> Extracted:
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
