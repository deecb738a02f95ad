"""The document collection: the one writer of its store, and the loader of snapshots.

A write (add, replace, remove, sync, rebuild) parses and embeds outside the lock; then, under the store's lock, it
works out what changes (the documents gone and added, whether the language means are due again, the centred
vectors) and hands that to the store in one `Commit` (`rag.store`: SQLite and FAISS files, or Milvus). Until the
store has committed it, every reader sees the state before.

`Collection` is the face; the jobs live beside it: `manifest` (what makes an index stale), `folder` (the corpus
folder against what was synced from it), `prepare` (reading, chunking, embedding), `writer` (what a write commits,
the means refresh included) and `reports`. Nothing that only reads imports this package (`rag.snapshot` is
what the read path loads).
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import replace
from pathlib import Path, PurePath

import numpy as np

from rag.centring import NO_MEANS, LanguageMeans
from rag.checksum import sha256_bytes
from rag.collection.folder import FolderChanges, folder_changes, folder_files, still_skipped, unsupported
from rag.collection.manifest import expected_manifest, stale_key
from rag.collection.prepare import (
    Incoming,
    Preparer,
    Progress,
    make_document,
    original_of,
    originals_of,
    read_files,
)
from rag.collection.reports import Damage, WriteReport
from rag.collection.writer import Writer
from rag.embedding import Embedder
from rag.errors import CorpusError, IndexCorruptError, IndexStaleError, InputError, NotFoundError
from rag.filters import Meta, check_meta, check_tags
from rag.ingest import Extracted
from rag.isolation import read_isolated
from rag.names import check_name
from rag.originals import KEPT_FORMATS, Originals
from rag.settings import Settings
from rag.snapshot import DocumentInfo, Snapshot
from rag.store import Store, new_vector_index, open_store
from rag.store.records import CatalogState, DocumentRecord, StoredDocument

log = logging.getLogger(__name__)

LOAD_ATTEMPTS = 3


def list_documents(settings: Settings) -> list[DocumentInfo]:
    """The documents of the configured collection, by name, without loading a model."""
    store = open_store(settings)
    if store.generation() == 0:
        return []
    return list(_infos(store.read()).values())


class Collection:
    """The documents of one index folder (`settings.index_dir`), and the only way to change them."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store: Store = open_store(settings)
        self.originals = Originals(settings)
        self.manifest = expected_manifest(settings, embedder)
        self.preparer = Preparer(settings, embedder)
        self.writer = Writer(settings, embedder, self.store, self.manifest)
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
        """New, changed and vanished files of `folder` against the documents synced from it (`folder_changes`)."""
        documents = self.store.read().documents if self.exists() else []
        return folder_changes(folder, documents, self.store.skipped())

    # Writing

    def add_bytes(
        self,
        data: bytes,
        name: str,
        source: str = "upload",
        progress: Progress | None = None,
        tags: tuple[str, ...] | None = None,
        meta: Meta | None = None,
    ) -> tuple[DocumentInfo, bool]:
        """Add or replace one document from its bytes; (its listing, whether the collection changed).

        `tags` and `meta`, when either is given, replace the document's; else a replaced document keeps its own.
        Identical bytes and labels under the same name change nothing. Raises UnsupportedFormatError or
        UnreadableDocumentError, and the collection stays as it was. `progress` hears each stage as it goes.
        """
        name = check_name(name)
        current = self._record(name)
        tags, meta = _labels(tags, meta, current)
        sha = sha256_bytes(data)
        if current is not None and (current.sha256, current.tags, current.meta) == (sha, tags, meta):
            if current.format in KEPT_FORMATS and self.originals.read(sha, name) is None:
                # Added before files were kept: the same bytes again are how its pages become viewable.
                with self.store.lock():
                    self.originals.write(sha, data)
            return self._info_of(name), False
        report = progress or (lambda stage, done, total: None)
        report("reading", 0, 1)
        extracted = read_isolated(data, name, self.settings)
        report("reading", 1, 1)
        incoming = Incoming(
            extracted, name, sha, len(data), source, original=original_of(extracted, data), tags=tags, meta=meta
        )
        doc = self.preparer.prepare([incoming], report)[0]
        report("saving", 0, 1)
        self.commit([doc], [], originals=originals_of([incoming]))
        report("saving", 1, 1)
        return self._info_of(name), True

    def add_paths(
        self, paths: list[Path], source: str = "cli", tags: tuple[str, ...] | None = None, meta: Meta | None = None
    ) -> WriteReport:
        """Add or replace files (a folder means its supported files); unreadable ones are skipped and named.

        `tags` and `meta`, when either is given, are every file's; else a replaced document keeps its own.
        """
        files: list[Path] = []
        report = WriteReport()
        for path in paths:
            if path.is_dir():
                supported, other = folder_files(path)
                files += supported
                report.skipped += unsupported(other)
            elif path.is_file():
                files.append(path)
            else:
                raise InputError(f"{path} does not exist")
        self._write_files(files, [], source, report, tags, meta)
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
        report.skipped += unsupported(changes.unsupported)
        report.skipped += changes.failing
        for name, why in report.skipped:
            log.warning("skipped %s: %s", name, why)
        if changes.any:
            log.info("syncing %s: %s", folder, changes.summary())
            tried = [*changes.new, *changes.changed]
            before = len(report.skipped)
            self._write_files(tried, changes.gone, "folder", report)
            failed = dict(report.skipped[before:])
            self.store.set_skipped(still_skipped(changes, tried, failed, self.store.skipped()))
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
                Extracted(r.text, r.format, r.pages, outline=r.outline),
                *(r.name, r.sha256, r.size, r.source, r.mtime),
                tags=r.tags,
                meta=r.meta,
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
            # A file read again keeps the tags and metadata its document was given.
            given = {r.name: (r.tags, r.meta) for r in records}
            for item in self._read_files(files, "folder", report):
                tags, meta = given.get(item.name, ((), {}))
                items.append(replace(item, tags=tags, meta=meta))
        if not items:
            raise CorpusError(f"nothing to index: {folder or self.store.where} holds no readable documents")
        prepared = self.preparer.prepare(items)
        log.info("rebuilding the index from %d documents", len(prepared))
        self.commit(prepared, [r.name for r in records], full=True, originals=originals_of(items))
        report.added = [p.record.name for p in prepared]
        return report

    def _write_files(
        self,
        files: list[Path],
        gone: list[str],
        source: str,
        report: WriteReport,
        tags: tuple[str, ...] | None = None,
        meta: Meta | None = None,
    ) -> None:
        """Write `files` and remove `gone`; the files get `tags` and `meta` when either is given, else keep theirs."""
        records = {r.name: r for r in self.store.read().documents} if self.exists() else {}
        items = []
        for item in self._read_files(files, source, report):
            given_tags, given_meta = _labels(tags, meta, records.get(item.name))
            items.append(replace(item, tags=given_tags, meta=given_meta))
        have = {n: (r.sha256, r.tags, r.meta) for n, r in records.items()}
        fresh = []
        for item in items:
            if have.get(item.name) == (item.sha256, item.tags, item.meta) and item.name not in gone:
                report.unchanged.append(item.name)
            else:
                (report.replaced if item.name in have else report.added).append(item.name)
                fresh.append(item)
        report.removed += gone
        if fresh or gone:
            self.commit(self.preparer.prepare(fresh), gone, originals=originals_of(fresh))

    def _read_files(self, files: list[Path], source: str, report: WriteReport) -> list[Incoming]:
        items, skipped = read_files(files, source, self.settings)
        report.skipped += skipped
        return items

    def _record(self, name: str) -> DocumentRecord | None:
        if not self.exists():
            return None
        return next((r for r in self.store.read().documents if r.name == name), None)

    def _info_of(self, name: str) -> DocumentInfo:
        return _infos(self.store.read())[name]

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
            change = self.writer.change(base, add, remove, full)
            self.store.commit(change, (base.vectors, base.sentence_vectors))
            gone = set(change.remove)
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
        title_of(record),
        record.tags,
        record.meta,
    )


def _labels(
    tags: tuple[str, ...] | None, meta: Meta | None, current: DocumentRecord | None
) -> tuple[tuple[str, ...], Meta]:
    """The tags and metadata a write gives a document: those given (either one), else the ones it has."""
    if tags is None and meta is None:
        return (current.tags, current.meta) if current else ((), {})
    return check_tags(tags or ()), check_meta(meta or {})


def title_of(record: DocumentRecord) -> str:
    """A document's title: its first heading, else its file name without the suffix."""
    return record.outline[0].title if record.outline else PurePath(record.name).stem


def _infos(state: CatalogState) -> dict[str, DocumentInfo]:
    counts: dict[str, int] = {}
    for c in state.chunks:
        counts[c.doc] = counts.get(c.doc, 0) + 1
    return {r.name: _info(r, counts.get(r.name, 0)) for r in state.documents}
