"""`MilvusStore`: the `Store` over the parts of this package (schema, state, lease, view), and the feedback rows."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from rag.centring import LanguageMeans
from rag.errors import TooLargeError
from rag.feedback import Feedback, feedback_of
from rag.settings import Settings
from rag.store import VectorIndex
from rag.store.milvus import lease, schema
from rag.store.milvus import state as generations
from rag.store.milvus.client import FIELD_BYTES, UNUSED, Milvus, check_server
from rag.store.milvus.view import MilvusView
from rag.store.records import CatalogState, Commit

# How long a replica trusts the committed generation it last read before asking again.
GENERATION_TTL_S = 1.0


class MilvusStore:
    """A collection in Milvus (`rag.store.Store`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Milvus(settings)
        self.where = self.db.where
        self.owner = uuid.uuid4().hex
        self._mutex = threading.Lock()
        self._generation: tuple[float, int] | None = None
        self._ready = False
        version = str(self.db.call(self.db.client.get_server_version))
        self.lite = version.startswith("milvus_lite")
        check_server(version, self.where)

    def _ensure(self, dim: int | None = None) -> None:
        if not self._ready:
            self._ready = schema.ensure(self.db, self.settings, dim)

    def _state(self) -> generations.LoadedState:
        self._ensure()
        return generations.load(self.db)

    # reading

    def generation(self) -> int:
        """The committed generation, asked of Milvus at most once a second (`GENERATION_TTL_S`)."""
        now = time.monotonic()
        cached = self._generation
        if cached is not None and now - cached[0] < GENERATION_TTL_S:
            return cached[1]
        self._ensure()
        gen = generations.committed(self.db)
        self._generation = (now, gen)
        return gen

    def read(self) -> CatalogState:
        """The committed generation: documents with their text, chunks, sentences and meta."""
        return generations.read(self.db, self._state())

    def raw_vectors(self, table: str) -> tuple[np.ndarray, np.ndarray]:
        """Ids and raw vectors of the committed generation's rows, in id order."""
        return generations.raw_vectors(self.db, self._state(), table)

    def indexes(
        self, state: CatalogState, means: LanguageMeans, settings: Settings, dim: int
    ) -> tuple[VectorIndex, VectorIndex, bool]:
        """Views that search the generation's rows on the server."""
        loaded = self._state()
        gone = loaded.gone if loaded.generation == state.generation else []
        chunk_ids = frozenset(c.id for c in state.chunks)
        sentence_ids = frozenset(s.id for s in state.sentences)
        ef = self.settings.hnsw_ef_search
        return (
            MilvusView(self.db, "chunks", chunk_ids, gone, dim, ef),
            MilvusView(self.db, "sentences", sentence_ids, gone, dim, ef),
            False,
        )

    def skipped(self) -> dict[str, tuple[int, float, str]]:
        """Unreadable folder files, as the last sync found them."""
        self._ensure()
        return {n: (v[0], v[1], v[2]) for n, v in (self.db.meta("skipped") or {}).items()}

    def set_skipped(self, skipped: dict[str, tuple[int, float, str]]) -> None:
        """Replace the record of unreadable folder files."""
        self._ensure()
        self.db.set_meta("skipped", {n: list(v) for n, v in skipped.items()})

    def add_feedback(self, item: Feedback) -> None:
        """Record a rating as one row of `_feedback`."""
        self._ensure()
        text = json.dumps(item.to_dict(), ensure_ascii=False)
        if len(text.encode()) > FIELD_BYTES:
            raise TooLargeError(
                f"the feedback is {len(text.encode())} bytes as stored, and a Milvus field holds {FIELD_BYTES}: "
                "send a shorter answer or fewer citations"
            )
        row = {"id": item.id, "data": text, "unused": UNUSED}
        self.db.call(lambda: self.db.client.insert(self.db.name("feedback"), [row]))

    def feedback(self) -> list[Feedback]:
        """Every rating recorded, oldest first."""
        self._ensure()
        rows = self.db.all(self.db.name("feedback"), 'id != ""', ["data"])
        items = [feedback_of(json.loads(r["data"])) for r in rows]
        return sorted(items, key=lambda i: (i.created, i.id))

    def reset(self) -> str:
        """Drop the collections (a damaged state); a rebuild makes them again."""
        with self.lock():
            schema.drop(self.db)
        self._ready = False
        self._generation = None
        return f"nowhere: dropped {self.db.prefix}_* in {self.where}"

    def salvage(self) -> list[tuple[str, str]] | None:
        """None: a damaged Milvus state is not read any further, so which documents it held is not known."""
        return None

    # writing

    @contextmanager
    def lock(self) -> Iterator[None]:
        """The write lease (`lease`), for one writer across replicas, and a mutex within this process."""
        with self._mutex:
            self._ensure()
            with lease.held(self.db, self.owner):
                # The writer must build on what is committed now, not on the second-old generation.
                self._generation = None
                yield

    def commit(self, change: Commit, base: tuple[VectorIndex, VectorIndex]) -> None:
        """Write `change` as the next generation (`generations.write`), under `lock`."""
        dim = int(change.updates["chunks"].vectors.shape[1]) if change.updates["chunks"].vectors.size else None
        if dim is None and change.add:
            dim = int(change.add[0].chunk_vectors.shape[1])
        self._ensure(dim)
        # milvus-lite searches rows it has not flushed one by one in Python (25x slower at 10k rows). A Milvus
        # server indexes growing segments itself and rate-limits flushes, so it is left to seal them.
        generations.write(self.db, change, flush=self.lite)
        self._generation = None
