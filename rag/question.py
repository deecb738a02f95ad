"""What kind of fact a question asks for: a year or date, a quantity, or anything.

Used twice: retrieval favours passages that hold a fact of the asked kind, and the composer refuses to
answer a "when" question from a sentence without a date, or a "how many" question without a count.
"""

from __future__ import annotations

import re

YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)")
# A number: digits, or Chinese numerals above one with a measure word (一个 is mostly "a", not a count).
QUANTITY = re.compile(
    r"\d|(?<![第唯])[二三四五六七八九十百千万亿两][一二三四五六七八九十百千万亿两]*[个项家名条位次倍]"
)
ASKS_YEAR = re.compile(
    r"\b(when|what year|which year|what date|which date|since what year)\b"
    r"|哪一年|哪年|何时|什么时候|哪一天|哪天|日期|年份",
    re.I,
)
ASKS_QUANTITY = re.compile(
    r"\b(how many|how much|what percentage|what share|by what percentage|what rate|what interest)\b"
    r"|多少|几个|几款|几项|几家|比例|比重|份额|利率",
    re.I,
)
# "How many X": the counted thing, which must stand next to a number in the answer.
COUNTED = re.compile(
    r"\bwhat (?:interest )?(rate)\b"
    r"|\bhow many ([a-z][a-z -]*?)"
    r"(?= (?:do|does|did|is|are|was|were|has|have|had|will|would|can|in|of|to|from)\b|[?,.]|$)"
    r"|(?:多少|几)[个项款家名位条期次]?(.*)",
    re.I,
)
COUNT_WINDOW = 40  # characters on either side of a number where the counted thing must appear


def asked_type(question: str) -> re.Pattern[str] | None:
    """The pattern a sentence must match to answer the question, or None when any sentence may."""
    if ASKS_YEAR.search(question):
        return YEAR
    if ASKS_QUANTITY.search(question):
        return QUANTITY
    return None
