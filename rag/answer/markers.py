"""Citation markers in a written answer: checked, renumbered and tied to sentences, also while the answer streams.

An LLM cites the sources it was shown as `[n]` (also `[1, 3]`, `[1][3]` and the full-width `【1】`, `［1］`).
A marker for a source that was not sent is dropped; the rest are renumbered in order of first use, so an
answer's markers run [1], [2], ... like the extractive composer's. `MarkerRewriter` does this on a stream: it
holds back only what may still become a marker, so the text a client sees as it arrives is the final text.
"""

from __future__ import annotations

import re

from rag.data import AnswerSentence
from rag.text import CJK_RANGES, sentence_spans

OPENERS = "[［【"
CLOSERS = "]］】"
MARKER = re.compile(rf"[{re.escape(OPENERS)}]\s*(\d{{1,3}}(?:\s*[,，、;]\s*\d{{1,3}})*)\s*[{re.escape(CLOSERS)}]")
# What may still grow into a marker at the end of a piece of stream.
PARTIAL_MARKER = re.compile(rf"[{re.escape(OPENERS)}][\d\s,，、;]{{0,16}}$")
NUMBERS = re.compile(r"\d+")
# Punctuation that closes up to the word before it: a space held before a dropped marker is dropped before it.
CLOSING_PUNCTUATION = frozenset(".,;:!?。，；：！？、)）」』”’")
CONTENT = re.compile(f"[A-Za-z0-9{CJK_RANGES}]")
RENUMBERED = re.compile(r"\[(\d{1,3})\]")
CJK_END = frozenset("。！？；」』”’）")
LEADING_MARKERS = re.compile(r"^(?:\[\d{1,3}\]\s*)+")


class MarkerRewriter:
    """Rewrites the markers of a text that arrives in pieces; `sources` is how many sources were sent (1..n)."""

    def __init__(self, sources: int) -> None:
        self.sources = sources
        # Source number → its number in the answer, in order of first use.
        self.mapping: dict[int, int] = {}
        self.dropped: list[int] = []
        self._pending = ""
        # Whitespace held back because a marker that is dropped may follow it.
        self._space = ""
        self._dropped_last = False
        # The numbers of the marker run just emitted: "[3][3]" and "[3] [3]" come out once.
        self._run: set[int] = set()
        self._out: list[str] = []

    @property
    def text(self) -> str:
        """Everything emitted so far."""
        return "".join(self._out)

    def feed(self, piece: str) -> str:
        """The part of the text so far that is final; what may still be a marker waits for the next piece."""
        buf = self._pending + piece
        tail = PARTIAL_MARKER.search(buf)
        self._pending, buf = (buf[tail.start() :], buf[: tail.start()]) if tail else ("", buf)
        return self._emit(self._rewrite(buf))

    def flush(self) -> str:
        """The rest, at the end of the stream (an unclosed bracket is text)."""
        rest, self._pending = self._pending, ""
        out = self._rewrite(rest) + self._space
        self._space = ""
        return self._emit(out)

    def _emit(self, out: str) -> str:
        if out:
            self._out.append(out)
        return out

    def _rewrite(self, text: str) -> str:
        parts: list[str] = []
        at = 0
        for m in MARKER.finditer(text):
            parts.append(self._plain(text[at : m.start()]))
            parts.append(self._marker(m.group(1)))
            at = m.end()
        parts.append(self._plain(text[at:]))
        return "".join(parts)

    def _plain(self, text: str) -> str:
        """Text between markers; its trailing whitespace is held until it is known what follows."""
        if not text:
            return ""
        joined, self._space = self._space + text, ""
        if self._dropped_last:
            body = joined.lstrip()
            if body:
                gap = joined[: len(joined) - len(body)]
                # "word [9] next" keeps one space; "word [9]." keeps none.
                joined = ("" if body[0] in CLOSING_PUNCTUATION else gap[:1]) + body
                self._dropped_last = False
        kept = joined.rstrip()
        self._space = joined[len(kept) :]
        if kept:
            self._run = set()
        return kept

    def _marker(self, numbers: str) -> str:
        kept = []
        for raw in NUMBERS.findall(numbers):
            n = int(raw)
            if not 1 <= n <= self.sources:
                self.dropped.append(n)
                continue
            m = self.mapping.setdefault(n, len(self.mapping) + 1)
            if m not in kept and m not in self._run:
                kept.append(m)
        if not kept:
            self._dropped_last = True
            return ""
        held, self._space = self._space, ""
        self._dropped_last = False
        self._run |= set(kept)
        return held + "".join(f"[{m}]" for m in kept)


def rewrite(text: str, sources: int) -> MarkerRewriter:
    """A whole text rewritten at once (what streaming it piece by piece gives too)."""
    rewriter = MarkerRewriter(sources)
    rewriter.feed(text)
    rewriter.flush()
    return rewriter


def answer_sentences(text: str) -> list[AnswerSentence]:
    """The sentences of a rewritten answer that say something (not bare bullets), each with its markers.

    Markers written after a sentence's end mark ("... 2013. [1] Next") belong to the sentence before them.
    """
    pieces: list[str] = []
    for start, end in sentence_spans(text, len(text) + 1):
        piece = text[start:end]
        lead = LEADING_MARKERS.match(piece)
        if lead and pieces:
            gap = "" if pieces[-1].rstrip()[-1:] in CJK_END else " "
            pieces[-1] = pieces[-1].rstrip() + gap + lead.group(0).strip()
            piece = piece[lead.end() :]
        pieces.append(piece)
    out = []
    for piece in pieces:
        if CONTENT.search(RENUMBERED.sub("", piece)):
            cited = tuple(dict.fromkeys(int(n) for n in RENUMBERED.findall(piece)))
            out.append(AnswerSentence(piece.strip(), cited))
    return out


def grounded_share(sentences: list[AnswerSentence]) -> float:
    """The share of sentences that cite a source (1.0 for none: nothing is claimed)."""
    if not sentences:
        return 1.0
    return round(sum(s.supported for s in sentences) / len(sentences), 4)
