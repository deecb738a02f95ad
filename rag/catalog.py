"""The collection's catalog in SQLite (WAL): documents with their text, chunks, sentences, raw vectors, feedback.

The catalog is the record of truth. Each write is one transaction that also moves the generation on; the
vector index files of a generation are derived from it (they can be rebuilt from the raw vectors stored here,
without the model). Readers read one generation inside one read transaction, so they never see half a write.
Feedback is no part of a generation: recording it moves nothing on. The schema's version is SQLite's
`user_version`; the first write connection to an older catalog adds what the schema gained since.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from rag import storage
from rag.data import Chunk, Sentence
from rag.errors import IndexCorruptError, StorageFullError, StorageReadOnlyError
from rag.feedback import Feedback
from rag.sections import Sections, outline_from_json, outline_to_json
from rag.store.records import CatalogState, DocumentRecord, StoredDocument

# 1: documents, chunks, sentences, skipped; 2: feedback.
SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 30_000
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    name TEXT PRIMARY KEY, sha256 TEXT NOT NULL, format TEXT NOT NULL, language TEXT NOT NULL,
    size INTEGER NOT NULL, source TEXT NOT NULL, mtime REAL, added TEXT NOT NULL, text TEXT NOT NULL,
    pages TEXT NOT NULL, outline TEXT NOT NULL DEFAULT '[]', tags TEXT NOT NULL DEFAULT '[]',
    meta TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, doc TEXT NOT NULL REFERENCES documents(name) ON DELETE CASCADE,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, clean TEXT NOT NULL, language TEXT NOT NULL, page INTEGER,
    tokens TEXT NOT NULL, vector BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sentences (
    id INTEGER PRIMARY KEY, doc TEXT NOT NULL REFERENCES documents(name) ON DELETE CASCADE,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL, language TEXT NOT NULL, page INTEGER,
    vector BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS skipped (
    name TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime REAL NOT NULL, reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id TEXT PRIMARY KEY, created TEXT NOT NULL, rating TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL,
    citations TEXT NOT NULL, comment TEXT NOT NULL, correct_doc TEXT, correct_quote TEXT,
    generation INTEGER NOT NULL, settings_digest TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc);
CREATE INDEX IF NOT EXISTS sentences_doc ON sentences(doc);
"""


