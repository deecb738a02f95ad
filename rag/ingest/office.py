"""Word, PowerPoint and Excel files: zip archives of XML, read by python-docx, python-pptx and openpyxl.

A deck's slides are its pages, so a citation's page is the slide; a workbook's sheets are sections. What an
archive unpacks to is measured against `max_inflated_bytes` before its library opens it.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator

import docx
import openpyxl
import pptx
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from pptx.enum.shapes import PP_PLACEHOLDER
from pptx.shapes.autoshape import Shape
from pptx.shapes.base import BaseShape
from pptx.shapes.graphfrm import GraphicFrame
from pptx.shapes.group import GroupShape
from pptx.slide import Slide
from pptx.table import Table as SlideTable
from pptx.text.text import TextFrame

from rag.errors import RagError, TooLargeError
from rag.ingest.common import (
    CELL_SEPARATOR,
    PAGE_SEPARATOR,
    Extracted,
    check_unzipped_size,
    damaged,
    joined,
    one_line,
    page_starts,
    raise_if_out_of_memory,
)
from rag.sections import Heading
from rag.settings import Settings

# Word's built-in heading styles by name (styles.xml names built-ins in English whatever the UI language);
# Title is above Heading 1.
DOCX_HEADING = re.compile(r"Heading ([1-9])")
DOCX_TITLE = "Title"
# What each zip-based format is, as a message refusing a file names it.
DOCX_KIND = "a Word .docx file"
PPTX_KIND = "a PowerPoint .pptx file"
XLSX_KIND = "an Excel .xlsx workbook"
# Placeholders a layout repeats on every slide, as running headers and footers repeat on a PDF's pages.
SLIDE_CHROME = frozenset(
    {PP_PLACEHOLDER.SLIDE_NUMBER, PP_PLACEHOLDER.DATE, PP_PLACEHOLDER.FOOTER, PP_PLACEHOLDER.HEADER}
)
SLIDE_LINE_BREAK = re.compile(r"[\n\v]")  # python-pptx writes a line break inside a paragraph as a vertical tab
# Between a sheet row's cells. Not the " | " of grid tables: each cell here is named ("Region: Asia"), and ";" is
# a clause mark the chunker and the sentence cutter cut at, so an over-long row is cut between its cells.
ROW_CELL_SEPARATOR = "; "
HEADER_SEPARATOR = ": "


def read_docx(data: bytes, name: str, settings: Settings) -> Extracted:
    """A Word file's body in document order: paragraphs and table rows, blocks separated by a blank line."""
    check_unzipped_size(data, name, settings.max_inflated_bytes, DOCX_KIND)
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = [
            (_table_text(item), None) if isinstance(item, Table) else (item.text, _docx_heading_level(item))
            for item in document.iter_inner_content()
        ]
    except Exception as exc:  # a bad zip, a zip that is not a Word file, broken XML: each its own type
        raise_if_out_of_memory(exc)
        raise damaged(name, DOCX_KIND, exc) from exc
    text, outline = joined(blocks)
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


def read_pptx(data: bytes, name: str, settings: Settings) -> Extracted:
    """A slide deck, a page per slide: its title (a heading), its other text and tables, then its speaker notes.

    A slide with no text keeps its page, as an empty PDF page does.
    """
    check_unzipped_size(data, name, settings.max_inflated_bytes, PPTX_KIND)
    try:
        slides = [joined(_slide_blocks(slide)) for slide in pptx.Presentation(io.BytesIO(data)).slides]
    except Exception as exc:  # python-pptx raises many types on a damaged or foreign package
        raise_if_out_of_memory(exc)
        raise damaged(name, PPTX_KIND, exc) from exc
    texts = [text for text, _ in slides]
    starts = page_starts(texts)
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
                text = one_line(cell.text)
                down.update(((r + below, c), text) for below in range(1, cell.span_height))
                cells.append(text)
            elif not cell.is_spanned:
                cells.append(one_line(cell.text))
            elif (r, c) in down:
                cells.append(down[(r, c)])
        if any(cells):
            rows.append(CELL_SEPARATOR.join(cells))
    return "\n".join(rows)


def read_xlsx(data: bytes, name: str, settings: Settings) -> Extracted:
    """A workbook: a section per sheet, headed by its name, and a line per row with each cell after its header.

    A sheet's header row is its first row with anything in it, when that holds only text; each later row reads
    "Region: Asia; Year: 2024", so that a row read alone, in a chunk or a citation, says what its numbers are.
    A sheet without such a row has its cells joined by "; ". Empty rows, empty cells and empty sheets are left
    out. A formula's value is the one the workbook last saved (a file no spreadsheet application has computed
    has none).
    """
    check_unzipped_size(data, name, settings.max_inflated_bytes, XLSX_KIND)
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
        raise_if_out_of_memory(exc)
        raise damaged(name, XLSX_KIND, exc) from exc
    text, outline = joined(blocks)
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
    return one_line(str(value))
