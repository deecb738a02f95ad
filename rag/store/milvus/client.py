"""The connection to Milvus: the client, the store's collection names, errors, and the queries every part makes.

Every call goes through `Milvus.call`, so that whatever pymilvus or the server raises reaches the user as a
`MilvusError` naming where and why.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from rag.errors import InputError, RagError
from rag.settings import Settings

if TYPE_CHECKING:
    from pymilvus import MilvusClient

FIELD_BYTES = 60_000  # a VARCHAR holds 65,535 bytes
BATCH = 500
QUERY_LIMIT = 16_384
# Several vector fields in a collection, BM25 functions and hybrid search came with Milvus 2.4 and 2.5.
MIN_SERVER = (2, 5)
# Milvus wants a vector field in every collection; the collections that hold no vectors fill it with this.
UNUSED = [0.0, 0.0]


class MilvusError(RagError):
    """Milvus could not be reached, or refused an operation; the message says where and why."""


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


def parts(text: str, limit: int = FIELD_BYTES) -> list[str]:
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


class Milvus:
    """One store's collections on one Milvus (`RAG_MILVUS_COLLECTION` names them), and the calls made on them."""

    def __init__(self, settings: Settings) -> None:
        self.client = connect(settings)
        self.prefix = settings.milvus_collection
        self.where = f"{settings.milvus_uri or settings.index_dir / 'milvus.db'} ({self.prefix}_*)"

    def name(self, what: str) -> str:
        """The Milvus collection of one part of the store."""
        return f"{self.prefix}_{what}"

    def call(self, fn: Any) -> Any:
        """`fn()`, with what Milvus raises turned into a `MilvusError`."""
        try:
            return fn()
        except RagError:
            raise
        except Exception as exc:
            raise MilvusError(f"Milvus at {self.where} failed: {type(exc).__name__}: {exc}") from exc

    def meta(self, key: str) -> Any:
        """The value under `key` in `_meta`, None when unset."""
        rows = self.call(
            lambda: self.client.query(self.name("meta"), ids=[key], output_fields=["value"], consistency_level="Strong")
        )
        return json.loads(rows[0]["value"]) if rows else None

    def set_meta(self, key: str, value: Any) -> None:
        """Set `key` in `_meta` (one row, so one update)."""
        text = json.dumps(value)
        if len(text.encode()) > FIELD_BYTES:
            raise MilvusError(f"{key} does not fit a Milvus field ({len(text)} bytes)")
        self.call(lambda: self.client.upsert(self.name("meta"), [{"key": key, "value": text, "unused": UNUSED}]))

    def all(self, collection: str, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        """Every row matching `expr`, which must match fewer than `QUERY_LIMIT` (Milvus's cap on one query)."""
        rows = self.call(
            lambda: self.client.query(
                collection, filter=expr, output_fields=fields, limit=QUERY_LIMIT, consistency_level="Strong"
            )
        )
        if len(rows) >= QUERY_LIMIT:
            raise MilvusError(f"{collection} holds over {QUERY_LIMIT} rows for {expr[:80]}")
        return list(rows)

    def by_version(self, collection: str, versions: list[int], fields: list[str]) -> list[dict[str, Any]]:
        """The rows of `versions`, asked for in groups small enough for one query each (split when one is not)."""
        out: list[dict[str, Any]] = []
        groups = [versions[i : i + BATCH] for i in range(0, len(versions), BATCH)]
        while groups:
            group = groups.pop()
            try:
                out += self.all(collection, f"version in {group}", fields)
            except MilvusError:
                if len(group) == 1:
                    raise
                groups += [group[: len(group) // 2], group[len(group) // 2 :]]
        return out

    def upsert(self, what: str, rows: list[dict[str, Any]]) -> None:
        """Upsert `rows` into one part of the store, `BATCH` rows a call."""
        for i in range(0, len(rows), BATCH):
            self.call(lambda b=rows[i : i + BATCH]: self.client.upsert(self.name(what), b))
