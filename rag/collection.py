"""The document collection: the one writer of its store, and the loader of snapshots.

A write (add, replace, remove, sync, rebuild) parses and embeds outside the lock; then, under the store's lock, it
works out what changes (the documents gone and added, whether the language means are due again, the centred
vectors) and hands that to the store in one `Commit` (`rag.store`: SQLite and FAISS files, or Milvus). Until the
store has committed it, every reader sees the state before.
"""

from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.centring import NO_MEANS, LanguageMeans, centre, language_means
from rag.checksum import sha256_bytes, sha256_file
from rag.chunking import SENTENCE_VERSION, chunk_document, document_sentences, make_splitter
from rag.corpus import CLEANING_VERSION, clean_text
from rag.data import Chunk, Document, Sentence
from rag.embedding import Embedder, embed_passages, vector_cache
from rag.errors import (
    CorpusError,
    IndexCorruptError,
    IndexStaleError,
    InputError,
    NotFoundError,
    RagError,
    UnreadableDocumentError,
)
from rag.ingest import READER_VERSION, SUPPORTED, Extracted
from rag.isolation import read_isolated
from rag.lexical import tokenize
from rag.names import check_name
from rag.originals import KEPT_FORMATS, Originals
from rag.settings import MANIFEST_FIELDS, Settings
from rag.snapshot import DocumentInfo, Snapshot
from rag.store import Store, new_vector_index, open_store, raw_rows
from rag.store.records import CatalogState, Commit, DocumentRecord, IndexUpdate, StoredDocument
from rag.text import detect_language

log = logging.getLogger(__name__)

FORMAT = 3
# What a write says as it goes: (stage, done, total). Stages: "reading", "embedding" (texts), "saving".
Progress = Callable[[str, int, int], None]
LOAD_ATTEMPTS = 3


def expected_manifest(settings: Settings, embedder: Embedder) -> dict[str, Any]:
    """What the collection's manifest must say for these settings and this embedder.

    Any difference means the stored chunks or vectors are not what these settings would make: a rebuild is due.
    """
    manifest: dict[str, Any] = {"format": FORMAT, "embedder": embedder.id, "dimension": embedder.dim}
    for name, path in MANIFEST_FIELDS.items():
        group = manifest
        for key in path[:-1]:
            group = group.setdefault(key, {})
        group[path[-1]] = getattr(settings, name)
    # How files become text, text becomes clean text and clean text becomes sentences: code, not settings.
    manifest["chunking"] |= {"reader": READER_VERSION, "cleaning": CLEANING_VERSION, "sentences": SENTENCE_VERSION}
    return manifest


def stale_key(manifest: dict[str, Any] | None, expected: dict[str, Any]) -> str | None:
    """The first manifest key whose value differs from what is expected, or None when all match."""
    for key, want in expected.items():
        if (manifest or {}).get(key) != want:
            return key
    return None


@dataclass
class WriteReport:
    """What a write did, by document name."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # (name, why) for each file that could not be read; the rest of the write went ahead.
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the write changed the collection."""
        return bool(self.added or self.replaced or self.removed)

    def summary(self) -> str:
        """One line for a log or a terminal."""
        parts = [f"{len(self.added)} added", f"{len(self.replaced)} replaced", f"{len(self.removed)} removed"]
        parts.append(f"{len(self.unchanged)} unchanged")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped ({', '.join(n for n, _ in self.skipped)})")
        return ", ".join(parts)


@dataclass(frozen=True)
class Damage:
    """Why a catalog cannot be read, and the documents a rebuild from the corpus folder would drop.

    `dropped` is None when not even the names can be read from it.
    """

    reason: str
    dropped: list[str] | None

    def warning(self, where: str) -> str:
        """What a rebuild would do, for the user to agree to."""
        if self.dropped is None:
            lost = (
                "Which documents it held cannot be read: any that were uploaded or added with `rag add` would no "
                "longer be in the index."
            )
        elif self.dropped:
            lost = f"It would drop {len(self.dropped)} documents that are not in the corpus folder: "
            lost += ", ".join(self.dropped) + "."
        else:
            lost = "Every document it lists is in the corpus folder: none is dropped."
        return (
            f"{self.reason}\nA rebuild moves it aside in {where} (the file is kept) and indexes the corpus folder "
            f"again. {lost}"
        )


