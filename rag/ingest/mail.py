"""E-mails (.eml): subject, head block, body, and the attachments read by the readers of their own types."""

from __future__ import annotations

import mimetypes
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import cast

from bs4 import BeautifulSoup

from rag import ingest
from rag.errors import UnreadableDocumentError
from rag.ingest.common import Extracted, assembled, decode, joined, normalize_newlines, one_line
from rag.ingest.html_text import page_blocks
from rag.ingest.web import check_html_shape
from rag.sections import Heading, Outline
from rag.settings import Settings

# An e-mail's head block, in this order; the subject comes first, as the message's heading.
MAIL_HEADERS = ("From", "To", "Cc", "Date")
# Any of these makes a file an e-mail; a file with none is something else with the wrong suffix.
MAIL_IDENTITY = ("From", "To", "Subject", "Date", "Message-ID")


def read_eml(data: bytes, name: str, settings: Settings) -> Extracted:
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
    text, outline = assembled(_mail_parts(message, name, settings, 0))
    return Extracted(text, "eml", outline=outline)


def _parsed_mail(data: bytes) -> EmailMessage:
    # The default policy's parser makes EmailMessage objects; the stubs type its result as the base Message.
    return cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(data))


def _mail_parts(message: EmailMessage, name: str, settings: Settings, depth: int) -> list[tuple[str, Outline]]:
    """The texts of a message and their outlines: the subject at level 0, attachments at 1, theirs below."""
    subject = one_line(str(message["Subject"] or ""))
    head = "\n".join(f"{header}: {one_line(str(message[header]))}" for header in MAIL_HEADERS if message[header])
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
        return normalize_newlines(content).strip(), ()
    check_html_shape(content, name, settings)
    return joined(page_blocks(BeautifulSoup(content, "html.parser")))


def _mail_text(part: EmailMessage, name: str) -> str:
    """A text part decoded by its declared charset, or by the one detected when Python does not know that one."""
    try:
        return str(part.get_content())
    except LookupError:
        return decode(_payload(part), name)


def _attachment_parts(part: EmailMessage, name: str, settings: Settings, depth: int) -> list[tuple[str, Outline]]:
    """An attachment as a level 1 heading of its file name, then its text; nothing for a type no reader handles.

    The attachment's text is trimmed of the blank lines around it (a text file's last line end), and its own
    headings go below its name.
    """
    filename = one_line(part.get_filename() or "")
    if not filename:  # an unnamed part gets its type's suffix, as a mail application saving it would
        filename = f"attachment{mimetypes.guess_extension(part.get_content_type()) or ''}"
    fmt = ingest.SUPPORTED.get(Path(filename).suffix.lower())
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
        text, outline = assembled(_mail_parts(inner, shown, settings, depth + 1))
    else:
        extracted = ingest.reader(fmt)(_payload(part), shown, settings)
        text, outline = extracted.text, extracted.outline
    lead = len(text) - len(text.lstrip())
    moved = tuple(Heading(h.level + 2, h.title, max(0, h.start - lead)) for h in outline)
    return [(filename, (Heading(1, filename, 0),)), (text.strip(), moved)]


def _payload(part: EmailMessage) -> bytes:
    """An attachment's bytes, its transfer encoding (base64, quoted-printable) undone."""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""
