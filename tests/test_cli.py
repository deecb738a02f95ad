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


@pytest.mark.e2e
def test_index_add_documents_and_remove(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "fund.txt").write_text("The Silk Road Fund was set up in 2014 with 40 billion US dollars.", "utf-8")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    (corpus / "sheet.xlsx").write_bytes(b"PK")
    env = {"RAG_CORPUS_DIR": str(corpus), "RAG_INDEX_DIR": str(tmp_path / "index")}

    done = rag("index", env=env)
    assert done.returncode == 0, done.stderr
    assert "added  fund.txt" in done.stdout and "1 added" in done.stdout
    assert "skipped  broken.pdf" in done.stderr and "skipped  sheet.xlsx: unsupported type .xlsx" in done.stderr
    assert "no index" not in (done.stdout + done.stderr).lower()  # the start-up messages are true

    extra = tmp_path / "bank.md"
    extra.write_text("# AIIB\n\nThe Asian Infrastructure Investment Bank opened in **2016**.", "utf-8")
    done = rag("add", str(extra), env=env)
    assert done.returncode == 0 and "added  bank.md" in done.stdout, done.stderr
    listing = json.loads(rag("documents", "--json", env=env).stdout)
    assert {d["name"]: (d["format"], d["source"]) for d in listing} == {
        "bank.md": ("markdown", "cli"),
        "fund.txt": ("text", "folder"),
    }

    (corpus / "fund.txt").unlink()
    (corpus / "rail.txt").write_text("中欧班列于2011年开通，连接重庆和杜伊斯堡。", "utf-8")
    done = rag("ask", "When did the bank open?", env=env)
    assert done.returncode == 0, done.stderr
    assert "changed since the index was synced (1 new, 0 changed, 1 gone)" in done.stderr
    done = rag("index", env=env)
    assert "added  rail.txt" in done.stdout and "removed  fund.txt" in done.stdout, done.stdout
    assert "1 unchanged" not in done.stdout

    done = rag("remove", "bank.md", env=env)
    assert done.returncode == 0 and "removed  bank.md" in done.stdout
    done = rag("remove", "bank.md", env=env)
    assert done.returncode == 2 and "no document named 'bank.md'" in done.stderr
    assert [d["name"] for d in json.loads(rag("documents", "--json", env=env).stdout)] == ["rail.txt"]
