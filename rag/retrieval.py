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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache

import numpy as np

from rag.centring import centre
from rag.data import Chunk, Hit, Sentence
from rag.embedding import Embedder
from rag.filters import Filter
from rag.ingest.chunking import sentences_of_chunks
from rag.lexical import LexicalIndex, tokenize
from rag.settings import Settings
from rag.snapshot import Snapshot
from rag.store import HybridIndex, Within
from rag.text import ANSWER_TYPES, asked_type, detect_language
from rag.translate import Translation, get_dictionary, translate

OTHER = {"en": "zh", "zh": "en"}
# Searches that are round trips to a server (Milvus) and go out beside the request's own.
SERVER_CALLS = 8
# Filters whose documents a retriever remembers (one snapshot's): a tool tends to send the same few again.
SCOPES_KEPT = 64


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


@dataclass(frozen=True)
class Rows:
    """A snapshot's chunks or sentences as a filter selects them: each document's run of positions, and the ids.

    They come sorted by document, so a document's rows are one run.
    """

    runs: dict[str, tuple[int, int]]
    ids: np.ndarray

    @classmethod
    def of(cls, rows: Sequence[Chunk | Sentence]) -> Rows:
        """The runs and ids of `rows` (sorted by document)."""
        runs: dict[str, tuple[int, int]] = {}
        for n, row in enumerate(rows):
            start, _ = runs.get(row.doc, (n, n))
            runs[row.doc] = (start, n + 1)
        return cls(runs, np.asarray([r.id for r in rows], dtype=np.int64))

    def mask(self, docs: tuple[str, ...]) -> np.ndarray:
        """Which positions belong to `docs`."""
        mask = np.zeros(len(self.ids), dtype=bool)
        for doc in docs:
            start, end = self.runs.get(doc, (0, 0))
            mask[start:end] = True
        return mask


@dataclass(frozen=True)
class Scope:
    """What a filter keeps of one snapshot: its chunks and sentences as each store searches them, and BM25's mask."""

    chunks: Within
    sentences: Within
    chunk_mask: np.ndarray


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
        self._scope = lru_cache(maxsize=SCOPES_KEPT)(self._scope_of)

    @cached_property
    def _rows(self) -> tuple[Rows, Rows]:
        """Chunks' and sentences' runs by document and ids, made at the first filtered search, not at each load."""
        return Rows.of(self.stored.chunks), Rows.of(self.stored.sentences)

    def scope(self, where: Filter | None) -> Scope | None:
        """What `where` keeps of the snapshot (None: no filter, everything)."""
        return None if where is None else self._scope(where.key())

    def _scope_of(self, key: str) -> Scope:
        # Keyed by the filter's canonical JSON: a filter holds lists, which a cache key cannot.
        where = Filter.model_validate_json(key)
        docs = tuple(sorted(name for name, info in self.stored.infos.items() if where.keeps(info)))
        chunks, sentences = self._rows
        chunk_mask = chunks.mask(docs)
        return Scope(
            Within(docs, np.sort(chunks.ids[chunk_mask])),
            Within(docs, np.sort(sentences.ids[sentences.mask(docs)])),
            chunk_mask,
        )

    def _query_vectors(self, texts: list[str], langs: list[str]) -> np.ndarray:
        vecs = self.embedder.encode_queries(texts)
        return centre(vecs, langs, self.stored.means.query, self.settings.center_embeddings)

    def _sentence_rankings(self, qv: np.ndarray, n: int, within: Within | None = None) -> list[list[int]]:
        """Per query vector, chunk ids in the order their best sentence ranks."""
        _, ids = self.stored.sentence_vectors.search(qv, n, within)
        out = []
        for row in ids:
            ranking = (c for i in row if i >= 0 for c in self.sentence_chunks[self.sentence_at[int(i)]])
            out.append(list(dict.fromkeys(ranking)))
        return out

    def retrieve(self, query: str, top_k: int, where: Filter | None = None) -> Retrieval:
        """The top_k fused hits for `query` from the documents `where` keeps, best first."""
        s = self.settings
        t0 = time.perf_counter()
        scope = self.scope(where)
        chunks_within = scope.chunks if scope else None
        sentences_within = scope.sentences if scope else None
        available = len(self.stored.chunks) if scope is None else len(scope.chunks.ids)
        sentences_available = len(self.stored.sentences) if scope is None else len(scope.sentences.ids)
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
        n = min(s.candidates, available)
        m = min(s.candidates, sentences_available)
        lexical = [tokenize(query)] + ([tokenize(translation.text)] if translation.words else [])
        rankings: list[list[int]] = []
        weights: list[float] = []
        wants_sentences = s.sentence_weight > 0 and m > 0
        index = self.stored.vectors
        if isinstance(index, HybridIndex):
            # The server fuses the dense and BM25 lists by RRF; the sentence lists join its fused score here,
            # which is the same sum a local fusion of all of them gives. Both searches are round trips to the
            # server, so they go out together.
            pending = (
                _server_calls().submit(self._sentence_rankings, qv, m, sentences_within) if wants_sentences else None
            )
            served = index.hybrid(qv, lexical, n, s.rrf_k, chunks_within) if n else {}
            fused = defaultdict(float, {self.chunk_at[i]: v for i, v in served.items()})
            if pending is not None:
                rankings = pending.result()
            weights = [s.sentence_weight] * len(rankings)
            t3 = time.perf_counter()
        else:
            if wants_sentences:
                rankings = self._sentence_rankings(qv, m, sentences_within)
                weights = [s.sentence_weight] * len(rankings)
            t3 = time.perf_counter()
            _, ids = index.search(qv, n, chunks_within)
            rankings += [[self.chunk_at[int(i)] for i in row if i >= 0] for row in ids]
            mask = scope.chunk_mask if scope else None
            rankings += [self.lexical.top(terms, n, mask) for terms in lexical]
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
