"""The evaluation dataset: JSONL, one question a line, with exact evidence quotes; loading and validation.

A row may name its corpus folder (`corpus`, relative to the project root; the configured corpus otherwise) and
its frozen split (`tune`, where every threshold and weight is chosen, or `test`, which is only reported). A
key fact may list alternatives separated by `|` (its form in the question's language and in the source's).
A row with `"checked": false` is a candidate (`rag eval feedback export` writes them from users' feedback): it
does not count until a maintainer has completed it and set `"checked": true`; validation says what it lacks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from rag.errors import InputError
from rag.settings import PROJECT_ROOT
from rag.text import CJK, LATIN_WORD

LANGS = ("en", "zh")
KINDS = ("same", "cross", "unanswerable", "multi")
SPLITS = ("tune", "test")
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
    split: str = "tune"
    corpus: Path | None = None
    near_miss: bool = False
    ablated: bool = False  # a near miss made by cutting an answerable question's evidence out of its corpus
    checked: bool = True

    @property
    def answerable(self) -> bool:
        """Whether the corpus holds the answer."""
        return self.kind != "unanswerable"


def alternatives(atom: str) -> list[str]:
    """The forms of a key fact, any of which counts."""
    return [a.strip() for a in atom.split("|") if a.strip()]


def in_language(form: str, language: str) -> bool:
    """Whether a form of a key fact is written in `language` (numbers and symbols are in both)."""
    if CJK.search(form):
        return language == "zh"
    return language == "en" or not LATIN_WORD.search(form)


def has_fact(atom: str, text: str, language: str | None = None) -> bool:
    """Whether `text` states the key fact in one of its forms (case-insensitive).

    With `language`, only the forms written in that language count (when the fact has one): an answer written
    for the asker must state the fact in the asker's language, not quote it in the source's.
    """
    forms = alternatives(atom)
    if language is not None:
        forms = [a for a in forms if in_language(a, language)] or forms
    low = text.lower()
    return any(a.lower() in low for a in forms)


def _parse(line: str, lineno: int, path: Path) -> Example:
    try:
        row = json.loads(line)
        return Example(
            id=str(row["id"]),
            lang=row["lang"],
            kind=row["kind"],
            question=row["question"],
            answer=row["answer"],
            evidence=tuple(Evidence(e["doc"], e.get("quote", "")) for e in row["evidence"]),
            must_include=tuple(row["must_include"]),
            split=row.get("split", "tune"),
            corpus=PROJECT_ROOT / row["corpus"] if row.get("corpus") else None,
            near_miss=bool(row.get("near_miss", False)),
            checked=row.get("checked", True) is True,
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
    """Every problem with the dataset, as readable lines; empty when it is valid.

    `corpus_dir` is the corpus of the rows that do not name their own.
    """
    problems: list[str] = []
    examples = read_examples(path)
    texts: dict[Path, str] = {}
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
        if ex.split not in SPLITS:
            problems.append(f"{where} split must be one of {SPLITS}, got {ex.split!r}")
        folder = ex.corpus or corpus_dir
        if not folder.is_dir():
            problems.append(f"{where} corpus folder {folder} does not exist")
            continue
        if not ex.question.strip():
            problems.append(f"{where} empty question")
        needs = _missing(ex)
        if needs:
            then = '; then set "checked": true' if not ex.checked else ""
            problems.append(f"{where} needs {', '.join(needs)}{then}")
        elif not ex.checked:
            problems.append(f'{where} unchecked: review it, then set "checked": true')
        if ex.answerable and len(ex.must_include) > MAX_ATOMS:
            problems.append(f"{where} must_include needs 1-{MAX_ATOMS} atoms")
        elif not ex.answerable and (ex.evidence or ex.must_include or ex.answer):
            problems.append(f"{where} unanswerable question must have empty answer, evidence and must_include")
        for atom in ex.must_include:
            if not has_fact(atom, ex.answer):
                problems.append(f"{where} atom {atom!r} is not in the reference answer")
        for ev in ex.evidence:
            file = folder / ev.doc
            if file not in texts:
                if not file.is_file():
                    problems.append(f"{where} evidence document {ev.doc} is not in {folder}")
                    continue
                try:
                    texts[file] = file.read_text("utf-8")
                except UnicodeDecodeError:
                    problems.append(f"{where} evidence document {ev.doc} is not UTF-8 text; quote a text file")
                    continue
            if not ev.quote:
                continue  # said among what the row needs
            if ev.quote not in texts[file]:
                problems.append(f"{where} quote is not an exact substring of {ev.doc}: {ev.quote[:60]!r}")
            if not QUOTE_CHARS[0] <= len(ev.quote) <= QUOTE_CHARS[1]:
                problems.append(
                    f"{where} quote has {len(ev.quote)} characters, expected {QUOTE_CHARS[0]}-{QUOTE_CHARS[1]}"
                )
    return problems


def _missing(ex: Example) -> list[str]:
    """What an answerable row lacks before it can count: its answer, key facts, evidence or a quote."""
    if not ex.answerable:
        return []
    needs = []
    if not ex.answer.strip():
        needs.append("a reference answer")
    if not ex.must_include:
        needs.append(f"1-{MAX_ATOMS} must_include atoms")
    if not ex.evidence:
        needs.append("an evidence document and its exact quote")
    needs += [f"an exact evidence quote from {ev.doc}" for ev in ex.evidence if not ev.quote]
    return needs


def load_dataset(path: Path, corpus_dir: Path) -> list[Example]:
    """Validated examples with evidence offsets resolved; InputError listing the problems otherwise."""
    problems = validate_dataset(path, corpus_dir)
    if problems:
        raise InputError(f"{path} is not a valid dataset:\n" + "\n".join(problems))
    out = []
    for ex in read_examples(path):
        folder = ex.corpus or corpus_dir
        resolved = []
        for ev in ex.evidence:
            text = (folder / ev.doc).read_text("utf-8")
            start = text.find(ev.quote)
            resolved.append(Evidence(ev.doc, ev.quote, start, start + len(ev.quote)))
        out.append(replace(ex, evidence=tuple(resolved), corpus=folder))
    return out


def eval_index_dir(corpus: Path) -> Path:
    """Where the eval keeps the index of a corpus folder other than the configured one."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", corpus.name)
    return PROJECT_ROOT / "index" / f"eval-{slug}"
