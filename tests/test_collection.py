"""The live collection: add, replace, delete and sync without a rebuild; one writer, readers on the old state until
a write commits; a crash at any point leaves the old state or the new one."""

from __future__ import annotations

import itertools
import random
import signal
import sqlite3
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from rag import Pipeline, Settings
from rag.catalog import Catalog
from rag.collection import Collection, list_documents
from rag.errors import (
    IndexCorruptError,
    IndexStaleError,
    InputError,
    NotFoundError,
    StorageFullError,
    UnreadableDocumentError,
    UnsupportedFormatError,
)
from rag.names import check_name
from rag.settings import MANIFEST_FIELDS, RUNTIME_FIELDS
from rag.store.local import CATALOG_FILE

from .conftest import ROOT, FakeEmbedder

AIIB = "The Asian Infrastructure Investment Bank opened in Beijing in 2016 with 57 founding members."
RAIL = "铁路货运班列自2011年起连接重庆与杜伊斯堡，主要运输笔记本电脑。"


def cited_docs(pipe: Pipeline, question: str) -> set[str]:
    answer = pipe.ask(question)
    return {c.doc for c in answer.citations} | {h.doc for h in pipe.search(question)}


def state_of(pipe: Pipeline) -> tuple[list[tuple[int, str]], list[int], dict[str, str]]:
    snap = pipe.collection.snapshot()
    return (
        [(c.id, c.doc) for c in snap.chunks],
        [s.id for s in snap.sentences],
        {n: i.sha256 for n, i in snap.infos.items()},
    )


def test_a_new_collection_is_built_from_the_corpus_folder(fake_pipe: Pipeline, settings: Settings) -> None:
    assert sorted(fake_pipe.documents) == ["en.txt", "zh.md"]
    assert (settings.index_dir / CATALOG_FILE).is_file()
    meta = Catalog(settings.index_dir / CATALOG_FILE).read().meta
    assert meta["manifest"]["embedder"] == "fake-hash-64"
    assert meta["means_info"]["chunks"] == len(fake_pipe.stored.chunks)
    assert set(meta["files"]) == {"chunks-1.faiss", "sentences-1.faiss"}
    again = Pipeline.load(settings, embedder=FakeEmbedder())
    assert again.stored.chunks == fake_pipe.stored.chunks and again.stored.sentences == fake_pipe.stored.sentences
    assert again.stored.generation == 1
    infos = {i.name: i for i in list_documents(settings)}
    assert infos["zh.md"].language == "zh" and infos["zh.md"].format == "markdown" and infos["zh.md"].source == "folder"
    assert infos["en.txt"].chunks == sum(c.doc == "en.txt" for c in fake_pipe.stored.chunks)


def test_add_replace_and_delete_touch_only_their_document(fake_pipe: Pipeline) -> None:
    before = state_of(fake_pipe)
    info, changed = fake_pipe.add_document(AIIB.encode(), "aiib.txt")
    assert changed and info.name == "aiib.txt" and info.language == "en" and info.chunks == 1
    assert "aiib.txt" in cited_docs(fake_pipe, "How many founding members did the bank have?")
    chunks, _, _ = state_of(fake_pipe)
    assert set(before[0]) < set(chunks)  # the other documents' chunks keep their ids

    assert fake_pipe.add_document(AIIB.encode(), "aiib.txt") == (info, False)  # same bytes: nothing happens
    generation = fake_pipe.stored.generation

    replaced, changed = fake_pipe.add_document(b"The bank later grew to over 100 members.", "aiib.txt")
    assert changed and replaced.sha256 != info.sha256 and fake_pipe.stored.generation == generation + 1
    assert "Beijing" not in fake_pipe.documents["aiib.txt"].text

    fake_pipe.remove_documents(["aiib.txt"])
    assert "aiib.txt" not in cited_docs(fake_pipe, "How many members did the bank have?")
    assert state_of(fake_pipe) == before
    with pytest.raises(NotFoundError, match=r"no document named 'aiib\.txt'"):
        fake_pipe.remove_documents(["aiib.txt"])


