from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from rag.errors import InputError
from rag.eval.dataset import load_dataset, validate_dataset

from ..conftest import ROOT, SEEDS

DEV = ROOT / "eval" / "datasets" / "dev.jsonl"


def test_dev_set_is_valid_and_covers_the_cases() -> None:
    assert validate_dataset(DEV, SEEDS) == []
    examples = load_dataset(DEV, SEEDS)
    kinds = Counter((e.lang, e.kind) for e in examples)
    assert len(examples) >= 80
    assert sum(n for (_, k), n in kinds.items() if k == "unanswerable") >= 10
    assert all(kinds[(lang, kind)] > 0 for lang in ("en", "zh") for kind in ("same", "cross", "multi", "unanswerable"))
    assert {ev.doc for e in examples for ev in e.evidence} == {p.name for p in SEEDS.glob("*.txt")}
    for e in examples:
        for ev in e.evidence:
            assert (SEEDS / ev.doc).read_text("utf-8")[ev.start : ev.end] == ev.quote


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
