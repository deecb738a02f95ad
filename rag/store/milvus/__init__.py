"""The distributed store: the whole collection in Milvus, so that several replicas serve it with no state of their own.

`RAG_MILVUS_URI` is milvus-lite's file (embedded, one process), or `http://host:19530` for a Milvus server or
cluster (milvus-lite's own `python -m milvus_lite server` too). Six collections, named after `RAG_MILVUS_COLLECTION`:
`_chunks` and `_sentences` (a row per chunk or sentence, with its raw and centred vectors), `_texts` (documents'
text), `_state` (each generation's documents and meta), `_meta` (the committed generation, the write lease,
skipped files) and `_feedback` (ratings, no part of a generation; a reset keeps them).

By job:
- `client`: the connection, its errors, and the queries every part makes;
- `schema`: the collections' fields and indexes, made when missing;
- `state`: a generation read whole, and a write that moves the committed one on in one update;
- `lease`: one writer at a time across replicas;
- `view`: one table's rows of a generation, searched on the server (dense, and BM25 fused by Milvus's RRF);
- `store`: `MilvusStore`, the `rag.store.Store` over them.

BM25 runs on the server over our own tokens (the ones the embedded store uses, hashed to plain words so that any
Milvus analyzer keeps them whole), so both stores rank alike.
"""

from rag.store.milvus.client import MilvusError, check_server, connect
from rag.store.milvus.store import MilvusStore

__all__ = ["MilvusError", "MilvusStore", "check_server", "connect"]