def test_bad_uploads_leave_the_collection_unchanged(fake_pipe: Pipeline) -> None:
    before = (state_of(fake_pipe), fake_pipe.stored.generation)
    with pytest.raises(UnsupportedFormatError, match=r"supported: .*\.pdf"):
        fake_pipe.add_document(b"a,b\n1,2", "table.xls")
    with pytest.raises(UnreadableDocumentError):
        fake_pipe.add_document(b"%PDF-1.7 not really", "broken.pdf")
    with pytest.raises(UnreadableDocumentError):
        fake_pipe.add_document(b"   \n", "blank.txt")
    with pytest.raises(InputError, match="not a usable document name"):
        fake_pipe.add_document(b"text", "../")
    assert (state_of(fake_pipe), fake_pipe.stored.generation) == before


def test_document_names_are_base_names() -> None:
    assert check_name("C:\\fakepath\\report.pdf") == "report.pdf"
    assert check_name("dir/sub/notes.md") == "notes.md"
    for bad in ("", ".hidden", "a\x00b.txt", "x" * 300 + ".txt"):
        with pytest.raises(InputError):
            check_name(bad)
    for deceptive in ("report\u202efdp.exe", "a\u200bb.txt", "\ufeffnotes.md"):
        with pytest.raises(InputError, match="invisible or text-direction"):
            check_name(deceptive)


