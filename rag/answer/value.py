"""The short answer: the value a question asks for, read from the sentence that states it, in the asker's language.

When a year, a date or a quantity is asked, the answer quotes the sentence that holds it; putting the value
first saves reading the quote, and in a cross-lingual answer it is the one part written in the asker's
language (`2013年9月` from "September 2013", `35亿` from "3.5 billion", "15 November 2020" from
"2020年11月15日"). A value is given only when the sentence holds exactly one of the asked kind (for "how many
X", one number next to X): with two dates in it, which one answers is for the reader to see in the quote.
Faithfulness checks read values the same way, so a converted value counts as stated by the span it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.answer.evidence import Candidate
from rag.answer.question import COUNT_WINDOW, Question
from rag.lexical import tokenize

MONTHS = (
    "january february march april may june july august september october november december".split()  # noqa: SIM905
)
_MONTH = r"(?P<m>" + "|".join(f"{m[:3]}(?:{m[3:]})?" for m in MONTHS) + r")\.?"
_DAY = r"(?P<d>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<y>1[89]\d\d|20\d\d)"
# Most specific first: a year inside a full date is not a value of its own.
DATES = [
    re.compile(rf"\b{_DAY}\s+{_MONTH},?\s+{_YEAR}(?!\d)", re.I),
    re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}(?!\d)", re.I),
    re.compile(rf"\b{_MONTH},?\s+(?:of\s+)?{_YEAR}(?!\d)", re.I),
    re.compile(rf"(?<!\d){_YEAR}\s*年\s*(?:(?P<m>[01]?\d)\s*月\s*(?:(?P<d>[0-3]?\d)\s*[日号])?)?"),
    re.compile(rf"(?<![\d.,]){_YEAR}(?![\d.,]\d)"),
]
# An amount: a number with an optional scale word (English) or scale character (Chinese), or a percentage.
AMOUNT = re.compile(
    r"(?<![\d.,])(?P<n>\d+(?:,\d{3})*(?:\.\d+)?)\s*"
    r"(?:(?P<pct>%|percent\b)|(?P<en>trillion|billion|million|thousand)\b|(?P<zh>万亿|亿|万|千))?",
    re.I,
)
EN_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
ZH_SCALE = {"千": 1e3, "万": 1e4, "亿": 1e8, "万亿": 1e12}


@dataclass(frozen=True)
class Value:
    """A date (year, month, day; month and day 0 when absent) or an amount, with where it stands in its text."""

    kind: str  # "date", "amount" or "percent"
    number: float  # the year for a date, the amount itself otherwise
    month: int = 0
    day: int = 0
    start: int = 0
    end: int = 0

    @property
    def key(self) -> tuple[str, float, int, int]:
        """What two values must share to be the same fact, whatever their wording."""
        return (self.kind, round(self.number, 6), self.month, self.day)


def dates(text: str) -> list[Value]:
    """The dates and years of a text, each read once by its most specific form."""
    out: list[Value] = []
    taken: list[tuple[int, int]] = []
    for pattern in DATES:
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue
            month = m.group("m") if "m" in pattern.groupindex else None
            day = m.group("d") if "d" in pattern.groupindex else None
            number = _month(month) if month else 0
            out.append(Value("date", float(m.group("y")), number, int(day) if day else 0, m.start(), m.end()))
            taken.append((m.start(), m.end()))
    return sorted(out, key=lambda v: v.start)


def _month(word: str) -> int:
    if word.isdigit():
        return int(word) if 1 <= int(word) <= 12 else 0
    return next(i for i, m in enumerate(MONTHS, 1) if m.startswith(word.lower()[:3]))


def amounts(text: str) -> list[Value]:
    """The amounts and percentages of a text that are not part of a date."""
    in_dates = [(v.start, v.end) for v in dates(text)]
    out = []
    for m in AMOUNT.finditer(text):
        if any(s <= m.start() < e for s, e in in_dates):
            continue
        n = float(m.group("n").replace(",", ""))
        if m.group("pct"):
            out.append(Value("percent", n, start=m.start(), end=m.end()))
            continue
        scale = EN_SCALE.get((m.group("en") or "").lower()) or ZH_SCALE.get(m.group("zh") or "") or 1.0
        out.append(Value("amount", n * scale, start=m.start(), end=m.end()))
    return out


def values(text: str) -> list[Value]:
    """Every date and amount of a text."""
    return dates(text) + amounts(text)


# A second question in the same one: "… and how many …", "X and Y", "……？……？", "……，还有……".
SECOND_ASK = re.compile(
    r"\b(?:and|or)\b.*\b(?:what|which|who|whom|when|where|why|how)\b|\b(?:and|or)\b\s*(?:the\s+)?[a-z-]+\s*\?$"
    r"|[?？].+[?？]|[，,]\s*(?:还|又|以及|分别)|和|与|及",
    re.I,
)


def asks_one_thing(question: str) -> bool:
    """Whether the question asks one fact (a two-part question is answered by its quotes, not one value)."""
    return not SECOND_ASK.search(question.strip())


def asked_value(question: Question, sentence: str) -> Value | None:
    """The one value of the asked kind that the sentence states, or None when it has none or several."""
    if question.asked == "year":
        found = dates(sentence)
    elif question.asked == "quantity":
        # One amount in the whole sentence, and for "how many X" one that X stands next to: with two counts
        # in it ("151 countries and 32 organizations") the quote answers, not one number.
        found = amounts(sentence)
        if question.counted is not None and len({v.key for v in found}) == 1:
            low = sentence.lower()
            found = [v for v in found if _near(question, low, v, COUNT_WINDOW, COUNT_WINDOW)]
    else:
        return None
    distinct = {v.key: v for v in found}
    return next(iter(distinct.values())) if len(distinct) == 1 else None


def checked_value(question: Question, picked: list[Candidate]) -> tuple[Candidate, Value] | None:
    """The short answer both composers give: the asked value, read from the best selected sentence only.

    Only from the best sentence (a value from a weaker one is how a near fact would get to the top), and only
    for a question that asks one thing: "how many X and which Y" is not answered by one number.
    """
    if not picked or not asks_one_thing(question.text):
        return None
    value = asked_value(question, picked[0].text)
    return (picked[0], value) if value is not None else None


def _near(question: Question, low: str, v: Value, before: int, after: int) -> bool:
    """Whether the counted concept stands within `before` / `after` characters of the value."""
    assert question.counted is not None
    window = low[max(0, v.start - before) : v.end + after]
    return question.counted.mentioned(window, set(tokenize(window)))


def _number(n: float) -> str:
    return f"{n:,.2f}".rstrip("0").rstrip(".") if n != int(n) else f"{int(n):,}"


def _scaled(n: float, scales: dict[str, float], join: str) -> str:
    for word, size in sorted(scales.items(), key=lambda kv: -kv[1]):
        if n >= size and n / size == round(n / size, 4):
            return f"{_number(n / size).replace(',', '')}{join}{word}"
    return _number(n).replace(",", "") if join == "" else _number(n)


def render(value: Value, language: str) -> str:
    """The value as written in `language`."""
    if value.kind == "date":
        y = int(value.number)
        if language == "zh":
            return f"{y}年" + (f"{value.month}月" if value.month else "") + (f"{value.day}日" if value.day else "")
        month = MONTHS[value.month - 1].capitalize() if value.month else ""
        return " ".join(p for p in (str(value.day) if value.day else "", month, str(y)) if p)
    if value.kind == "percent":
        return f"{_number(value.number)}%"
    if language == "zh":
        return _scaled(value.number, {k: v for k, v in ZH_SCALE.items() if k != "千"}, "")
    return _scaled(value.number, {k: v for k, v in EN_SCALE.items() if k != "thousand"}, " ")


def restated(claim: str, spans: str) -> str:
    """The claim with the values that the spans state too (in any wording) taken out, for a check of its facts."""
    known = {v.key for v in values(spans)}
    out, pos = [], 0
    for v in sorted(values(claim), key=lambda v: v.start):
        if v.key in known and v.start >= pos:
            out.append(claim[pos : v.start])
            pos = v.end
    out.append(claim[pos:])
    return "".join(out)
