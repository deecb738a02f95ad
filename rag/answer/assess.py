"""The steps every composer shares: analyse the question, find candidate evidence, select it, decide.

The LLM composer that comes next reuses the same candidates and the same decision: it is shown the numbered
candidates, and it is not called when the decision is to abstain.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.answer.decide import Answerability, Decision, Features, features
from rag.answer.evidence import Candidate, EvidenceFinder
from rag.answer.question import Question, QuestionAnalyzer
from rag.answer.select import SelectionWeights, score, select
from rag.data import Document
from rag.lexical import LexicalIndex
from rag.retrieval import Retrieval, Retriever
from rag.settings import Settings


@dataclass(frozen=True)
class Assessment:
    """What the evidence for one retrieval says."""

    question: Question
    candidates: list[Candidate]
    picked: list[Candidate]
    features: Features
    decision: Decision


class Assessor:
    """Holds what assessing needs from the corpus and the settings."""

    def __init__(
        self, settings: Settings, retriever: Retriever, lexical: LexicalIndex, documents: dict[str, Document]
    ) -> None:
        self.heads = {name: doc.clean[: settings.document_head_chars] for name, doc in documents.items()}
        # Bylines are lines: read from the extracted text, whose line breaks the cleaned copy may join.
        bylines = [doc.text[: settings.document_head_chars] for doc in documents.values()]
        self.analyzer = QuestionAnalyzer(lexical, documents, retriever.dictionary, bylines)
        self.finder = EvidenceFinder(retriever)
        self.weights = SelectionWeights.from_settings(settings)
        self.model = Answerability.load(settings.answerability_model, settings.answer_threshold)

    def assess(self, retrieval: Retrieval) -> Assessment:
        """Candidates, the selected sentences, the decision's signals and the decision."""
        question = self.analyzer.analyze(retrieval)
        candidates = self.finder.candidates(question, retrieval)
        picked = select(question, candidates, self.weights)
        scores = sorted((score(question, c, self.weights) for c in candidates), reverse=True)
        heads = tuple(self.heads[d] for d in dict.fromkeys(p.sentence.doc for p in picked))
        signals, heaviest = features(question, picked, scores, heads)
        typed = any(question.has_asked_type(p.text) for p in picked)
        decision = self.model.decide(question, signals, heaviest, bool(picked), typed)
        return Assessment(question, candidates, picked, signals, decision)
