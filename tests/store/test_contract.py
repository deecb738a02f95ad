"""The contract every `VectorIndex` backend must pass (the next backend joins the `backend` fixture)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rag.errors import InputError
from rag.settings import Settings
from rag.store import VectorIndex, new_vector_index
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
