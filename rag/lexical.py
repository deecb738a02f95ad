"""Lexical retrieval: bilingual word tokens (jieba for Chinese, word runs for English) scored with BM25."""

from __future__ import annotations

import logging
import math
import re
from functools import cache, lru_cache

import bm25s
import numpy as np

from rag.text import CJK_RANGES, CJK_RUN

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)

WORD = re.compile(f"[a-z0-9]+(?:[-'][a-z0-9]+)*|[{CJK_RANGES}]+")
# Command-line options, file paths and configuration keys are tokens of their own (besides their words), so
# that a question about `-k`, `--delete`, `/etc/hosts` or `AccuracySec=` finds the text that names them.
# Distinct texts whose tokens are remembered (a sentence, a passage): about a corpus of 100k sentences.
TOKEN_CACHE = 100_000
TECHNICAL = re.compile(r"(?<![\w-])--?[a-z][a-z0-9-]*|(?<![a-z0-9/])(?:/[a-z0-9._-]+)+/?|\b[a-z][a-z0-9_.]*=(?!=)")
EN_STOP = frozenset(
    """
    a an the and or but if of to in on at by for with from as into about over under between through during
    is are was were be been being am do does did done has have had having it its this that these those there
    here what which who whom whose when where why how whether than then so such not no nor can could should
    would will shall may might must also very more most much many some any each every all both either
    neither other own same i me my we our you your he him his she her they them their one ones s t just only
    out up down off again further once too yet still while because until per via vs etc
    """.split()  # noqa: SIM905 - a word list reads better as text
)
ZH_STOP = frozenset(
    """
    的 了 是 在 和 与 及 或 也 都 而 并 就 对 把 被 为 以 于 之 其 这 那 个 中 上 下 有
    无 不 没有 吗 呢 吧 啊 什么 哪 哪些 哪个 哪一 哪一年 哪年 多少 几 怎样 怎么 如何 为什么 何时
    何 谁 是否 请 问 一个 一种 我们 他们 它们 根据 文中 文章 作者 提到 哪里 什么样 是什么 有哪些
    中的 已 已同 一共 目前 当前 哪一天 哪天 哪次 哪座 哪位 几位 几款 第几 几次 那篇 这篇
    """.split()  # noqa: SIM905 - a word list reads better as text
)
# Chinese question words the list cannot all name: 哪 or 几 with whatever follows (哪几个, 哪类, 几步, 几成),
# but not 几乎 ("almost") or 几何 ("geometry").
ZH_INTERROGATIVE = re.compile(r"^(?:哪|几(?![乎何]))")
# Words that frame a question (who says it, where, in what terms) rather than say what is asked, in both languages:
# "在苗绿看来" and "according to Miao Lü" ask the same thing, and the answer need not repeat the frame.
QUESTION_FRAMING = frozenset(
    """
    according paper papers article text author authors say says said mention mentions mentioned describe
    described name named names meant mean means call called refer refers kind type give gives given list
    listed state stated note noted term terms word words source sources document documents suggest suggests
    propose figure figures
    看来 认为 说法 提及 指出 概括 表示 描述 论文 一文 所说 称
    """.split()  # noqa: SIM905 - a word list reads better as text
)


@cache
def _stemmer() -> object:
    import Stemmer

    return Stemmer.Stemmer("english")


def stem(word: str) -> str:
    """Snowball stem of an English word (identity for anything else)."""
    return str(_stemmer().stemWord(word)) if word.isascii() else word  # type: ignore[attr-defined]


@cache
def jieba_tokenizer() -> object:
    """The default jieba tokenizer, initialized once (quietly)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba.dt


def tokenize(text: str) -> list[str]:
    """Lower-cased content words: technical tokens, stemmed English words and jieba words, stop words removed."""
    low = text.lower()
    out: list[str] = TECHNICAL.findall(low)
    for run in WORD.findall(low):
        if CJK_RUN.match(run):
            words = jieba_tokenizer().lcut_for_search(run)  # type: ignore[attr-defined]
            out.extend(w for w in words if w not in ZH_STOP and not (len(w) == 1 and w in ZH_STOP))
        elif run not in EN_STOP and len(run) > 1:
            out.append(stem(run))
    return out


@lru_cache(maxsize=TOKEN_CACHE)
def token_set(text: str) -> frozenset[str]:
    """The distinct tokens of a text, remembered: evidence scoring asks for the same sentences again and again."""
    return frozenset(tokenize(text))


class LexicalIndex:
    """BM25 over the chunks' tokens, plus the corpus vocabulary and its idf.

    Built from stored tokens (the catalog keeps each chunk's), so a new snapshot costs no re-tokenizing.
    """

    def __init__(self, tokenized: list[list[str]]) -> None:
        self.n_docs = len(tokenized)
        self.bm25 = bm25s.BM25()
        if tokenized:
            self.bm25.index(tokenized, show_progress=False)
        df: dict[str, int] = {}
        for toks in tokenized:
            for tok in set(toks):
                df[tok] = df.get(tok, 0) + 1
        self.df = df

    @classmethod
    def from_texts(cls, texts: list[str]) -> LexicalIndex:
        """BM25 over texts, tokenized here."""
        return cls([tokenize(t) for t in texts])

    def idf(self, term: str) -> float:
        """Smoothed idf; a term the corpus lacks gets the highest possible value."""
        return math.log(1 + (self.n_docs + 1) / (self.df.get(term, 0) + 0.5))

    def known(self, text: str) -> bool:
        """Whether the corpus contains every token of `text` (a word or a phrase, any language)."""
        tokens = token_set(text)
        return bool(tokens) and all(t in self.df for t in tokens)

    def text_idf(self, text: str) -> float:
        """Mean idf of the tokens of `text` (the maximum for text with no content tokens)."""
        tokens = tokenize(text)
        return sum(self.idf(t) for t in tokens) / len(tokens) if tokens else self.idf("")

    def scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every chunk for the query terms (zeros when none is in the corpus)."""
        known = [t for t in terms if t in self.df]
        if not known or not self.n_docs:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self.bm25.get_scores(known), dtype=np.float32)

    def top(self, terms: list[str], k: int, allowed: np.ndarray | None = None) -> list[int]:
        """Chunk ids of the k best-scoring chunks with a positive score (of those `allowed`, a mask), best first."""
        s = self.scores(terms)
        if allowed is not None:
            s = np.where(allowed, s, 0)
        order = np.argsort(-s, kind="stable")[:k]
        return [int(i) for i in order if s[i] > 0]
