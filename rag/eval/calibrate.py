"""Fit the answerability model on the tune split and write it as JSON (coefficients, never a pickle).

Each tune question goes through the real pipeline up to the decision's signals. A logistic regression is fitted
with its regularization chosen by 5-fold cross-validation. The threshold is the one that decides the most tune
questions right (each question counts once), read off out-of-fold predictions pooled over repeated 5-fold
splits, so that it is not tuned on the very points it was fitted to and does not hang on one shuffle. The
file also records the rates at the stricter threshold that weighs both classes equally (Youden's J), which
`RAG_ANSWER_THRESHOLD` can select.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.decide import FEATURES
from rag.eval.dataset import Example
from rag.eval.metrics import auroc, by_corpus
from rag.pipeline import Pipeline
from rag.settings import Settings

FOLDS = 5
REPEATS = 5
CS = (0.1, 1.0, 10.0, 100.0)
SEED = 0


def collect(
    base: Settings, examples: list[Example], load: Callable[[Settings], Pipeline] = Pipeline.load
) -> tuple[np.ndarray, np.ndarray]:
    """The decision's signals (rows in the order of `FEATURES`) and whether each question is answerable."""
    rows, labels = [], []
    for pipe, group in by_corpus(base, examples, load):
        for ex in group:
            assessment = pipe.assessor.assess(pipe.retrieve(ex.question))
            rows.append(assessment.features.values())
            labels.append(ex.answerable)
    return np.asarray(rows, dtype=np.float64), np.asarray(labels, dtype=bool)


def best_threshold(probs: np.ndarray, labels: np.ndarray, balanced: bool) -> dict[str, float]:
    """The threshold deciding the most questions right (`balanced`: each class weighing half), and its rates."""
    best: dict[str, float] = {}
    for t in np.unique(probs):
        answered = float((probs[labels] >= t).mean())
        refused = float((probs[~labels] < t).mean())
        right = answered + refused if balanced else float(((probs >= t) == labels).mean())
        if not best or right > best["right"]:
            best = {"threshold": float(t), "right": right, "answered": answered, "refused": refused}
    return {k: round(v, 4) for k, v in best.items() if k != "right"}


def fit(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Coefficients, intercept and threshold, with the cross-validated figures behind them."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=SEED)
    chooser = LogisticRegressionCV(Cs=list(CS), cv=folds, scoring="neg_log_loss", max_iter=5000).fit(x, y)
    c = float(chooser.C_[0])
    probs, labels = [], []
    for repeat in range(REPEATS):
        oof = np.zeros(len(y))
        for train, held in StratifiedKFold(FOLDS, shuffle=True, random_state=SEED + repeat).split(x, y):
            oof[held] = LogisticRegression(C=c, max_iter=5000).fit(x[train], y[train]).predict_proba(x[held])[:, 1]
        probs.append(oof)
        labels.append(y)
    pooled, pooled_labels = np.concatenate(probs), np.concatenate(labels)
    chosen = best_threshold(pooled, pooled_labels, balanced=False)
    model = LogisticRegression(C=c, max_iter=5000).fit(x, y)
    return {
        "features": list(FEATURES),
        "coefficients": {f: round(float(w), 6) for f, w in zip(FEATURES, model.coef_[0], strict=True)},
        "intercept": round(float(model.intercept_[0]), 6),
        "threshold": chosen["threshold"],
        "fit": {
            "C": c,
            "questions": len(y),
            "answerable": int(y.sum()),
            "unanswerable": int((~y).sum()),
            "cv": f"{REPEATS} x {FOLDS}-fold, out-of-fold predictions pooled",
            "cv_auroc": auroc(pooled.tolist(), pooled_labels.tolist()),
            "cv_at_threshold": chosen,
            "cv_at_balanced_threshold": best_threshold(pooled, pooled_labels, balanced=True),
        },
    }


def calibrate(
    base: Settings,
    examples: list[Example],
    out: Path,
    datasets: list[str],
    load: Callable[[Settings], Pipeline] = Pipeline.load,
) -> dict[str, Any]:
    """Fit on the tune examples given and write the model file; returns what was written."""
    tune = [ex for ex in examples if ex.split == "tune"]
    x, y = collect(base, tune, load)
    model = fit(x, y)
    model["fit"] |= {"datasets": datasets, "split": "tune", "date": time.strftime("%Y-%m-%d")}
    out.write_text(json.dumps(model, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return model
