from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from rag.checksum import sha256_bytes
from rag.collection.prepare import make_document
from rag.data import Document
from rag.ingest import read_path
from rag.ingest.clean import clean_text
from rag.text import detect_language

TEXT = st.text(alphabet=st.sampled_from(list("ab cÿŷ\n\t多边主义。，Ａ1ӱỹ")), max_size=80)


def test_detect_language() -> None:
    assert detect_language("The Belt and Road Initiative") == "en"
    assert detect_language("一带一路倡议是哪一年提出的？") == "zh"
    assert detect_language("WTO和APEC等多边机制的改革") == "zh"
    assert detect_language("") == "en"


@given(TEXT)
def test_clean_maps_back_to_original(text: str) -> None:
    clean, origin = clean_text(text)
    assert len(origin) == len(clean) + 1
    assert all(text[origin[i]] == ch for i, ch in enumerate(clean))
    offsets = [origin[i] for i in range(len(clean))]
    assert offsets == sorted(offsets) and origin[len(clean)] == len(text)


@given(TEXT)
def test_clean_is_idempotent(text: str) -> None:
    once = clean_text(text)[0]
    assert clean_text(once)[0] == once


def test_ocr_noise_removed_and_broken_chinese_lines_joined() -> None:
    clean, _ = clean_text("China ÿ has signed. ŷ\n《区域全面经济伙伴关系协\n\n定》正式签署。\n\n下一段")
    assert "ÿ" not in clean and "ŷ" not in clean
    assert "伙伴关系协定》正式签署。\n\n下一段" in clean


def load(path: Path) -> Document:
    return make_document(read_path(path), path.name, sha256_bytes(path.read_bytes()))


def test_document_keeps_the_extracted_text(corpus: Path) -> None:
    doc = load(corpus / "en.txt")
    assert doc.text == (corpus / "en.txt").read_text("utf-8")
    assert doc.language == "en"
    assert len(doc.sha256) == 64
    assert load(corpus / "zh.md").language == "zh"


def test_hard_wrapped_lines_are_joined_with_exact_offsets() -> None:
    text = (
        "DESCRIPTION\n"
        "       The resolver is a set of routines in the C library that provide access to\n"
        "       the Internet Domain Name System (DNS).  Up to MAXNS (currently 3, see <resolv.h>)\n"
        "       name servers may be listed.\n"
        "\n"
        "       -k, --keep-going\n"
        "              Continue as much as possible after an error.\n"
        "   1. a first list item that is long enough to look like a wrapped line\n"
        "   2. second\n"
    )
    clean, origin = clean_text(text)
    assert "access to the Internet" in clean and "<resolv.h>) name servers" in clean
    assert "-k, --keep-going Continue as much" in clean
    assert "line\n   2. second" in clean and "DESCRIPTION\n" in clean
    for i, ch in enumerate(clean):
        assert ch == text[origin[i]] or (ch == " " and text[origin[i]].isspace())


MEASURE_LOAD = """
import resource, sys
from pathlib import Path
from rag.collection.prepare import make_document
from rag.ingest import read_path
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
doc = make_document(read_path(Path(sys.argv[1])), "big.txt", "")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024, len(doc.clean))
"""


def test_loading_a_50_mb_file_takes_under_ten_times_its_size(tmp_path: Path) -> None:
    block = (
        "The resolver is a set of routines in the C library that provide access to the Internet\n"
        "Domain Name System (DNS). Up to three name servers may be listed, one per keyword, and\n"
        "the resolver library queries them in the order listed.\n\n"
        + "中国在2001年正式加入世界贸易组织，对外开放进入新阶段。" * 3
        + "\n\n"
    )
    path = tmp_path / "big.txt"
    size = 50 * 2**20
    path.write_text(block * (size // len(block.encode()) + 1), "utf-8")
    done = subprocess.run([sys.executable, "-c", MEASURE_LOAD, str(path)], capture_output=True, text=True, check=True)
    grown, clean_chars = (int(x) for x in done.stdout.split())
    assert clean_chars > 0
    assert grown < 10 * path.stat().st_size, f"{grown / 2**20:.0f} MiB for a {path.stat().st_size / 2**20:.0f} MiB file"
