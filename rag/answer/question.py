"""What a question asks: its concepts (with the forms that count as mentioning them) and the kind of fact wanted.

A concept is a content word of the question with its stems, dictionary translations, and acronyms or their
expansions from the corpus, weighted by corpus idf and general word frequency. The asked type is a year or
date for "when", a quantity for "how many" / "what share"; for "how many X" the number must stand next to X.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from rag.data import Document
from rag.lexical import (
    EN_STOP,
    QUESTION_FRAMING,
    TECHNICAL,
    TOKEN_CACHE,
    WORD,
    ZH_INTERROGATIVE,
    ZH_STOP,
    LexicalIndex,
    stem,
    token_set,
    tokenize,
)
from rag.retrieval import Retrieval
from rag.text import ANSWER_TYPES, CJK_RANGES, CJK_RUN, asked_type
from rag.translate import NAME_CHARS, Dictionary

# "How many X": the counted thing, which must stand next to the number that answers.
COUNTED = re.compile(
    r"\bwhat (?:interest )?(rate)\b"
    r"|\bhow many ([a-z][a-z -]*?)"
    r"(?= (?:do|does|did|is|are|was|were|has|have|had|will|would|can|in|of|to|from)\b|[?,.]|$)"
    r"|(?:多少|几)[个项款家名位条期次]?(.*)",
    re.I,
)
COUNT_WINDOW = 40  # characters on either side of a number where the counted thing must appear
# Capitalized word runs, allowing lower-case joiners, from which acronyms are read (Asian Infrastructure
# Investment Bank → AIIB); and an acronym in parentheses after a Chinese name (国际货币基金组织（IMF）).
NAME_RUN = re.compile(r"\b[A-Z][a-z]+(?:\s+(?:of|and|for|the|on)?\s*[A-Z][a-z]+)+")
ZH_ACRONYM = re.compile(f"([{CJK_RANGES}]{{2,}})[（(]([A-Z]{{2,}})[)）]")
# A byline: a line of a document's head that holds Chinese names alone, as Chinese papers print their authors
# under the title ("苗 绿", "袁正清、李志永"). Parts are split at list commas or wide spaces; a single space
# inside a part is the typesetting of one name.
BYLINE_SPLIT = re.compile(r"[、，,；;]|\s{2,}")
BYLINE_NAME = re.compile(f"^[{CJK_RANGES}](?: ?[{CJK_RANGES}]){{{NAME_CHARS[0] - 1},{NAME_CHARS[1] - 1}}}$")
# How much a word says, from its general frequency (wordfreq's Zipf scale, ~1 rare to ~7 "the"): a small
# corpus's idf alone rates "become" or "took" as rare. Informativeness = (ceiling - zipf) / span, clamped.
ZIPF_CEILING = 7.0
ZIPF_SPAN = 3.0
INFO_RANGE = (0.2, 1.5)
# A letter of a script the concept reader does not segment (Cyrillic, Arabic, kana…): the multilingual encoder
# still reads such a question, so it has content even with no concepts.
OTHER_SCRIPT_LETTER = re.compile(f"[^\\W\\d_A-Za-z{CJK_RANGES}]")


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

    def mentioned(self, text: str, tokens: frozenset[str] | set[str]) -> bool:
        """Whether lower-cased `text` (with its `tokens`) mentions the concept."""
        return any(g <= tokens for g in self.groups) or any(s in text for s in self.substrings)


@dataclass(frozen=True)
class Question:
    """A question reduced to what evidence must show."""

    text: str
    language: str
    concepts: tuple[Concept, ...]
    asked: str | None  # "year", "quantity", or None for any kind of fact
    counted: Concept | None = None  # for "how many X": the concept X
    # False when nothing in the question can be looked for: punctuation, emoji, invisible characters or stop
    # words only. Such a question is refused, not answered with whatever sentence is nearest.
    has_content: bool = True
    # Positions of the concepts each text mentions, worked out once a text: selection asks of the same
    # candidates again and again, in every combination.
    _seen: dict[str, frozenset[int]] = field(default_factory=dict, init=False, compare=False, repr=False)

    def coverage(self, texts: list[str]) -> float:
        """Idf-weighted share of the concepts that the texts mention, each text on its own."""
        total = sum(c.weight for c in self.concepts)
        if total == 0:
            return 0.0
        return sum(c.weight for c in self.mentioned(texts)) / total

    def mentioned(self, texts: list[str]) -> list[Concept]:
        """The concepts that one of the texts mentions (each text on its own)."""
        found: set[int] = set()
        for text in texts:
            if (positions := self._seen.get(text)) is None:
                low, tokens = text.lower(), token_set(text)
                positions = frozenset(i for i, c in enumerate(self.concepts) if c.mentioned(low, tokens))
                self._seen[text] = positions
            found |= positions
        return [c for i, c in enumerate(self.concepts) if i in found]

    def has_asked_type(self, text: str) -> bool:
        """Whether the text holds a fact of the asked kind (always true when no kind is asked).

        For "how many X" the number must stand within a few words of X: a count of something else is a near fact.
        """
        if self.asked is None:
            return True
        pattern = ANSWER_TYPES[self.asked]
        if self.counted is None:
            return bool(pattern.search(text))
        low = text.lower()
        for m in pattern.finditer(low):
            window = low[max(0, m.start() - COUNT_WINDOW) : m.end() + COUNT_WINDOW]
            if self.counted.mentioned(window, set(tokenize(window))):
                return True
        return False


@lru_cache(maxsize=TOKEN_CACHE)
def informativeness(word: str) -> float:
    """How much a word tells about what is asked, from its frequency in general language."""
    from wordfreq import zipf_frequency

    zipf = zipf_frequency(word, "zh" if CJK_RUN.match(word) else "en")
    return min(INFO_RANGE[1], max(INFO_RANGE[0], (ZIPF_CEILING - zipf) / ZIPF_SPAN))


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


def byline_names(heads: list[str], dictionary: Dictionary) -> dict[str, set[str]]:
    """Pinyin spelling of each name in the bylines of the heads → its forms there ("miao lu" → 苗 绿, 苗绿).

    An English question names a Chinese paper's author as English writes it ("according to Miao Lu"); the
    dictionary has no entry for a person's name, so without this the name is a concept no passage mentions.
    """
    out: dict[str, set[str]] = {}
    for head in heads:
        for line in head.splitlines():
            for form in (part.strip() for part in BYLINE_SPLIT.split(line.strip())):
                if not BYLINE_NAME.match(form):
                    continue
                for spelled in dictionary.spelling(form.replace(" ", ""), "nr"):
                    out.setdefault(spelled, set()).update({form, form.replace(" ", "")})
    return out


def counted_concept(question: str, concepts: list[Concept]) -> Concept | None:
    """The concept a "how many" question counts (its content word right after the question words)."""
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


class QuestionAnalyzer:
    """Turns a retrieval's question into a `Question`; holds the corpus facts it needs."""

    def __init__(
        self, lexical: LexicalIndex, documents: dict[str, Document], dictionary: Dictionary, bylines: list[str]
    ) -> None:
        self.lexical = lexical
        self.dictionary = dictionary
        self.acronyms = acronym_map(documents)
        self.bylines = byline_names(bylines, dictionary)
        self.max_idf = lexical.idf("")

    def _words(self, text: str, language: str) -> list[str]:
        # Hyphenated words and possessives count by their parts: "small-scale" → small, scale.
        technical = TECHNICAL.findall(text.lower())
        plain = re.sub(r"'s\b", " ", text).replace("-", " ")
        if language == "zh":
            return technical + self.dictionary.words(plain.lower())
        return technical + re.findall(r"[A-Za-z0-9]+", plain)

    def analyze(self, retrieval: Retrieval) -> Question:
        """The question's concepts with their forms in both languages and their weights, and the asked type."""
        translated = retrieval.translation.terms
        runs = NAME_RUN.findall(retrieval.query)
        names = {
            w.lower(): "".join(x[0] for x in run.split() if x[0].isupper()).lower() for run in runs for w in run.split()
        }
        # Each word of a name run that spells a byline's name is mentioned by that name in Chinese.
        zh_names = {
            w.lower(): self.bylines[run.lower()] for run in runs if run.lower() in self.bylines for w in run.split()
        }
        out: list[Concept] = []
        for raw in dict.fromkeys(self._words(retrieval.query, retrieval.language)):
            word = raw.lower()
            stop = word in EN_STOP or word in ZH_STOP or word in QUESTION_FRAMING
            if stop or ZH_INTERROGATIVE.match(word) or len(word) < 2:
                continue
            groups: set[frozenset[str]] = set()
            subs: set[str] = set()
            if CJK_RUN.match(word) or TECHNICAL.fullmatch(word):
                subs.add(word)
                for parts in self.dictionary.compositions(word):
                    if group := frozenset(stem(x) for p in parts for x in WORD.findall(p.lower()) if x not in EN_STOP):
                        groups.add(group)
            else:
                groups.add(frozenset({stem(word)}))
                subs.update(self.acronyms.get(word, ()))
                if word in names:
                    groups.add(frozenset({names[word]}))
                subs.update(zh_names.get(word, ()))
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
        asked = asked_type(retrieval.query)
        counted = counted_concept(retrieval.query, out) if asked == "quantity" else None
        content = bool(out) or bool(OTHER_SCRIPT_LETTER.search(retrieval.query))
        return Question(retrieval.query, retrieval.language, tuple(out), asked, counted, content)
