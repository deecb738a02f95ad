"""Faithfulness without an LLM judge: check that every claim of an answer is backed by the spans it cites.

A claim is a stretch of answer text closed by one or more `[n]` markers. It is supported when its cited
spans contain it verbatim (extractive answers), or when every number and named entity in it appears in
those spans and its embedding similarity to them reaches a calibrated threshold (paraphrases, LLM answers; a
lower one, chosen on tune at the same false-support rate, when the claim is in another language than its spans:
`eval/faithfulness_threshold.py`).
An unmarked sentence that states a number is a claim without support.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rag.answer.value import restated
from rag.data import Answer
from rag.ingest.clean import clean_text
from rag.text import detect_language

MARKERS = re.compile(r"((?:\s*\[\d+\])+)")
MARKER_NUM = re.compile(r"\[(\d+)\]")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*%?")
# Capitalized words or acronyms that do not open a sentence: a cheap named-entity detector.
ENTITY = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][A-Za-z0-9-]*[A-Z0-9a-z]\b")
WORDS = re.compile(r"[^\W\d_]", re.U)
SENTENCE = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*")

Encode = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Claim:
    """One claim of an answer and the verdict on it."""

    text: str
    cited: tuple[int, ...]
    supported: bool
    reason: str


def normalize(text: str) -> str:
    """OCR noise removed, whitespace collapsed, lower-cased: the form compared for containment."""
    return re.sub(r"\s+", " ", clean_text(text)[0]).strip().lower()


def split_claims(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """The answer's claims with the citation numbers that close them; unmarked sentences get ()."""
    out: list[tuple[str, tuple[int, ...]]] = []
    parts = MARKERS.split(text)
    for i in range(0, len(parts), 2):
        body = parts[i].strip()
        nums = tuple(int(n) for n in MARKER_NUM.findall(parts[i + 1])) if i + 1 < len(parts) else ()
        if not body:
            continue
        if nums:
            # Framing sentences before the cited one stay unmarked claims of their own.
            sentences = [s for s in SENTENCE.split(body) if s.strip()]
            for s in sentences[:-1]:
                out.append((s.strip(), ()))
            out.append((sentences[-1].strip() if sentences else body, nums))
        else:
            out.extend((s.strip(), ()) for s in SENTENCE.split(body) if s.strip())
    return out


def facts(text: str) -> set[str]:
    """Numbers and named entities stated in a text."""
    return set(NUMBER.findall(text)) | set(ENTITY.findall(text))


def support(
    claim: str, spans: list[str], encode: Encode | None, threshold: float, cross_threshold: float | None = None
) -> tuple[bool, str]:
    """Whether the spans back the claim, and why not when they do not.

    A claim in another language than its spans (a written answer in the asker's language) is held to
    `cross_threshold`: translation lowers the similarity of a faithful claim more than paraphrase does.
    """
    if not spans:
        return False, "cites nothing"
    joined = " ".join(normalize(s) for s in spans)
    if normalize(claim) in joined:
        return True, "quoted"
    # A date or an amount the spans state in other words (2013年9月 for "September 2013") is stated by them.
    rest = restated(claim, " ".join(spans))
    if rest != claim and not WORDS.search(rest):
        return True, "states a value of the spans"
    missing = [f for f in facts(rest) if f.lower() not in joined]
    if missing:
        return False, f"cited spans lack {', '.join(sorted(missing))}"
    if encode is None:
        return False, "not quoted and no embedder to compare"
    vecs = encode([claim, " ".join(spans)])
    sim = float(vecs[0] @ vecs[1])
    if cross_threshold is not None and detect_language(claim) != detect_language(" ".join(spans)):
        threshold = cross_threshold
    if sim >= threshold:
        return True, f"similarity {sim:.3f}"
    return False, f"similarity {sim:.3f} below {threshold}"


def check_answer(
    answer: Answer, encode: Encode | None, threshold: float, cross_threshold: float | None = None
) -> list[Claim]:
    """Verdicts for every claim of the answer (none for an abstention)."""
    if answer.abstained:
        return []
    by_n = {c.n: c.text for c in answer.citations}
    out = []
    for text, nums in split_claims(answer.text):
        if not nums:
            if NUMBER.search(text):
                out.append(Claim(text, (), False, "states a number without a citation"))
            continue
        unknown = [n for n in nums if n not in by_n]
        if unknown:
            out.append(Claim(text, nums, False, f"marker {unknown} has no citation"))
            continue
        ok, reason = support(text, [by_n[n] for n in nums], encode, threshold, cross_threshold)
        out.append(Claim(text, nums, ok, reason))
    return out


def citation_precision(
    answer: Answer, encode: Encode | None, threshold: float, cross_threshold: float | None = None
) -> tuple[int, int]:
    """(citations that support the claim they close, citations attached to claims)."""
    by_n = {c.n: c.text for c in answer.citations}
    good = total = 0
    for text, nums in split_claims(answer.text):
        for n in nums:
            total += 1
            if n in by_n and support(text, [by_n[n]], encode, threshold, cross_threshold)[0]:
                good += 1
    return good, total
