from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT


def rag(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_validate_seeds_set() -> None:
    done = rag("eval", "validate", "eval/datasets/seeds.jsonl")
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout


def test_validate_reports_bad_dataset(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    row = {
        "id": "x",
        "lang": "en",
        "kind": "same",
        "question": "q?",
        "answer": "a",
        "must_include": ["zz"],
        "evidence": [{"doc": "001_28d6732cc8b35764.txt", "quote": "not a quote from the paper at all, not at all"}],
    }
    bad.write_text(json.dumps(row) + "\n")
    done = rag("eval", "validate", str(bad))
    assert done.returncode == 2
    assert "not an exact substring" in done.stderr and "'zz' is not in the reference answer" in done.stderr


def test_invalid_setting_is_an_error_not_a_traceback() -> None:
    done = rag("search", "road", env={"RAG_TOP_K": "0"})
    assert done.returncode == 2
    assert "error: invalid setting" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.e2e
def test_ask_empty_question_exits_2() -> None:
    done = rag("ask", "  ")
    assert done.returncode == 2
    assert "error: the question is empty" in done.stderr


@pytest.mark.e2e
def test_ask_json() -> None:
    done = rag("ask", "亚投行的核心目标是什么？", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["language"] == "zh" and not answer["abstained"]
    assert "000_52703944bae284e8.txt" in [c["doc"] for c in answer["citations"]]
    assert 0 < answer["confidence"] <= 1 and answer["composer"] == "extractive"
