"""The distributed store: the whole collection in Milvus, so that several replicas serve it with no state of their own.

`RAG_MILVUS_URI` is milvus-lite's file (embedded, one process), or `http://host:19530` for a Milvus server or
cluster (milvus-lite's own `python -m milvus_lite server` too). Six collections, named after `RAG_MILVUS_COLLECTION`:

- `_chunks` and `_sentences`: one row per chunk or sentence, keyed by its stable id, with its document version,
  offsets, text, the raw vector, the centred vector that is searched, and for chunks the BM25 field;
- `_texts`: each document's extracted text, in parts (a field holds 64 KB);
- `_state`: each generation's list of documents (with their versions), means and manifest, in parts;
- `_meta`: the committed generation (the one row whose update commits a write), the write lease, skipped files;
- `_feedback`: the ratings users gave answers, one JSON row each (no part of a generation; a reset keeps them).

A document's rows carry its version, a hash of its name and content. A write adds the rows of new versions, which
no reader lists, writes the next generation's state, and then moves the committed generation on: readers see
the state before until that one update. Rows of versions that left are removed at the next write, and rows a
killed write left (it names them first, in `_meta`) too. Writers across replicas take turns by a lease row, the
closest Milvus comes to a lock: there is no compare-and-set, so two replicas writing in the same instant could
both hold it; the loser's documents then stay unlisted until written again.

BM25 runs on the server over our own tokens (the ones the embedded store uses, hashed to plain words so that any
Milvus analyzer keeps them whole), so both stores rank alike; `hybrid_search` fuses the dense and BM25 lists with
Milvus's RRF ranker.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.centring import LanguageMeans
from rag.chunking import stable_hash
from rag.data import Chunk, Sentence
from rag.errors import IndexCorruptError, InputError, RagError, TooLargeError
from rag.feedback import Feedback, feedback_of
from rag.sections import Heading, Sections
from rag.settings import Settings
from rag.store import VectorIndex
from rag.store.records import CatalogState, Commit, DocumentRecord, StoredDocument

if TYPE_CHECKING:
    from pymilvus import MilvusClient

log = logging.getLogger(__name__)

FIELD_BYTES = 60_000  # a VARCHAR holds 65,535 bytes
BATCH = 500
QUERY_LIMIT = 16_384
LEASE_S = 120.0
LEASE_WAIT_S = 300.0
# How long a replica trusts the committed generation it last read before asking again.
GENERATION_TTL_S = 1.0
TABLES = ("chunks", "sentences")
# Several vector fields in a collection, BM25 functions and hybrid search came with Milvus 2.4 and 2.5.
MIN_SERVER = (2, 5)
INDEX_TYPES = {"auto": "FLAT", "flat": "FLAT", "hnsw": "HNSW", "hnswsq": "HNSW", "ivfsq": "IVF_SQ8", "ivfpq": "IVF_PQ"}


class MilvusError(RagError):
    """Milvus could not be reached, or refused an operation; the message says where and why."""


def lexical_text(tokens: Sequence[str]) -> str:
    """Tokens as a BM25 field: each one a plain hex word, which every Milvus analyzer keeps whole."""
    return " ".join(f"t{stable_hash(t.encode()):x}" for t in tokens)


def version_of(record: DocumentRecord) -> int:
    """A document's version: a hash of its name and content."""
    return stable_hash(f"{record.name}\0{record.sha256}".encode())


def _parts(text: str, limit: int = FIELD_BYTES) -> list[str]:
    """`text` cut into pieces of at most `limit` UTF-8 bytes, never inside a character."""
    data = text.encode("utf-8")
    out, at = [], 0
    while at < len(data):
        end = min(len(data), at + limit)
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1
        out.append(data[at:end].decode("utf-8"))
        at = end
    return out or [""]


def check_server(version: str, where: str) -> None:
    """Refuse a Milvus server older than `MIN_SERVER` before anything is created on it."""
    found = re.match(r"v?(\d+)\.(\d+)\.", version)
    if found and (int(found[1]), int(found[2])) < MIN_SERVER:
        need = ".".join(map(str, MIN_SERVER))
        raise MilvusError(
            f"Milvus {version} at {where} is too old: this store needs Milvus {need} or later "
            "(several vector fields per collection, BM25 functions, hybrid search)"
        )