class Catalog:
    """Reads and writes `catalog.sqlite` in a collection folder."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        """Whether a catalog has been written here."""
        return self.path.is_file()

    @contextmanager
    def connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection (WAL, foreign keys on), closed on exit; with `write`, the schema is put in place first.

        A read connection writes nothing of its own, so that a full or read-only disk still answers. Storage
        faults raise their `StorageError`, damage `IndexCorruptError`.
        """
        try:
            with closing(self._open(write)) as con:
                yield con
        except sqlite3.Error as exc:
            problem = storage.fault(exc, self.path)
            if problem is not None:
                raise problem from exc
            if storage.is_damage(exc):
                raise IndexCorruptError(
                    f"{self.path} is damaged ({exc}); `rag index --rebuild` sets it aside (the file is kept) and "
                    "indexes again, after it has said which documents that would drop and asked"
                ) from exc
            raise

    def _open(self, write: bool) -> sqlite3.Connection:
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            _configure(con)
            if write:
                con.execute("PRAGMA journal_mode=WAL")
                if con.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                    # Every statement of the schema is CREATE … IF NOT EXISTS: on an older catalog it adds what
                    # is missing and leaves the rest as it is.
                    con.executescript(SCHEMA)
                    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                have = _document_columns(con)
                for column, spec in ADDED_COLUMNS.items():
                    if column not in have:
                        con.execute(f"ALTER TABLE documents ADD COLUMN {column} {spec}")
            else:
                # The first read maps SQLite's shared-memory file (`-shm`), which it must create and grow.
                con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            con.close()
            fallback = None if write else self._fallback(exc)
            if fallback is None:
                raise
            return self._open_without_shm(*fallback)
        return con

    def _fallback(self, exc: sqlite3.Error) -> tuple[str, str | None] | None:
        """How to read when a full or read-only disk stops SQLite making its shared-memory file: (uri, pragma)."""
        wal = self.path.with_name(self.path.name + "-wal")
        problem = storage.fault(exc, self.path)
        uri = self.path.absolute().as_uri()
        if isinstance(problem, StorageFullError):
            # In exclusive locking mode SQLite keeps the WAL index in memory, not in the file it cannot grow; other
            # readers wait for this read's end (the busy timeout), and the WAL's commits are read as usual.
            return f"{uri}?mode=rw", "PRAGMA locking_mode=EXCLUSIVE"
        if isinstance(problem, StorageReadOnlyError) and (not wal.exists() or wal.stat().st_size == 0):
            # Nothing can write a read-only file system, and with no WAL the file alone is the committed state.
            return f"{uri}?mode=ro&immutable=1", None
        return None

    def _open_without_shm(self, uri: str, pragma: str | None) -> sqlite3.Connection:
        con = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            if pragma is not None:
                con.execute(pragma)
            _configure(con)
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error:
            con.close()
            raise
        return con

    def move_aside(self) -> Path:
        """Rename an unreadable catalog (and its WAL files) out of the way; the path it now has."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            part = self.path.with_name(self.path.name + suffix)
            if part.exists():
                os.replace(part, aside.with_name(aside.name + suffix))
        return aside

    def salvage(self) -> list[tuple[str, str]] | None:
        """Names and sources of a damaged catalog's documents, when that much of it reads; None when it does not."""
        try:
            with closing(sqlite3.connect(f"{self.path.absolute().as_uri()}?mode=ro", uri=True)) as con:
                return [(name, source) for name, source in con.execute("SELECT name, source FROM documents")]
        except sqlite3.DatabaseError:
            return None

    def generation(self) -> int:
        """The committed generation (0 before the first write): a cheap check for readers."""
        if not self.exists():
            return 0
        with self.connect() as con:
            row = con.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def read(self) -> CatalogState:
        """The committed generation, whole, from one read transaction (generation 0 before the first write)."""
        if not self.exists():
            return CatalogState(0, {}, [], [], [], [])
        with self.connect() as con:
            con.execute("BEGIN")
            try:
                meta = {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM meta")}
                have = _document_columns(con)
                added = ", ".join(c if c in have else f"{ADDED_DEFAULTS[c]} AS {c}" for c in ADDED_COLUMNS)
                rows = con.execute(f"SELECT {DOC_COLUMNS}, {added} FROM documents ORDER BY name")
                docs = [_document(row) for row in rows]
                chunk_rows = con.execute(
                    'SELECT id, doc, start, "end", clean, language, page, tokens FROM chunks ORDER BY doc, start, "end"'
                ).fetchall()
                sentence_rows = con.execute(
                    'SELECT id, doc, start, "end", text, language, page FROM sentences ORDER BY doc, start, "end"'
                ).fetchall()
            finally:
                con.execute("COMMIT")
        texts = {d.name: d.text for d in docs}
        sections = {d.name: Sections(d.outline) for d in docs}
        chunks = [
            Chunk(i, d, s, e, texts[d][s:e], clean, lang, page, sections[d].at(s))
            for i, d, s, e, clean, lang, page, _ in chunk_rows
        ]
        tokens = [json.loads(row[7]) for row in chunk_rows]
        sentences = [
            Sentence(i, d, s, e, text, lang, page, sections[d].at(s)) for i, d, s, e, text, lang, page in sentence_rows
        ]
        return CatalogState(int(meta.get("generation", 0)), meta, docs, chunks, tokens, sentences)

    def skipped(self) -> dict[str, tuple[int, float, str]]:
        """Corpus folder files that could not be read: name → (size, mtime, why), as the last sync found them."""
        if not self.exists():
            return {}
        with self.connect() as con:
            return {n: (size, mtime, why) for n, size, mtime, why in con.execute("SELECT * FROM skipped")}

    def set_skipped(self, skipped: dict[str, tuple[int, float, str]]) -> None:
        """Replace the record of unreadable folder files (it does not change what is searchable)."""
        with self.connect(write=True) as con:
            con.execute("BEGIN IMMEDIATE")
            con.execute("DELETE FROM skipped")
            con.executemany("INSERT INTO skipped VALUES (?, ?, ?, ?)", [(n, *v) for n, v in skipped.items()])
            con.execute("COMMIT")

    def add_feedback(self, item: Feedback) -> None:
        """Record one rating of an answer (it does not change what is searchable, nor the generation)."""
        with self.connect(write=True) as con:
            con.execute(
                f"INSERT INTO feedback ({FEEDBACK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    item.id,
                    item.created,
                    item.rating,
                    item.question,
                    item.answer,
                    json.dumps(list(item.citations), ensure_ascii=False),
                    item.comment,
                    item.correct_doc,
                    item.correct_quote,
                    item.generation,
                    item.settings_digest,
                ),
            )

    def feedback(self) -> list[Feedback]:
        """Every rating recorded, oldest first (none in a catalog older than the feedback table)."""
        if not self.exists():
            return []
        with self.connect() as con:
            if con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'feedback'").fetchone()[0] == 0:
                return []
            rows = con.execute(f"SELECT {FEEDBACK_COLUMNS} FROM feedback ORDER BY created, rowid").fetchall()
        return [_feedback(row) for row in rows]

    def vectors(self, table: str) -> tuple[np.ndarray, np.ndarray]:
        """Ids and raw vectors of every chunk or sentence (`table`), in id order."""
        if table not in ("chunks", "sentences"):
            raise ValueError(table)
        if not self.exists():
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        with self.connect() as con:
            rows = con.execute(f"SELECT id, vector FROM {table} ORDER BY id").fetchall()
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        if not rows:
            return ids, np.zeros((0, 0), dtype=np.float32)
        return ids, np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])

    def write(self, generation: int, meta: dict[str, Any], add: list[StoredDocument], remove: list[str]) -> None:
        """Remove documents (their chunks and sentences go too), add documents and set meta, in one transaction.

        `meta` gets the new generation. Nothing of it is visible until it commits.
        """
        with self.connect(write=True) as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany("DELETE FROM documents WHERE name = ?", [(name,) for name in remove])
                for doc in add:
                    _insert(con, doc)
                rows = [(k, json.dumps(v)) for k, v in (meta | {"generation": generation}).items()]
                con.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", rows)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")