@dataclass(frozen=True)
class Incoming:
    """A document read for a write, before it is chunked and embedded."""

    extracted: Extracted
    name: str
    sha256: str
    size: int
    source: str
    mtime: float | None = None
    # The file's bytes, for the formats whose pages are drawn from their file (`rag.originals`); else None.
    original: bytes | None = None


def _original(extracted: Extracted, data: bytes) -> bytes | None:
    return data if extracted.format in KEPT_FORMATS else None


@dataclass(frozen=True)
class FolderChanges:
    """How a corpus folder differs from the documents synced from it before."""

    new: list[Path]
    changed: list[Path]
    gone: list[str]
    unsupported: list[Path]
    # (name, why) of files that could not be read when last tried and have not changed since.
    failing: list[tuple[str, str]] = field(default_factory=list)

    @property
    def any(self) -> bool:
        """Whether a sync would change the collection."""
        return bool(self.new or self.changed or self.gone)

    def summary(self) -> str:
        """One line for a log or a terminal."""
        return f"{len(self.new)} new, {len(self.changed)} changed, {len(self.gone)} gone"


def folder_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """The files of a corpus folder: those of a supported type, and the others (hidden files ignored)."""
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {folder} does not exist; set RAG_CORPUS_DIR or --corpus")
    root = folder.resolve()
    supported: list[Path] = []
    other: list[Path] = []
    for p in sorted(folder.iterdir()):
        # A symlink that leads out of the corpus folder is not part of the corpus.
        if p.name.startswith(".") or not p.is_file() or not p.resolve().is_relative_to(root):
            continue
        (supported if p.suffix.lower() in SUPPORTED else other).append(p)
    return supported, other


def list_documents(settings: Settings) -> list[DocumentInfo]:
    """The documents of the configured collection, by name, without loading a model."""
    store = open_store(settings)
    if store.generation() == 0:
        return []
    return list(_infos(store.read()).values())


