from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rag.data import Document
from rag.ingest.chunking import (
    chunk_document,
    document_sentences,
    make_splitter,
    sentence_homes,
    sentences_of_chunks,
)
from rag.ingest.clean import clean_text
from rag.offline import get_encoding
from rag.text import display

WORDS = st.sampled_from(
    ["Belt", "road", "cooperation", "2013.", "ÿ", "一带一路", "倡议。", "合作，", "！", "\n\n", "\n", " "]
)


def _doc(text: str) -> Document:
    clean, origin = clean_text(text)
    return Document("t.txt", text, clean, origin, "en", "0" * 64)


@settings(max_examples=60, deadline=None)
@given(st.lists(WORDS, max_size=400).map(" ".join))
def test_chunks_are_exact_spans_within_budget(shared_cache: Path, text: str) -> None:
    splitter = make_splitter(24, 6, "cl100k_base", shared_cache / "tiktoken")
    enc = get_encoding("cl100k_base", shared_cache / "tiktoken")
    doc = _doc(text)
    for chunk in chunk_document(doc, splitter):
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert "ÿ" not in chunk.clean
        assert len(enc.encode(chunk.clean)) <= 24  # type: ignore[attr-defined]


def test_chinese_chunks_end_on_sentence_marks(shared_cache: Path) -> None:
    text = "".join(f"第{i}句话讲的是国际合作与全球治理的关系。" for i in range(40))
    chunks = chunk_document(_doc(text), make_splitter(40, 0, "cl100k_base", shared_cache / "tiktoken"))
    assert len(chunks) > 3
    assert all(c.clean.endswith("。") for c in chunks)


def test_ids_are_stable_hashes_of_document_and_span(shared_cache: Path) -> None:
    splitter = make_splitter(16, 0, "cl100k_base", shared_cache / "tiktoken")
    text = "One sentence here. Two sentences here. Three sentences here. Four sentences here."
    chunks = chunk_document(_doc(text), splitter)
    assert len(chunks) > 1 and len({c.id for c in chunks}) == len(chunks)
    assert all(0 <= c.id < 2**53 for c in chunks)
    assert [c.id for c in chunk_document(_doc(text), splitter)] == [c.id for c in chunks]
    renamed = replace(_doc(text), name="other.txt")
    assert not {c.id for c in chunk_document(renamed, splitter)} & {c.id for c in chunks}


def test_sentences_are_exact_spans_shown_on_one_line() -> None:
    text = (
        "Title\n\nThe resolver is a set of routines in the C library that provide access\nto DNS. Short.\n"
        "中国在2001年加入了世界贸易组织。"
    )
    doc = _doc(text)
    sentences = document_sentences(doc, max_chars=400, min_chars=10)
    assert len(sentences) == 2  # "Title" and "Short." are too short to stand alone
    assert sentences[0].text == "The resolver is a set of routines in the C library that provide access to DNS."
    assert sentences[1].text == "中国在2001年加入了世界贸易组织。"
    for s in sentences:
        assert doc.text[s.start : s.end].split() == doc.text[s.start : s.end].split()
        assert doc.text[s.start : s.end].replace("\n", " ") == s.text or s.text in doc.text[s.start : s.end]


def test_chunks_know_their_sentences(shared_cache: Path) -> None:
    text = " ".join(f"Sentence number {i} talks about cooperation." for i in range(30))
    doc = _doc(text)
    chunks = chunk_document(doc, make_splitter(24, 6, "cl100k_base", shared_cache / "tiktoken"))
    sentences = document_sentences(doc, 400, 10)
    owned = sentences_of_chunks(chunks, sentences)
    assert len(owned) == len(chunks)
    for chunk, ids in zip(chunks, owned, strict=True):
        assert ids
        for i in ids:
            assert sentences[i].start < chunk.end and chunk.start < sentences[i].end
    assert {i for ids in owned for i in ids} == set(range(len(sentences)))


@settings(max_examples=60, deadline=None)
@given(st.lists(WORDS, max_size=400).map(" ".join))
def test_a_sentence_is_at_home_in_a_chunk_that_holds_it_whole(shared_cache: Path, text: str) -> None:
    doc = _doc(text)
    chunks = chunk_document(doc, make_splitter(24, 6, "cl100k_base", shared_cache / "tiktoken"))
    sentences = document_sentences(doc, 400, 10)
    homes = sentence_homes(doc, chunks, 400, 10)
    assert len(homes) == len(sentences)
    for sentence, home in zip(sentences, homes, strict=True):
        holders = [c for c in chunks if c.start <= sentence.start and sentence.end <= c.end]
        if home is None:
            assert not holders
            continue
        chunk = chunks[home[0]]
        assert chunk in holders
        assert display(chunk.clean[home[1] : home[2]]) == sentence.text


def test_a_sentence_is_at_home_where_it_has_context_both_ways(shared_cache: Path) -> None:
    text = " ".join(f"Sentence number {i} talks about cooperation." for i in range(30))
    doc = _doc(text)
    chunks = chunk_document(doc, make_splitter(40, 20, "cl100k_base", shared_cache / "tiktoken"))
    homes = sentence_homes(doc, chunks, 400, 10)
    inner = [h for h in homes[1:-1] if h is not None]
    assert len(inner) == len(homes) - 2
    # Overlapping chunks hold most sentences twice; the home leaves room on both sides where one can.
    assert sum(h[1] > 0 and h[2] < len(chunks[h[0]].clean) for h in inner) >= len(inner) - 2
