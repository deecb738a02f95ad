"""Language and text in one place: CJK ranges, language detection, the sentence splitter, display form.

Sentences are found in cleaned text (see `rag.ingest.clean`, which has already joined hard-wrapped lines), so a
line break that is left is a real break: a heading, a list item, a line of a table or of code. Every sentence
keeps exact offsets, so a citation can point at the file as it is on disk.
"""

from __future__ import annotations

import re

CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK = re.compile(f"[{CJK_RANGES}]")
CJK_RUN = re.compile(f"^[{CJK_RANGES}]+$")
LATIN_WORD = re.compile(r"[A-Za-z]+")
# Share of CJK among letters from which a text counts as Chinese.
ZH_RATIO = 0.3
CJK_WEIGHT = 2  # a Chinese character carries about as much as two Latin letters

# A sentence ends after . ! ? (and closing quotes) before whitespace and a character that can open a
# sentence, after a Chinese end mark, or at a line break. "e.g. the" and "approx. 5" stay whole.
SENTENCE_END = re.compile(
    r"(?<=[.!?])[\"'”’)\]]*[ \t]+(?=[^a-z\s])"
    r"|(?<=[。！？；])[”’）」』]*[ \t]*"
    r"|[ \t]*\n\s*"
)
# Where an over-long sentence (a table row, a run-on list) may be cut.
SOFT_BREAK = re.compile(r"(?<=[，、,;:：])\s*|\s+")
WHITESPACE_RUN = re.compile(r"\s+")
# Paired quotation marks an over-long sentence is not cut inside (single curly quotes double as apostrophes).
QUOTE_OPENS = "“「『《"
QUOTE_CLOSES = "”」』》"
# What no question may hold: control characters other than tab and line breaks, and unpaired UTF-16 surrogates
# (valid in a Python string and in JSON escapes, not in UTF-8; the tokenizer fails on them).
UNSAFE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

# The kind of fact a question asks for, and what a sentence must hold to give it.
YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)")
# A number: digits, or Chinese numerals above one with a measure word (一个 is mostly "a", not a count).
QUANTITY = re.compile(
    r"\d|(?<![第唯])[二三四五六七八九十百千万亿两][一二三四五六七八九十百千万亿两]*[个项家名条位次倍成]|百分之"
)
# "When" asks a date as a question word ("when did…", "and when was…"), not as a conjunction: "when he proposed",
# "when mirroring a directory", "when should I change it" ask a place, a behaviour and a condition.
WHEN_CONJUNCTION = (
    r"(?!\s+(?:should|can|could|would|must|may|might|do|does|i|you|he|she|we|they|it|one"
    r"|a|an|the|this|that|my|your|his|her|its|our|their|\w+ing)\b)"
)
ASKS_YEAR = re.compile(
    rf"\bwhen\b{WHEN_CONJUNCTION}|\b(what year|which year|what date|which date|since what year)\b"
    r"|哪一年|哪年|何时|什么时候|哪一天|哪天|日期|年份",
    re.I,
)
ASKS_QUANTITY = re.compile(
    r"\b(how many|how much|what percentage|what share|by what percentage|what rate|what interest|how large)\b"
    r"|多少|(?<![哪第])几[个款项家]|比例|比重|份额|利率|百分之几",
    re.I,
)
ANSWER_TYPES = {"year": YEAR, "quantity": QUANTITY}


def detect_language(text: str) -> str:
    """'zh' when CJK characters make up a fair share of the letters, else 'en'."""
    # Counted match by match: a list of every character of a large file would cost far more than the file.
    cjk = sum(1 for _ in CJK.finditer(text))
    if cjk == 0:
        return "en"
    # A Chinese character carries about a word's meaning, so compare characters with words.
    latin_words = sum(1 for _ in LATIN_WORD.finditer(text))
    return "zh" if cjk / (cjk + latin_words) >= ZH_RATIO else "en"


def content_length(text: str) -> int:
    """Visible length, a Chinese character counting as two Latin letters."""
    return sum(CJK_WEIGHT if CJK.match(ch) else 1 for ch in text if not ch.isspace())


def display(text: str) -> str:
    """One line of text as a reader sees it: whitespace runs become one space, none between CJK characters."""
    out = re.sub(f"(?<=[{CJK_RANGES}，。、；：！？”）])\\s+(?=[{CJK_RANGES}“（])", "", text)
    return WHITESPACE_RUN.sub(" ", out).strip()


def _open_quote(text: str) -> bool:
    """Whether `text` ends inside a quotation: more “ 「 『 《 opened than closed, or an odd count of straight "."""
    opened = sum(text.count(c) for c in QUOTE_OPENS) - sum(text.count(c) for c in QUOTE_CLOSES)
    return opened > 0 or text.count('"') % 2 == 1


def _cut(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """[start, end) in pieces of at most about `max_chars`, cut at clause marks or spaces where possible.

    A cut inside a quotation is the last resort: a piece that ends in the middle of a quoted name ("the “One
    Belt,") reads as a broken sentence wherever it is quoted.
    """
    pieces = []
    while end - start > max_chars:
        window = text[start : start + max_chars]
        cuts = [m.end() for m in SOFT_BREAK.finditer(window) if m.end() > max_chars // 2]
        outside = [c for c in cuts if not _open_quote(window[:c])]
        at = start + (outside or cuts or [max_chars])[-1]
        pieces.append((start, at))
        start = at
    pieces.append((start, end))
    return pieces


def sentence_spans(text: str, max_chars: int) -> list[tuple[int, int]]:
    """Offsets of the sentences of `text`, whitespace trimmed, none longer than about `max_chars`."""
    out: list[tuple[int, int]] = []
    pos = 0
    for m in [*SENTENCE_END.finditer(text), None]:
        end = m.start() if m else len(text)
        piece = text[pos:end]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        s, e = pos + lead, end - trail
        if e > s:
            out.extend(_cut(text, s, e, max_chars))
        pos = m.end() if m else len(text)
    return out


def asked_type(question: str) -> str | None:
    """The kind of fact asked: "year", "quantity", or None when any kind may answer."""
    if ASKS_YEAR.search(question):
        return "year"
    if ASKS_QUANTITY.search(question):
        return "quantity"
    return None
