"""Candidate evidence: the sentences of the top passages, numbered, each with exact offsets and two scores.

- `semantic`: centred cosine between the question (query mode, minus its language's query mean) and the
  sentence (passage mode, minus its language's sentence mean), read from the vectors stored at index time,
  so it costs no model call and works across languages.
- `lexical`: the share of the question's concepts the sentence mentions, partly credited from its passage.

Both composers read the same candidates: the extractive one quotes them, the LLM one is shown them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.answer.question import Question
from rag.data import Sentence
from rag.retrieval import Retrieval, Retriever

CONTEXT_WEIGHT = 0.3  # share of a sentence's lexical score that comes from its passage


@dataclass(frozen=True)
class Candidate:
    """A sentence that may answer, with where it came from and how well it matches the question."""

    n: int  # 1-based, in the order candidates were found (passage rank, then position)
    sentence: Sentence
    rank: int  # 0-based rank of the best passage holding it
    semantic: float
    lexical: float

    @property
    def text(self) -> str:
        """The sentence as a reader sees it."""
        return self.sentence.text


class EvidenceFinder:
    """Builds the numbered candidates of a retrieval from the index's stored sentences."""

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        self.sentences = retriever.stored.sentences

    def _semantic(self, retrieval: Retrieval, positions: list[int]) -> np.ndarray:
        if not positions or retrieval.query_vectors.size == 0:
            return np.zeros(len(positions), dtype=np.float32)
        ids = np.asarray([self.sentences[i].id for i in positions], dtype=np.int64)
        vectors = self.retriever.stored.sentence_vectors.get(ids)
        return np.asarray(vectors @ retrieval.query_vectors[0], dtype=np.float32)

    def candidates(self, question: Question, retrieval: Retrieval) -> list[Candidate]:
        """The sentences of the retrieval's candidate pool, each once, best passage first."""
        ranks: dict[int, int] = {}
        for rank, hit in enumerate(retrieval.pool):
            for i in self.retriever.chunk_sentences[self.retriever.chunk_at[hit.chunk_id]]:
                ranks.setdefault(i, rank)
        passage_coverage = [question.coverage([hit.text]) for hit in retrieval.pool]
        ids = list(ranks)
        semantic = self._semantic(retrieval, ids)
        out = []
        for n, (i, sem) in enumerate(zip(ids, semantic, strict=True), start=1):
            sent = self.sentences[i]
            own = question.coverage([sent.text])
            lexical = (1 - CONTEXT_WEIGHT) * own + CONTEXT_WEIGHT * passage_coverage[ranks[i]]
            out.append(Candidate(n, sent, ranks[i], round(float(sem), 4), round(lexical, 4)))
        return out