def connect(settings: Settings) -> MilvusClient:
    """A client for `RAG_MILVUS_URI` (milvus-lite's file in the index folder when unset)."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise InputError('RAG_VECTOR_STORE=milvus needs the milvus extra: pip install -e ".[milvus]"') from exc
    uri = settings.milvus_uri or str(settings.index_dir / "milvus.db")
    if not uri.startswith(("http://", "https://", "tcp://")):
        settings.index_dir.mkdir(parents=True, exist_ok=True)
    token = settings.milvus_token.get_secret_value() if settings.milvus_token is not None else ""
    try:
        return MilvusClient(uri=uri, token=token)
    except Exception as exc:
        raise MilvusError(f"cannot connect to Milvus at {uri} (RAG_MILVUS_URI): {exc}") from exc


@dataclass(frozen=True)
class LoadedState:
    """One generation as stored in `_state`: documents (without text), versions, meta, and the versions to drop."""

    generation: int
    meta: dict[str, Any]
    documents: list[dict[str, Any]]
    gone: list[int]


class MilvusStore:
    """A collection in Milvus (`rag.store.Store`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = connect(settings)
        self.prefix = settings.milvus_collection
        self.where = f"{settings.milvus_uri or settings.index_dir / 'milvus.db'} ({self.prefix}_*)"
        self.owner = uuid.uuid4().hex
        self._mutex = threading.Lock()
        self._generation: tuple[float, int] | None = None
        self._ready = False
        version = str(self._call(self.client.get_server_version))
        self.lite = version.startswith("milvus_lite")
        check_server(version, self.where)

    # collections

    def name(self, what: str) -> str:
        """The Milvus collection of one part of the store."""
        return f"{self.prefix}_{what}"

    def _ensure(self, dim: int | None = None) -> None:
        """Create the collections that are missing (the vector ones need the dimension, known at the first write)."""
        if self._ready:
            return
        from pymilvus import DataType

        c = self.client
        for what, fields in (
            ("meta", [("key", DataType.VARCHAR, {"max_length": 64, "is_primary": True}), ("value", "text", {})]),
            (
                "state",
                [("id", DataType.INT64, {"is_primary": True}), ("gen", DataType.INT64, {}), ("data", "text", {})],
            ),
            ("feedback", [("id", DataType.VARCHAR, {"max_length": 64, "is_primary": True}), ("data", "text", {})]),
            (
                "texts",
                [
                    ("id", DataType.INT64, {"is_primary": True}),
                    ("version", DataType.INT64, {}),
                    ("part", DataType.INT64, {}),
                    ("text", "text", {}),
                ],
            ),
        ):
            if c.has_collection(self.name(what)):
                # A server that restarted holds its collections released until they are loaded again.
                self._call(lambda w=what: c.load_collection(self.name(w)))
            else:
                schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
                for field, kind, extra in fields:
                    if kind == "text":
                        schema.add_field(field, DataType.VARCHAR, max_length=65535)
                    else:
                        schema.add_field(field, kind, **extra)
                # Milvus wants a vector field in every collection; these never search it.
                schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
                index = c.prepare_index_params()
                index.add_index(field_name="unused", index_type="FLAT", metric_type="L2")
                self._create(self.name(what), schema, index)
        if dim is None and not c.has_collection(self.name("chunks")):
            return
        for table in TABLES:
            if c.has_collection(self.name(table)):
                self._call(lambda t=table: c.load_collection(self.name(t)))
            elif dim is None:
                raise IndexCorruptError(f"{self.where} lacks {self.name(table)}; run `rag index --rebuild`")
            else:
                self._create_rows(table, dim)
        self._ready = True

    def _create_rows(self, table: str, dim: int) -> None:
        from pymilvus import DataType, Function, FunctionType

        c = self.client
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("version", DataType.INT64)
        schema.add_field("doc", DataType.VARCHAR, max_length=1024)
        schema.add_field("start", DataType.INT64)
        schema.add_field("end", DataType.INT64)
        schema.add_field("text", DataType.VARCHAR, max_length=65535)
        schema.add_field("language", DataType.VARCHAR, max_length=8)
        schema.add_field("page", DataType.INT64)
        schema.add_field("raw", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index = c.prepare_index_params()
        kind = INDEX_TYPES[self.settings.index_type]
        params = (
            {"M": self.settings.hnsw_m, "efConstruction": self.settings.hnsw_ef_construction} if kind == "HNSW" else {}
        )
        index.add_index(field_name="vector", index_type=kind, metric_type="IP", params=params)
        index.add_index(field_name="raw", index_type="FLAT", metric_type="IP")
        if table == "chunks":
            schema.add_field("tokens", DataType.VARCHAR, max_length=65535)
            schema.add_field(
                "lexical",
                DataType.VARCHAR,
                max_length=65535,
                enable_analyzer=True,
                analyzer_params={"tokenizer": "standard"},
            )
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(
                Function(
                    name="bm25",
                    function_type=FunctionType.BM25,
                    input_field_names=["lexical"],
                    output_field_names=["sparse"],
                )
            )
            # BM25 as the embedded store's bm25s scores it (Lucene's, k1 1.5, b 0.75).
            index.add_index(
                field_name="sparse",
                index_type="SPARSE_INVERTED_INDEX",
                metric_type="BM25",
                params={"bm25_k1": 1.5, "bm25_b": 0.75},
            )
        self._create(self.name(table), schema, index)

    def _create(self, name: str, schema: Any, index: Any) -> None:
        """Create a collection with its indexes and load it, without polling for the indexes to finish.

        pymilvus polls with a call milvus-lite does not serve (it logs a traceback for each); an index on a
        new, empty collection is built as soon as it is asked for.
        """
        self._call(lambda: self.client.create_collection(name, schema=schema))
        self._call(lambda: self.client.create_index(name, index, sync=False))
        self._call(lambda: self.client.load_collection(name))

    # meta

    def _meta(self, key: str) -> Any:
        rows = self._call(
            lambda: self.client.query(self.name("meta"), ids=[key], output_fields=["value"], consistency_level="Strong")
        )
        return json.loads(rows[0]["value"]) if rows else None

    def _set_meta(self, key: str, value: Any) -> None:
        text = json.dumps(value)
        if len(text.encode()) > FIELD_BYTES:
            raise MilvusError(f"{key} does not fit a Milvus field ({len(text)} bytes)")
        self._call(lambda: self.client.upsert(self.name("meta"), [{"key": key, "value": text, "unused": [0.0, 0.0]}]))

    def _call(self, fn: Any) -> Any:
        try:
            return fn()
        except RagError:
            raise
        except Exception as exc:
            raise MilvusError(f"Milvus at {self.where} failed: {type(exc).__name__}: {exc}") from exc

    # reading

    def generation(self) -> int:
        """The committed generation, asked of Milvus at most once a second (`GENERATION_TTL_S`)."""
        now = time.monotonic()
        cached = self._generation
        if cached is not None and now - cached[0] < GENERATION_TTL_S:
            return cached[1]
        self._ensure()
        current = self._meta("current") or {}
        gen = int(current.get("generation", 0))
        self._generation = (now, gen)
        return gen

    def _state(self) -> LoadedState:
        self._ensure()
        current = self._meta("current") or {}
        gen = int(current.get("generation", 0))
        if gen == 0:
            return LoadedState(0, {}, [], [])
        rows = self._all(self.name("state"), f"gen == {gen}", ["id", "data"])
        text = "".join(r["data"] for r in sorted(rows, key=lambda r: r["id"]))
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise IndexCorruptError(
                f"generation {gen} of {self.where} is damaged ({exc}); run `rag index --rebuild`"
            ) from exc
        return LoadedState(gen, data["meta"], data["documents"], data["gone"])

    def _all(self, collection: str, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        """Every row matching `expr`, which must match fewer than `QUERY_LIMIT` (Milvus's cap on one query)."""
        rows = self._call(
            lambda: self.client.query(
                collection, filter=expr, output_fields=fields, limit=QUERY_LIMIT, consistency_level="Strong"
            )
        )
        if len(rows) >= QUERY_LIMIT:
            raise MilvusError(f"{collection} holds over {QUERY_LIMIT} rows for {expr[:80]}")
        return list(rows)

    def _by_version(self, collection: str, versions: list[int], fields: list[str]) -> list[dict[str, Any]]:
        """The rows of `versions`, asked for in groups small enough for one query each (split when one is not)."""
        out: list[dict[str, Any]] = []
        groups = [versions[i : i + BATCH] for i in range(0, len(versions), BATCH)]
        while groups:
            group = groups.pop()
            try:
                out += self._all(collection, f"version in {group}", fields)
            except MilvusError:
                if len(group) == 1:
                    raise
                groups += [group[: len(group) // 2], group[len(group) // 2 :]]
        return out

    def read(self) -> CatalogState:
        """The committed generation: documents with their text, chunks, sentences and meta."""
        state = self._state()
        if state.generation == 0:
            return CatalogState(0, {}, [], [], [], [])
        versions = [int(d["version"]) for d in state.documents]
        parts: dict[int, list[tuple[int, str]]] = {}
        for row in self._by_version(self.name("texts"), versions, ["version", "part", "text"]):
            parts.setdefault(int(row["version"]), []).append((int(row["part"]), row["text"]))
        documents = []
        for d in state.documents:
            text = "".join(t for _, t in sorted(parts.get(int(d["version"]), [])))
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
                    # A state written before outlines were kept has none.
                    tuple(Heading(*h) for h in d.get("outline", [])),
                )
            )
        documents.sort(key=lambda r: r.name)
        texts = {r.name: r.text for r in documents}
        sections = {r.name: Sections(r.outline) for r in documents}
        fields = ["id", "doc", "start", "end", "text", "language", "page"]
        chunk_rows = sorted(self._by_version(self.name("chunks"), versions, [*fields, "tokens"]), key=_order)
        sentence_rows = sorted(self._by_version(self.name("sentences"), versions, fields), key=_order)
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

    def raw_vectors(self, table: str) -> tuple[np.ndarray, np.ndarray]:
        """Ids and raw vectors of the committed generation's rows, in id order."""
        state = self._state()
        rows = self._by_version(self.name(table), [int(d["version"]) for d in state.documents], ["id", "raw"])
        rows.sort(key=lambda r: r["id"])
        ids = np.asarray([r["id"] for r in rows], np.int64)
        return ids, np.asarray([r["raw"] for r in rows], np.float32).reshape(len(rows), -1)

    def indexes(
        self, state: CatalogState, means: LanguageMeans, settings: Settings, dim: int
    ) -> tuple[VectorIndex, VectorIndex, bool]:
        """Views that search the generation's rows on the server."""
        loaded = self._state()
        gone = loaded.gone if loaded.generation == state.generation else []
        chunk_ids = frozenset(c.id for c in state.chunks)
        sentence_ids = frozenset(s.id for s in state.sentences)
        return (
            MilvusView(self, "chunks", chunk_ids, gone, dim),
            MilvusView(self, "sentences", sentence_ids, gone, dim),
            False,
        )

    def skipped(self) -> dict[str, tuple[int, float, str]]:
        """Unreadable folder files, as the last sync found them."""
        self._ensure()
        return {n: (v[0], v[1], v[2]) for n, v in (self._meta("skipped") or {}).items()}

    def set_skipped(self, skipped: dict[str, tuple[int, float, str]]) -> None:
        """Replace the record of unreadable folder files."""
        self._ensure()
        self._set_meta("skipped", {n: list(v) for n, v in skipped.items()})

    def add_feedback(self, item: Feedback) -> None:
        """Record a rating as one row of `_feedback`."""
        self._ensure()
        text = json.dumps(item.to_dict(), ensure_ascii=False)
        if len(text.encode()) > FIELD_BYTES:
            raise TooLargeError(
                f"the feedback is {len(text.encode())} bytes as stored, and a Milvus field holds {FIELD_BYTES}: "
                "send a shorter answer or fewer citations"
            )
        self._call(
            lambda: self.client.insert(self.name("feedback"), [{"id": item.id, "data": text, "unused": [0.0, 0.0]}])
        )

    def feedback(self) -> list[Feedback]:
        """Every rating recorded, oldest first."""
        self._ensure()
        rows = self._all(self.name("feedback"), 'id != ""', ["data"])
        items = [feedback_of(json.loads(r["data"])) for r in rows]
        return sorted(items, key=lambda i: (i.created, i.id))

    def reset(self) -> str:
        """Drop the collections (a damaged state); a rebuild makes them again."""
        with self.lock():
            for what in ("chunks", "sentences", "texts", "state", "meta"):
                if self.client.has_collection(self.name(what)):
                    self.client.drop_collection(self.name(what))
        self._ready = False
        self._generation = None
        return f"nowhere: dropped {self.prefix}_* in {self.where}"

    def salvage(self) -> list[tuple[str, str]] | None:
        """None: a damaged Milvus state is not read any further, so which documents it held is not known."""
        return None

    # writing

    @contextmanager
    def lock(self) -> Iterator[None]:
        """The write lease in `_meta`, for one writer across replicas (and a mutex within this process)."""
        with self._mutex:
            self._ensure()
            deadline = time.monotonic() + LEASE_WAIT_S
            while True:
                lease = self._meta("lock") or {}
                if not lease.get("owner") or lease.get("until", 0) < time.time() or lease["owner"] == self.owner:
                    self._set_meta("lock", {"owner": self.owner, "until": time.time() + LEASE_S})
                    # Another replica may have written its claim in the same instant: the last one stands.
                    time.sleep(0.05)
                    if (self._meta("lock") or {}).get("owner") == self.owner:
                        # The writer must build on what is committed now, not on the second-old generation.
                        self._generation = None
                        break
                if time.monotonic() > deadline:
                    raise MilvusError(f"another replica has held the write lease of {self.where} for too long")
                time.sleep(0.2)
            try:
                yield
            finally:
                self._set_meta("lock", {"owner": "", "until": 0})

    def commit(self, change: Commit, base: tuple[VectorIndex, VectorIndex]) -> None:
        """Add the new versions' rows, write the next state, then move the committed generation on (under `lock`)."""
        dim = int(change.updates["chunks"].vectors.shape[1]) if change.updates["chunks"].vectors.size else None
        if dim is None and change.add:
            dim = int(change.add[0].chunk_vectors.shape[1])
        self._ensure(dim)
        before = self._state()
        self._collect(before)
        added = [version_of(d.record) for d in change.add]
        self._set_meta("intent", added)
        centred = {t: dict(zip(u.ids.tolist(), u.vectors, strict=True)) for t, u in change.updates.items()}
        for doc in change.add:
            self._insert(doc, version_of(doc.record), centred)
        kept = [d for d in before.documents if d["name"] not in set(change.remove)]
        for table in TABLES:
            if change.updates[table].full:
                self._recentre(table, [int(d["version"]) for d in kept], centred[table])
        documents = [*kept, *(_document(d.record) | {"version": v} for d, v in zip(change.add, added, strict=True))]
        live = {int(d["version"]) for d in documents}
        gone = sorted({int(d["version"]) for d in before.documents} - live)
        self._write_state(change.generation, {"meta": change.meta, "documents": documents, "gone": gone})
        if self.lite:
            # milvus-lite searches rows it has not flushed one by one in Python (25x slower at 10k rows). A Milvus
            # server indexes growing segments itself and rate-limits flushes, so it is left to seal them.
            for table in TABLES:
                self._call(lambda t=table: self.client.flush(self.name(t)))
        self._set_meta("current", {"generation": change.generation})
        self._set_meta("intent", [])
        self._generation = None

    def _collect(self, before: LoadedState) -> None:
        """Remove the rows that no generation from `before` on lists: those that left, those a killed write left."""
        live = {int(d["version"]) for d in before.documents}
        dead = [v for v in [*before.gone, *(self._meta("intent") or [])] if v not in live]
        for what in ("chunks", "sentences", "texts"):
            for i in range(0, len(dead), BATCH):
                self._call(
                    lambda w=what, d=dead[i : i + BATCH]: self.client.delete(self.name(w), filter=f"version in {d}")
                )
        self._call(lambda: self.client.delete(self.name("state"), filter=f"gen != {before.generation}"))

    def _insert(self, doc: StoredDocument, version: int, centred: dict[str, dict[int, np.ndarray]]) -> None:
        r = doc.record
        texts = [
            {
                "id": stable_hash(f"{version}:{n}".encode()),
                "version": version,
                "part": n,
                "text": t,
                "unused": [0.0, 0.0],
            }
            for n, t in enumerate(_parts(r.text))
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
            for i in range(0, len(rows), BATCH):
                # Upsert: a document added again with the same content has the same ids.
                self._call(lambda w=what, b=rows[i : i + BATCH]: self.client.upsert(self.name(w), b))

    def _recentre(self, table: str, versions: list[int], centred: dict[int, np.ndarray]) -> None:
        """Give the kept rows their vectors centred with new means (the raw ones stay)."""
        fields = ["id", "version", "doc", "start", "end", "text", "language", "page", "raw"]
        if table == "chunks":
            fields += ["tokens", "lexical"]
        rows = [
            r | {"vector": centred[int(r["id"])].tolist()} for r in self._by_version(self.name(table), versions, fields)
        ]
        for i in range(0, len(rows), BATCH):
            self._call(lambda b=rows[i : i + BATCH]: self.client.upsert(self.name(table), b))

    def _write_state(self, generation: int, state: dict[str, Any]) -> None:
        parts = _parts(json.dumps(state, ensure_ascii=False))
        rows = [
            {"id": generation * 100_000 + n, "gen": generation, "data": p, "unused": [0.0, 0.0]}
            for n, p in enumerate(parts)
        ]
        for i in range(0, len(rows), BATCH):
            self._call(lambda b=rows[i : i + BATCH]: self.client.upsert(self.name("state"), b))


class MilvusView:
    """Searches one table's rows of a generation on the server: a `VectorIndex` that is read-only.

    Rows of other generations may be present (a write under way, versions waiting for removal): the server skips
    the versions the state names as gone, and ids this generation does not hold are dropped here, asking for more
    when too many were.
    """

    def __init__(self, store: MilvusStore, table: str, ids: frozenset[int], gone: list[int], dim: int) -> None:
        self.store = store
        self.table = table
        self.ids = ids
        self.filter = f"version not in {gone}" if gone else ""
        self.dim = dim

    def _search(self, run: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        limit = k + 8
        while True:
            results = self.store._call(lambda n=limit: run(n))
            rows = [[h for h in hits if int(h["id"]) in self.ids][:k] for hits in results]
            if all(len(r) >= min(k, len(self.ids)) for r in rows) or all(len(h) < limit for h in results):
                break
            limit *= 4
        scores = np.zeros((len(rows), k), np.float32)
        ids = np.full((len(rows), k), -1, np.int64)
        for n, row in enumerate(rows):
            for m, hit in enumerate(row):
                scores[n, m], ids[n, m] = hit["distance"], hit["id"]
        return scores, ids

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best rows per query vector (inner product), best first."""
        if k <= 0 or not self.ids or not len(vectors):
            return np.zeros((len(vectors), max(k, 0)), np.float32), np.full((len(vectors), max(k, 0)), -1, np.int64)
        data = [v.tolist() for v in np.asarray(vectors, np.float32)]
        return self._search(
            lambda limit: self.store.client.search(
                self.store.name(self.table),
                data=data,
                anns_field="vector",
                limit=limit,
                filter=self.filter,
                consistency_level="Strong",
                search_params={"metric_type": "IP", "params": {"ef": self.store.settings.hnsw_ef_search}},
            ),
            k,
        )

    def hybrid(self, vectors: np.ndarray, lexical: list[list[str]], k: int, rrf_k: int) -> dict[int, float]:
        """Dense search for each vector and BM25 for each token list, fused on the server by RRF: id → fused score."""
        from pymilvus import AnnSearchRequest, RRFRanker

        name = self.store.name(self.table)
        reqs = [
            AnnSearchRequest(
                data=[v.tolist()], anns_field="vector", param={"metric_type": "IP"}, limit=k, expr=self.filter or None
            )
            for v in np.asarray(vectors, np.float32)
        ]
        reqs += [
            AnnSearchRequest(
                data=[lexical_text(t)],
                anns_field="sparse",
                param={"metric_type": "BM25"},
                limit=k,
                expr=self.filter or None,
            )
            for t in lexical
            if t
        ]
        results = self.store._call(
            lambda: self.store.client.hybrid_search(
                name, reqs=reqs, ranker=RRFRanker(rrf_k), limit=k, consistency_level="Strong"
            )
        )
        return {int(h["id"]): float(h["distance"]) for h in results[0] if int(h["id"]) in self.ids}

    def get(self, ids: np.ndarray) -> np.ndarray:
        """The stored (centred) vectors of `ids`, in that order."""
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        wanted = [int(i) for i in ids]
        rows = {
            int(r["id"]): r["vector"]
            for r in self.store._call(
                lambda: self.store.client.query(
                    self.store.name(self.table), ids=wanted, output_fields=["vector"], consistency_level="Strong"
                )
            )
        }
        return np.asarray([rows[i] for i in wanted], np.float32)

    def count(self) -> int:
        """Rows of this generation."""
        return len(self.ids)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Writes go through `MilvusStore.commit`, with their documents."""
        raise TypeError("a Milvus view is read-only; the collection writes through MilvusStore.commit")

    def delete(self, ids: np.ndarray) -> None:
        """Writes go through `MilvusStore.commit`."""
        raise TypeError("a Milvus view is read-only; the collection writes through MilvusStore.commit")

    def for_write(self) -> VectorIndex:
        """Writes go through `MilvusStore.commit`."""
        raise TypeError("a Milvus view is read-only; the collection writes through MilvusStore.commit")


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
    }


def _order(row: dict[str, Any]) -> tuple[str, int, int]:
    return row["doc"], row["start"], row["end"]


def _page(page: int) -> int | None:
    return None if page < 0 else page
