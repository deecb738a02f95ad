from __future__ import annotations

from rag.lexical import LexicalIndex, tokenize


def test_tokenize_stems_english_and_segments_chinese() -> None:
    assert tokenize("The preconditions of Cooperation") == ["precondit", "cooper"]
    assert "世界贸易组织" in tokenize("中国加入世界贸易组织") or "贸易" in tokenize("中国加入世界贸易组织")
    assert tokenize("的 the 了 of") == []


def test_bm25_ranks_matching_chunk_first() -> None:
    lex = LexicalIndex.from_texts(["Silk Road Fund invests", "多边主义面临挑战", "railway bill of lading"])
    assert lex.top(tokenize("railway lading"), 3) == [2]
    assert lex.top(tokenize("多边主义"), 3) == [1]
    assert lex.top(tokenize("unrelated words"), 3) == []
    assert lex.known("Silk Road") and not lex.known("Silk Moon")
    assert lex.idf("moon") > lex.idf("silk")


def test_options_paths_and_keys_are_tokens() -> None:
    tokens = tokenize("Run rsync --delete -k on /etc/hosts with AccuracySec=1s; small-scale and/or")
    assert {"--delete", "-k", "/etc/hosts", "accuracysec="} <= set(tokens)
    assert "-scale" not in tokens and "/or" not in tokens
    lex = LexicalIndex.from_texts(
        ["rsync --delete removes extra files", "rsync copies files", "the -k flag keeps going"]
    )
    assert lex.top(tokenize("What does --delete do?"), 1) == [0]
    assert lex.top(tokenize("-k"), 3) == [2]
