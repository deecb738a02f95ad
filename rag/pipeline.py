"""Wire the stages together: load → chunk → embed → index on build; retrieve → compose on a question."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from rag.answer import Composer
from rag.answer.assess import Assessor
from rag.answer.extractive import ExtractiveComposer
from rag.chunking import SENTENCE_VERSION, chunk_corpus, corpus_sentences, make_splitter
from rag.corpus import CLEANING_VERSION, load_corpus
from rag.data import Answer, Chunk, Document, Hit, Sentence
from rag.embedding import Embedder, load_embedder
from rag.errors import CorpusError, IndexCorruptError, IndexStaleError, InputError
from rag.index import LanguageMeans, StoredIndex, load_index, make_faiss_index, recover_interrupted, save_index
from rag.lexical import LexicalIndex
from rag.offline import force_offline, install_tiktoken_encodings
from rag.retrieval import Retrieval, Retriever, centre
from rag.settings import Settings
from rag.text import UNSAFE_CHARS

log = logging.getLogger(__name__)
PROGRESS_SECONDS = 5.0


def expected_manifest(settings: Settings, embedder: Embedder, docs: list[Document]) -> dict[str, Any]:
    """What a fresh index's manifest must say for these settings, this embedder and these corpus files."""
    return {
        "embedder": embedder.id,
        "dimension": embedder.dim,
        "embedding": {
            "query_prefix": settings.query_prefix,
            "passage_prefix": settings.passage_prefix,
            "max_seq_length": settings.max_seq_length,
        },
        "index_type": settings.index_type,
        "index_params": {
            "auto_flat_max": settings.auto_flat_max,
            "hnsw_m": settings.hnsw_m,
            "hnsw_ef_construction": settings.hnsw_ef_construction,
        },
        "centered": settings.center_embeddings,
        "centering": {"sample": settings.centering_sample, "min_language_chunks": settings.min_language_chunks},
        "chunking": {
            "cleaning": CLEANING_VERSION,
            "encoding": settings.tiktoken_encoding,
            "chunk_tokens": settings.chunk_tokens,
            "chunk_overlap": settings.chunk_overlap,
            "sentences": SENTENCE_VERSION,
            "sentence_max_chars": settings.sentence_max_chars,
            "min_sentence_chars": settings.min_sentence_chars,
        },
        "corpus": {d.name: d.sha256 for d in docs},
    }


def embed_passages(embedder: Embedder, texts: list[str], batch_size: int, desc: str) -> np.ndarray:
    """Embed in batches behind a progress bar; rows come back in the order of `texts`.

    Batches hold texts of similar length, so that little of each batch is padding.
    """
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    # Outside a terminal (a service log, CI) the bar is off; a log line every few seconds says how far it got.
    t0 = last = time.monotonic()
    with tqdm(total=len(texts), desc=desc, unit="text", disable=None) as bar:
        for i in range(0, len(order), batch_size):
            rows = order[i : i + batch_size]
            out[rows] = embedder.encode_passages([texts[r] for r in rows])
            bar.update(len(rows))
            now = time.monotonic()
            if bar.disable and now - last >= PROGRESS_SECONDS:
                done = i + len(rows)
                rate = done / (now - t0)
                log.info("%s: %d/%d (%.0f%%), %.1f texts/s", desc, done, len(texts), 100 * done / len(texts), rate)
                last = now
    return out


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


def build_index(
    settings: Settings, embedder: Embedder, docs: list[Document], timings: dict[str, float] | None = None
) -> StoredIndex:
    """Build the index from the corpus documents and save it atomically; `timings` receives seconds per stage."""
    clock = {} if timings is None else timings
    t0 = time.perf_counter()
    splitter = make_splitter(
        settings.chunk_tokens, settings.chunk_overlap, settings.tiktoken_encoding, settings.cache_dir / "tiktoken"
    )
    chunks = chunk_corpus(docs, splitter)
    if not chunks:
        names = ", ".join(d.name for d in docs)
        raise CorpusError(f"the corpus at {settings.corpus_dir} holds no text to index ({names}); add documents")
    sentences = corpus_sentences(docs, settings.sentence_max_chars, settings.min_sentence_chars)
    log.info("split %d documents into %d chunks and %d sentences", len(docs), len(chunks), len(sentences))
    t1 = time.perf_counter()
    raw = embed_passages(embedder, [c.clean for c in chunks], settings.embed_batch_size, "embedding chunks")
    t2 = time.perf_counter()
    raw_sentences = embed_passages(
        embedder, [s.text for s in sentences], settings.embed_batch_size, "embedding sentences"
    )
    t3 = time.perf_counter()
    means = language_means(embedder, chunks, raw, sentences, raw_sentences, settings)
    vectors, sentence_vectors = raw, raw_sentences
    if settings.center_embeddings:
        vectors = centre(raw, [c.language for c in chunks], means.passage)
        sentence_vectors = centre(raw_sentences, [s.language for s in sentences], means.sentence)
    index = make_faiss_index(vectors, settings.index_type, settings)
    sentence_index = make_faiss_index(sentence_vectors, settings.index_type, settings)
    manifest = expected_manifest(settings, embedder, docs)
    manifest |= {"faiss_type": type(index).__name__}
    save_index(settings.index_dir, StoredIndex(index, chunks, means, manifest, sentence_index, sentences))
    t4 = time.perf_counter()
    clock.update(
        load_and_chunk=t1 - t0,
        embed=t2 - t1,
        embed_sentences=t3 - t2,
        index_and_save=t4 - t3,
        chunks=float(len(chunks)),
        sentences=float(len(sentences)),
    )
    return load_index(settings.index_dir, manifest, settings)