def _configure(con: sqlite3.Connection) -> None:
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA foreign_keys=ON")
    # Sorts and temporary indexes in memory: a read must not need room on a disk that may be full.
    con.execute("PRAGMA temp_store=MEMORY")


DOC_COLUMNS = "name, sha256, format, language, size, source, mtime, added, text, pages"
# Added to `documents` after schema 1 shipped, whatever the schema's version: a catalog made before gets them at
# its first write connection, and reads as having none until then.
ADDED_DEFAULTS = {"outline": "'[]'", "tags": "'[]'", "meta": "'{}'"}
ADDED_COLUMNS = {column: f"TEXT NOT NULL DEFAULT {default}" for column, default in ADDED_DEFAULTS.items()}


_ALL_COLUMNS = [*DOC_COLUMNS.split(", "), *ADDED_COLUMNS]
INSERT_DOCUMENT = f"INSERT INTO documents ({', '.join(_ALL_COLUMNS)}) VALUES ({', '.join('?' * len(_ALL_COLUMNS))})"


def _document_columns(con: sqlite3.Connection) -> set[str]:
    """The columns the catalog's `documents` has (one made before a column was added lacks it, until written)."""
    return {row[1] for row in con.execute("PRAGMA table_info(documents)")}


def _document(row: tuple[Any, ...]) -> DocumentRecord:
    name, sha256, fmt, language, size, source, mtime, added, text, pages, outline, tags, meta = row
    return DocumentRecord(
        name,
        sha256,
        fmt,
        language,
        size,
        source,
        mtime,
        added,
        text,
        tuple(json.loads(pages)),
        outline_from_json(outline),
        tuple(json.loads(tags)),
        json.loads(meta),
    )


FEEDBACK_COLUMNS = (
    "id, created, rating, question, answer, citations, comment, correct_doc, correct_quote, generation, settings_digest"
)


def _feedback(row: tuple[Any, ...]) -> Feedback:
    fid, created, rating, question, answer, citations, comment, doc, quote, generation, digest = row
    return Feedback(
        fid, created, rating, question, answer, tuple(json.loads(citations)), comment, doc, quote, generation, digest
    )


def _insert(con: sqlite3.Connection, doc: StoredDocument) -> None:
    r = doc.record
    con.execute(
        INSERT_DOCUMENT,
        (
            *(r.name, r.sha256, r.format, r.language, r.size, r.source, r.mtime, r.added, r.text),
            *(json.dumps(r.pages), outline_to_json(r.outline)),
            *(json.dumps(list(r.tags), ensure_ascii=False), json.dumps(r.meta, ensure_ascii=False)),
        ),
    )
    con.executemany(
        'INSERT INTO chunks (id, doc, start, "end", clean, language, page, tokens, vector) '
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (c.id, c.doc, c.start, c.end, c.clean, c.language, c.page, json.dumps(t, ensure_ascii=False), v.tobytes())
            for c, t, v in zip(doc.chunks, doc.chunk_tokens, _f32(doc.chunk_vectors), strict=True)
        ],
    )
    con.executemany(
        'INSERT INTO sentences (id, doc, start, "end", text, language, page, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [
            (s.id, s.doc, s.start, s.end, s.text, s.language, s.page, v.tobytes())
            for s, v in zip(doc.sentences, _f32(doc.sentence_vectors), strict=True)
        ],
    )


def _f32(vectors: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(vectors, dtype=np.float32)
