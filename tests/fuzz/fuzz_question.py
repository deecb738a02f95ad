"""Fuzz the question path: any text as a question gets an answer, an abstention or a RagError, nothing else.

`python tests/fuzz/fuzz_question.py -runs=2000 -seed=1` (make test) or `-max_total_time=600` (make fuzz).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports(include=["rag"]):
    from rag import Pipeline, Settings
    from rag.errors import RagError
    from tests.conftest import FakeEmbedder

WORK = Path(tempfile.mkdtemp(prefix="rag-fuzz-"))
(WORK / "corpus").mkdir()
(WORK / "corpus" / "en.txt").write_text(
    "The Silk Road Fund was set up in 2014. It invests in infrastructure along the route.\n\n"
    "Use rsync --delete -k to mirror /etc/hosts; set AccuracySec=1s.\n",
    "utf-8",
)
ZH = "多边主义面临挑战。中国在2001年加入世界贸易组织。\n\n亚投行于2016年开业。"
(WORK / "corpus" / "zh.md").write_text(ZH, "utf-8")
PIPE = Pipeline.load(
    Settings(corpus_dir=WORK / "corpus", index_dir=WORK / "index", cache_dir=WORK / "cache", min_language_chunks=1),
    embedder=FakeEmbedder(),
)


def one(data: bytes) -> None:
    """Ask one fuzzed question, with a fuzzed top_k."""
    fdp = atheris.FuzzedDataProvider(data)
    top_k = fdp.ConsumeIntInRange(0, 60)
    question = fdp.ConsumeUnicodeNoSurrogates(400) if fdp.ConsumeBool() else fdp.ConsumeUnicode(400)
    try:
        answer = PIPE.ask(question, top_k)
    except RagError:
        return
    for c in answer.citations:
        assert PIPE.documents[c.doc].text[c.start : c.end] == c.text
    assert 0.0 <= answer.confidence <= 1.0


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
