"""Choose the retrieval and selection weights on the tune split only; print the grid and the winner.

Usage: python eval/tune.py [--folds 5]

- `sentence_weight` (RRF weight of sentence-level search) by evidence recall@10.
- `answer_lexical_weight`, `answer_rank_penalty` by evidence cited when always answering,
  so that selection is judged apart from the answerability decision (fitted afterwards by `rag eval calibrate`).
Each grid point is scored by k-fold cross-validation on tune: the point that wins most often on the training
folds is scored on the held-out fold, and the table reports both.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from collections import defaultdict
from pathlib import Path

from rag.answer.select import SelectionWeights, select
from rag.eval.dataset import Example, load_dataset
from rag.eval.metrics import by_corpus, overlaps
from rag.retrieval import Retriever
from rag.settings import Settings

DATASETS = [Path("eval/datasets/seeds.jsonl"), Path("eval/datasets/debian.jsonl")]
SENTENCE_WEIGHTS = (0.0, 0.5, 1.0, 2.0)
LEXICAL = (0.25, 0.5, 1.0, 2.0)
RANK_PENALTY = (0.0, 0.01, 0.03)


def found(ex: Example, spans: list[tuple[str, int, int]]) -> float:
    """Share of the example's evidence quotes that some span overlaps."""
    return statistics.fmean(any(overlaps(s, e, d, ev) for d, s, e in spans) for ev in ex.evidence)


def cross_validated(scores: dict[object, list[float]], folds: int) -> tuple[object, float, float]:
    """The best grid point on all of tune, its tune score, and the mean held-out score of per-fold winners."""
    n = len(next(iter(scores.values())))
    held = []
    for f in range(folds):
        train = [i for i in range(n) if i % folds != f]
        test = [i for i in range(n) if i % folds == f]
        best = max(scores, key=lambda k: sum(scores[k][i] for i in train))
        held.append(statistics.fmean(scores[best][i] for i in test))
    best = max(scores, key=lambda k: sum(scores[k]))
    return best, statistics.fmean(scores[best]), statistics.fmean(held)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    base = Settings()
    tune = [ex for p in DATASETS for ex in load_dataset(p, base.corpus_dir) if ex.split == "tune" and ex.answerable]
    recall: dict[object, list[float]] = defaultdict(list)
    cited: dict[object, list[float]] = defaultdict(list)
    for pipe, group in by_corpus(base, tune):
        for weight in SENTENCE_WEIGHTS:
            settings = pipe.settings.model_copy(update={"sentence_weight": weight})
            retriever = Retriever(pipe.stored, pipe.retriever.lexical, pipe.embedder, settings)
            for ex in group:
                hits = retriever.retrieve(ex.question, settings.top_k).hits
                recall[weight].append(found(ex, [(h.doc, h.start, h.end) for h in hits]))
        for ex in group:
            retrieval = pipe.retrieve(ex.question)
            question = pipe.assessor.analyzer.analyze(retrieval)
            candidates = pipe.assessor.finder.candidates(question, retrieval)
            for lex, rank in itertools.product(LEXICAL, RANK_PENALTY):
                s = base
                w = SelectionWeights(lex, rank, s.answer_keep_margin, s.answer_sentences, s.answer_max_chars)
                picked = select(question, candidates, w)
                cited[(lex, rank)].append(
                    found(ex, [(p.sentence.doc, p.sentence.start, p.sentence.end) for p in picked])
                )
    print(f"tune: {len(tune)} answerable questions, {args.folds}-fold cross-validation")
    for name, scores in (("sentence_weight → recall@10", recall), ("(lexical, rank) → evidence cited", cited)):
        print(f"\n{name}")
        for key, values in sorted(scores.items(), key=lambda kv: -sum(kv[1]))[:8]:
            print(f"  {key}: {statistics.fmean(values):.4f}")
        best, whole, held = cross_validated(scores, args.folds)
        print(f"  chosen {best}: tune {whole:.4f}, cross-validated held-out {held:.4f}")


if __name__ == "__main__":
    main()
