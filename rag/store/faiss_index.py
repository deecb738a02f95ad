"""The embedded vector store: a FAISS index of the configured type inside an `IndexIDMap2` for stable ids.

A flat index removes vectors in place. HNSW cannot, and IVF renumbers what the id map points at when it does,
so a deletion there is a tombstone: searches fetch more and skip tombstoned ids, and the index is rebuilt from
the live vectors once tombstones pass a share.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from rag.errors import IndexCorruptError, InputError
from rag.settings import Settings
from rag.storage import write_atomic
from rag.store import Within

# IVF-PQ: 8-bit codes, 8 dimensions per sub-quantizer; FAISS wants ~39 training points per centroid.
PQ_BITS = 8
PQ_DIMS_PER_CODE = 8
MIN_POINTS_PER_CENTROID = 39
TRAIN_POINTS_PER_CENTROID = 64
SQ_TRAIN_POINTS = 20_000  # enough to fix each dimension's range for 8-bit scalar quantization


def resolve_index_type(index_type: str, n: int, settings: Settings) -> str:
    """The concrete index type: `auto` is exact search up to `auto_flat_max` vectors, HNSW over SQ8 beyond."""
    if index_type != "auto":
        return index_type
    return "flat" if n <= settings.auto_flat_max else "hnswsq"


def make_faiss_index(vectors: np.ndarray, index_type: str, settings: Settings) -> faiss.Index:
    """An empty FAISS inner-product index of `index_type`, trained on `vectors` where the type needs training."""
    n, dim = vectors.shape
    index_type = resolve_index_type(index_type, n, settings)
    index: faiss.Index
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings.hnsw_ef_construction
    elif index_type == "hnswsq":
        # HNSW over 8-bit scalar-quantized vectors: a quarter of the memory of HNSW on floats.
        qtype = faiss.ScalarQuantizer.QT_8bit  # an enum value; faiss's type stub wants the class
        index = faiss.IndexHNSWSQ(dim, qtype, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)  # type: ignore[arg-type]
        index.hnsw.efConstruction = settings.hnsw_ef_construction
        index.train(vectors[:: max(1, n // SQ_TRAIN_POINTS)])
    elif index_type in ("ivfsq", "ivfpq"):
        nlist = max(1, int(np.sqrt(n)))
        # PQ also trains 2**PQ_BITS centroids per sub-quantizer.
        need = (nlist if index_type == "ivfsq" else max(nlist, 1 << PQ_BITS)) * MIN_POINTS_PER_CENTROID
        if n < need:
            raise InputError(
                f"index_type={index_type} needs at least {need} vectors to train, got {n}; use flat or hnsw"
            )
        quantizer = faiss.IndexFlatIP(dim)
        if index_type == "ivfsq":
            qtype = faiss.ScalarQuantizer.QT_8bit
            index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, qtype, faiss.METRIC_INNER_PRODUCT)
        else:
            codes = dim // PQ_DIMS_PER_CODE
            index = faiss.IndexIVFPQ(quantizer, dim, nlist, codes, PQ_BITS, faiss.METRIC_INNER_PRODUCT)
        # k-means needs tens of points per centroid, not all of them: train on an even sample.
        index.train(vectors[:: max(1, n // max(need, TRAIN_POINTS_PER_CENTROID * nlist))])
    else:
        raise InputError(f"unknown index_type {index_type!r}; use auto, flat, hnsw, hnswsq, ivfsq or ivfpq")
    tune_search(index, settings)
    return index


def tune_search(index: faiss.Index, settings: Settings) -> None:
    """Apply the search-time knobs (HNSW efSearch, IVF nprobe), which FAISS does not persist."""
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = settings.hnsw_ef_search
    elif isinstance(index, faiss.IndexIVF):
        index.nprobe = settings.ivf_nprobe


def _ids(ids: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(ids, dtype=np.int64)


class FaissIndex:
    """A `VectorIndex` over FAISS; `tombstones` holds ids deleted from an index that cannot remove in place."""

    def __init__(self, index: faiss.IndexIDMap2, settings: Settings, tombstones: set[int] | None = None) -> None:
        self.index = index
        self.settings = settings
        self.tombstones = tombstones or set()

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, settings: Settings, fallback: bool = False) -> FaissIndex:
        """An index holding `vectors` under `ids`; the type follows `settings.index_type` and the vector count.

        A type that needs training gets an exact index when there is nothing to train on, or, with `fallback`
        (compaction after deletions), too little; the next rebuild gives it its type again.
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        kind = settings.index_type if len(vectors) or settings.index_type in ("auto", "hnsw") else "flat"
        try:
            inner = make_faiss_index(vectors, kind, settings)
        except InputError:
            if not fallback:
                raise
            inner = make_faiss_index(vectors, "flat", settings)
        if isinstance(inner, faiss.IndexIVF):
            inner.make_direct_map()  # so that `get` can reconstruct by position
        out = cls(faiss.IndexIDMap2(inner), settings)
        if len(ids):
            out.index.add_with_ids(vectors, _ids(ids))
        return out

    @property
    def in_place(self) -> bool:
        """Whether deletions remove vectors at once (flat), rather than by tombstone (HNSW, IVF)."""
        return isinstance(faiss.downcast_index(self.index.index), faiss.IndexFlat)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store `vectors` under `ids`."""
        if not len(ids):
            return
        if self.tombstones and not self.tombstones.isdisjoint(int(i) for i in ids):
            # A tombstoned id still has its old vector in the graph: drop it before the id comes back.
            self._compact()
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), _ids(ids))

    def delete(self, ids: np.ndarray) -> None:
        """Forget `ids`, in place or by tombstone; compacts once tombstones pass `tombstone_share`."""
        if not len(ids):
            return
        if self.in_place:
            self.index.remove_ids(_ids(ids))  # type: ignore[arg-type]  # the wrapper takes an id array too
            return
        present = set(faiss.vector_to_array(self.index.id_map).tolist())
        self.tombstones |= {int(i) for i in ids if int(i) in present}
        if len(self.tombstones) > self.settings.tombstone_share * max(1, self.index.ntotal):
            self._compact()

    def _compact(self) -> None:
        all_ids = faiss.vector_to_array(self.index.id_map)
        live = all_ids[~np.isin(all_ids, np.fromiter(self.tombstones, dtype=np.int64))]
        vectors = self.index.reconstruct_batch(live) if len(live) else np.zeros((0, self.index.d), np.float32)
        fresh = FaissIndex.build(live, vectors, self.settings, fallback=True)
        self.index, self.tombstones = fresh.index, set()

    def _search(self, vectors: np.ndarray, fetch: int, params: Any = None) -> tuple[np.ndarray, np.ndarray]:
        # OpenMP's thread count belongs to the calling thread: set for this search, then given back to what else
        # the thread runs (a build of an HNSW index uses every core).
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(self.settings.search_threads)
        try:
            scores, ids = self.index.search(vectors, fetch, params=params)
        finally:
            faiss.omp_set_num_threads(before)
        return scores, ids

    def search(self, vectors: np.ndarray, k: int, within: Within | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k best per row (of the ids `within`), skipping tombstones; places beyond the live count hold id -1."""
        n = len(vectors)
        if within is not None:
            return self._search_within(np.ascontiguousarray(vectors, dtype=np.float32), k, within.ids)
        if k <= 0 or self.count() == 0:
            return np.zeros((n, max(k, 0)), np.float32), np.full((n, max(k, 0)), -1, np.int64)
        fetch = min(self.index.ntotal, k + len(self.tombstones))
        scores, ids = self._search(np.ascontiguousarray(vectors, dtype=np.float32), fetch)
        if not self.tombstones:
            return _pad_rows(list(scores), list(ids), k)
        dead = np.fromiter(self.tombstones, dtype=np.int64)
        out_s, out_i = [], []
        for s_row, i_row in zip(scores, ids, strict=True):
            keep = ~np.isin(i_row, dead)
            out_s.append(s_row[keep][:k])
            out_i.append(i_row[keep][:k])
        return _pad_rows(out_s, out_i, k)

    def _search_within(self, vectors: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The k best of the `allowed` ids per row, by the cheapest of three ways for the share they are.

        A few are scored one by one (exact); a large share is searched as usual, as many more fetched as the share
        asks, the others dropped (and a row left short searched again the third way); in between, FAISS skips the
        ids not allowed as it goes, a graph (HNSW) or the clusters (IVF) searched wider for the share left out.
        """
        n, s = len(vectors), self.settings
        if self.tombstones:
            allowed = allowed[~_member(np.sort(np.fromiter(self.tombstones, dtype=np.int64)), allowed)]
        if k <= 0 or not len(allowed):
            return np.zeros((n, max(k, 0)), np.float32), np.full((n, max(k, 0)), -1, np.int64)
        if len(allowed) <= s.filter_exact_max:
            try:
                stored = self.get(allowed)
            except RuntimeError:
                # Ids this index does not hold (deleted in place) are no part of what it can score.
                allowed = allowed[_member(np.sort(faiss.vector_to_array(self.index.id_map)), allowed)]
                stored = self.get(allowed)
            return _pad_rows(list(vectors @ stored.T), [allowed] * n, k)
        share = len(allowed) / max(1, self.count())
        if share >= s.filter_plain_share:
            fetch = min(self.count(), int(np.ceil(2 * k / share)))
            scores, ids = self.search(vectors, fetch)
            keep = _member(allowed, ids)
            rows_s = [row[m][:k] for row, m in zip(scores, keep, strict=True)]
            rows_i = [row[m][:k] for row, m in zip(ids, keep, strict=True)]
            short = [r for r, row in enumerate(rows_i) if len(row) < min(k, len(allowed))]
            if short:
                again_s, again_i = self._skipping(vectors[short], k, allowed, share)
                for m, r in enumerate(short):
                    rows_s[r], rows_i[r] = again_s[m], again_i[m]
            return _pad_rows(rows_s, rows_i, k)
        return self._skipping(vectors, k, allowed, share)

    def _skipping(
        self, vectors: np.ndarray, k: int, allowed: np.ndarray, share: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """FAISS's own filtered search: the ids not allowed are skipped as the index is walked."""
        selector = faiss.IDSelectorBatch(_ids(allowed))
        inner = faiss.downcast_index(self.index.index)
        widen = min(1 / share, self.settings.filter_widen_max)
        # faiss's type stubs lack the search parameters' classes and keywords.
        params: Any
        if isinstance(inner, faiss.IndexHNSW):
            ef = int(np.ceil(self.settings.hnsw_ef_search * widen))
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(ef, k))  # type: ignore[attr-defined]
        elif isinstance(inner, faiss.IndexIVF):
            nprobe = min(inner.nlist, int(np.ceil(self.settings.ivf_nprobe * widen)))
            params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)  # type: ignore[call-arg]
        else:
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        scores, ids = self._search(vectors, min(k, len(allowed)), params)
        return _pad_rows(list(scores), list(ids), k)

    def get(self, ids: np.ndarray) -> np.ndarray:
        """Stored vectors (decoded, for quantized types)."""
        if not len(ids):
            return np.zeros((0, self.index.d), np.float32)
        return np.asarray(self.index.reconstruct_batch(_ids(ids)), dtype=np.float32)

    def count(self) -> int:
        """Live vectors."""
        return int(self.index.ntotal) - len(self.tombstones)

    def for_write(self) -> FaissIndex:
        """A deep copy (FAISS's `clone_index`)."""
        # Keep the object clone_index returns: it owns the copy, and a downcast proxy of it would not.
        copy = faiss.clone_index(self.index)
        if not isinstance(copy, faiss.IndexIDMap2):
            raise TypeError(f"cloning gave {type(copy).__name__}")
        return FaissIndex(copy, self.settings, set(self.tombstones))

    def save(self, path: Path) -> None:
        """Write the index and its tombstones to `path` (and `path`.tombstones), each renamed into place.

        A write that fails (a full disk) removes its temporary file and raises the OSError.
        """
        # Serialized here and written by Python, not by `faiss.write_index`: FAISS ignores the error of the
        # closing flush, so on a full disk it could leave a short file that would be renamed into place.
        write_atomic(path, faiss.serialize_index(self.index).tobytes())
        marks = path.with_name(path.name + ".tombstones")
        if self.tombstones:
            write_atomic(marks, json.dumps(sorted(self.tombstones)).encode())
        else:
            marks.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path, settings: Settings) -> FaissIndex:
        """An index written by `save`; IndexCorruptError when it cannot be read."""
        try:
            index = faiss.read_index(str(path))
            marks = path.with_name(path.name + ".tombstones")
            tombstones = set(json.loads(marks.read_text("utf-8"))) if marks.is_file() else set()
        except (RuntimeError, ValueError, TypeError) as exc:
            raise IndexCorruptError(f"{path} cannot be read ({exc})") from exc
        if not isinstance(index, faiss.IndexIDMap2):
            raise IndexCorruptError(f"{path} is not an id-mapped index; rebuild with `rag index --rebuild`")
        tune_search(faiss.downcast_index(index.index), settings)
        return cls(index, settings, tombstones)


def _member(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Whether each of `ids` is in `sorted_ids` (ascending): a binary search, not the sort `np.isin` makes."""
    if not len(sorted_ids):
        return np.zeros(ids.shape, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return np.asarray(sorted_ids[at] == ids)


def _pad_rows(scores: list[np.ndarray], ids: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the k best, padded with id -1; equal scores in id order.

    Not insertion order: the same collection ranks the same, however it was written.
    """
    out_s = np.zeros((len(ids), k), np.float32)
    out_i = np.full((len(ids), k), -1, np.int64)
    for r, (s_row, i_row) in enumerate(zip(scores, ids, strict=True)):
        keep = i_row >= 0
        s_row, i_row = s_row[keep], i_row[keep]
        order = np.lexsort((i_row, -s_row))[:k]
        out_s[r, : len(order)] = s_row[order]
        out_i[r, : len(order)] = i_row[order]
    return out_s, out_i
