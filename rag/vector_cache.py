"""Passage vectors kept by the hash of the model and the text, so that no text is embedded twice.

A rebuild, a corpus copy that differs in a few sentences (the eval's cut copies), a replaced document that kept
most of its paragraphs, or a build that died half-way embeds only the texts it has not embedded before. The key
covers everything that shapes a passage's vector: the embedder's id (model, version, converter), the passage
prefix and the sequence length. One SQLite file under the cache directory; deleting it loses nothing but time.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# SQLite's default limit on bound parameters is 32766 since 3.32; lookups go in slices well under it.
LOOKUP_SLICE = 900
BUSY_TIMEOUT_S = 30.0


class VectorCache:
    """Vectors of one embedding setup, keyed by text."""

    def __init__(self, path: Path, namespace: str, dim: int) -> None:
        self.path = path
        self.namespace = namespace.encode() + b"\0"
        self.dim = dim

    def _key(self, text: str) -> bytes:
        return hashlib.sha256(self.namespace + text.encode()).digest()[:16]

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL) WITHOUT ROWID")
            yield db

    def get(self, texts: list[str]) -> dict[int, np.ndarray]:
        """The cached vectors of `texts`, by position; texts not in the cache are absent.

        An unreadable cache (damaged, or locked past the timeout) is read as empty: it only saves time.
        """
        keys = [self._key(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        try:
            with self._connect() as db:
                for i in range(0, len(keys), LOOKUP_SLICE):
                    part = keys[i : i + LOOKUP_SLICE]
                    marks = ",".join("?" * len(part))
                    for key, blob in db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", part):
                        vector = np.frombuffer(blob, dtype=np.float32)
                        if vector.shape == (self.dim,):
                            found[key] = vector
        except (sqlite3.Error, OSError) as exc:
            log.warning("vector cache %s unreadable (%s): every text is embedded", self.path, exc)
            return {}
        return {i: found[k] for i, k in enumerate(keys) if k in found}

    def put(self, texts: list[str], vectors: np.ndarray) -> None:
        """Keep the vectors of `texts`.

        A cache that cannot be written (a full disk, a read-only cache folder) costs the next build time, not this
        one its vectors: the failure is logged and the build goes on.
        """
        rows = [
            (self._key(t), np.ascontiguousarray(v, dtype=np.float32).tobytes())
            for t, v in zip(texts, vectors, strict=True)
        ]
        try:
            with self._connect() as db, db:
                db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
        except (sqlite3.Error, OSError) as exc:
            log.warning("vectors not kept in %s (%s): a later build embeds these %d again", self.path, exc, len(rows))
