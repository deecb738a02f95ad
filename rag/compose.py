"""Compose an extractive answer with sentence-level citations, or abstain.

The question is reduced to its concepts: content words, each with the forms that count as mentioning it
(stems, dictionary translations, acronyms and their expansions from the corpus). Sentences of the top
passages are scored by the idf-weighted share of concepts they mention, with their passage as context.
Sentences are picked greedily for the coverage they add, and each is followed by its `[n]` marker.

The composer abstains when the picked evidence does not mention enough of the question, or lacks the kind
of fact asked for (a year for "when", a quantity for "how many"): a near fact is not an answer.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from rag.data import Answer, Citation, Document, Hit
from rag.lexical import CJK_RUN, EN_STOP, QUESTION_FRAMING, WORD, ZH_STOP, LexicalIndex, stem, tokenize
from rag.question import COUNT_WINDOW, COUNTED, QUANTITY, asked_type
from rag.retrieval import Retrieval
from rag.settings import Settings
from rag.translate import get_dictionary

SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+|(?<=[。！？；])[”’）]*|\n+")
# Capitalized word runs, allowing lower-case joiners, from which acronyms are read (Asian Infrastructure
# Investment Bank → AIIB); and an acronym in parentheses after a Chinese name (国际货币基金组织（IMF）).
NAME_RUN = re.compile(r"\b[A-Z][a-z]+(?:\s+(?:of|and|for|the|on)?\s*[A-Z][a-z]+)+")
ZH_ACRONYM = re.compile(r"([\u4e00-\u9fff]{2,})[（(]([A-Z]{2,})[)）]")
ABSTAIN = {
    "en": "The documents do not contain an answer to this question.",
    "zh": "文档中没有找到这个问题的答案。",
}
CROSS_NOTE = {
    "en": "The sources for this answer are in Chinese; they are quoted as written.",
    "zh": "以下依据来自英文文献，按原文引用。",
}
CJK_WEIGHT = 2  # a Chinese character carries about as much as two Latin letters
CONTEXT_WEIGHT = 0.3  # share of a sentence's score that comes from its passage
RANK_PENALTY = 0.01  # per rank of the passage a sentence comes from: ties go to better passages
# How much a word says, from its general frequency (wordfreq's Zipf scale, ~1 rare to ~7 "the"): a small
# corpus's idf alone rates "become" or "took" as rare. Informativeness = (ceiling - zipf) / span, clamped.
ZIPF_CEILING = 7.0
ZIPF_SPAN = 3.0
INFO_RANGE = (0.2, 1.5)


@dataclass(frozen=True)
class Concept:
    """One content word of the question and what counts as mentioning it.

    A mention is any one of its token groups (every token of the group present, as for a translated
    phrase) or any of its substrings.
    """

    word: str
    groups: frozenset[frozenset[str]]
    substrings: frozenset[str]
    weight: float

    def mentioned(self, text: str, tokens: set[str]) -> bool:
        """Whether lower-cased `text` (with its `tokens`) mentions the concept."""
        return any(g <= tokens for g in self.groups) or any(s in text for s in self.substrings)


@dataclass(frozen=True)
class Sentence:
    """A sentence of a retrieved passage, in cleaned text, with its original offsets."""

    doc: str
    start: int
    end: int
    clean: str
    rank: int
    language: str
    context: str


def informativeness(word: str) -> float:
    """How much a word tells about what is asked, from its frequency in general language."""
    from wordfreq import zipf_frequency

    zipf = zipf_frequency(word, "zh" if CJK_RUN.match(word) else "en")
    return min(INFO_RANGE[1], max(INFO_RANGE[0], (ZIPF_CEILING - zipf) / ZIPF_SPAN))


def _content_len(text: str) -> int:
    return sum(CJK_WEIGHT if CJK_RUN.match(ch) else 1 for ch in text if not ch.isspace())


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def acronym_map(documents: dict[str, Document]) -> dict[str, set[str]]:
    """Acronym (lower-case) → the names it stands for in the corpus, English and Chinese."""
    out: dict[str, set[str]] = {}
    for doc in documents.values():
        for m in NAME_RUN.finditer(doc.clean):
            words = [w for w in m.group(0).split() if w[0].isupper()]
            if len(words) >= 2:
                out.setdefault("".join(w[0] for w in words).lower(), set()).add(" ".join(words).lower())
        for zh, acro in ZH_ACRONYM.findall(doc.clean):
            out.setdefault(acro.lower(), set()).add(zh)
    return out


class Composer:
    """Builds answers from retrievals; holds what it needs from the corpus."""

    def __init__(self, settings: Settings, lexical: LexicalIndex, documents: dict[str, Document]) -> None:
        self.settings = settings
        self.lexical = lexical
        self.documents = documents
        self.acronyms = acronym_map(documents)
        self.max_idf = lexical.idf("")
        self.dictionary = get_dictionary(settings.cache_dir)
        # Load the word frequencies now, at start-up, rather than on the first question.
        informativeness("warm")

    def _question_words(self, retrieval: Retrieval) -> list[str]:
        # Hyphenated words and possessives count by their parts: "small-scale" → small, scale.
        question = re.sub(r"'s\b", " ", retrieval.query).replace("-", " ")
        if retrieval.language == "zh":
            return self.dictionary.words(question.lower())
        return re.findall(r"[A-Za-z0-9]+", question)

    def concepts(self, retrieval: Retrieval) -> list[Concept]:
        """The question's concepts with their forms in both languages and idf weights."""
        translated = retrieval.translation.terms
        names = {
            w.lower(): "".join(x[0] for x in run.split() if x[0].isupper()).lower()
            for run in NAME_RUN.findall(retrieval.query)
            for w in run.split()
        }
        out: list[Concept] = []
        for raw in dict.fromkeys(self._question_words(retrieval)):
            word = raw.lower()
            if word in EN_STOP or word in ZH_STOP or word in QUESTION_FRAMING or len(word) < 2:
                continue
            groups: set[frozenset[str]] = set()
            subs: set[str] = set()
            if CJK_RUN.match(word):
                subs.add(word)
            else:
                groups.add(frozenset({stem(word)}))
                subs.update(self.acronyms.get(word, ()))
                if word in names:
                    groups.add(frozenset({names[word]}))
            for phrase, targets in translated.items():
                if word == phrase or word in phrase.split():
                    for t in targets:
                        if CJK_RUN.match(t):
                            subs.add(t)
                        elif group := frozenset(stem(x) for x in WORD.findall(t.lower()) if x not in EN_STOP):
                            groups.add(group)
            forms = [" ".join(g) for g in groups] + list(subs)
            known = [self.lexical.text_idf(f) for f in forms if self.lexical.known(f)]
            weight = (min(known) if known else self.max_idf) * informativeness(word)
            out.append(Concept(word, frozenset(groups), frozenset(subs), weight))
        return out

    @staticmethod
    def coverage(concepts: list[Concept], texts: list[str]) -> float:
        """Idf-weighted share of concepts that the texts mention."""
        total = sum(c.weight for c in concepts)
        if total == 0:
            return 0.0
        joined = " ".join(texts).lower()
        tokens = set(tokenize(joined))
        return sum(c.weight for c in concepts if c.mentioned(joined, tokens)) / total

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
                    out.append(Sentence(hit.doc, start, stop, piece, rank, hit.language, text))
        return out

    def score(self, concepts: list[Concept], sentence: Sentence) -> float:
        """A sentence's coverage of the question, partly credited from its passage."""
        own = self.coverage(concepts, [sentence.clean])
        context = self.coverage(concepts, [sentence.context])
        return (1 - CONTEXT_WEIGHT) * own + CONTEXT_WEIGHT * context - RANK_PENALTY * sentence.rank

    @staticmethod
    def counts(sentence: str, counted: Concept) -> bool:
        """Whether a number in the sentence stands within a few words of the counted thing."""
        low = sentence.lower()
        for m in QUANTITY.finditer(low):
            window = low[max(0, m.start() - COUNT_WINDOW) : m.end() + COUNT_WINDOW]
            if counted.mentioned(window, set(tokenize(window))):
                return True
        return False

    def counted_concept(self, question: str, concepts: list[Concept]) -> Concept | None:
        """The concept a "how many" question counts (its first content word after the question words)."""
        m = COUNTED.search(question)
        if not m:
            return None
        english = m.group(1) or m.group(2)
        if english:
            words = set(english.lower().split())
            found = [c for c in concepts if c.word in words]
            return found[-1] if found else None
        rest = m.group(3) or ""
        return next((c for c in concepts if rest.startswith(c.word)), None)

    def select(
        self, concepts: list[Concept], sentences: list[Sentence], need: re.Pattern[str] | None, counted: Concept | None
    ) -> list[Sentence]:
        """Greedy picks: the best sentence, then those that mention what the picks still miss."""
        s = self.settings
        pool = [x for x in sentences if need is None or need.search(x.clean)]
        if counted is not None:
            pool = [x for x in pool if self.counts(x.clean, counted)]
        scored = sorted(((self.score(concepts, x), x) for x in pool), key=lambda p: (-p[0], p[1].rank, p[1].start))
        if not scored:
            return []
        best_score, best = scored[0]
        picked = [best]
        chars = len(best.clean)
        for sc, cand in scored[1:]:
            if len(picked) >= s.answer_sentences:
                break
            gain = self.coverage(concepts, [p.clean for p in [*picked, cand]]) - self.coverage(
                concepts, [p.clean for p in picked]
            )
            if (gain > 0 or sc >= s.relative_keep * best_score) and chars + len(cand.clean) <= s.answer_max_chars:
                picked.append(cand)
                chars += len(cand.clean)
        return picked

    def compose(self, retrieval: Retrieval) -> Answer:
        """An answer for the retrieval's question, or an abstention."""
        lang = retrieval.language
        hits = retrieval.hits
        concepts = self.concepts(retrieval)
        need = asked_type(retrieval.query)
        counted = self.counted_concept(retrieval.query, concepts) if need is QUANTITY else None
        picked = self.select(concepts, self.sentences(hits[: self.settings.compose_passages]), need, counted)
        if not picked or self.coverage(concepts, [p.clean for p in picked]) < self.settings.min_coverage:
            return Answer(retrieval.query, ABSTAIN[lang], True, lang, [], hits)
        citations = []
        parts = []
        if all(p.language != lang for p in picked):
            parts.append(CROSS_NOTE[lang])
        for n, p in enumerate(picked, start=1):
            source = self.documents[p.doc].text[p.start : p.end]
            citations.append(Citation(n, p.doc, p.start, p.end, source, round(self.score(concepts, p), 4)))
            parts.append(f"{_norm(p.clean)} [{n}]")
        text = ("" if lang == "zh" else " ").join(parts)
        return Answer(retrieval.query, text, False, lang, citations, hits)