@dataclass
class Pipeline:
    """The question-answering service's core: `search` returns passages, `ask` a cited answer."""

    settings: Settings
    embedder: Embedder
    stored: StoredIndex
    retriever: Retriever
    assessor: Assessor
    composer: Composer
    documents: dict[str, Document]

    @classmethod
    def load(
        cls, settings: Settings | None = None, rebuild: bool = False, embedder: Embedder | None = None
    ) -> Pipeline:
        """Load the index, building it first when missing, stale, or when `rebuild` is set.

        `embedder` replaces the one `settings.embedder` names (tests pass a small fake).
        """
        settings = settings or Settings()
        force_offline()
        install_tiktoken_encodings(settings.cache_dir / "tiktoken")
        embedder = embedder or load_embedder(settings)
        docs = list(load_corpus(settings.corpus_dir, settings.max_file_bytes))
        expected = expected_manifest(settings, embedder, docs)
        stored = None
        recover_interrupted(settings.index_dir)
        if not rebuild:
            try:
                stored = load_index(settings.index_dir, expected, settings)
            except (IndexStaleError, IndexCorruptError) as exc:
                log.warning("%s; building the index from %s", exc, settings.corpus_dir)
        if stored is None:
            stored = build_index(settings, embedder, docs)
        lexical = LexicalIndex([c.clean for c in stored.chunks])
        documents = {d.name: d for d in docs}
        retriever = Retriever(stored, lexical, embedder, settings)
        assessor = Assessor(settings, retriever, lexical, documents)
        composer = ExtractiveComposer(assessor, documents)
        return cls(settings, embedder, stored, retriever, assessor, composer, documents)

    def _check(self, text: str, what: str) -> str:
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"the {what} is empty; type a question in English or Chinese")
        if UNSAFE_CHARS.search(text):
            raise InputError(f"the {what} holds control characters or unpaired surrogates; send plain UTF-8 text")
        if len(text) > self.settings.max_question_chars:
            raise InputError(
                f"the {what} is {len(text)} characters long; the limit is {self.settings.max_question_chars} "
                "(RAG_MAX_QUESTION_CHARS)"
            )
        return text.strip()

    def _top_k(self, top_k: int | None) -> int:
        k = self.settings.top_k if top_k is None else top_k
        if not 1 <= k <= self.settings.candidates:
            raise InputError(f"top_k must be between 1 and {self.settings.candidates}, got {k}")
        return k

    def retrieve(self, query: str, top_k: int | None = None) -> Retrieval:
        """Retrieval with its translation and per-stage timings."""
        return self.retriever.retrieve(self._check(query, "query"), self._top_k(top_k))

    def search(self, query: str, top_k: int | None = None) -> list[Hit]:
        """The top_k passages for `query`, best first."""
        return self.retrieve(query, top_k).hits

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        """A cited extractive answer, or an abstention with the nearest passages."""
        return self.ask_timed(question, top_k)[0]

    def ask_timed(self, question: str, top_k: int | None = None) -> tuple[Answer, dict[str, float]]:
        """`ask`, with the milliseconds spent retrieving, composing and in total."""
        t0 = time.perf_counter()
        retrieval = self.retrieve(self._check(question, "question"), top_k)
        t1 = time.perf_counter()
        answer = self.composer.compose(retrieval)
        t2 = time.perf_counter()
        timings = {"retrieve": (t1 - t0) * 1e3, "compose": (t2 - t1) * 1e3, "total": (t2 - t0) * 1e3}
        return answer, {k: round(v, 2) for k, v in timings.items()}
