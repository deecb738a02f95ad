"""The contract every `VectorIndex` backend must pass (the next backend joins the `backend` fixture)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
import pytest

from rag.errors import InputError
from rag.settings import Settings
from rag.store import VectorIndex, Within, new_vector_index
from rag.store.faiss_index import FaissIndex, resolve_index_type

DIM = 16
Factory = Callable[[np.ndarray, np.ndarray], VectorIndex]
Loader = Callable[[Path], VectorIndex]


def unit_rows(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# Sparse, large ids, as stable hashes are; enough vectors for IVF to train (about 39 per list of sqrt(n)).
IDS = np.arange(1000, 2600, dtype=np.int64) * 7919
VECTORS = unit_rows(len(IDS))


@pytest.fixture(params=["flat", "hnsw", "hnswsq", "ivfsq"])
def backend(request: pytest.FixtureRequest) -> tuple[Factory, Loader]:
    settings = Settings(index_type=request.param, hnsw_m=16, hnsw_ef_search=128, ivf_nprobe=64)

    def make(ids: np.ndarray, vectors: np.ndarray) -> VectorIndex:
        # IVF needs training points: train it on the whole set, then keep only what the test asked for.
        index = new_vector_index(settings, IDS, VECTORS)
        index.delete(np.setdiff1d(IDS, ids))
        return index

    return make, lambda path: FaissIndex.load(path, settings)


def top1(index: VectorIndex, queries: np.ndarray) -> list[int]:
    return index.search(queries, 1)[1][:, 0].tolist()


def test_each_vector_finds_itself_by_its_id(backend: tuple[Factory, Loader]) -> None:
    make, _ = backend
    index = make(IDS, VECTORS)
    assert index.count() == len(IDS)
    assert top1(index, VECTORS[:20]) == IDS[:20].tolist()
    scores, ids = index.search(VECTORS[:3], 5)
    assert ids.shape == scores.shape == (3, 5)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


def test_deleted_ids_never_come_back(backend: tuple[Factory, Loader]) -> None:
    make, _ = backend
    index = make(IDS, VECTORS)
    gone = IDS[:40]
    index.delete(gone)
    index.delete(np.asarray([123456789], np.int64))  # absent: ignored
    assert index.count() == len(IDS) - 40
    _, ids = index.search(VECTORS[:40], 10)
    assert not set(ids.ravel().tolist()) & set(gone.tolist())
    assert top1(index, VECTORS[40:60]) == IDS[40:60].tolist()


def test_re_adding_a_deleted_document_finds_it_again(backend: tuple[Factory, Loader]) -> None:
    make, _ = backend
    index = make(IDS, VECTORS)
    index.delete(IDS[:5])
    index.add(IDS[:5], VECTORS[:5])
    assert index.count() == len(IDS)
    assert top1(index, VECTORS[:5]) == IDS[:5].tolist()


def test_a_write_copy_leaves_the_original_alone(backend: tuple[Factory, Loader]) -> None:
    make, _ = backend
    index = make(IDS, VECTORS)
    copy = index.for_write()
    copy.delete(IDS[:10])
    copy.add(np.asarray([7], np.int64), VECTORS[:1])
    assert index.count() == len(IDS) and copy.count() == len(IDS) - 9
    assert top1(index, VECTORS[:3]) == IDS[:3].tolist()


def test_get_returns_the_stored_vectors(backend: tuple[Factory, Loader]) -> None:
    make, _ = backend
    index = make(IDS, VECTORS)
    got = index.get(IDS[[5, 2]])
    assert got.shape == (2, DIM)
    assert np.allclose(got, VECTORS[[5, 2]], atol=0.02)  # 8-bit quantized types decode approximately


def test_save_and_load_keep_ids_and_deletions(backend: tuple[Factory, Loader], tmp_path: Path) -> None:
    make, load = backend
    index = make(IDS, VECTORS)
    index.delete(IDS[:7])
    index.save(tmp_path / "v.faiss")
    again = load(tmp_path / "v.faiss")
    assert again.count() == index.count()
    assert top1(again, VECTORS[7:30]) == IDS[7:30].tolist()
    _, ids = again.search(VECTORS[:7], 10)
    assert not set(ids.ravel().tolist()) & set(IDS[:7].tolist())


def test_an_empty_index_answers_with_no_ids(backend: tuple[Factory, Loader]) -> None:
    make, _ = backend
    index = make(IDS[:0], VECTORS[:0])
    assert index.count() == 0
    _, ids = index.search(VECTORS[:2], 4)
    assert ids.shape == (2, 4) and (ids == -1).all()


def test_more_asked_than_held_pads_with_minus_one(backend: tuple[Factory, Loader]) -> None:
    make, _ = backend
    index = make(IDS[:3], VECTORS[:3])
    _, ids = index.search(VECTORS[:1], 5)
    assert sorted(ids[0, :3].tolist()) == sorted(IDS[:3].tolist()) and ids[0, 3:].tolist() == [-1, -1]


def test_hnsw_compacts_once_tombstones_pass_their_share() -> None:
    settings = Settings(index_type="hnsw", hnsw_m=16, tombstone_share=0.1)
    index = new_vector_index(settings, IDS, VECTORS)
    index.delete(IDS[:100])  # under 10 %: tombstones
    assert index.count() == len(IDS) - 100 and len(index.tombstones) == 100
    index.delete(IDS[100:200])  # past 10 %: rebuilt from the live vectors
    assert index.count() == len(IDS) - 200
    assert not index.tombstones
    assert top1(index, VECTORS[200:210]) == IDS[200:210].tolist()


def test_a_type_that_needs_training_says_how_many_vectors_it_needs() -> None:
    with pytest.raises(InputError, match="ivfpq needs at least"):
        new_vector_index(Settings(index_type="ivfpq"), IDS[:300], VECTORS[:300])


def test_auto_is_exact_for_small_collections_and_hnsw_beyond() -> None:
    s = Settings(auto_flat_max=100)
    assert resolve_index_type("auto", 100, s) == "flat"
    assert resolve_index_type("auto", 101, s) == "hnswsq"
    assert resolve_index_type("ivfpq", 10, s) == "ivfpq"


def brute_force(queries: np.ndarray, ids: np.ndarray, vectors: np.ndarray, k: int) -> list[list[int]]:
    """The exact k best of `ids` per query: what an index holding only them returns."""
    order = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]
    return [ids[row].tolist() for row in order]


@pytest.mark.parametrize("share", [0.02, 0.1, 0.5])
@pytest.mark.parametrize("exact_max", [4096, 0], ids=["scored", "searched"])
def test_a_search_within_ids_finds_the_k_best_of_them(
    backend: tuple[Factory, Loader], share: float, exact_max: int
) -> None:
    """Each way: the few scored one by one, a large share searched as usual, FAISS skipping the rest in between."""
    make, _ = backend
    index = make(IDS, VECTORS)
    assert isinstance(index, FaissIndex)
    index.settings = index.settings.model_copy(update={"filter_exact_max": exact_max})
    index.delete(IDS[:50])  # tombstones (HNSW, IVF) stay out of the filtered search too
    chosen = np.random.default_rng(3).random(len(IDS)) < share
    chosen[:50] = True
    allowed = IDS[chosen]
    live = ~np.isin(IDS, IDS[:50]) & chosen
    queries = unit_rows(40, seed=9)
    _, ids = index.search(queries, 10, Within(("doc",), allowed))
    expected = brute_force(queries, IDS[live], VECTORS[live], 10)
    assert all(set(row[row >= 0].tolist()) <= set(IDS[live].tolist()) for row in ids)
    assert all((row >= 0).sum() == min(10, int(live.sum())) for row in ids)
    recall = np.mean([len(set(got.tolist()) & set(want)) / len(want) for got, want in zip(ids, expected, strict=True)])
    # 8-bit codes can swap near ties; the graph and the clusters are searched as wide as the share asks.
    assert recall >= 0.95, recall


def test_a_search_within_no_ids_finds_nothing(backend: tuple[Factory, Loader]) -> None:
    make, _ = backend
    _, ids = make(IDS, VECTORS).search(VECTORS[:2], 5, Within((), IDS[:0]))
    assert ids.shape == (2, 5) and (ids == -1).all()


def test_a_large_share_far_from_the_query_is_still_found(backend: tuple[Factory, Loader]) -> None:
    """The usual search, fetched wider for the share, finds none of them: the row is searched again, skipping."""
    make, _ = backend
    index = make(IDS, VECTORS)
    assert isinstance(index, FaissIndex)
    index.settings = index.settings.model_copy(update={"filter_exact_max": 0})
    query = VECTORS[:1]
    far = np.argsort(query @ VECTORS.T, axis=1)[0, : len(IDS) * 3 // 10]  # the 30 % least like it
    _, ids = index.search(query, 10, Within(("doc",), np.sort(IDS[far])))
    expected = brute_force(query, IDS[far], VECTORS[far], 10)[0]
    assert (ids[0] >= 0).all() and set(ids[0].tolist()) <= set(IDS[far].tolist())
    # Exact for a scan; a graph walked from the query's side and 8-bit codes miss one or two of the far side.
    exact = isinstance(faiss.downcast_index(index.index.index), faiss.IndexFlat)
    assert len(set(ids[0].tolist()) & set(expected)) >= (10 if exact else 8)
