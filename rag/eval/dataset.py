"""The evaluation dataset: JSONL, one question a line, with exact evidence quotes; loading and validation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rag.errors import InputError

LANGS = ("en", "zh")
KINDS = ("same", "cross", "unanswerable", "multi")
QUOTE_CHARS = (40, 400)
MAX_ATOMS = 4


@dataclass(frozen=True)
class Evidence:
    """An exact quote from a corpus file; `start`/`end` are its offsets there."""

    doc: str
    quote: str
    start: int = -1
    end: int = -1


@dataclass(frozen=True)
class Example:
    """One evaluation question."""

    id: str
    lang: str
    kind: str
    question: str
    answer: str
    evidence: tuple[Evidence, ...]
    must_include: tuple[str, ...]

    @property
    def answerable(self) -> bool:
        """Whether the corpus holds the answer."""
        return self.kind != "unanswerable"


def _parse(line: str, lineno: int, path: Path) -> Example:
    try:
        row = json.loads(line)
        return Example(
            id=str(row["id"]),
            lang=row["lang"],
            kind=row["kind"],
            question=row["question"],
            answer=row["answer"],
            evidence=tuple(Evidence(e["doc"], e["quote"]) for e in row["evidence"]),
            must_include=tuple(row["must_include"]),
        )
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{path}:{lineno}: not a valid example ({exc!r})") from exc


def read_examples(path: Path) -> list[Example]:
    """Parse the file without checking it against a corpus."""
    if not path.is_file():
        raise InputError(f"dataset {path} does not exist")
    lines = path.read_text("utf-8").splitlines()
    return [_parse(line, i, path) for i, line in enumerate(lines, 1) if line.strip()]


def validate_dataset(path: Path, corpus_dir: Path) -> list[str]:
    """Every problem with the dataset, as readable lines; empty when it is valid."""
    problems: list[str] = []
    examples = read_examples(path)
    texts: dict[str, str] = {}
    seen: set[str] = set()
    for ex in examples:
        where = f"{ex.id}:"
        if ex.id in seen:
            problems.append(f"{where} duplicate id")
        seen.add(ex.id)
        if ex.lang not in LANGS:
            problems.append(f"{where} lang must be one of {LANGS}, got {ex.lang!r}")
        if ex.kind not in KINDS:
            problems.append(f"{where} kind must be one of {KINDS}, got {ex.kind!r}")
        if not ex.question.strip():
            problems.append(f"{where} empty question")
        if ex.answerable:
            if not ex.evidence:
                problems.append(f"{where} answerable question without evidence")
            if not 1 <= len(ex.must_include) <= MAX_ATOMS:
                problems.append(f"{where} must_include needs 1-{MAX_ATOMS} atoms")
        elif ex.evidence or ex.must_include or ex.answer:
            problems.append(f"{where} unanswerable question must have empty answer, evidence and must_include")
        for atom in ex.must_include:
            if atom.lower() not in ex.answer.lower():
                problems.append(f"{where} atom {atom!r} is not in the reference answer")
        for ev in ex.evidence:
            if ev.doc not in texts:
                file = corpus_dir / ev.doc
                if not file.is_file():
                    problems.append(f"{where} evidence document {ev.doc} is not in {corpus_dir}")
                    continue
                texts[ev.doc] = file.read_text("utf-8")
            if ev.quote not in texts[ev.doc]:
                problems.append(f"{where} quote is not an exact substring of {ev.doc}: {ev.quote[:60]!r}")
            if not QUOTE_CHARS[0] <= len(ev.quote) <= QUOTE_CHARS[1]:
                problems.append(
                    f"{where} quote has {len(ev.quote)} characters, expected {QUOTE_CHARS[0]}-{QUOTE_CHARS[1]}"
                )
    return problems


def load_dataset(path: Path, corpus_dir: Path) -> list[Example]:
    """Validated examples with evidence offsets resolved; InputError listing the problems otherwise."""
    problems = validate_dataset(path, corpus_dir)
    if problems:
        raise InputError(f"{path} is not a valid dataset:\n" + "\n".join(problems))
    out = []
    for ex in read_examples(path):
        resolved = []
        for ev in ex.evidence:
            text = (corpus_dir / ev.doc).read_text("utf-8")
            start = text.find(ev.quote)
            resolved.append(Evidence(ev.doc, ev.quote, start, start + len(ev.quote)))
        out.append(Example(ex.id, ex.lang, ex.kind, ex.question, ex.answer, tuple(resolved), ex.must_include))
    return out
