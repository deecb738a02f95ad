"""Hybrid bilingual retrieval: centred dense search over chunks and sentences, BM25 and translated BM25, RRF.

The multilingual embedder ranks passages in the query's own language first. Subtracting each language's
mean vector (passages: their language's passage-mode mean; queries: their language's query-mode mean)
removes most of that pull; dictionary translation lets BM25 and the embedder see the question's words in
the other language too. Sentence-level search lifts a chunk whose one answering sentence is drowned out by
the rest of the chunk.
"""

from __future__ import annotations

import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from rag.centring import centre
from rag.data import Hit
from rag.embedding import Embedder
from rag.ingest.chunking import sentences_of_chunks
from rag.lexical import LexicalIndex, tokenize
from rag.settings import Settings
from rag.snapshot import Snapshot
from rag.store import HybridIndex
from rag.text import ANSWER_TYPES, asked_type, detect_language
from rag.translate import Translation, get_dictionary, translate

OTHER = {"en": "zh", "zh": "en"}
# Searches that are round trips to a server (Milvus) and go out beside the request's own.
SERVER_CALLS = 8


@cache
def _server_calls() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=SERVER_CALLS, thread_name_prefix="store-search")


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
    # What the answer step reads, whatever `top_k` the caller asked for: the best `compose_passages` hits, and
    # the centred query vectors (row 0 the question, row 1 its translation when there is one).
    pool: list[Hit] = field(default_factory=list)
    query_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))


class Retriever:
    """Searches one snapshot of the collection with every lever the settings enable.

    Inside, chunks and sentences are positions in the snapshot's sorted lists; the vector stores speak in
    stable ids, which are mapped to positions as results come back.
    """

    def __init__(self, stored: Snapshot, lexical: LexicalIndex, embedder: Embedder, settings: Settings) -> None:
        self.stored = stored
        self.lexical = lexical
        self.embedder = embedder
        self.settings = settings
        self.dictionary = get_dictionary(settings.cache_dir)
        self.chunk_at = {c.id: n for n, c in enumerate(stored.chunks)}
        self.sentence_at = {s.id: n for n, s in enumerate(stored.sentences)}
        self.chunk_sentences = sentences_of_chunks(stored.chunks, stored.sentences)
        self.sentence_chunks: list[list[int]] = [[] for _ in stored.sentences]
        for chunk, positions in enumerate(self.chunk_sentences):
            for i in positions:
                self.sentence_chunks[i].append(chunk)

    def _query_vectors(self, texts: list[str], langs: list[str]) -> np.ndarray:
        vecs = self.embedder.encode_queries(texts)
        return centre(vecs, langs, self.stored.means.query, self.settings.center_embeddings)

    def _sentence_rankings(self, qv: np.ndarray, n: int) -> list[list[int]]:
        """Per query vector, chunk ids in the order their best sentence ranks."""
        _, ids = self.stored.sentence_vectors.search(qv, n)
        out = []
        for row in ids:
            ranking = (c for i in row if i >= 0 for c in self.sentence_chunks[self.sentence_at[int(i)]])
            out.append(list(dict.fromkeys(ranking)))
        return out

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
        if translation.words and lang in s.embed_translation_from:
            texts.append(translation.text)
            langs.append(OTHER[lang])
        qv = self._query_vectors(texts, langs)
        t2 = time.perf_counter()
        n = min(s.candidates, len(self.stored.chunks))
        lexical = [tokenize(query)] + ([tokenize(translation.text)] if translation.words else [])
        rankings: list[list[int]] = []
        weights: list[float] = []
        wants_sentences = s.sentence_weight > 0 and bool(self.stored.sentences)
        index = self.stored.vectors
        if isinstance(index, HybridIndex):
            # The server fuses the dense and BM25 lists by RRF; the sentence lists join its fused score here,
            # which is the same sum a local fusion of all of them gives. Both searches are round trips to the
            # server, so they go out together.
            m = min(s.candidates, len(self.stored.sentences))
            pending = _server_calls().submit(self._sentence_rankings, qv, m) if wants_sentences else None
            served = index.hybrid(qv, lexical, n, s.rrf_k) if n else {}
            fused = defaultdict(float, {self.chunk_at[i]: v for i, v in served.items()})
            if pending is not None:
                rankings = pending.result()
            weights = [s.sentence_weight] * len(rankings)
            t3 = time.perf_counter()
        else:
            if wants_sentences:
                rankings = self._sentence_rankings(qv, min(s.candidates, len(self.stored.sentences)))
                weights = [s.sentence_weight] * len(rankings)
            t3 = time.perf_counter()
            _, ids = index.search(qv, n)
            rankings += [[self.chunk_at[int(i)] for i in row if i >= 0] for row in ids]
            rankings += [self.lexical.top(terms, n) for terms in lexical]
            weights += [1.0] * (len(rankings) - len(weights))
            fused = defaultdict(float)
        for chunk, score in rrf(rankings, s.rrf_k, weights).items():
            fused[chunk] += score
        t4 = time.perf_counter()
        asked = asked_type(query) if s.answer_type_weight > 0 else None
        need = ANSWER_TYPES[asked] if asked else None
        if need is not None:
            # Answer-type prior: the fused candidates that hold a fact of the asked kind, as one more ranking.
            order = sorted(fused, key=lambda i: (-fused[i], i))
            prior = [i for i in order if need.search(self.stored.chunks[i].clean)]
            for chunk, score in rrf([prior], s.rrf_k, [s.answer_type_weight]).items():
                fused[chunk] += score
        best = sorted(fused, key=lambda i: (-fused[i], i))[: max(top_k, s.compose_passages)]
        hits = []
        for i in best:
            c = self.stored.chunks[i]
            hits.append(Hit(c.doc, c.start, c.end, c.text, round(fused[i], 6), c.id, c.language, c.page, c.section))
        t5 = time.perf_counter()
        timings = {
            "translate": (t1 - t0) * 1e3,
            "embed": (t2 - t1) * 1e3,
            "sentences": (t3 - t2) * 1e3,
            "chunks": (t4 - t3) * 1e3,
            "fusion": (t5 - t4) * 1e3,
        }
        return Retrieval(query, lang, hits[:top_k], translation, timings, hits[: s.compose_passages], qv)
