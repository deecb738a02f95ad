from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rag import Pipeline
from rag.serve.app import create_app
from rag.testing import FAKE_EMBEDDER

from .conftest import ROOT, serving
from .scripted_llm import Reply, ScriptedLLM, sources_of


def rag(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def fake_env(corpus: Path, index: Path) -> dict[str, str]:
    """A `rag` process on the fake embedder over its own corpus and index (never the project's real-model index)."""
    return {"RAG_EMBEDDER": FAKE_EMBEDDER, "RAG_CORPUS_DIR": str(corpus), "RAG_INDEX_DIR": str(index)}


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


def test_ask_empty_question_exits_2(tmp_path: Path, corpus: Path) -> None:
    done = rag("ask", "  ", env=fake_env(corpus, tmp_path / "index"))
    assert done.returncode == 2
    assert "error: the question is empty" in done.stderr


@pytest.mark.e2e
def test_ask_json() -> None:
    """The one CLI test on the real model and the real seeds: the other `rag` processes here run the fake."""
    done = rag("ask", "亚投行的核心目标是什么？", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["language"] == "zh" and not answer["abstained"]
    assert "000_52703944bae284e8.txt" in [c["doc"] for c in answer["citations"]]
    assert 0 < answer["confidence"] <= 1 and answer["composer"] == "extractive"


def test_index_add_documents_and_remove(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "fund.txt").write_text("The Silk Road Fund was set up in 2014 with 40 billion US dollars.", "utf-8")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    (corpus / "sheet.xls").write_bytes(b"PK")
    env = fake_env(corpus, tmp_path / "index")

    done = rag("index", env=env)
    assert done.returncode == 0, done.stderr
    assert "added  fund.txt" in done.stdout and "1 added" in done.stdout
    assert "skipped  broken.pdf" in done.stderr and "skipped  sheet.xls: unsupported type .xls" in done.stderr
    assert "no index" not in (done.stdout + done.stderr).lower()  # the start-up messages are true

    extra = tmp_path / "bank.md"
    extra.write_text("# AIIB\n\nThe Asian Infrastructure Investment Bank opened in **2016**.", "utf-8")
    done = rag("add", str(extra), "--tag", "bank", "--tag", "asia", "--meta", '{"year": 2016}', env=env)
    assert done.returncode == 0 and "added  bank.md" in done.stdout, done.stderr
    listing = json.loads(rag("documents", "--json", env=env).stdout)
    assert {d["name"]: (d["format"], d["source"], d["tags"], d["meta"], d["title"]) for d in listing} == {
        "bank.md": ("markdown", "cli", ["bank", "asia"], {"year": 2016}, "AIIB"),
        "fund.txt": ("text", "folder", [], {}, "fund"),
    }
    assert "bank.md  markdown  en  1 chunks" in rag("documents", env=env).stdout
    done = rag("search", "when did it open", "--json", "--filter", '{"meta": {"year": {"lt": 2020}}}', env=env)
    assert done.returncode == 0 and {h["doc"] for h in json.loads(done.stdout)} == {"bank.md"}, done.stderr
    done = rag("search", "when", "--filter", '{"tags": "bank"}', env=env)
    assert done.returncode == 2 and "filter.tags: Input should be a valid" in done.stderr
    done = rag("add", str(extra), "--meta", '{"year": [2016]}', env=env)
    assert done.returncode == 2 and "metadata year: a value is a string, a number or true/false" in done.stderr

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


def test_ask_and_eval_through_an_llm_endpoint(tmp_path: Path, llm: ScriptedLLM) -> None:
    """`rag ask` and `rag eval --composer llm` on the fake embedder, the answers written by a scripted endpoint."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    quote = "The Silk Road Fund was set up in 2014 with 40 billion US dollars."
    (corpus / "fund.txt").write_text(f"{quote}\n\nIt invests in infrastructure along the Belt and Road.\n", "utf-8")
    rows = [
        {
            "id": "zh-cross-1",
            "split": "test",
            "lang": "zh",
            "kind": "cross",
            "question": "丝路基金是哪一年设立的？",
            "answer": "丝路基金于2014年设立。",
            "evidence": [{"doc": "fund.txt", "quote": quote}],
            "must_include": ["2014年|2014"],
        },
        {
            "id": "zh-un-1",
            "split": "test",
            "lang": "zh",
            "kind": "unanswerable",
            "question": "丝路基金的总部有多少名员工？",
            "answer": "",
            "evidence": [],
            "must_include": [],
        },
    ]
    dataset = tmp_path / "small.jsonl"
    dataset.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", "utf-8")

    def script(body: dict[str, Any]) -> Reply:
        n = next(n for n, text in sources_of(body).items() if "2014" in text)
        return Reply(f"丝路基金于2014年设立[{n}]，资金四百亿美元[{n}]。编造的[{n + 20}]。")

    llm.reply = script
    env = {
        **fake_env(corpus, tmp_path / "index"),
        "RAG_LLM_BASE_URL": llm.base_url,
        "RAG_LLM_MODEL": "scripted",
    }
    done = rag("ask", "丝路基金是哪一年设立的？", "--composer", "llm", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("丝路基金于2014年设立[1]，资金四百亿美元[1]。编造的。") and "llm" in done.stdout
    assert "[1] fund.txt [0:" in done.stdout

    out = tmp_path / "report.json"
    done = rag(
        "eval", "--dataset", str(dataset), "--corpus", str(corpus), "--composer", "llm", "--out", str(out), env=env
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text("utf-8"))
    answered = next(q for q in report["questions"] if q["id"] == "zh-cross-1")
    assert answered["composer"] == "llm" and answered["atoms_found"] == ["2014年|2014"]
    assert answered["citations_exact"] == answered["citations_total"] == 1
    assert report["splits"]["test"]["composed_by_llm"] > 0


def test_ask_and_search_through_a_running_server(fake_pipe: Pipeline) -> None:
    """With RAG_SERVER_URL, nothing is loaded locally: the running service answers, the CLI prints it."""
    with serving(create_app(fake_pipe, with_ui=False)) as url:
        env = {"RAG_SERVER_URL": url}
        done = rag("ask", "When was the Silk Road Fund set up?", env=env)
        assert done.returncode == 0, done.stderr
        assert (
            done.stdout.startswith("2014 [1]. The Silk Road Fund was set up in 2014. [1]")
            and "[1] en.txt [0:38]" in done.stdout
        )
        answer = json.loads(rag("ask", "When was the Silk Road Fund set up?", "--json", env=env).stdout)
        assert answer["citations"][0]["text"] == "The Silk Road Fund was set up in 2014."
        assert "en.txt" in rag("search", "Silk Road Fund", "-k", "1", env=env).stdout
        only_zh = rag("search", "Silk Road Fund", "--filter", '{"language": ["zh"]}', env=env)
        assert "zh.md" in only_zh.stdout and "en.txt" not in only_zh.stdout, only_zh.stderr
        refused = rag("ask", "x", "--corpus", "seeds", env=env)
        assert refused.returncode == 2 and "--corpus apply to a local index" in refused.stderr
        empty = rag("ask", "   ", env=env)
        assert empty.returncode == 2 and "the question is empty" in empty.stderr
    down = rag("ask", "When?", env={"RAG_SERVER_URL": url})
    assert down.returncode == 2 and "cannot reach the server" in down.stderr
