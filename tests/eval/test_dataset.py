from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from rag.errors import InputError
from rag.eval.dataset import load_dataset, validate_dataset

from ..conftest import ROOT, SEEDS

DATASETS = [ROOT / "eval" / "datasets" / name for name in ("seeds.jsonl", "debian.jsonl")]


def test_eval_suite_is_valid_and_covers_what_it_must() -> None:
    examples = []
    for path in DATASETS:
        assert validate_dataset(path, SEEDS) == []
        examples += load_dataset(path, SEEDS)
    kinds = Counter(e.kind for e in examples)
    langs = Counter(e.lang for e in examples)
    assert len(examples) >= 240 and langs["en"] >= 100 and langs["zh"] >= 100
    assert kinds["cross"] >= 70 and kinds["multi"] >= 20 and kinds["unanswerable"] >= 40
    assert sum(e.near_miss for e in examples) >= 15
    assert sum(e.corpus is not None and e.corpus.name == "debian-reference" for e in examples) >= 80
    assert {ev.doc for e in examples for ev in e.evidence if e.corpus == SEEDS} == {p.name for p in SEEDS.glob("*.txt")}
    for e in examples:
        assert e.corpus is not None
        for ev in e.evidence:
            assert (e.corpus / ev.doc).read_text("utf-8")[ev.start : ev.end] == ev.quote


def test_split_is_stratified_and_frozen() -> None:
    examples = [e for path in DATASETS for e in load_dataset(path, SEEDS)]
    strata = Counter((e.corpus, e.lang, e.kind, e.split) for e in examples)
    for corpus, lang, kind, _ in strata:
        tune, test = strata[(corpus, lang, kind, "tune")], strata[(corpus, lang, kind, "test")]
        assert abs(tune - test) <= 1, (corpus, lang, kind)


def _write(tmp_path: Path, *rows: dict[str, object]) -> Path:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def test_problems_are_listed(tmp_path: Path) -> None:
    row = {
        "id": "a",
        "lang": "fr",
        "kind": "same",
        "question": "q",
        "answer": "2001",
        "must_include": ["2002"],
        "evidence": [{"doc": "missing.txt", "quote": "x" * 50}],
    }
    problems = validate_dataset(_write(tmp_path, row, row), SEEDS)
    assert any("duplicate id" in p for p in problems)
    assert any("lang must be one of" in p for p in problems)
    assert any("'2002' is not in the reference answer" in p for p in problems)
    assert any("missing.txt is not in" in p for p in problems)
    with pytest.raises(InputError, match="is not a valid dataset"):
        load_dataset(_write(tmp_path, row), SEEDS)


def test_malformed_line_names_its_place(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": 1}\n')
    with pytest.raises(InputError, match=r"d\.jsonl:1: not a valid example"):
        validate_dataset(path, SEEDS)
