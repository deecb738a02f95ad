"""Files read in a child process: bombs refused by their measure or by the child's limits, crashes as clean errors.

Issue 20, cases 2 and 5: a PDF bomb without %%EOF went to pdfium and took 1.9 GB (3 GiB aborted the interpreter);
a DOCX of 400 MiB XML peaked at 8.7 GB and was called damaged; 20 MB of nested <div>s peaked at 9.7 GB. Each test
checks that the error names the file and the limit, and that the caller's own peak memory did not grow with it.
"""

from __future__ import annotations

import io
import os
import resource
import time
import zipfile
import zlib
from pathlib import Path

import docx
import pytest

from rag.errors import TooLargeError, UnreadableDocumentError
from rag.ingest import Extracted, read_path
from rag.isolation import read_isolated
from rag.settings import Settings

from .test_ingest import one_page_pdf

# Growth of the caller's peak RSS that reading in the caller would have dwarfed (each bomb here needs 256 MiB or
# more to read) and that a child's start and a result's copy stay well under.
CALLER_GROWTH = 100 * 2**20
SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def deflated_spaces(size: int) -> bytes:
    """A zlib stream of a line of text and `size` spaces, compressed a MiB at a time (never held inflated)."""
    compressor = zlib.compressobj(6)
    parts = [compressor.compress(b"BT /F1 12 Tf 72 720 Td (A little text.) Tj ET\n")]
    parts += [compressor.compress(b" " * 2**20) for _ in range(size // 2**20)]
    return b"".join([*parts, compressor.flush()])


def pdf_bomb(inflated: int) -> bytes:
    """A one-page PDF whose content stream inflates to `inflated` bytes, without %%EOF: pypdf cannot open it."""
    return one_page_pdf(deflated_spaces(inflated), eof=False)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = pdf_bomb(600 * 2**20)
    assert len(data) < 2**20
    return data


def docx_with(paragraphs: int, text: bytes = b"Some words in a paragraph.") -> bytes:
    """A real Word file whose body holds `paragraphs` copies of one paragraph, written without holding its XML."""
    document = docx.Document()
    buf = io.BytesIO()
    document.save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in source.infolist():
            body = source.read(info)
            if info.filename != "word/document.xml":
                z.writestr(info, body)
                continue
            head, tail = body.split(b"<w:body>", 1)
            with z.open(info.filename, "w", force_zip64=True) as part:
                part.write(head + b"<w:body>")
                paragraph = b"<w:p><w:r><w:t>" + text + b"</w:t></w:r></w:p>"
                for _ in range(paragraphs // 1000):
                    part.write(paragraph * 1000)
                part.write(tail)
    return out.getvalue()


def test_a_pdf_bomb_that_pypdf_cannot_open_is_refused_before_pdfium_reads_it(bomb: bytes) -> None:
    before = peak_rss()
    with pytest.raises(TooLargeError) as err:
        read_isolated(bomb, "bomb.pdf", Settings(max_inflated_bytes=64 * 2**20))
    assert str(err.value).startswith(
        "bomb.pdf's streams inflate to over 64 MiB (RAG_MAX_INFLATED_BYTES), from a 0.6 MiB file"
    )
    assert peak_rss() - before < CALLER_GROWTH


def test_a_pdf_bomb_past_the_measure_costs_the_child_not_the_caller(bomb: bytes) -> None:
    """With the measure out of the way, pdfium inflates the stream until the child's memory limit stops it."""
    settings = Settings(max_inflated_bytes=2**40, parse_memory_bytes=256 * 2**20)
    before = peak_rss()
    with pytest.raises((TooLargeError, UnreadableDocumentError)) as err:
        read_isolated(bomb, "bomb.pdf", settings)
    assert "bomb.pdf" in str(err.value) and "256 MiB" in str(err.value) and "RAG_PARSE_MEMORY_BYTES" in str(err.value)
    assert peak_rss() - before < CALLER_GROWTH


def test_a_docx_whose_document_inflates_past_the_limit_is_refused_before_parsing() -> None:
    data = docx_with(600_000)  # about 36 MiB of XML
    assert len(data) < 2**20
    with pytest.raises(TooLargeError, match=r"^big\.docx unpacks to 3\d MiB, \d+ times its size, over the 16 MiB"):
        read_isolated(data, "big.docx", Settings(max_inflated_bytes=16 * 2**20))


def test_a_docx_that_runs_the_reader_out_of_memory_is_too_large_not_damaged() -> None:
    """Under the measure's limit, python-docx's tree of the XML (about 20 bytes a byte) passes the child's limit."""
    before = peak_rss()
    with pytest.raises(TooLargeError) as err:
        read_isolated(docx_with(600_000), "big.docx", Settings(parse_memory_bytes=256 * 2**20))
    assert str(err.value) == (
        "reading big.docx needs more than the 256 MiB a file may take here (RAG_PARSE_MEMORY_BYTES); split it "
        "into smaller files and upload those"
    )
    assert peak_rss() - before < CALLER_GROWTH


def test_deeply_nested_html_is_refused_before_parsing() -> None:
    page = b"<html><body>" + b"<div>x" * 20_000 + b"</div>" * 20_000 + b"</body></html>"
    with pytest.raises(UnreadableDocumentError, match=r"^deep\.html nests its elements over 512 deep"):
        read_isolated(page, "deep.html", Settings())


def test_html_with_too_many_elements_is_refused_before_parsing() -> None:
    page = b"<html><body>" + b"<span>word</span>" * 2000 + b"</body></html>"
    with pytest.raises(TooLargeError, match=r"^wide\.html has 2002 elements, over the 1000 .*RAG_MAX_HTML_ELEMENTS"):
        read_isolated(page, "wide.html", Settings(max_html_elements=1000))


def test_sloppy_html_with_open_paragraphs_and_items_is_not_too_deep() -> None:
    """<p>, <li>, <br> and <td> left open do not nest: a page of 2,000 of each is read."""
    rows = b"".join(b"<p>Paragraph %d<br><ul><li>item</ul><table><tr><td>cell</table>" % i for i in range(2000))
    page = b"<html><body><script>var s = '<div><div><div>';</script><!-- <div> -->" + rows + b"</body></html>"
    assert "Paragraph 1999" in read_isolated(page, "sloppy.html", Settings()).text


def aborting_reader(data: bytes, name: str, settings: Settings) -> Extracted:
    os.abort()


def hungry_reader(data: bytes, name: str, settings: Settings) -> Extracted:
    held = bytearray(settings.parse_memory_bytes + 2**20)
    return Extracted(f"held {len(held)} bytes", "text")


def big_reader(data: bytes, name: str, settings: Settings) -> Extracted:
    held = bytearray(300 * 2**20)
    held[::4096] = b"x" * len(held[::4096])  # touch every page, so that it counts in the child's RSS
    return Extracted(f"held {len(held)} bytes", "text")


def slow_reader(data: bytes, name: str, settings: Settings) -> Extracted:
    time.sleep(60)
    return Extracted("late", "text")


def buggy_reader(data: bytes, name: str, settings: Settings) -> Extracted:
    raise ValueError("a parser's own bug")


def test_a_reader_that_aborts_becomes_a_clean_error_naming_the_file_and_the_limit() -> None:
    with pytest.raises(UnreadableDocumentError) as err:
        read_isolated(b"data", "crash.txt", Settings(), reader=aborting_reader)
    assert str(err.value).startswith("the reader stopped on crash.txt (signal SIGABRT): the file is damaged, or ")
    assert "2048 MiB a file may take here (RAG_PARSE_MEMORY_BYTES)" in str(err.value)


def test_a_reader_past_the_memory_limit_is_too_large() -> None:
    with pytest.raises(TooLargeError, match=r"^reading hungry\.txt needs more than the 256 MiB"):
        read_isolated(b"data", "hungry.txt", Settings(parse_memory_bytes=256 * 2**20), reader=hungry_reader)


def test_a_reader_past_the_timeout_is_stopped() -> None:
    with pytest.raises(UnreadableDocumentError, match=r"^reading slow\.txt took over 0\.5 s \(RAG_PARSE_TIMEOUT_S\)"):
        read_isolated(b"data", "slow.txt", Settings(parse_timeout_s=0.5), reader=slow_reader)


def test_a_readers_own_bug_is_refused_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(UnreadableDocumentError, match=r"^buggy\.txt could not be read \(ValueError: a parser's own"):
        read_isolated(b"data", "buggy.txt", Settings(), reader=buggy_reader)
    assert "Traceback" in caplog.text and "buggy_reader" in caplog.text


def test_the_memory_a_big_file_took_is_the_childs_and_goes_with_it() -> None:
    before = peak_rss()
    assert read_isolated(b"data", "big.txt", Settings(), reader=big_reader).text == f"held {300 * 2**20} bytes"
    assert peak_rss() - before < CALLER_GROWTH


def test_the_readers_errors_and_texts_come_back_as_in_process() -> None:
    with pytest.raises(UnreadableDocumentError, match=r"^empty\.txt is empty"):
        read_isolated(b"", "empty.txt", Settings())
    for path in sorted(SEEDS.iterdir())[:3]:
        assert read_isolated(path.read_bytes(), path.name, Settings()) == read_path(path)


UNGUARDED_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from pathlib import Path
from rag import Pipeline, Settings
from tests.conftest import FakeEmbedder
print("script body ran", flush=True)
s = Settings(corpus_dir=Path({corpus!r}), index_dir=Path({index!r}), cache_dir=Path({cache!r}), min_language_chunks=1)
pipe = Pipeline.load(s, embedder=FakeEmbedder())
print(sorted(pipe.documents))
"""


def test_a_script_without_a_main_guard_reads_its_files_once(tmp_path: Path) -> None:
    # The forkserver and its children must not run the calling script again: one with `Pipeline.load()` at its
    # top level would load a pipeline per file read, and each of those would read the files again.
    import subprocess
    import sys

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "page.html").write_text("<h1>Ports</h1><p>The port opened in 2016.</p>", "utf-8")
    (corpus / "note.txt").write_text("The corridor carried 12 million tonnes in 2019.", "utf-8")
    script = tmp_path / "unguarded.py"
    root = str(Path(__file__).resolve().parent.parent)
    paths = {"root": root, "corpus": str(corpus), "index": str(tmp_path / "index"), "cache": str(tmp_path / "cache")}
    script.write_text(UNGUARDED_SCRIPT.format(**paths), "utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("script body ran") == 1
    assert "['note.txt', 'page.html']" in done.stdout
