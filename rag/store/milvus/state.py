"""The catalog in Milvus: each generation's state, read whole, and a write that moves the committed one on.

A document's rows carry its version, a hash of its name and content. `_state` holds each generation's list of
documents (with their versions), meta and the versions that left, in parts; `_meta`'s `current` row names the
committed generation. A write adds the rows of new versions, which no reader lists, writes the next generation's
state, and then moves `current` on: readers see the state before until that one update. Rows of versions that left
are removed at the next write, and rows a killed write left (it names them first, in `_meta`'s `intent`) too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.data import Chunk, Sentence
from rag.errors import IndexCorruptError
from rag.ingest.chunking import stable_hash
from rag.sections import Heading, Sections
from rag.store import TABLES
from rag.store.milvus.client import BATCH, UNUSED, Milvus, parts
from rag.store.milvus.schema import lexical_text
from rag.store.records import CatalogState, Commit, DocumentRecord, StoredDocument

# A generation's state parts are rows `generation * STATE_PARTS + n`.
STATE_PARTS = 100_000


@dataclass(frozen=True)
class LoadedState:
    """One generation as stored in `_state`: documents (without text), versions, meta, and the versions to drop."""

    generation: int
    meta: dict[str, Any]
    documents: list[dict[str, Any]]
    gone: list[int]


def version_of(record: DocumentRecord) -> int:
    """A document's version: a hash of its name and content."""
    return stable_hash(f"{record.name}\0{record.sha256}".encode())


def committed(db: Milvus) -> int:
    """The committed generation (0 before the first write)."""
    current = db.meta("current") or {}
    return int(current.get("generation", 0))


def load(db: Milvus) -> LoadedState:
    """The committed generation's state (IndexCorruptError when it does not parse)."""
    gen = committed(db)
    if gen == 0:
        return LoadedState(0, {}, [], [])
    rows = db.all(db.name("state"), f"gen == {gen}", ["id", "data"])
    text = "".join(r["data"] for r in sorted(rows, key=lambda r: r["id"]))
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise IndexCorruptError(
            f"generation {gen} of {db.where} is damaged ({exc}); run `rag index --rebuild`"
        ) from exc
    return LoadedState(gen, data["meta"], data["documents"], data["gone"])


def read(db: Milvus, state: LoadedState) -> CatalogState:
    """The generation of `state`, whole: documents with their text, chunks, sentences and meta."""
    if state.generation == 0:
        return CatalogState(0, {}, [], [], [], [])
    versions = [int(d["version"]) for d in state.documents]
    texts_of: dict[int, list[tuple[int, str]]] = {}
    for row in db.by_version(db.name("texts"), versions, ["version", "part", "text"]):
        texts_of.setdefault(int(row["version"]), []).append((int(row["part"]), row["text"]))
    documents = []
    for d in state.documents:
        text = "".join(t for _, t in sorted(texts_of.get(int(d["version"]), [])))
        documents.append(
            DocumentRecord(
                d["name"],
                d["sha256"],
                d["format"],
                d["language"],
                d["size"],
                d["source"],
                d["mtime"],
                d["added"],
                text,
                tuple(d["pages"]),
                # A state written before outlines, tags or metadata were kept has none.
                tuple(Heading(*h) for h in d.get("outline", [])),
                tuple(d.get("tags", [])),
                d.get("meta", {}),
            )
        )
    documents.sort(key=lambda r: r.name)
    texts = {r.name: r.text for r in documents}
    sections = {r.name: Sections(r.outline) for r in documents}
    fields = ["id", "doc", "start", "end", "text", "language", "page"]
    chunk_rows = sorted(db.by_version(db.name("chunks"), versions, [*fields, "tokens"]), key=_order)
    sentence_rows = sorted(db.by_version(db.name("sentences"), versions, fields), key=_order)
    chunks = [
        Chunk(
            int(r["id"]),
            r["doc"],
            r["start"],
            r["end"],
            texts[r["doc"]][r["start"] : r["end"]],
            r["text"],
            r["language"],
            _page(r["page"]),
            sections[r["doc"]].at(r["start"]),
        )
        for r in chunk_rows
    ]
    sentences = [
        Sentence(
            int(r["id"]),
            r["doc"],
            r["start"],
            r["end"],
            r["text"],
            r["language"],
            _page(r["page"]),
            sections[r["doc"]].at(r["start"]),
        )
        for r in sentence_rows
    ]
    tokens = [json.loads(r["tokens"]) for r in chunk_rows]
    return CatalogState(state.generation, state.meta, documents, chunks, tokens, sentences)


def raw_vectors(db: Milvus, state: LoadedState, table: str) -> tuple[np.ndarray, np.ndarray]:
    """Ids and raw vectors of the rows of `state`'s generation, in id order."""
    rows = db.by_version(db.name(table), [int(d["version"]) for d in state.documents], ["id", "raw"])
    rows.sort(key=lambda r: r["id"])
    ids = np.asarray([r["id"] for r in rows], np.int64)
    return ids, np.asarray([r["raw"] for r in rows], np.float32).reshape(len(rows), -1)


