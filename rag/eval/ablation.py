"""Near misses by ablation: every answerable question asked again of a corpus copy with its evidence cut out.

One cut copy per corpus, with every evidence quote of that corpus's answerable questions removed at once (the
paragraphs around them stay). It is written under the cache folder, named by the hash of what it holds, so it
is indexed once and reused until a dataset or a corpus file changes. A question whose key facts all still occur
in the cut copy is dropped: its fact may still be there in other words. Each question that is left becomes an
unanswerable twin (`<id>~cut`, the source's split): the same words and topic, the fact gone.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from rag.collection.folder import folder_files
from rag.eval.dataset import Example, alternatives, eval_index_dir
from rag.ingest import read_path
from rag.settings import Settings

SUFFIX = "~cut"
CUT_MARK = "-cut-"


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    """The text without the spans (overlapping spans removed as their union)."""
    out, pos = [], 0
    for start, end in sorted(spans):
        if start > pos:
            out.append(text[pos:start])
        pos = max(pos, end)
    out.append(text[pos:])
    return "".join(out)


def cut_files(corpus: Path, examples: list[Example]) -> dict[str, bytes]:
    """The corpus's files by name, those holding evidence of the answerable examples with it removed."""
    spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for ex in examples:
        if ex.answerable:
            for ev in ex.evidence:
                spans[ev.doc].append((ev.start, ev.end))
    # Quotes are offsets into a file's text as UTF-8 (the dataset checks them so); other files stay as they are.
    return {
        path.name: _cut(path.read_text("utf-8"), spans[path.name]).encode() if path.name in spans else path.read_bytes()
        for path in folder_files(corpus)[0]
    }


def _text(path: Path, data: bytes, cut: set[str]) -> str:
    """A file's text as the index reads it; a cut file's is its own bytes."""
    return data.decode() if path.name in cut else read_path(path).text


def survives(ex: Example, cut: str) -> bool:
    """Whether the cut corpus (lower-cased, joined) still states every key fact of `ex` in some form."""
    return all(any(form.lower() in cut for form in alternatives(atom)) for atom in ex.must_include)


def source_name(folder: Path) -> str:
    """The name of the corpus a folder is, or was cut from."""
    return folder.name.split(CUT_MARK)[0]


def write_copy(corpus: Path, files: dict[str, bytes], cache_dir: Path) -> Path:
    """The cut copy's folder under `cache_dir`, named by a hash of its files; written only when missing.

    Copies of the same corpus with another hash (cut by an earlier dataset or from earlier files) are removed
    with their indexes: nothing asks them again, and each holds a whole corpus and its vectors.
    """
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(hashlib.sha256(name.encode()).digest() + hashlib.sha256(files[name]).digest())
    folder = cache_dir / "ablation" / f"{corpus.name}{CUT_MARK}{digest.hexdigest()[:12]}"
    if not folder.is_dir():
        staging = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name, data in files.items():
            (staging / name).write_bytes(data)
        staging.rename(folder)
    for stale in folder.parent.glob(f"{corpus.name}{CUT_MARK}*"):
        if stale != folder:
            shutil.rmtree(stale)
            if (index := eval_index_dir(stale)).exists():
                shutil.rmtree(index)
    return folder


def near_misses(settings: Settings, examples: list[Example]) -> list[Example]:
    """The unanswerable twins of the answerable examples, each on the cut copy of its corpus."""
    groups: dict[Path, list[Example]] = defaultdict(list)
    for ex in examples:
        groups[ex.corpus or settings.corpus_dir].append(ex)
    out: list[Example] = []
    for corpus, group in groups.items():
        files = cut_files(corpus, group)
        cut = {ev.doc for ex in group for ev in ex.evidence}
        joined = "\n".join(_text(corpus / name, data, cut) for name, data in files.items()).lower()
        kept = [ex for ex in group if ex.answerable and not survives(ex, joined)]
        if not kept:
            continue
        folder = write_copy(corpus, files, settings.cache_dir)
        out.extend(
            replace(
                ex,
                id=ex.id + SUFFIX,
                kind="unanswerable",
                answer="",
                evidence=(),
                must_include=(),
                corpus=folder,
                near_miss=True,
                ablated=True,
            )
            for ex in kept
        )
    return out
