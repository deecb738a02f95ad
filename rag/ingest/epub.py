"""EPUB books: the documents of the spine in reading order, each read as a web page is."""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib
from urllib.parse import unquote

from bs4 import BeautifulSoup
from lxml import etree

from rag.errors import UnreadableDocumentError
from rag.ingest.common import Extracted, check_unzipped_size, damaged, joined, raise_if_out_of_memory
from rag.ingest.html_text import page_blocks
from rag.ingest.web import check_html_shape, decode_html
from rag.settings import Settings

EPUB_KIND = "an EPUB book"
EPUB_CONTAINER = "META-INF/container.xml"
EPUB_ENCRYPTION = "META-INF/encryption.xml"
EPUB_NS = {"c": "urn:oasis:names:tc:opendocument:xmlns:container", "opf": "http://www.idpf.org/2007/opf"}
XMLENC_CIPHER_REFERENCE = "{http://www.w3.org/2001/04/xmlenc#}CipherReference"
EPUB_DOCUMENT_TYPES = frozenset({"application/xhtml+xml", "text/html"})


def read_epub(data: bytes, name: str, settings: Settings) -> Extracted:
    """An EPUB book: its documents in reading (spine) order, each read as a web page is, headings kept."""
    check_unzipped_size(data, name, settings.max_inflated_bytes, EPUB_KIND)
    blocks: list[tuple[str, int | None]] = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for path in _epub_spine(archive, name):
            markup = decode_html(_epub_part(archive, path, name), f"{path} in {name}")
            check_html_shape(markup, name, settings)
            blocks += page_blocks(BeautifulSoup(markup, "html.parser"))
    text, outline = joined(blocks)
    return Extracted(text, "epub", outline=outline)


def _epub_spine(archive: zipfile.ZipFile, name: str) -> list[str]:
    """The archive paths of the book's documents in spine order, from the package file its container names.

    A book whose documents are encrypted (DRM) is refused; fonts alone may be (font obfuscation).
    """
    container = _epub_xml(archive, EPUB_CONTAINER, name)
    root = container.find("c:rootfiles/c:rootfile", EPUB_NS)
    package_path = root.get("full-path") if root is not None else None
    if not package_path:
        raise damaged(name, EPUB_KIND, f"{EPUB_CONTAINER} names no package file")
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
        raise damaged(name, EPUB_KIND, f"it has no {path}") from exc
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError) as exc:
        raise damaged(name, EPUB_KIND, f"{path} cannot be unpacked: {exc}") from exc


def _epub_xml(archive: zipfile.ZipFile, path: str, name: str) -> etree._Element:
    """A part of the book parsed as XML, with no entity expansion and no network."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        return etree.fromstring(_epub_part(archive, path, name), parser)
    except etree.XMLSyntaxError as exc:
        raise_if_out_of_memory(exc)
        raise damaged(name, EPUB_KIND, f"{path} is not XML: {exc}") from exc