def test_sync_adds_replaces_and_deletes_what_changed_and_keeps_uploads(
    fake_pipe: Pipeline, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    fake_pipe.add_document(AIIB.encode(), "aiib.txt")
    folder = settings.corpus_dir
    (folder / "rail.txt").write_text(RAIL, "utf-8")
    (folder / "en.txt").write_text("The Silk Road Fund was set up in 2014 with 40 billion dollars.", "utf-8")
    (folder / "zh.md").unlink()
    (folder / "sheet.xls").write_bytes(b"PK")
    (folder / "scan.pdf").write_bytes(b"%PDF-1.4 garbage")
    en_before = {c.id for c in fake_pipe.stored.chunks if c.doc == "en.txt"}
    aiib_before = {c.id for c in fake_pipe.stored.chunks if c.doc == "aiib.txt"}

    report = fake_pipe.collection.sync(folder)
    assert report.added == ["rail.txt"] and report.replaced == ["en.txt"] and report.removed == ["zh.md"]
    assert sorted(name for name, _ in report.skipped) == ["scan.pdf", "sheet.xls"]
    assert "skipped" in caplog.text and "scan.pdf" in caplog.text and "sheet.xls" in caplog.text
    snap = fake_pipe.stored
    assert sorted(snap.infos) == ["aiib.txt", "en.txt", "rail.txt"]
    assert {c.id for c in snap.chunks if c.doc == "aiib.txt"} == aiib_before
    assert not en_before & {c.id for c in snap.chunks if c.doc == "en.txt"}
    again = fake_pipe.collection.sync(folder)
    assert not again.changed  # nothing left to do; the unreadable file is named again, not read again
    assert sorted(name for name, _ in again.skipped) == ["scan.pdf", "sheet.xls"]
    assert fake_pipe.collection.folder_changes(folder).summary() == "0 new, 0 changed, 0 gone"


def test_sync_stores_a_decomposed_name_in_nfc_and_refuses_its_twin(fake_pipe: Pipeline, settings: Settings) -> None:
    composed = "caf\u00e9.txt"
    decomposed = unicodedata.normalize("NFD", composed)
    folder = settings.corpus_dir
    (folder / decomposed).write_text("The café opened in 2019 near the station.", "utf-8")  # as macOS names it
    (folder / "menu\u2060.txt").write_text("Coffee and tea.", "utf-8")

    report = fake_pipe.collection.sync(folder)
    assert report.added == [composed] and composed in fake_pipe.documents
    assert [name for name, _ in report.skipped] == ["menu\u2060.txt"]
    assert "U+2060" in dict(report.skipped)["menu\u2060.txt"]
    again = fake_pipe.collection.sync(folder)
    assert not again.changed and composed in fake_pipe.documents  # the same document, not gone and added back

    (folder / composed).write_text("Another file whose name looks the same.", "utf-8")
    twins = fake_pipe.collection.add_paths([folder / decomposed, folder / composed])
    assert len(twins.skipped) == 1 and "once both are in Unicode NFC" in twins.skipped[0][1]
    assert sorted(name for name in fake_pipe.documents if name.startswith("caf")) == [composed]


def test_ask_warns_about_a_changed_folder_instead_of_rebuilding(
    fake_pipe: Pipeline, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    (settings.corpus_dir / "rail.txt").write_text(RAIL, "utf-8")
    reader = Pipeline.load(settings, embedder=FakeEmbedder(), sync=False)
    assert "changed since the index was synced (1 new, 0 changed, 0 gone)" in caplog.text
    assert "rag index" in caplog.text
    assert "rail.txt" not in reader.documents and reader.stored.generation == fake_pipe.stored.generation


def test_other_settings_need_a_rebuild_which_keeps_uploads(fake_pipe: Pipeline, settings: Settings) -> None:
    fake_pipe.add_document(AIIB.encode(), "aiib.txt")
    other = settings.model_copy(update={"chunk_tokens": 64})
    with pytest.raises(IndexStaleError, match="another chunking; run `rag index --rebuild`"):
        Pipeline.load(other, embedder=FakeEmbedder(), sync=False)
    rebuilt = Pipeline.load(other, embedder=FakeEmbedder())
    assert sorted(rebuilt.documents) == ["aiib.txt", "en.txt", "zh.md"]
    assert rebuilt.collection.stale() is None


def test_readers_answer_from_the_old_state_until_a_write_commits(
    fake_pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[set[str]] = []
    write = Catalog.write

    def watched(self: Catalog, *args: object, **kwargs: object) -> None:
        # The writer holds the lock and has saved the next generation's vectors; a reader still sees the old.
        seen.append(cited_docs(fake_pipe, "When did the bank open in Beijing?"))
        write(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Catalog, "write", watched)
    fake_pipe.collection.add_bytes(AIIB.encode(), "aiib.txt")
    assert seen and "aiib.txt" not in seen[0]
    assert "aiib.txt" in cited_docs(fake_pipe, "When did the bank open in Beijing?")


def test_a_failed_commit_leaves_the_old_state_and_no_orphans(
    fake_pipe: Pipeline, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = state_of(fake_pipe)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Catalog, "write", disk_full)
    with pytest.raises(StorageFullError, match=r"the disk holding .*index is full \(.* free\)"):
        fake_pipe.add_document(AIIB.encode(), "aiib.txt")
    # The failed write removed the vector files it had saved at once, not at the next write.
    assert sorted(p.name for p in settings.index_dir.glob("*.faiss*")) == ["chunks-1.faiss", "sentences-1.faiss"]
    monkeypatch.undo()
    assert state_of(fake_pipe) == before
    fake_pipe.add_document(RAIL.encode(), "rail.txt")
    names = sorted(p.name for p in settings.index_dir.glob("*.faiss*"))
    assert names == ["chunks-1.faiss", "chunks-2.faiss", "sentences-1.faiss", "sentences-2.faiss"]


def test_missing_or_damaged_vector_files_are_rebuilt_from_the_catalog(
    fake_pipe: Pipeline, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    question = "When was the Silk Road Fund set up?"
    expected = [h.chunk_id for h in fake_pipe.search(question)]
    (settings.index_dir / "chunks-1.faiss").write_bytes(b"garbage")
    (settings.index_dir / "sentences-1.faiss").unlink()
    again = Pipeline.load(settings, embedder=FakeEmbedder(), sync=False)
    assert "does not match its checksum" in caplog.text and "is missing" in caplog.text
    assert again.stored.repaired
    assert [h.chunk_id for h in again.search(question)] == expected


def test_a_corrupt_catalog_says_what_to_do(settings: Settings, fake_pipe: Pipeline) -> None:
    path = settings.index_dir / CATALOG_FILE
    for extra in path.parent.glob(CATALOG_FILE + "-*"):
        extra.unlink()
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(IndexCorruptError, match=r"is damaged .*`rag index --rebuild` sets it aside.*and asked"):
        Pipeline.load(settings, embedder=FakeEmbedder(), sync=False)
    # Not even a rebuild sets it aside unasked: only the user, told what it drops, can.
    with pytest.raises(IndexCorruptError):
        Pipeline.load(settings, embedder=FakeEmbedder(), rebuild=True)
    collection = Collection(settings, FakeEmbedder())
    damage = collection.damage(settings.corpus_dir)
    assert damage is not None and damage.dropped is None
    assert "uploaded or added with `rag add` would no longer be in the index" in damage.warning("here")
    collection.rebuild(settings.corpus_dir, set_aside_damaged=True)
    assert sorted(collection.snapshot().documents) == ["en.txt", "zh.md"]
    assert len(list(settings.index_dir.glob(CATALOG_FILE + ".damaged-*"))) == 1


def test_damage_names_the_uploads_a_rebuild_would_drop(
    fake_pipe: Pipeline, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_pipe.add_document(AIIB.encode(), "aiib.txt")
    collection = Collection(settings, FakeEmbedder())
    assert collection.damage(settings.corpus_dir) is None

    def damaged(self: object) -> None:
        raise IndexCorruptError("catalog.sqlite is damaged (database disk image is malformed)")

    monkeypatch.setattr(type(collection.store), "read", damaged)
    damage = collection.damage(settings.corpus_dir)
    assert damage is not None and damage.dropped == ["aiib.txt"]
    assert "drop 1 documents that are not in the corpus folder: aiib.txt" in damage.warning("here")


def test_a_rebuild_keeps_uploads_and_reads_the_folder_again(
    fake_pipe: Pipeline, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_pipe.add_document(AIIB.encode(), "aiib.txt")
    read: list[str] = []
    real = Collection._read_files
    monkeypatch.setattr(
        Collection,
        "_read_files",
        lambda self, files, source, report: read.extend(p.name for p in files) or real(self, files, source, report),
    )
    report = Collection(settings, FakeEmbedder()).rebuild(settings.corpus_dir)
    assert sorted(report.added) == ["aiib.txt", "en.txt", "zh.md"]
    # Unchanged files are read again, so that a newer reader's text replaces what an older one stored.
    assert sorted(read) == ["en.txt", "zh.md"]
    assert not list(settings.index_dir.glob(CATALOG_FILE + ".damaged-*"))


KILLED_WRITE = """
import sys
sys.path.insert(0, {root!r})
from pathlib import Path
from rag import Settings
from rag.collection import Collection
from rag.offline import force_offline, install_tiktoken_encodings
from tests.conftest import FakeEmbedder
s = Settings(corpus_dir=Path({corpus!r}), index_dir=Path({index!r}), cache_dir=Path({cache!r}), min_language_chunks=1)
force_offline()
install_tiktoken_encodings(s.cache_dir / "tiktoken")
collection = Collection(s, FakeEmbedder())
data = Path({doc!r}).read_bytes()
print("ready", flush=True)
while True:
    collection.add_bytes(data, "big.txt")
    collection.remove(["big.txt"])
"""


def test_sigkill_at_twenty_points_of_writes_leaves_the_old_or_the_new_state(
    fake_pipe: Pipeline, settings: Settings, tmp_path: Path
) -> None:
    doc = tmp_path / "big.txt"
    doc.write_text(" ".join(f"Sentence {i} says the corridor carried {i} tonnes of freight." for i in range(400)))
    script = KILLED_WRITE.format(
        root=str(ROOT),
        corpus=str(settings.corpus_dir),
        index=str(settings.index_dir),
        cache=str(settings.cache_dir),
        doc=str(doc),
    )
    base = state_of(fake_pipe)
    fake_pipe.add_document(doc.read_bytes(), "big.txt")
    added = state_of(fake_pipe)
    fake_pipe.remove_documents(["big.txt"])
    rng = random.Random(7)
    for point in range(20):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        reader = Pipeline.load(settings, embedder=FakeEmbedder(), sync=False)
        now = state_of(reader)
        assert now in (base, added), point
        hits = {h.doc for h in reader.search("How many tonnes did the corridor carry?")}
        assert ("big.txt" in hits) == (now == added)
    fake_pipe.add_document(b"One more document after the crashes, about ports.", "ports.txt")
    names = sorted(p.name for p in settings.index_dir.glob("*.faiss*"))
    generation = fake_pipe.stored.generation
    assert names == sorted(
        f"{kind}-{g}.faiss" for kind in ("chunks", "sentences") for g in (generation - 1, generation)
    )


def _ops_corpus(tmp_path: Path) -> dict[str, bytes]:
    topics = ["railway freight", "port investment", "solar power", "trade agreement", "digital silk road"]
    docs = {}
    for i in range(8):
        topic = topics[i % len(topics)]
        lines = [f"Document {i} is about {topic}. In {2010 + i} the project {topic} moved {i * 7} units."]
        lines += [f"Paragraph {j}: the {topic} partners met {j + i} times and signed plan {i}-{j}." for j in range(6)]
        docs[f"doc{i}.txt"] = "\n\n".join(lines).encode()
    docs["zh0.txt"] = "中欧班列在2016年统一品牌。铁路运输连接了多个城市。".encode()
    docs["zh1.txt"] = "丝路基金于2014年设立，规模为400亿美元。它投资于基础设施。".encode()
    return docs


@pytest.mark.parametrize("centred", [False, True])
def test_twenty_random_adds_and_deletes_retrieve_like_a_fresh_build(
    tmp_path: Path, shared_cache: Path, centred: bool
) -> None:
    docs = _ops_corpus(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "seed.txt").write_bytes(docs["doc0.txt"])

    def settings(index: str, corpus: Path) -> Settings:
        return Settings(
            corpus_dir=corpus,
            index_dir=tmp_path / index,
            cache_dir=shared_cache,
            min_language_chunks=1,
            center_embeddings=centred,
        )

    live = Pipeline.load(settings("live", empty), embedder=FakeEmbedder())
    rng = random.Random(11)
    present: dict[str, bytes] = {"seed.txt": docs["doc0.txt"]}
    for _ in range(20):
        name = rng.choice(sorted(docs))
        if name in present and rng.random() < 0.5:
            live.remove_documents([name])
            del present[name]
        else:
            live.add_document(docs[name], name)
            present[name] = docs[name]
    fresh_corpus = tmp_path / "fresh-corpus"
    fresh_corpus.mkdir()
    for name, data in present.items():
        (fresh_corpus / name).write_bytes(data)
    fresh = Pipeline.load(settings("fresh", fresh_corpus), embedder=FakeEmbedder())
    assert [(c.id, c.doc) for c in live.stored.chunks] == [(c.id, c.doc) for c in fresh.stored.chunks]
    questions = ["What did the railway freight project move?", "When was the fund set up?", "丝路基金的规模是多少？"]
    questions += [f"How many times did the {t} partners meet?" for t in ("port investment", "solar power")]
    overlap = []
    for q in questions:
        a, b = [h.chunk_id for h in live.search(q)], [h.chunk_id for h in fresh.search(q)]
        if not centred:
            assert a == b, q
        overlap.append(len(set(a) & set(b)) / max(1, len(b)))
    # Centred, the live collection keeps the language means it computed when it was small (they are recomputed
    # once it grows by RAG_MEANS_REFRESH_GROWTH), so its ranking may differ a little from a fresh build's.
    assert np.mean(overlap) >= 0.9


def test_the_language_means_are_recomputed_once_the_collection_has_grown(fake_pipe: Pipeline) -> None:
    info = fake_pipe.stored.means_info
    assert info["chunks"] == len(fake_pipe.stored.chunks) == 2
    fake_pipe.add_document(AIIB.encode(), "aiib.txt")  # 3 chunks: up 50 %, not past the default share
    assert fake_pipe.stored.means_info == info
    fake_pipe.add_document(RAIL.encode(), "rail.txt")  # 4 chunks: past it
    assert fake_pipe.stored.means_info["chunks"] == 4


def test_collection_writes_are_serialized_across_threads(fake_pipe: Pipeline) -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = {f"t{i}.txt": f"Topic {i}: the port of number {i} handled {i * 100} containers.".encode() for i in range(6)}
    collection = Collection(fake_pipe.settings, FakeEmbedder())
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda item: collection.add_bytes(item[1], item[0]), texts.items()))
    assert set(texts) <= set(fake_pipe.stored.infos)
    assert fake_pipe.stored.generation == 1 + len(texts)


def test_every_setting_says_whether_it_shapes_the_index() -> None:
    # A setting that changes what a build stores must be in the manifest, or an index built with another value
    # would be served as if it fit; one that does not must be listed as such. A new setting fails here until sorted.
    shaping = set(MANIFEST_FIELDS) | {"embedder"}
    assert not shaping & RUNTIME_FIELDS
    assert set(Settings.model_fields) == shaping | RUNTIME_FIELDS


def test_a_setting_in_the_manifest_makes_an_index_built_otherwise_stale(
    fake_pipe: Pipeline, settings: Settings
) -> None:
    for name in MANIFEST_FIELDS:
        value = getattr(settings, name)
        other = not value if isinstance(value, bool) else value + 1 if isinstance(value, int) else f"{value}x"
        changed = Collection(settings.model_copy(update={name: other}), FakeEmbedder())
        assert changed.stale() is not None, name
    assert Collection(settings, FakeEmbedder()).stale() is None


def test_an_upload_reports_its_stages_as_it_goes(fake_pipe: Pipeline) -> None:
    heard: list[tuple[str, int, int]] = []
    fake_pipe.add_document(AIIB.encode(), "aiib.txt", lambda stage, done, total: heard.append((stage, done, total)))
    assert [s for s, _, _ in heard] == sorted((s for s, _, _ in heard), key=["reading", "embedding", "saving"].index)
    embedding = [(done, total) for stage, done, total in heard if stage == "embedding"]
    assert embedding[-1][0] == embedding[-1][1] > 0
    assert all(a <= b for (a, _), (b, _) in itertools.pairwise(embedding))
    assert heard[-1] == ("saving", 1, 1)


def test_an_older_catalog_without_labels_reads_as_unlabelled_and_gains_them_at_a_write(fake_pipe: Pipeline) -> None:
    path = fake_pipe.settings.index_dir / "catalog.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("ALTER TABLE documents DROP COLUMN tags")
        con.execute("ALTER TABLE documents DROP COLUMN meta")
    catalog = Catalog(path)
    assert {(r.tags, str(r.meta)) for r in catalog.read().documents} == {((), "{}")}
    fake_pipe.add_document(b"The HR policy grants 25 days of leave.", "hr.txt", tags=("hr",), meta={"year": 2024})
    records = {r.name: r for r in catalog.read().documents}
    assert (records["hr.txt"].tags, records["hr.txt"].meta) == (("hr",), {"year": 2024})
    assert (records["en.txt"].tags, records["en.txt"].meta) == ((), {})


def test_late_sentence_vectors_build_the_same_collection_with_a_context_free_embedder(
    settings: Settings, tmp_path: Path
) -> None:
    # The fake reads a span alone even inside its chunk, so a late build must store what a plain one does: the
    # chunks' and sentences' rows line up whichever way their vectors were made.
    plain = Pipeline.load(settings, embedder=FakeEmbedder())
    late_settings = settings.model_copy(update={"sentence_vectors": "late", "index_dir": tmp_path / "late"})
    late = Pipeline.load(late_settings, embedder=FakeEmbedder())
    question = "When was the Silk Road Fund set up?"
    hits = [[(h.chunk_id, h.score) for h in pipe.search(question)] for pipe in (late, plain)]
    assert hits[0] == hits[1] and hits[0]
    assert late.ask(question).text == plain.ask(question).text


def test_an_index_built_before_sentence_vectors_could_be_late_still_fits(settings: Settings) -> None:
    from rag.collection.manifest import expected_manifest, stale_key

    fake = FakeEmbedder()
    older = expected_manifest(settings, fake)
    assert "sentence_vectors" not in older["chunking"]
    assert stale_key(older, expected_manifest(settings, fake)) is None
    late = expected_manifest(settings.model_copy(update={"sentence_vectors": "late"}), fake)
    assert stale_key(older, late) == "chunking"
