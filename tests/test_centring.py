from __future__ import annotations

import numpy as np

from rag.centring import centre


def test_centre_gives_the_numbers_of_the_computation_it_replaced() -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(5, 4)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    langs = ["en", "zh", "en", "fr", "zh"]
    means = {"en": vectors[[0, 2]].mean(0).tolist(), "zh": vectors[[1, 4]].mean(0).tolist()}
    means["*"] = vectors.mean(0).tolist()
    # As collection, local, migrate and retrieval each wrote it: the language's mean, else '*', subtracted and
    # the rows scaled back to unit length.
    subtract = np.asarray([means.get(lang) or means["*"] for lang in langs], np.float32)
    diff = vectors - subtract
    expected = (diff / np.linalg.norm(diff, axis=1, keepdims=True)).astype(np.float32)
    assert np.array_equal(centre(vectors, langs, means), expected)
    assert np.array_equal(centre(vectors, langs, means, enabled=True), expected)


def test_centre_leaves_vectors_as_they_are_when_centring_is_off() -> None:
    vectors = np.eye(3, dtype=np.float32)
    means = {"en": [0.5, 0.5, 0.0]}
    assert centre(vectors, ["en"] * 3, means, enabled=False) is vectors
    assert not np.array_equal(centre(vectors, ["en"] * 3, means), vectors)
