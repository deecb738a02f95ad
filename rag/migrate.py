"""Copy a collection from one store to another (`rag migrate --to milvus`) without re-embedding anything.

Documents, their text, chunks with their tokens, sentences, raw vectors, language means and manifest move as they
are; the centred vectors are made again from the raw ones and the same means. The copy replaces what the target
held, in one commit. Feedback on answers is added to the target's (a record it holds already is not copied again).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from rag.centring import LanguageMeans, centre
from rag.errors import CorpusError
from rag.settings import Settings
from rag.store import Store, new_vector_index, open_store, raw_rows
from rag.store.records import CatalogState, Commit, IndexUpdate, StoredDocument

log = logging.getLogger(__name__)


def _documents(state: CatalogState, raw: dict[str, np.ndarray]) -> list[StoredDocument]:
    """The state's documents with their raw vectors (`raw`: a table's, in the order of the state's rows)."""
    out = []
    for record in state.documents:
        chunks = [n for n, c in enumerate(state.chunks) if c.doc == record.name]
        sentences = [n for n, s in enumerate(state.sentences) if s.doc == record.name]
        out.append(
            StoredDocument(
                record,
                [state.chunks[n] for n in chunks],
                [state.chunk_tokens[n] for n in chunks],
                raw["chunks"][chunks],
                [state.sentences[n] for n in sentences],
                raw["sentences"][sentences],
            )
        )
    return out


def copy_collection(source: Store, target: Store, settings: Settings) -> int:
    """Make `target` hold what `source` holds; the number of documents copied."""
    state = source.read()
    if state.generation == 0 or not state.documents:
        raise CorpusError(f"{source.where} holds no collection to copy; build it first with `rag index`")
    # Every manifest since the first catalog names the dimension.
    dim = int(state.meta["manifest"]["dimension"])
    means = LanguageMeans(**state.meta["means"]) if "means" in state.meta else None
    raw: dict[str, np.ndarray] = {}
    updates = {}
    none = np.zeros(0, np.int64)
    for table, rows, mode in (("chunks", state.chunks, "passage"), ("sentences", state.sentences, "sentence")):
        raw[table] = raw_rows(source, table, rows, dim)
        # No means stored: nothing to centre with, so the raw vectors are searched as they are.
        enabled = settings.center_embeddings and means is not None
        vectors = centre(raw[table], [r.language for r in rows], getattr(means, mode, {}), enabled)
        updates[table] = IndexUpdate(np.asarray([r.id for r in rows], np.int64), vectors, none, full=True)
    meta: dict[str, Any] = {k: state.meta[k] for k in ("manifest", "means", "means_info") if k in state.meta}
    documents = _documents(state, raw)
    empty = new_vector_index(settings, none, np.zeros((0, dim), np.float32))
    with target.lock():
        before = target.read() if target.generation() else None
        remove = [r.name for r in before.documents] if before else []
        change = Commit(target.generation() + 1, meta, documents, remove, updates)
        target.commit(change, (empty, empty))
    # After the lock is released: the embedded store takes it for each record.
    have = {item.id for item in target.feedback()}
    for item in source.feedback():
        if item.id not in have:
            target.add_feedback(item)
    log.info("copied %d documents from %s to %s", len(documents), source.where, target.where)
    return len(documents)


def migrate(settings: Settings, to: str) -> tuple[int, str]:
    """Copy the configured collection (its store, `settings.vector_store`) into the `to` store; (documents, where)."""
    if to == settings.vector_store:
        raise CorpusError(f"the collection is already in {to}; set RAG_VECTOR_STORE to the store to copy from")
    target = open_store(settings.model_copy(update={"vector_store": to}))
    return copy_collection(open_store(settings), target, settings), target.where