def write(db: Milvus, change: Commit, flush: bool) -> None:
    """Add the new versions' rows, write the next state, then move the committed generation on.

    The caller holds the write lease. `flush` seals the rows written before the generation moves on.
    """
    before = load(db)
    _collect(db, before)
    added = [version_of(d.record) for d in change.add]
    db.set_meta("intent", added)
    centred = {t: dict(zip(u.ids.tolist(), u.vectors, strict=True)) for t, u in change.updates.items()}
    for doc in change.add:
        _insert(db, doc, version_of(doc.record), centred)
    kept = [d for d in before.documents if d["name"] not in set(change.remove)]
    for table in TABLES:
        if change.updates[table].full:
            _recentre(db, table, [int(d["version"]) for d in kept], centred[table])
    documents = [*kept, *(_document(d.record) | {"version": v} for d, v in zip(change.add, added, strict=True))]
    live = {int(d["version"]) for d in documents}
    gone = sorted({int(d["version"]) for d in before.documents} - live)
    _write_state(db, change.generation, {"meta": change.meta, "documents": documents, "gone": gone})
    if flush:
        for table in TABLES:
            db.call(lambda t=table: db.client.flush(db.name(t)))
    db.set_meta("current", {"generation": change.generation})
    db.set_meta("intent", [])


def _collect(db: Milvus, before: LoadedState) -> None:
    """Remove the rows that no generation from `before` on lists: those that left, those a killed write left."""
    live = {int(d["version"]) for d in before.documents}
    dead = [v for v in [*before.gone, *(db.meta("intent") or [])] if v not in live]
    for what in ("chunks", "sentences", "texts"):
        for i in range(0, len(dead), BATCH):
            db.call(lambda w=what, d=dead[i : i + BATCH]: db.client.delete(db.name(w), filter=f"version in {d}"))
    db.call(lambda: db.client.delete(db.name("state"), filter=f"gen != {before.generation}"))


def _insert(db: Milvus, doc: StoredDocument, version: int, centred: dict[str, dict[int, np.ndarray]]) -> None:
    texts = [
        {"id": stable_hash(f"{version}:{n}".encode()), "version": version, "part": n, "text": t, "unused": UNUSED}
        for n, t in enumerate(parts(doc.record.text))
    ]
    chunks = [
        _row(c, version, raw, centred["chunks"][c.id], c.clean)
        | {"tokens": json.dumps(t, ensure_ascii=False), "lexical": lexical_text(t)}
        for c, t, raw in zip(doc.chunks, doc.chunk_tokens, doc.chunk_vectors, strict=True)
    ]
    sentences = [
        _row(s, version, raw, centred["sentences"][s.id], s.text)
        for s, raw in zip(doc.sentences, doc.sentence_vectors, strict=True)
    ]
    for what, rows in (("texts", texts), ("chunks", chunks), ("sentences", sentences)):
        # Upsert: a document added again with the same content has the same ids.
        db.upsert(what, rows)


def _recentre(db: Milvus, table: str, versions: list[int], centred: dict[int, np.ndarray]) -> None:
    """Give the kept rows their vectors centred with new means (the raw ones stay)."""
    fields = ["id", "version", "doc", "start", "end", "text", "language", "page", "raw"]
    if table == "chunks":
        fields += ["tokens", "lexical"]
    rows = db.by_version(db.name(table), versions, fields)
    db.upsert(table, [r | {"vector": centred[int(r["id"])].tolist()} for r in rows])


def _write_state(db: Milvus, generation: int, state: dict[str, Any]) -> None:
    rows = [
        {"id": generation * STATE_PARTS + n, "gen": generation, "data": p, "unused": UNUSED}
        for n, p in enumerate(parts(json.dumps(state, ensure_ascii=False)))
    ]
    db.upsert("state", rows)


def _row(item: Chunk | Sentence, version: int, raw: np.ndarray, vector: np.ndarray, text: str) -> dict[str, Any]:
    return {
        "id": item.id,
        "version": version,
        "doc": item.doc,
        "start": item.start,
        "end": item.end,
        "text": text,
        "language": item.language,
        "page": -1 if item.page is None else item.page,
        "raw": np.asarray(raw, np.float32).tolist(),
        "vector": np.asarray(vector, np.float32).tolist(),
    }


def _document(r: DocumentRecord) -> dict[str, Any]:
    return {
        "name": r.name,
        "sha256": r.sha256,
        "format": r.format,
        "language": r.language,
        "size": r.size,
        "source": r.source,
        "mtime": r.mtime,
        "added": r.added,
        "pages": list(r.pages),
        "outline": [list(h) for h in r.outline],
        "tags": list(r.tags),
        "meta": r.meta,
    }


def _order(row: dict[str, Any]) -> tuple[str, int, int]:
    return row["doc"], row["start"], row["end"]


def _page(page: int) -> int | None:
    return None if page < 0 else page
