"""The store's Milvus collections: their fields and indexes, made when missing, and the BM25 field's text.

`_chunks` and `_sentences` hold a row per chunk or sentence, keyed by its stable id: its document version,
offsets, text, the raw vector, the centred vector that is searched, and for chunks the BM25 field. `_texts`,
`_state`, `_meta` and `_feedback` hold JSON and text, in parts where a field is too small.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rag.errors import IndexCorruptError
from rag.ingest.chunking import stable_hash
from rag.settings import Settings
from rag.store import TABLES
from rag.store.milvus.client import Milvus

INDEX_TYPES = {"auto": "FLAT", "flat": "FLAT", "hnsw": "HNSW", "hnswsq": "HNSW", "ivfsq": "IVF_SQ8", "ivfpq": "IVF_PQ"}
# What a reset drops: everything of a generation. Feedback is no part of one, and stays.
GENERATION_PARTS = ("chunks", "sentences", "texts", "state", "meta")


def lexical_text(tokens: Sequence[str]) -> str:
    """Tokens as a BM25 field: each one a plain hex word, which every Milvus analyzer keeps whole."""
    return " ".join(f"t{stable_hash(t.encode()):x}" for t in tokens)


def ensure(db: Milvus, settings: Settings, dim: int | None = None) -> bool:
    """Create the collections that are missing, and load those a server holds released; whether all are there.

    The row collections need the vectors' dimension, known at the first write: until then (`dim` None, no
    `_chunks`) this makes the others and says False.
    """
    from pymilvus import DataType

    c = db.client
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
        if c.has_collection(db.name(what)):
            # A server that restarted holds its collections released until they are loaded again.
            db.call(lambda w=what: c.load_collection(db.name(w)))
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
            _create(db, db.name(what), schema, index)
    if dim is None and not c.has_collection(db.name("chunks")):
        return False
    for table in TABLES:
        if c.has_collection(db.name(table)):
            db.call(lambda t=table: c.load_collection(db.name(t)))
        elif dim is None:
            raise IndexCorruptError(f"{db.where} lacks {db.name(table)}; run `rag index --rebuild`")
        else:
            _create_rows(db, settings, table, dim)
    return True


def drop(db: Milvus) -> None:
    """Drop every collection of a generation (a damaged state); `ensure` makes them again."""
    for what in GENERATION_PARTS:
        if db.client.has_collection(db.name(what)):
            db.client.drop_collection(db.name(what))


def _create_rows(db: Milvus, settings: Settings, table: str, dim: int) -> None:
    from pymilvus import DataType, Function, FunctionType

    c = db.client
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
    kind = INDEX_TYPES[settings.index_type]
    params = {"M": settings.hnsw_m, "efConstruction": settings.hnsw_ef_construction} if kind == "HNSW" else {}
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
    _create(db, db.name(table), schema, index)


def _create(db: Milvus, name: str, schema: Any, index: Any) -> None:
    """Create a collection with its indexes and load it, without polling for the indexes to finish.

    pymilvus polls with a call milvus-lite does not serve (it logs a traceback for each); an index on a
    new, empty collection is built as soon as it is asked for.
    """
    db.call(lambda: db.client.create_collection(name, schema=schema))
    db.call(lambda: db.client.create_index(name, index, sync=False))
    db.call(lambda: db.client.load_collection(name))
