"""Hybrid bilingual retrieval: language-centred dense search, BM25, and dictionary-translated BM25, fused by RRF.

The multilingual embedder ranks passages in the query's own language first. Subtracting each language's
mean vector (passages: their language's passage-mode mean; queries: their language's query-mode mean)
removes most of that pull; dictionary translation lets BM25 and the embedder see the question's words in
the other language too.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from rag.corpus import detect_language
from rag.data import Hit
from rag.embedding import Embedder
from rag.index import LanguageMeans, StoredIndex
from rag.lexical import LexicalIndex, tokenize
from rag.question import asked_type
from rag.settings import Settings
from rag.translate import Translation, get_dictionary, translate

OTHER = {"en": "zh", "zh": "en"}


def unit(v: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.where(norms == 0, 1, norms)).astype(np.float32)


def language_mean(means: dict[str, list[float]], lang: str, dim: int) -> np.ndarray:
    """The stored mean for `lang`, or the all-language mean under key '*', or zeros."""
    vec = means.get(lang) or means.get("*")
    return np.asarray(vec, dtype=np.float32) if vec else np.zeros(dim, dtype=np.float32)


def centre_passages(vectors: np.ndarray, langs: list[str], means: LanguageMeans) -> np.ndarray:
    """Passage vectors minus their language's passage mean, renormalized."""
    dim = vectors.shape[1]
    mean_rows = np.stack([language_mean(means.passage, lang, dim) for lang in langs]) if langs else vectors
    return unit(vectors - mean_rows)


def rrf(rankings: list[list[int]], k: int, weights: list[float] | None = None) -> dict[int, float]:
    """Reciprocal rank fusion of several ranked id lists (each optionally weighted)."""
    fused: dict[int, float] = defaultdict(float)
    for n, ranking in enumerate(rankings):
        w = 1.0 if weights is None else weights[n]
        for rank, idx in enumerate(ranking):
            fused[idx] += w / (k + rank + 1)
    return fused


@dataclass
class Retrieval:
    """The hits for a query plus what produced them (for composition, debugging and benchmarks)."""

    query: str
    language: str
    hits: list[Hit]
    translation: Translation
    timings_ms: dict[str, float] = field(default_factory=dict)


class Retriever:
    """Searches a loaded index with every lever the settings enable."""

    def __init__(self, stored: StoredIndex, lexical: LexicalIndex, embedder: Embedder, settings: Settings) -> None:
        self.stored = stored
        self.lexical = lexical
        self.embedder = embedder
        self.settings = settings
        self.dictionary = get_dictionary(settings.cache_dir)

    def _query_vectors(self, texts: list[str], langs: list[str]) -> np.ndarray:
        vecs = self.embedder.encode_queries(texts)
        if not self.settings.center_embeddings:
            return vecs
        dim = vecs.shape[1]
        return unit(vecs - np.stack([language_mean(self.stored.means.query, lg, dim) for lg in langs]))

    def retrieve(self, query: str, top_k: int) -> Retrieval:
        """The top_k fused hits for `query`, best first."""
        s = self.settings
        t0 = time.perf_counter()
        lang = detect_language(query)
        translation = (
            translate(query, lang, s.max_translation_terms, self.lexical.known, self.dictionary)
            if s.translate_queries
            else Translation()
        )
        t1 = time.perf_counter()
        texts, langs = [query], [lang]
        if translation.words:
            texts.append(translation.text)
            langs.append(OTHER[lang])
        qv = self._query_vectors(texts, langs)
        t2 = time.perf_counter()
        n = min(s.candidates, self.stored.vectors.ntotal)
        _, ids = self.stored.vectors.search(qv, n)
        rankings = [[int(i) for i in row if i >= 0] for row in ids]
        t3 = time.perf_counter()
        rankings.append(self.lexical.top(tokenize(query), n))
        if translation.words:
            rankings.append(self.lexical.top(tokenize(translation.text), n))
        t4 = time.perf_counter()
        need = asked_type(query) if s.answer_type_weight > 0 else None
        if need is not None:
            # Answer-type prior: the fused candidates that hold a fact of the asked kind, as one more ranking.
            pre = rrf(rankings, s.rrf_k)
            order = sorted(pre, key=lambda i: (-pre[i], i))
            rankings.append([i for i in order if need.search(self.stored.chunks[i].clean)])
        weights = [1.0] * len(rankings)
        if need is not None:
            weights[-1] = s.answer_type_weight
        fused = rrf(rankings, s.rrf_k, weights)
        best = sorted(fused, key=lambda i: (-fused[i], i))[:top_k]
        hits = []
        for i in best:
            c = self.stored.chunks[i]
            hits.append(Hit(c.doc, c.start, c.end, c.text, round(fused[i], 6), c.id, c.language))
        t5 = time.perf_counter()
        timings = {
            "translate": (t1 - t0) * 1e3,
            "embed": (t2 - t1) * 1e3,
            "faiss": (t3 - t2) * 1e3,
            "bm25": (t4 - t3) * 1e3,
            "fusion": (t5 - t4) * 1e3,
        }
        return Retrieval(query, lang, hits, translation, timings)
