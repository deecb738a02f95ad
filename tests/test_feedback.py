"""Feedback on answers: POST /v1/feedback into the catalog, and `rag eval feedback export` into candidate rows."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from rag import Pipeline
from rag.catalog import SCHEMA, Catalog
from rag.cli import app as cli
from rag.eval.dataset import validate_dataset
from rag.feedback import collection_rows, settings_digest
from rag.serve.app import create_app
from rag.settings import Settings
from rag.store.local import CATALOG_FILE

from .conftest import no_server_errors

QUESTION = "When was the Silk Road Fund set up?"
QUOTE = "The Silk Road Fund was set up in 2014. It invests in infrastructure along the route."


def asked(client: TestClient, question: str = QUESTION) -> dict[str, Any]:
    body: dict[str, Any] = client.post("/v1/ask", json={"question": question}).json()
    return body


def rate(client: TestClient, answer: dict[str, Any], **extra: Any) -> Any:
    body = {"question": QUESTION, "answer": answer["answer"], "citations": answer["citations"], "rating": "down"}
    # json.dumps escapes a lone surrogate, as a client's JSON may; httpx would not encode one at all.
    return client.post("/v1/feedback", content=json.dumps(body | extra), headers={"content-type": "application/json"})


def test_feedback_round_trip_keeps_the_answer_its_citations_generation_and_settings(
    client: TestClient, fake_pipe: Pipeline
) -> None:
    answer = asked(client)
    assert answer["citations"], answer
    before = client.get("/v1/status").json()["generation"]
    r = rate(
        client, answer, comment="The second source is off topic.", correct_source={"doc": "en.txt", "quote": QUOTE}
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["generation"] == before and len(out["id"]) == 32 and out["created"].endswith("Z")
    assert client.get("/v1/status").json()["generation"] == before  # feedback moves no generation on
    [stored] = fake_pipe.collection.store.feedback()
    assert stored.id == out["id"] and stored.rating == "down" and stored.question == QUESTION
    assert stored.answer == answer["answer"] and stored.comment == "The second source is off topic."
    assert [c["doc"] for c in stored.citations] == [c["doc"] for c in answer["citations"]]
    assert stored.citations[0]["text"] == answer["citations"][0]["text"]
    assert (stored.correct_doc, stored.correct_quote) == ("en.txt", QUOTE)
    assert stored.generation == before and stored.settings_digest == settings_digest(fake_pipe.settings)
    up = client.post("/v1/feedback", json={"question": QUESTION, "answer": answer["answer"], "rating": "up"})
    assert up.status_code == 201 and len(fake_pipe.collection.store.feedback()) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"rating": "meh"}, "invalid request"),
        ({"comment": "x" * 2001}, "RAG_FEEDBACK_MAX_COMMENT_CHARS"),
        ({"comment": "bad\x00byte"}, "control characters"),
        ({"correct_source": {"doc": "/etc/passwd"}}, "not a document of the collection"),
        ({"correct_source": {"doc": "../index/catalog.sqlite"}}, "not a document of the collection"),
        ({"question": "   "}, "question is empty"),
        ({"citations": [{"n": 1, "doc": "x\ud800", "start": 0, "end": 1, "text": "a", "score": 1.0}]}, "surrogates"),
        ({"correct_source": {"doc": "en.txt", "quote": "\ud800"}}, "surrogates"),
    ],
    ids=["rating", "long-comment", "control", "path", "relative-path", "blank-question", "surrogate", "quote"],
)
def test_bad_feedback_is_422_with_the_api_error_body_and_records_nothing(
    client: TestClient, fake_pipe: Pipeline, extra: dict[str, Any], message: str
) -> None:
    r = rate(client, asked(client), **extra)
    assert r.status_code == 422, r.text
    assert message in r.json()["error"]["message"]
    assert fake_pipe.collection.store.feedback() == []


def test_feedback_needs_the_token(fake_pipe: Pipeline) -> None:
    guarded = fake_pipe.derived(settings=fake_pipe.settings.model_copy(update={"api_token": SecretStr("s3cret")}))
    body = {"question": QUESTION, "answer": "In 2014.", "rating": "down"}
    with TestClient(create_app(guarded, with_ui=False)) as c:
        assert c.post("/v1/feedback", json=body).status_code == 401
        assert c.post("/v1/feedback", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 201
    assert len(fake_pipe.collection.store.feedback()) == 1


def test_a_catalog_of_schema_1_gains_the_feedback_table_at_its_first_write(tmp_path: Path) -> None:
    path = tmp_path / CATALOG_FILE
    with sqlite3.connect(path) as con:
        con.executescript(SCHEMA.split("CREATE TABLE IF NOT EXISTS feedback")[0])  # what schema 1 made
    catalog = Catalog(path)
    assert catalog.feedback() == []  # a read of the older catalog finds no table, and no feedback
    with catalog.connect(write=True) as con:
        assert con.execute("SELECT count(*) FROM feedback").fetchone() == (0,)
        assert con.execute("PRAGMA user_version").fetchone() == (2,)


def export(settings: Settings, tmp_path: Path, *args: str) -> tuple[Any, Path]:
    out = tmp_path / "candidates.jsonl"
    env = {"RAG_CORPUS_DIR": str(settings.corpus_dir), "RAG_INDEX_DIR": str(settings.index_dir)}
    result = CliRunner().invoke(cli, ["eval", "feedback", "export", "--out", str(out), *args], env=env)
    return result, out


def test_export_writes_flagged_answers_as_unchecked_tune_rows_and_validate_says_what_they_need(
    client: TestClient, fake_pipe: Pipeline, tmp_path: Path
) -> None:
    answer = asked(client)
    assert rate(client, answer, correct_source={"doc": "en.txt", "quote": QUOTE}).status_code == 201
    assert rate(client, answer, correct_source={"doc": "en.txt", "quote": "a quote not in the text"}).status_code == 201
    assert rate(client, answer, rating="up").status_code == 201  # not flagged: no row
    assert rate(client, answer, rating="up", comment="Right, but slow.").status_code == 201
    result, out = export(fake_pipe.settings, tmp_path)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert len(rows) == 3 and "3 candidate rows" in result.output
    assert all(r["split"] == "tune" and r["checked"] is False and r["id"].startswith("feedback-") for r in rows)
    assert all(r["lang"] == "en" and r["question"] == QUESTION and r["answer"] == "" for r in rows)
    exact, not_found, commented = rows
    assert exact["evidence"] == [{"doc": "en.txt", "quote": QUOTE}] and exact["kind"] == "same"
    assert not_found["evidence"] == [{"doc": "en.txt", "quote": ""}]  # not in the document: left for a maintainer
    assert commented["evidence"] == [] and commented["feedback"]["comment"] == "Right, but slow."
    assert exact["feedback"]["answer"] == answer["answer"] and exact["feedback"]["citations"]
    assert collection_rows(fake_pipe.settings, "test")[0]["split"] == "test"

    problems = validate_dataset(out, fake_pipe.settings.corpus_dir)
    need = {p.split(":")[0]: p for p in problems}
    assert len(problems) == 3 and set(need) == {r["id"] for r in rows}, problems
    assert "needs a reference answer, 1-4 must_include atoms" in need[exact["id"]]
    assert "evidence quote" not in need[exact["id"]]
    assert "an exact evidence quote from en.txt" in need[not_found["id"]]
    assert "an evidence document and its exact quote" in need[commented["id"]]
    assert all('"checked": true' in p for p in problems)
    checked = CliRunner().invoke(cli, ["eval", "validate", str(out), "--corpus", str(fake_pipe.settings.corpus_dir)])
    assert checked.exit_code == 2 and "an exact evidence quote from en.txt" in checked.output


def test_export_refuses_a_split_the_dataset_does_not_have(fake_pipe: Pipeline, tmp_path: Path) -> None:
    result, out = export(fake_pipe.settings, tmp_path, "--split", "dev")
    assert result.exit_code != 0 and not out.exists()


def test_export_again_adds_only_new_rows_and_keeps_the_ones_completed(
    client: TestClient, fake_pipe: Pipeline, tmp_path: Path
) -> None:
    answer = asked(client)
    assert rate(client, answer).status_code == 201
    result, out = export(fake_pipe.settings, tmp_path)
    assert result.exit_code == 0, result.output
    [row] = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    completed = row | {"answer": "It was set up in 2014.", "must_include": ["2014"], "checked": True}
    out.write_text(json.dumps(completed) + "\n", "utf-8")
    assert rate(client, answer, comment="Cite en.txt.").status_code == 201
    again, _ = export(fake_pipe.settings, tmp_path)
    assert "1 candidate rows added" in again.output and "1 were there already" in again.output
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert lines[0] == completed and lines[1]["feedback"]["comment"] == "Cite en.txt."
    env = {"RAG_CORPUS_DIR": str(fake_pipe.settings.corpus_dir), "RAG_INDEX_DIR": str(fake_pipe.settings.index_dir)}
    printed = CliRunner().invoke(cli, ["eval", "feedback", "export"], env=env)
    assert [json.loads(line)["id"] for line in printed.output.splitlines()] == [r["id"] for r in lines]


def test_no_server_errors_on_generated_feedback(fake_pipe: Pipeline) -> None:
    """Schemathesis generates /v1/feedback bodies from the app's OpenAPI schema; none may get a 5xx."""
    import schemathesis

    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(fake_pipe, with_ui=False))
    [operation] = [r.ok() for r in schema.include(path_regex=r"^/v1/feedback").get_all_operations()]
    no_server_errors([operation], examples=60)
