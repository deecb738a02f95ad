"""The write lease: one writer at a time across replicas, by a row of `_meta`.

It is the closest Milvus comes to a lock: there is no compare-and-set, so two replicas claiming in the same
instant could both hold it; the loser's documents then stay unlisted until written again. A lease whose holder
died lapses after `LEASE_S`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rag.store.milvus.client import Milvus, MilvusError

LEASE_S = 120.0
LEASE_WAIT_S = 300.0
# How long a claim is left to meet a rival's written in the same instant before it is read back.
SETTLE_S = 0.05
RETRY_S = 0.2


@contextmanager
def held(db: Milvus, owner: str) -> Iterator[None]:
    """The lease for `owner`, waited for up to `LEASE_WAIT_S`, and given back on exit."""
    deadline = time.monotonic() + LEASE_WAIT_S
    while True:
        lease = db.meta("lock") or {}
        if not lease.get("owner") or lease.get("until", 0) < time.time() or lease["owner"] == owner:
            db.set_meta("lock", {"owner": owner, "until": time.time() + LEASE_S})
            # Another replica may have written its claim in the same instant: the last one stands.
            time.sleep(SETTLE_S)
            if (db.meta("lock") or {}).get("owner") == owner:
                break
        if time.monotonic() > deadline:
            raise MilvusError(f"another replica has held the write lease of {db.where} for too long")
        time.sleep(RETRY_S)
    try:
        yield
    finally:
        db.set_meta("lock", {"owner": "", "until": 0})
