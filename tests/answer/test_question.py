from __future__ import annotations

from rag import Pipeline


def test_concepts_carry_translations_technical_tokens_and_weights(fake_pipe: Pipeline) -> None:
    analyzer = fake_pipe.assessor.analyzer
    q = analyzer.analyze(fake_pipe.retrieve("When was the Silk Road Fund set up?"))
    words = {c.word for c in q.concepts}
    assert {"silk", "road", "fund"} <= words and "when" not in words
    assert q.asked == "year" and q.language == "en"
    assert all(c.weight > 0 for c in q.concepts)
    technical = analyzer.analyze(fake_pipe.retrieve("What does rsync --delete do to /etc/hosts?"))
    assert {"--delete", "/etc/hosts"} <= {c.word for c in technical.concepts}


def test_coverage_counts_each_concept_once(fake_pipe: Pipeline) -> None:
    q = fake_pipe.assessor.analyzer.analyze(fake_pipe.retrieve("When was the Silk Road Fund set up?"))
    assert q.coverage(["The Silk Road Fund was set up in 2014."]) == 1.0
    assert 0 < q.coverage(["The fund invests."]) < 1.0
    assert q.coverage(["nothing related"]) == 0.0
    assert q.has_asked_type("in 2014") and not q.has_asked_type("long ago")


def test_chinese_question_words_are_not_concepts(fake_pipe: Pipeline) -> None:
    q = fake_pipe.assessor.analyzer.analyze(fake_pipe.retrieve("亚投行的成员分布在哪几个大洲？要分几步加入？"))
    words = {c.word for c in q.concepts}
    assert not any(w.startswith(("哪", "几")) for w in words) and "亚投行" in words


def test_a_chinese_name_counts_as_mentioned_by_its_pinyin(fake_pipe: Pipeline) -> None:
    q = fake_pipe.assessor.analyzer.analyze(fake_pipe.retrieve("袁正清在哪所高校任教？"))
    name = next(c for c in q.concepts if c.word == "袁正清")
    assert name in q.mentioned(["By Yuan Zhengqing, Institute of World Economics"])
    assert name not in q.mentioned(["By Yuan Wei, Institute of World Economics"])
