"""Fuzz the text path a document takes: cleaning, sentences and chunks keep exact offsets into the original.

`python tests/fuzz/fuzz_text.py -runs=2000 -seed=1` (make test) or `-max_total_time=600` (make fuzz).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports(include=["rag"]):
    from rag.data import Document
    from rag.ingest.chunking import chunk_document, document_sentences, make_splitter
    from rag.ingest.clean import clean_text
    from rag.offline import force_offline, install_tiktoken_encodings

CACHE = Path(tempfile.mkdtemp(prefix="rag-fuzz-")) / "tiktoken"
force_offline()
install_tiktoken_encodings(CACHE)
SPLITTER = make_splitter(24, 6, "cl100k_base", CACHE)


def one(data: bytes) -> None:
    """Clean, split and chunk one fuzzed text; every span must point at the original text."""
    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(2000)
    clean, origin = clean_text(text)
    assert len(origin) == len(clean) + 1 and origin[len(clean)] == len(text)
    for i, ch in enumerate(clean):
        assert ch == text[origin[i]] or (ch == " " and text[origin[i]].isspace())
    doc = Document("f.txt", text, clean, origin, "en", "0" * 64)
    for s in document_sentences(doc, 80, 1):
        assert 0 <= s.start < s.end <= len(text)
    for c in chunk_document(doc, SPLITTER):
        assert doc.text[c.start : c.end] == c.text


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
