"""Choose the cross-lingual faithfulness threshold on the tune split; print both splits.

Usage: python eval/faithfulness_threshold.py

The faithfulness check calls a paraphrased claim supported when its embedding similarity to the cited span
reaches a threshold. A Chinese claim and its English source score lower than a paraphrase in the same language,
so one threshold for both would reject most faithful translations. The same-language threshold stays
(`faithfulness_threshold`); the cross-lingual one is the lowest that accepts no more wrong spans than it does:
on tune, each reference answer is paired with its own evidence (supported) and with the evidence of another
question on the same corpus (not supported), and the false-support rates are matched.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from rag.embedding import load_embedder
from rag.eval.dataset import load_dataset
from rag.settings import Settings
from rag.text import detect_language

DATASETS = [Path("eval/datasets/seeds.jsonl"), Path("eval/datasets/debian.jsonl")]
GRID = np.round(np.arange(0.80, 0.901, 0.005), 3)


def main() -> None:
    settings = Settings()
    embedder = load_embedder(settings)
    examples = [e for p in DATASETS for e in load_dataset(p, settings.corpus_dir) if e.answerable]
    rng = random.Random(0)
    rows = []
    for e in examples:
        other = rng.choice([x for x in examples if x.corpus == e.corpus and x.id != e.id])
        cross = detect_language(e.evidence[0].quote) != e.lang
        rows.append((e.answer, e.evidence[0].quote, other.evidence[0].quote, e.split, cross))
    v = embedder.encode_queries([t for r in rows for t in r[:3]]).reshape(len(rows), 3, -1)
    pos, neg = (v[:, 0] * v[:, 1]).sum(1), (v[:, 0] * v[:, 2]).sum(1)

    def rates(split: str, cross: bool, t: float) -> tuple[float, float]:
        m = np.array([r[3] == split and r[4] == cross for r in rows])
        return float((pos[m] >= t).mean()), float((neg[m] >= t).mean())

    same = settings.faithfulness_threshold
    target = rates("tune", False, same)[1]
    chosen = min(t for t in GRID if rates("tune", True, t)[1] <= target)
    print(f"same-language threshold {same}: tune false support {target:.3f}")
    print("threshold | tune cross: supported, false support | test cross: supported, false support")
    for t in GRID:
        (tp, fp), (sp, sf) = rates("tune", True, t), rates("test", True, t)
        mark = "  <- chosen" if t == chosen else ""
        print(f"{t:.3f} | {tp:.3f}, {fp:.3f} | {sp:.3f}, {sf:.3f}{mark}")
    for split in ("tune", "test"):
        print(f"{split} same-language at {same}: supported, false support = {rates(split, False, same)}")
    print(f"faithfulness_cross_threshold = {chosen}")


if __name__ == "__main__":
    main()
