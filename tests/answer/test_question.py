from __future__ import annotations

from pathlib import Path

from rag import Pipeline
from rag.answer.question import byline_names
from rag.settings import Settings
from rag.testing.fakes import FakeEmbedder
from rag.translate import Dictionary


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


def test_an_english_spelling_of_a_chinese_byline_counts_as_mentioned_by_the_name(
    corpus: Path, settings: Settings
) -> None:
    # Chinese papers print their authors under the title, often spaced: "苗 绿".
    (corpus / "paper.txt").write_text(
        "多边主义挑战与中国应对之策\n\n苗 绿\n\n内容提要：中国应维护联合国权威。", "utf-8"
    )
    pipe = Pipeline.load(settings, embedder=FakeEmbedder())
    q = pipe.assessor.analyzer.analyze(pipe.retrieve("What does Miao Lu propose for the United Nations?"))
    miao = next(c for c in q.concepts if c.word == "miao")
    assert miao in q.mentioned(["多边主义挑战与中国应对之策\n\n苗 绿\n\n内容提要"])
    assert miao in q.mentioned(["苗绿认为，应维护联合国权威。"])
    assert miao not in q.mentioned(["苗青认为，应维护联合国权威。"])


def test_byline_names_are_read_from_short_lines_of_chinese_names_only() -> None:
    d = Dictionary({"引言": ["introduction"]}, {"introduction": ["引言"]})
    names = byline_names(
        ["多边主义挑战与中国应对之策\n苗 绿\n", "袁正清、李志永\n内容提要：2020年新冠肺炎疫情在全球范围内持续蔓延"], d
    )
    assert names["miao lu"] == {"苗 绿", "苗绿"} and names["miao lv"] == {"苗 绿", "苗绿"}
    assert names["yuan zhengqing"] == {"袁正清"} and names["li zhiyong"] == {"李志永"}
    assert not any("内容" in form or "多边" in form for forms in names.values() for form in forms)
