from __future__ import annotations

from pathlib import Path

import jieba
import numpy as np
import pytest

from rag import dictionaries
from rag.dictionaries import cached_arrays, decode_lists, decode_words, encode_lists, encode_words, load_jieba
from rag.translate import get_dictionary, parse_cedict


def test_string_tables_round_trip() -> None:
    words = ["一带一路", "", "belt and road", "ü"]
    assert decode_words(encode_words(words), len(words)) == words
    assert decode_words(encode_words([]), 0) == []
    mapping = {"经济": ["economy", "economic"], "带": [], "一带一路": ["belt and road"]}
    assert decode_lists(*encode_lists(mapping)) == mapping
    with pytest.raises(ValueError, match="newline"):
        encode_words(["two\nlines"])


def _source(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "source.txt"
    path.write_text(text)
    return path


def test_cache_is_built_once_then_read(tmp_path: Path) -> None:
    source = _source(tmp_path, "a b")
    builds: list[int] = []

    def build() -> dict[str, np.ndarray]:
        builds.append(1)
        return {"words": encode_words(source.read_text().split())}

    first = cached_arrays(tmp_path, "t", [source], "1", build)
    again = cached_arrays(tmp_path, "t", [source], "1", build)
    assert len(builds) == 1
    assert decode_words(again["words"], 2) == decode_words(first["words"], 2) == ["a", "b"]


@pytest.mark.parametrize("change", ["source", "version"])
def test_stale_cache_is_rebuilt_not_used(tmp_path: Path, change: str) -> None:
    source = _source(tmp_path, "old words")

    def build() -> dict[str, np.ndarray]:
        return {"words": encode_words(source.read_text().split())}

    cached_arrays(tmp_path, "t", [source], "1", build)
    version = "1"
    if change == "source":
        source.write_text("new words")
    else:
        version = "2"
    fresh = cached_arrays(tmp_path, "t", [source], version, build)
    assert decode_words(fresh["words"], 2) == source.read_text().split()
    assert len(list((tmp_path / dictionaries.FOLDER).glob("t-*.npz"))) == 1  # the stale file is gone


def test_damaged_cache_is_rebuilt(tmp_path: Path) -> None:
    source = _source(tmp_path, "a")

    def build() -> dict[str, np.ndarray]:
        return {"words": encode_words(["a"])}

    cached_arrays(tmp_path, "t", [source], "1", build)
    (stored,) = (tmp_path / dictionaries.FOLDER).glob("t-*.npz")
    stored.write_bytes(b"not a zip")
    assert decode_words(cached_arrays(tmp_path, "t", [source], "1", build)["words"], 1) == ["a"]


def test_cached_jieba_dictionary_is_the_parsed_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = jieba.Tokenizer()
    with dictionaries.jieba_dictionary().open("rb") as source:
        parsed.FREQ, parsed.total = jieba.Tokenizer.gen_pfdict(source)
    parsed.initialized = True
    for attempt in range(2):  # built into the cache, then read from it
        fresh = jieba.Tokenizer()
        monkeypatch.setattr(jieba, "dt", fresh)
        load_jieba(tmp_path)
        assert fresh.initialized and fresh.total == parsed.total
        assert fresh.FREQ == parsed.FREQ, attempt
    text = "一带一路倡议是哪一年提出的？中国是在哪一年正式加入世界贸易组织的？刘洪认为多边主义的核心是什么"
    assert fresh.lcut(text) == parsed.lcut(text)
    assert fresh.lcut_for_search(text) == parsed.lcut_for_search(text)


def test_cached_cedict_is_the_parsed_one(tmp_path: Path) -> None:
    zh_en = parse_cedict()
    get_dictionary.cache_clear()
    try:
        built = get_dictionary(tmp_path)
        get_dictionary.cache_clear()
        read = get_dictionary(tmp_path)
    finally:
        get_dictionary.cache_clear()
    # English → Chinese as it was built from the glosses before the cache: a set of headwords per gloss.
    en_zh: dict[str, set[str]] = {}
    for word, glosses in zh_en.items():
        for gloss in glosses:
            en_zh.setdefault(gloss, set()).add(word)
    for d in (built, read):
        assert d.zh_en == zh_en
        assert {gloss: set(words) for gloss, words in d.en_zh.items()} == en_zh
        assert all(len(words) == len(set(words)) for words in d.en_zh.values())
