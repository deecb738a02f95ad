"""The language direction: per-language mean vectors, and vectors with their language's mean removed.

The multilingual embedder ranks passages in the query's own language first. Subtracting each language's
mean vector (passages: their language's passage-mode mean; queries: their language's query-mode mean)
removes most of that pull.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from rag.data import Chunk, Sentence
from rag.embedding import Embedder
from rag.settings import Settings


@dataclass(frozen=True)
class LanguageMeans:
    """Mean vectors per language ('*': all languages), used to remove the language direction.

    Passage-mode means of the chunks and of the sentences (their lengths differ, and so do their means), and
    query-mode means.
    """

    passage: dict[str, list[float]]
    query: dict[str, list[float]]
    sentence: dict[str, list[float]]

    def to_dict(self) -> dict[str, dict[str, list[float]]]:
        """JSON-ready form."""
        return asdict(self)


NO_MEANS = LanguageMeans({}, {}, {})


def unit(v: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.where(norms == 0, 1, norms)).astype(np.float32)


def language_mean(means: dict[str, list[float]], lang: str, dim: int) -> np.ndarray:
    """The stored mean for `lang`, or the all-language mean under key '*', or zeros."""
    vec = means.get(lang) or means.get("*")
    return np.asarray(vec, dtype=np.float32) if vec else np.zeros(dim, dtype=np.float32)


def centre(
    vectors: np.ndarray, langs: Sequence[str], means: dict[str, list[float]], enabled: bool = True
) -> np.ndarray:
    """Vectors minus their language's mean (from `means`), renormalized; as they are unless `enabled`.

    Every writer and reader centres through here, with `enabled` from `RAG_CENTER_EMBEDDINGS`, so that stored
    and query vectors cannot be centred two ways.
    """
    if not enabled or not langs:
        return vectors
    dim = vectors.shape[1]
    return unit(vectors - np.stack([language_mean(means, lang, dim) for lang in langs]))


def mean_by_language(vectors: np.ndarray, langs: list[str], min_rows: int) -> dict[str, list[float]]:
    """Mean vector per language with at least `min_rows` rows, and the all-language mean under '*'."""
    out: dict[str, list[float]] = {"*": vectors.mean(axis=0).tolist()} if len(vectors) else {}
    for lang in sorted(set(langs)):
        rows = [i for i, x in enumerate(langs) if x == lang]
        if len(rows) >= min_rows:
            out[lang] = vectors[rows].mean(axis=0).tolist()
    return out


def language_means(
    embedder: Embedder,
    chunks: list[Chunk],
    vectors: np.ndarray,
    sentences: list[Sentence],
    sentence_vectors: np.ndarray,
    settings: Settings,
) -> LanguageMeans:
    """Per-language passage means over all chunks and all sentences, query-mode means over a sample of chunks.

    A language with too few chunks for a stable mean falls back to the all-language mean ('*').
    """
    langs = [c.language for c in chunks]
    passage = mean_by_language(vectors, langs, settings.min_language_chunks)
    sentence = mean_by_language(sentence_vectors, [s.language for s in sentences], settings.min_language_chunks)
    query: dict[str, list[float]] = {}
    samples: dict[str, list[str]] = {}
    for lang in sorted(passage.keys() - {"*"}):
        rows = [i for i, x in enumerate(langs) if x == lang]
        step = max(1, len(rows) // settings.centering_sample)
        samples[lang] = [chunks[i].clean for i in rows[::step][: settings.centering_sample]]
    all_q = []
    for lang, texts in samples.items():
        qv = embedder.encode_queries(texts)
        query[lang] = qv.mean(axis=0).tolist()
        all_q.append(qv)
    if all_q:
        query["*"] = np.concatenate(all_q).mean(axis=0).tolist()
    return LanguageMeans(passage=passage, query=query, sentence=sentence)
