"""Compose an extractive answer with sentence-level citations, or abstain.

The question is reduced to its concepts (content words, each with its dictionary translations). Every
sentence of the top passages is scored by the idf-weighted share of concepts it covers, in either
language. The best few become the answer, each followed by its `[n]` marker. The composer abstains when
the chosen evidence does not cover the question's concepts well enough, or lacks the kind of fact the
question asks for (a year for "when", a number for "how many"): a near fact is not an answer.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from rag.data import Answer, Citation, Document, Hit
from rag.lexical import CJK_RUN, EN_STOP, ZH_STOP, LexicalIndex, tokenize
from rag.retrieval import Retrieval
from rag.settings import Settings
from rag.translate import get_dictionary

SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+|(?<=[。！？；])[”’）]*|\n+")
YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)")
NUMBER = re.compile(r"\d|[一二三四五六七八九十百千万亿两]+[个项国家名次条年%]")
ASKS_YEAR = re.compile(r"\b(when|what year|which year|in what year)\b|哪一年|哪年|何时|什么时候|哪个年份|几年", re.I)
ASKS_NUMBER = re.compile(r"\b(how many|how much|what percentage|what share|what number)\b|多少|几个|几项|几家|几国|比例", re.I)
ABSTAIN = {
    "en": "The documents do not contain an answer to this question.",
    "zh": "文档中没有找到这个问题的答案。",
}
CROSS_NOTE = {
    "en": "The sources for this answer are in Chinese; they are quoted as written.",
    "zh": "以下依据来自英文文献，按原文引用。",
}
CJK_WEIGHT = 2  # a Chinese character carries about as much as two Latin letters


@dataclass(frozen=True)
class Concept:
    """One content word of the question and the surface forms that count as mentioning it."""

    word: str
    forms: frozenset[str]
    weight: float


@dataclass(frozen=True)
class Sentence:
    """A sentence of a retrieved passage, in cleaned text, with its original offsets."""

    doc: str
    start: int
    end: int
    clean: str
    rank: int
    language: str


def _stems(word: str) -> set[str]:
    out = {word}
    for suffix in ("ies", "es", "s", "ed", "ing", "al", "ism", "ation", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            out.add(word[: -len(suffix)])
    return out


def _content_len(text: str) -> int:
    return sum(CJK_WEIGHT if CJK_RUN.match(ch) else 1 for ch in text if not ch.isspace())


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class Composer:
    """Builds answers from retrievals; holds what it needs from the corpus."""

    def __init__(self, settings: Settings, lexical: LexicalIndex, documents: dict[str, Document]) -> None:
        self.settings = settings
        self.lexical = lexical
        self.documents = documents
        self.max_idf = lexical.idf("\0")

    def concepts(self, retrieval: Retrieval) -> list[Concept]:
        """The question's concepts with their forms in both languages and idf weights."""
        question = retrieval.query
        translated = retrieval.translation.terms
        words: list[str] = []
        if retrieval.language == "zh":
            dictionary = get_dictionary()
            for run in re.findall(r"[\u3400-\u9fff]+|[A-Za-z0-9]+", question.lower()):
                words.extend(dictionary.segment(run) if CJK_RUN.match(run) else [run])
        else:
            words = re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", question.lower())
        out: list[Concept] = []
        for word in dict.fromkeys(words):
            if word in EN_STOP or word in ZH_STOP or (len(word) < 2 and not word.isdigit()):
                continue
            forms = set(_stems(word)) if not CJK_RUN.match(word) else {word}
            for phrase, targets in translated.items():
                if word == phrase or word in phrase.split():
                    forms.update(targets)
            subwords = tokenize(word)
            known = [self.lexical.idf(f) for f in forms | set(subwords) if self.lexical.known(f)]
            weight = min(known) if known else self.max_idf
            out.append(Concept(word, frozenset(forms), weight))
        return out

    @staticmethod
    def covers(concept: Concept, text: str, tokens: set[str]) -> bool:
        """Whether `text` (lower-cased) mentions the concept in any of its forms."""
        for form in concept.forms:
            if CJK_RUN.match(form):
                if form in text:
                    return True
            elif any(tok.startswith(form) for tok in tokens) if len(form) >= 4 else form in tokens:
                return True
        return False

    def coverage(self, concepts: list[Concept], texts: list[str]) -> float:
        """Idf-weighted share of concepts that the texts mention."""
        total = sum(c.weight for c in concepts)
        if total == 0:
            return 0.0
        joined = " ".join(texts).lower()
        tokens = set(re.findall(r"[a-z0-9]+", joined))
        return sum(c.weight for c in concepts if self.covers(c, joined, tokens)) / total

    def sentences(self, hits: list[Hit]) -> list[Sentence]:
        """Sentences of the hits, deduplicated by span, long enough to stand alone."""
        seen: set[tuple[str, int, int]] = set()
        out: list[Sentence] = []
        for rank, hit in enumerate(hits):
            doc = self.documents[hit.doc]
            clean_start = bisect.bisect_left(doc.origin, hit.start)
            clean_end = bisect.bisect_left(doc.origin, hit.end)
            text = doc.clean[clean_start:clean_end]
            pos = 0
            for m in [*SENTENCE_END.finditer(text), None]:
                end = m.start() if m else len(text)
                piece = text[pos:end]
                lead = len(piece) - len(piece.lstrip())
                piece = piece.strip()
                s = clean_start + pos + lead
                pos = m.end() if m else len(text)
                if _content_len(piece) < self.settings.min_sentence_chars:
                    continue
                start, stop = doc.span(s, s + len(piece))
                key = (hit.doc, start, stop)
                if key not in seen:
                    seen.add(key)
                    out.append(Sentence(hit.doc, start, stop, piece, rank, hit.language))
        return out

    def select(self, concepts: list[Concept], sentences: list[Sentence], need: re.Pattern[str] | None) -> list[tuple[Sentence, float]]:
        """The best sentences: highest coverage first, earlier passages breaking ties."""
        scored = [(s, self.coverage(concepts, [s.clean])) for s in sentences]
        if need is not None:
            scored = [(s, c) for s, c in scored if need.search(s.clean)]
        scored.sort(key=lambda sc: (-sc[1], sc[0].rank, sc[0].start))
        if not scored:
            return []
        best = scored[0][1]
        picked: list[tuple[Sentence, float]] = []
        chars = 0
        for s, c in scored:
            if c < best * self.settings.relative_keep or len(picked) >= self.settings.answer_sentences:
                break
            if picked and chars + len(s.clean) > self.settings.answer_max_chars:
                continue
            picked.append((s, c))
            chars += len(s.clean)
        return picked

    def compose(self, retrieval: Retrieval) -> Answer:
        """An answer for the retrieval's question, or an abstention."""
        lang = retrieval.language
        hits = retrieval.hits
        concepts = self.concepts(retrieval)
        need = YEAR if ASKS_YEAR.search(retrieval.query) else NUMBER if ASKS_NUMBER.search(retrieval.query) else None
        picked = self.select(concepts, self.sentences(hits[: self.settings.compose_passages]), need)
        covered = self.coverage(concepts, [s.clean for s, _ in picked]) if picked else 0.0
        if not picked or covered < self.settings.min_coverage:
            return Answer(retrieval.query, ABSTAIN[lang], True, lang, [], hits)
        citations = []
        parts = []
        if all(s.language != lang for s, _ in picked):
            parts.append(CROSS_NOTE[lang])
        for n, (s, score) in enumerate(picked, start=1):
            text = self.documents[s.doc].text[s.start : s.end]
            citations.append(Citation(n, s.doc, s.start, s.end, text, round(score, 4)))
            parts.append(f"{_norm(s.clean)} [{n}]")
        text = ("" if lang == "zh" else " ").join(parts)
        return Answer(retrieval.query, text, False, lang, citations, hits)