def make_document(extracted: Extracted, name: str, sha256: str) -> Document:
    """A `Document` of extracted text: cleaned, with its offset map and language."""
    clean, origin = clean_text(extracted.text)
    if extracted.ocr_confidence is not None:
        # Not stored with the document: a low figure tells an operator which upload to scan again.
        log.info("%s: read by OCR, mean confidence %.2f", name, extracted.ocr_confidence)
    language = detect_language(clean)
    return Document(
        name, extracted.text, clean, origin, language, sha256, extracted.format, extracted.pages, extracted.outline
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Collection:
    """The documents of one index folder (`settings.index_dir`), and the only way to change them."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store: Store = open_store(settings)
        self.originals = Originals(settings)
        self.manifest = expected_manifest(settings, embedder)
        self._splitter: Any = None
        # The last snapshot loaded: snapshots never change, so readers and the writer share it until a commit.
        self._last: Snapshot | None = None

    # Reading

    def generation(self) -> int:
        """The committed generation; cheap enough to check before every request."""
        return self.store.generation()

    def exists(self) -> bool:
        """Whether anything was ever committed here."""
        return self.generation() > 0

    def stale(self) -> str | None:
        """The manifest key that differs from these settings, or None when the stored state fits them."""
        if not self.exists():
            return None
        return stale_key(self.store.read().meta.get("manifest"), self.manifest)

    def snapshot(self) -> Snapshot:
        """The committed state; IndexStaleError when it was made with other settings or another model."""
        last = self._last
        if last is not None and last.generation == self.generation():
            return last
        for attempt in range(LOAD_ATTEMPTS):
            state = self.store.read()
            key = stale_key(state.meta.get("manifest"), self.manifest) if state.generation else None
            if key is not None:
                raise IndexStaleError(
                    f"the index at {self.store.where} was built with another {key}; run `rag index --rebuild`"
                )
            try:
                self._last = self._load(state)
                return self._last
            except FileNotFoundError:
                # A writer committed twice while this read, and removed the files of the generation read.
                if attempt + 1 == LOAD_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _load(self, state: CatalogState) -> Snapshot:
        meta = state.meta
        means = LanguageMeans(**meta["means"]) if "means" in meta else NO_MEANS
        documents = {
            r.name: make_document(Extracted(r.text, r.format, r.pages, outline=r.outline), r.name, r.sha256)
            for r in state.documents
        }
        infos = _infos(state)
        vectors, sentence_vectors, repaired = self.store.indexes(state, means, self.settings, self.embedder.dim)
        return Snapshot(
            state.generation,
            meta.get("manifest", self.manifest),
            means,
            meta.get("means_info", {}),
            documents,
            infos,
            state.chunks,
            state.chunk_tokens,
            state.sentences,
            vectors,
            sentence_vectors,
            repaired,
        )

    def folder_changes(self, folder: Path) -> FolderChanges:
        """New, changed and vanished files of `folder` against the documents synced from it.

        Size and modification time decide first; a file whose size or time differs is hashed, and counts as
        changed only when its bytes did.
        """
        supported, other = folder_files(folder)
        state_docs = {r.name: r for r in self.store.read().documents} if self.exists() else {}
        skipped = self.store.skipped()
        new, changed, failing = [], [], []
        for path in supported:
            # Stored names are in NFC; a file named in another form (macOS writes NFD) is the same document.
            record = state_docs.get(unicodedata.normalize("NFC", path.name))
            stat = path.stat()
            if record is None:
                known = skipped.get(path.name)
                if known and known[:2] == (stat.st_size, stat.st_mtime):
                    failing.append((path.name, known[2]))
                else:
                    new.append(path)
                continue
            if record.size == stat.st_size and record.mtime == stat.st_mtime:
                continue
            if sha256_file(path) != record.sha256:
                changed.append(path)
        names = {unicodedata.normalize("NFC", p.name) for p in supported}
        gone = [n for n, r in state_docs.items() if r.source == "folder" and n not in names]
        return FolderChanges(new, changed, gone, other, failing)

    # Writing

    def add_bytes(
        self, data: bytes, name: str, source: str = "upload", progress: Progress | None = None
    ) -> tuple[DocumentInfo, bool]:
        """Add or replace one document from its bytes; (its listing, whether the collection changed).

        Identical bytes under the same name change nothing. Raises UnsupportedFormatError or
        UnreadableDocumentError, and the collection stays as it was. `progress` hears each stage as it goes.
        """
        name = check_name(name)
        sha = sha256_bytes(data)
        current = self._record(name)
        if current is not None and current.sha256 == sha:
            if current.format in KEPT_FORMATS and self.originals.read(sha, name) is None:
                # Added before files were kept: the same bytes again are how its pages become viewable.
                with self.store.lock():
                    self.originals.write(sha, data)
            return self._info_of(name), False
        report = progress or (lambda stage, done, total: None)
        report("reading", 0, 1)
        extracted = read_isolated(data, name, self.settings)
        report("reading", 1, 1)
        incoming = Incoming(extracted, name, sha, len(data), source, original=_original(extracted, data))
        doc = self._prepare([incoming], report)[0]
        report("saving", 0, 1)
        self.commit([doc], [], originals=_originals([incoming]))
        report("saving", 1, 1)
        return self._info_of(name), True

    def add_paths(self, paths: list[Path], source: str = "cli") -> WriteReport:
        """Add or replace files (a folder means its supported files); unreadable ones are skipped and named."""
        files: list[Path] = []
        report = WriteReport()
        for path in paths:
            if path.is_dir():
                supported, other = folder_files(path)
                files += supported
                report.skipped += [(p.name, f"unsupported type {p.suffix or '(none)'}") for p in other]
            elif path.is_file():
                files.append(path)
            else:
                raise InputError(f"{path} does not exist")
        self._write_files(files, [], source, report)
        return report

    def remove(self, names: list[str]) -> WriteReport:
        """Delete documents by name; NotFoundError (nothing deleted) when one is not in the collection.

        Names are stored in NFC, so a name typed in another Unicode form names the same document.
        """
        names = [unicodedata.normalize("NFC", n) for n in names]
        have = {r.name for r in self.store.read().documents} if self.exists() else set()
        missing = [n for n in names if n not in have]
        if missing:
            raise NotFoundError(f"no document named {', '.join(map(repr, missing))} in the collection")
        if names:
            self.commit([], list(dict.fromkeys(names)))
        return WriteReport(removed=list(dict.fromkeys(names)))

    def sync(self, folder: Path) -> WriteReport:
        """Make the documents synced from `folder` match it, re-embedding only what changed.

        New files are added, changed ones replaced, vanished ones deleted. A file that cannot be read is skipped
        and named.
        """
        changes = self.folder_changes(folder)
        report = WriteReport()
        report.skipped += [(p.name, f"unsupported type {p.suffix or '(none)'}") for p in changes.unsupported]
        report.skipped += changes.failing
        for name, why in report.skipped:
            log.warning("skipped %s: %s", name, why)
        if changes.any:
            log.info("syncing %s: %s", folder, changes.summary())
            tried = [*changes.new, *changes.changed]
            before = len(report.skipped)
            self._write_files(tried, changes.gone, "folder", report)
            failed = dict(report.skipped[before:])
            known = {n: v for n, v in self.store.skipped().items() if n in dict(changes.failing)}
            for path in tried:
                if path.name in failed:
                    stat = path.stat()
                    known[path.name] = (stat.st_size, stat.st_mtime, failed[path.name])
            self.store.set_skipped(known)
        return report

    def damage(self, folder: Path | None = None) -> Damage | None:
        """None when the catalog reads; else why not, and which documents a rebuild from `folder` would drop.

        Only damage counts (not a database, malformed pages): a full or read-only disk raises its StorageError.
        """
        try:
            self.store.read()
        except IndexCorruptError as exc:
            salvaged = self.store.salvage()
            if salvaged is None:
                return Damage(str(exc), None)
            present = {p.name for p in folder_files(folder)[0]} if folder is not None else set()
            return Damage(str(exc), sorted(name for name, _ in salvaged if name not in present))
        return None

    def rebuild(self, folder: Path | None = None, set_aside_damaged: bool = False) -> WriteReport:
        """Re-chunk and re-embed every stored document, recompute the language means, and sync `folder` if given.

        The folder's files are read again; the other stored documents (uploads) are rebuilt from their stored
        text, so they need no file. One commit replaces the
        whole state. A damaged catalog raises IndexCorruptError unless `set_aside_damaged` (asked of the user
        after `damage` said what it drops): then it is moved aside and only `folder` is indexed.
        """
        try:
            records = self.store.read().documents if self.exists() else []
        except IndexCorruptError as exc:
            if not set_aside_damaged:
                raise
            aside = self.store.reset()
            log.warning("%s; moved it to %s and rebuilding from the corpus folder", exc, aside)
            records = []
        items = [
            Incoming(
                Extracted(r.text, r.format, r.pages, outline=r.outline), r.name, r.sha256, r.size, r.source, r.mtime
            )
            for r in records
        ]
        report = WriteReport()
        if folder is not None:
            changes = self.folder_changes(folder)
            # The folder's files are read again, changed or not: a rebuild is how a better reader reaches text
            # stored by an older one (READER_VERSION). Stored text stands for the documents with no file here.
            files = folder_files(folder)[0]
            names = {unicodedata.normalize("NFC", p.name) for p in files}
            items = [i for i in items if i.name not in names and i.name not in changes.gone]
            report.removed += changes.gone
            items += self._read_files(files, "folder", report)
        if not items:
            raise CorpusError(f"nothing to index: {folder or self.store.where} holds no readable documents")
        prepared = self._prepare(items)
        log.info("rebuilding the index from %d documents", len(prepared))
        self.commit(prepared, [r.name for r in records], full=True, originals=_originals(items))
        report.added = [p.record.name for p in prepared]
        return report

    def _write_files(self, files: list[Path], gone: list[str], source: str, report: WriteReport) -> None:
        have = {r.name: r.sha256 for r in self.store.read().documents} if self.exists() else {}
        items = self._read_files(files, source, report)
        fresh = []
        for item in items:
            if have.get(item.name) == item.sha256 and item.name not in gone:
                report.unchanged.append(item.name)
            else:
                (report.replaced if item.name in have else report.added).append(item.name)
                fresh.append(item)
        report.removed += gone
        if fresh or gone:
            self.commit(self._prepare(fresh), gone, originals=_originals(fresh))

    def _read_files(self, files: list[Path], source: str, report: WriteReport) -> list[Incoming]:
        items: list[Incoming] = []
        taken: dict[str, Path] = {}
        for path in files:
            try:
                name = check_name(path.name)
                if name in taken:
                    # Two files whose names differ only in their Unicode form would be one document.
                    raise CorpusError(
                        f"{path} has the same name as {taken[name]} once both are in Unicode NFC; rename one of them"
                    )
                taken[name] = path
                size = path.stat().st_size
                if size > self.settings.max_file_bytes:
                    raise CorpusError(
                        f"{path} is {size / 2**20:.1f} MiB; the limit is "
                        f"{self.settings.max_file_bytes / 2**20:.1f} MiB (RAG_MAX_FILE_BYTES)"
                    )
                mtime = path.stat().st_mtime
                data = path.read_bytes()
                text = read_isolated(data, name, self.settings)
                items.append(Incoming(text, name, sha256_bytes(data), size, source, mtime, _original(text, data)))
            except (RagError, OSError) as exc:
                log.warning("skipped %s: %s", path, exc)
                report.skipped.append((path.name, str(exc)))
        return items

    def _record(self, name: str) -> DocumentRecord | None:
        if not self.exists():
            return None
        return next((r for r in self.store.read().documents if r.name == name), None)

    def _info_of(self, name: str) -> DocumentInfo:
        return _infos(self.store.read())[name]

    def _prepare(self, items: list[Incoming], progress: Progress | None = None) -> list[StoredDocument]:
        """Chunk, tokenize and embed documents (outside the lock: this is the slow part of a write)."""
        if self._splitter is None:
            s = self.settings
            self._splitter = make_splitter(
                s.chunk_tokens, s.chunk_overlap, s.tiktoken_encoding, s.cache_dir / "tiktoken"
            )
        docs, pieces = [], []
        for item in items:
            doc = make_document(item.extracted, item.name, item.sha256)
            chunks = chunk_document(doc, self._splitter)
            if not chunks:
                raise UnreadableDocumentError(f"{item.name} holds no text to index (only punctuation or spaces)")
            sentences = document_sentences(doc, self.settings.sentence_max_chars, self.settings.min_sentence_chars)
            record = DocumentRecord(
                item.name,
                item.sha256,
                doc.format,
                doc.language,
                item.size,
                item.source,
                item.mtime,
                _now(),
                doc.text,
                doc.pages,
                doc.outline,
            )
            docs.append(record)
            pieces.append((chunks, sentences))
        all_chunks = [c for chunks, _ in pieces for c in chunks]
        all_sentences = [s for _, sentences in pieces for s in sentences]
        batch = self.settings.embed_batch_size
        cache = vector_cache(self.settings, self.embedder)
        total = len(all_chunks) + len(all_sentences)

        def chunks_done(n: int) -> None:
            if progress:
                progress("embedding", n, total)

        def sentences_done(n: int) -> None:
            if progress:
                progress("embedding", len(all_chunks) + n, total)

        texts = [c.clean for c in all_chunks]
        chunk_vectors = embed_passages(self.embedder, texts, batch, "embedding chunks", cache, chunks_done)
        sentence_texts = [s.text for s in all_sentences]
        sentence_vectors = embed_passages(
            self.embedder, sentence_texts, batch, "embedding sentences", cache, sentences_done
        )
        out, at_c, at_s = [], 0, 0
        for record, (chunks, sentences) in zip(docs, pieces, strict=True):
            tokens = [tokenize(c.clean) for c in chunks]
            cv = chunk_vectors[at_c : at_c + len(chunks)]
            sv = sentence_vectors[at_s : at_s + len(sentences)]
            out.append(StoredDocument(record, chunks, tokens, cv, sentences, sv))
            at_c += len(chunks)
            at_s += len(sentences)
        return out

    def commit(
        self,
        add: list[StoredDocument],
        remove: list[str],
        full: bool = False,
        originals: dict[str, bytes] | None = None,
    ) -> None:
        """Apply one write under the lock: `remove` names (and those `add` replaces), then `add`.

        `full` replaces the whole state and recomputes the language means. `originals` (sha256 → bytes) are the
        files kept for the added documents' pages (`rag.originals`); once the commit is in, only the files of
        the documents it leaves stay.
        """
        with self.store.lock():
            for sha, data in (originals or {}).items():
                self.originals.write(sha, data)
            base = self._base(full)
            names = {d.record.name for d in add}
            gone = (set(base.infos) if full else set(remove) | (names & set(base.infos))) & set(base.infos)
            kept_chunks = [c for c in base.chunks if c.doc not in gone]
            kept_sentences = [s for s in base.sentences if s.doc not in gone]
            new_chunks = [c for d in add for c in d.chunks]
            new_sentences = [s for d in add for s in d.sentences]
            total = len(kept_chunks) + len(new_chunks)
            grown_from = int(base.means_info.get("chunks", 0))
            refresh = full or not base.means.passage or total > grown_from * (1 + self.settings.means_refresh_growth)
            if refresh:
                means, updates = self._recentred(add, kept_chunks, kept_sentences)
                means_info = {"computed": _now(), "chunks": total}
                if grown_from and not full:
                    log.info("the collection grew from %d to %d chunks: language means recomputed", grown_from, total)
            else:
                means, means_info = base.means, base.means_info
                raw_c = _rows([d.chunk_vectors for d in add], self.embedder.dim)
                raw_s = _rows([d.sentence_vectors for d in add], self.embedder.dim)
                updates = {
                    "chunks": IndexUpdate(
                        _ids(new_chunks),
                        self._centre(raw_c, new_chunks, means.passage),
                        _ids([c for c in base.chunks if c.doc in gone]),
                        full=False,
                    ),
                    "sentences": IndexUpdate(
                        _ids(new_sentences),
                        self._centre(raw_s, new_sentences, means.sentence),
                        _ids([s for s in base.sentences if s.doc in gone]),
                        full=False,
                    ),
                }
            meta = {"manifest": self.manifest, "means": means.to_dict(), "means_info": means_info}
            change = Commit(base.generation + 1, meta, add, sorted(gone), updates)
            self.store.commit(change, (base.vectors, base.sentence_vectors))
            left = {i.sha256 for n, i in base.infos.items() if n not in gone} | {d.record.sha256 for d in add}
            self.originals.keep_only(left)

    def _base(self, full: bool) -> Snapshot:
        """The state a write applies to.

        The committed one, or an empty one for a full rebuild of a collection whose settings changed.
        """
        try:
            return self.snapshot()
        except IndexStaleError:
            if not full:
                raise
            state = self.store.read()
            return Snapshot(
                state.generation,
                self.manifest,
                NO_MEANS,
                {},
                {},
                {r.name: _info(r, 0) for r in state.documents},
                [],
                [],
                [],
                new_vector_index(self.settings, np.zeros(0, np.int64), np.zeros((0, self.embedder.dim))),
                new_vector_index(self.settings, np.zeros(0, np.int64), np.zeros((0, self.embedder.dim))),
            )

    def _centre(self, raw: np.ndarray, rows: list[Chunk] | list[Sentence], means: dict[str, list[float]]) -> np.ndarray:
        return centre(raw, [r.language for r in rows], means, self.settings.center_embeddings)

    def _recentred(
        self, add: list[StoredDocument], kept_chunks: list[Chunk], kept_sentences: list[Sentence]
    ) -> tuple[LanguageMeans, dict[str, IndexUpdate]]:
        """New means over everything the write leaves, and every vector centred with them (no re-embedding)."""
        chunks = kept_chunks + [c for d in add for c in d.chunks]
        sentences = kept_sentences + [s for d in add for s in d.sentences]
        dim = self.embedder.dim
        raw_c = np.concatenate([raw_rows(self.store, "chunks", kept_chunks, dim), *[d.chunk_vectors for d in add]])
        raw_s = np.concatenate(
            [raw_rows(self.store, "sentences", kept_sentences, dim), *[d.sentence_vectors for d in add]]
        )
        means = language_means(self.embedder, chunks, raw_c, sentences, raw_s, self.settings)
        none = np.zeros(0, np.int64)
        return means, {
            "chunks": IndexUpdate(_ids(chunks), self._centre(raw_c, chunks, means.passage), none, full=True),
            "sentences": IndexUpdate(_ids(sentences), self._centre(raw_s, sentences, means.sentence), none, full=True),
        }


def _info(record: DocumentRecord, chunks: int) -> DocumentInfo:
    return DocumentInfo(
        record.name,
        record.language,
        record.format,
        chunks,
        record.size,
        len(record.text),
        len(record.pages),
        record.sha256,
        record.source,
        record.added,
    )


def _infos(state: CatalogState) -> dict[str, DocumentInfo]:
    counts: dict[str, int] = {}
    for c in state.chunks:
        counts[c.doc] = counts.get(c.doc, 0) + 1
    return {r.name: _info(r, counts.get(r.name, 0)) for r in state.documents}


def _originals(items: list[Incoming]) -> dict[str, bytes]:
    return {i.sha256: i.original for i in items if i.original is not None}


def _rows(blocks: list[np.ndarray], dim: int) -> np.ndarray:
    return np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32)


def _ids(rows: list[Chunk] | list[Sentence]) -> np.ndarray:
    return np.asarray([r.id for r in rows], np.int64)
