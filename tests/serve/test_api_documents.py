"""The document routes: upload, replace, list, read and delete, with their limits and errors (a fake model)."""

from __future__ import annotations

import io
import json
import unicodedata
from collections.abc import Iterator
from urllib.parse import quote

import pptx
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from rag import Pipeline
from rag.serve.app import create_app
from rag.settings import Settings

from ..conftest import FakeEmbedder, no_server_errors
from ..test_ingest import HTML, encrypt, make_docx, make_pdf
from ..test_isolation import pdf_bomb

AIIB = b"The Asian Infrastructure Investment Bank opened in Beijing in 2016 with 57 founding members."


@pytest.fixture
def app(fake_pipe: Pipeline) -> FastAPI:
    small = fake_pipe.settings.model_copy(update={"max_upload_bytes": 64 * 1024})
    return create_app(fake_pipe.derived(settings=small), with_ui=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def upload(client: TestClient, name: str, content: bytes, **kwargs: object) -> object:
    return client.post("/v1/documents", files={"file": (name, content)}, **kwargs)  # type: ignore[arg-type]


def cited(client: TestClient, question: str) -> set[str]:
    answer = client.post("/v1/ask", json={"question": question}).json()
    hits = client.post("/v1/search", json={"query": question}).json()["hits"]
    return {c["doc"] for c in answer["citations"]} | {h["doc"] for h in hits}


def test_upload_replace_list_read_and_delete(client: TestClient) -> None:
    r = upload(client, "aiib.txt", AIIB)
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert {k: body[k] for k in ("name", "language", "chunks")} == {"name": "aiib.txt", "language": "en", "chunks": 1}
    assert len(body["sha256"]) == 64
    assert "aiib.txt" in cited(client, "How many founding members did the bank have?")

    again = upload(client, "aiib.txt", AIIB)
    assert again.status_code == 200 and again.json() == body  # type: ignore[attr-defined]
    replaced = upload(client, "aiib.txt", b"The bank later grew to more than 100 members.")
    assert replaced.status_code == 201 and replaced.json()["sha256"] != body["sha256"]  # type: ignore[attr-defined]

    listing = {d["name"]: d for d in client.get("/v1/documents").json()}
    assert set(listing) == {"en.txt", "zh.md", "aiib.txt"}
    entry = listing["aiib.txt"]
    assert entry["format"] == "text" and entry["source"] == "upload" and entry["size"] == 45 and entry["added"]
    assert listing["zh.md"]["language"] == "zh" and listing["zh.md"]["source"] == "folder"
    text = client.get("/v1/documents/aiib.txt").json()["text"]
    assert text == "The bank later grew to more than 100 members."

    assert client.delete("/v1/documents/aiib.txt").json() == {"removed": ["aiib.txt"]}
    assert "aiib.txt" not in cited(client, "How many members did the bank have?")
    gone = client.delete("/v1/documents/aiib.txt")
    assert gone.status_code == 404 and gone.json()["error"]["type"] == "NotFoundError"
    assert client.get("/v1/documents/aiib.txt").status_code == 404


def test_a_name_in_nfc_or_nfd_is_one_document_and_invisible_characters_are_refused(client: TestClient) -> None:
    composed = "caf\u00e9.txt"
    first = upload(client, composed, AIIB)
    second = upload(client, unicodedata.normalize("NFD", composed), AIIB)
    assert first.status_code == 201 and second.status_code == 200  # type: ignore[attr-defined]
    assert second.json()["name"] == composed  # type: ignore[attr-defined]
    assert [d["name"] for d in client.get("/v1/documents").json()].count(composed) == 1
    decomposed = quote(unicodedata.normalize("NFD", composed))
    assert client.get(f"/v1/documents/{decomposed}").json()["name"] == composed
    assert client.delete(f"/v1/documents/{decomposed}").json() == {"removed": [composed]}
    for code in (0x061C, 0x2060, 0x00AD, 0x180E, 0xE0001, 0x2028, 0x0085, 0x009B, 0x3164, 0x034F):
        refused = upload(client, f"report{chr(code)}.txt", AIIB)
        assert refused.status_code == 422, (hex(code), refused.text)  # type: ignore[attr-defined]
        assert f"U+{code:04X}" in refused.json()["error"]["message"]  # type: ignore[attr-defined]


def test_pdf_docx_and_html_uploads_serve_their_extracted_text_with_pages(client: TestClient) -> None:
    pdf = make_pdf([["The first page is about ports."], ["The corridor carried 12 million tonnes in 2019."]])
    assert upload(client, "report.pdf", pdf).json()["chunks"] >= 1  # type: ignore[attr-defined]
    answer = client.post("/v1/ask", json={"question": "How many tonnes did the corridor carry in 2019?"}).json()
    assert [(c["doc"], c["page"]) for c in answer["citations"]] == [("report.pdf", 2)], answer
    listing = {d["name"]: d for d in client.get("/v1/documents").json()}
    assert listing["report.pdf"]["pages"] == 2 and listing["report.pdf"]["format"] == "pdf"

    assert upload(client, "年度报告.docx", make_docx()).status_code == 201  # type: ignore[attr-defined]
    docx_text = client.get("/v1/documents/年度报告.docx").json()["text"]
    assert "年份 | 项目数" in docx_text

    assert upload(client, "news.html", HTML.encode()).status_code == 201  # type: ignore[attr-defined]
    html_text = client.get("/v1/documents/news.html").json()["text"]
    assert "proposed by China in 2013" in html_text and "About us" not in html_text and "<p>" not in html_text


def test_an_uploaded_deck_is_searchable_and_its_citations_name_the_slide_as_page(client: TestClient) -> None:
    deck = pptx.Presentation()
    for title, body in [
        ("Ports", "The first slide is about ports."),
        ("Rail", "The corridor carried 12 million tonnes."),
    ]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text_frame.text = body
    slide.notes_slide.notes_text_frame.text = "The tonnage was measured in 2019."
    buf = io.BytesIO()
    deck.save(buf)
    assert upload(client, "freight.pptx", buf.getvalue()).status_code == 201  # type: ignore[attr-defined]
    answer = client.post("/v1/ask", json={"question": "How many tonnes did the corridor carry in 2019?"}).json()
    # The slide's body and its speaker notes, both on slide 2 under its title.
    assert {(c["doc"], c["page"], c["section"]) for c in answer["citations"]} == {("freight.pptx", 2, "Rail")}, answer
    assert any("measured in 2019" in c["text"] for c in answer["citations"]), answer
    listing = {d["name"]: d for d in client.get("/v1/documents").json()}
    assert listing["freight.pptx"]["pages"] == 2 and listing["freight.pptx"]["format"] == "pptx"


def test_a_gbk_text_upload_is_decoded(client: TestClient) -> None:
    text = "丝路基金于二〇一四年设立，规模为四百亿美元，主要投资于基础设施、资源开发和产业合作等领域。" * 3
    assert upload(client, "gbk.txt", text.encode("gbk")).json()["language"] == "zh"  # type: ignore[attr-defined]
    assert client.get("/v1/documents/gbk.txt").json()["text"] == text


@pytest.mark.parametrize(
    ("name", "data", "status", "message"),
    [
        ("sheet.xls", b"\xd0\xcf\x11\xe0", 415, "save it as .xlsx"),
        ("locked.pdf", encrypt(make_pdf([["Secret."]]), "pw"), 422, "is encrypted"),
        ("scan.pdf", make_pdf([[]]), 422, "no text layer"),
        ("broken.docx", b"PK not a zip", 422, "broken.docx"),
        ("blank.md", b"\n\n", 422, "no text"),
    ],
    ids=["unsupported", "encrypted", "scanned", "corrupt-docx", "empty"],
)
def test_files_that_cannot_be_read_change_nothing(
    client: TestClient, name: str, data: bytes, status: int, message: str
) -> None:
    before = client.get("/v1/status").json()
    r = upload(client, name, data)
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert message in r.json()["error"]["message"]  # type: ignore[attr-defined]
    assert client.get("/v1/status").json() == before


def events(body: str) -> list[tuple[str, dict[str, object]]]:
    """The server-sent events of a response body, as (event, data)."""
    out = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((fields["event"], json.loads(fields["data"])))
    return out


def test_a_streamed_upload_reports_each_stage_then_the_listing(client: TestClient) -> None:
    pdf = make_pdf([["The bank opened in Beijing in 2016."], ["It had 57 founding members."]])
    r = upload(client, "bank.pdf", pdf, params={"stream": "true"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")  # type: ignore[attr-defined]
    got = events(r.text)  # type: ignore[attr-defined]
    stages = [d["stage"] for e, d in got if e == "progress"]
    assert stages[0] == "reading" and "embedding" in stages and stages[-1] == "saving"
    assert got[-2] == ("progress", {"stage": "saving", "done": 1, "total": 1})
    kind, done = got[-1]
    assert kind == "done" and done["name"] == "bank.pdf" and done["pages"] == 2 and done["changed"] is True
    assert {**next(d for d in client.get("/v1/documents").json() if d["name"] == "bank.pdf"), "changed": True} == done
    again = events(upload(client, "bank.pdf", pdf, params={"stream": "true"}).text)  # type: ignore[attr-defined]
    assert again[-1][0] == "done" and again[-1][1]["changed"] is False


def test_a_streamed_upload_that_cannot_be_read_ends_in_an_error_event_and_changes_nothing(
    fake_pipe: Pipeline,
) -> None:
    # One slot and no queue: an upload whose slot was not given back would leave the next one a 503.
    one = fake_pipe.settings.model_copy(update={"max_in_flight": 1, "max_queue": 0})
    client = TestClient(create_app(fake_pipe.derived(settings=one), with_ui=False))
    before = client.get("/v1/status").json()
    r = upload(client, "locked.pdf", encrypt(make_pdf([["Secret."]]), "pw"), params={"stream": "true"})
    kind, body = events(r.text)[-1]  # type: ignore[attr-defined]
    assert kind == "error" and body["status"] == 422
    assert body["error"]["type"] == "UnreadableDocumentError" and "is encrypted" in body["error"]["message"]  # type: ignore[index]
    assert client.get("/v1/status").json() == before
    # What the request alone tells is a status, before any event.
    refused = upload(client, "sheet.xls", b"\xd0\xcf\x11\xe0", params={"stream": "true"})
    assert refused.status_code == 415  # type: ignore[attr-defined]
    # The slot went back with the work: a plain upload is admitted after both.
    assert upload(client, "aiib.txt", AIIB).status_code == 201  # type: ignore[attr-defined]


def test_bombs_are_refused_with_the_limit_they_passed_and_change_nothing(settings: Settings) -> None:
    """Issue 20, cases 2 and 5: a PDF bomb without %%EOF was read by pdfium (201, +1.9 GB); nested <div>s too."""
    small = settings.model_copy(update={"max_inflated_bytes": 8 * 2**20})
    pipe = Pipeline.load(small, embedder=FakeEmbedder())
    with TestClient(create_app(pipe, with_ui=False)) as client:
        before = client.get("/v1/status").json()
        r = upload(client, "bomb.pdf", pdf_bomb(32 * 2**20))
        assert r.status_code == 413, r.text  # type: ignore[attr-defined]
        assert "RAG_MAX_INFLATED_BYTES" in r.json()["error"]["message"]  # type: ignore[attr-defined]
        r = upload(client, "deep.html", b"<div>x" * 5000 + b"</div>" * 5000)
        assert r.status_code == 422, r.text  # type: ignore[attr-defined]
        assert "RAG_MAX_HTML_DEPTH" in r.json()["error"]["message"]  # type: ignore[attr-defined]
        assert client.get("/v1/status").json() == before


def test_uploads_over_the_limit_get_413_declared_or_streamed(client: TestClient) -> None:
    big = b"word " * 40_000  # 200 kB against a 64 kB limit
    r = upload(client, "big.txt", big)
    assert r.status_code == 413 and "RAG_MAX_UPLOAD_BYTES" in r.json()["error"]["message"]  # type: ignore[attr-defined]
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'.encode()
        + big
        + f"\r\n--{boundary}--\r\n".encode()
    )

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 8192):
            yield body[i : i + 8192]

    streamed = client.post(
        "/v1/documents", content=chunks(), headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )
    assert streamed.status_code == 413
    assert "big.txt" not in {d["name"] for d in client.get("/v1/documents").json()}


def test_an_upload_needs_a_file_field(client: TestClient) -> None:
    r = client.post("/v1/documents", data={"name": "x"})
    assert r.status_code == 422 and "field named `file`" in r.json()["error"]["message"]
    r = client.post("/v1/documents", json={"file": "x"})
    assert r.status_code == 422 and "multipart/form-data" in r.json()["error"]["message"]


def test_writes_need_the_token(fake_pipe: Pipeline) -> None:
    token = SecretStr("s3cret")
    guarded = create_app(fake_pipe.derived(settings=fake_pipe.settings.model_copy(update={"api_token": token})))
    with TestClient(guarded) as client:
        assert upload(client, "aiib.txt", AIIB).status_code == 401  # type: ignore[attr-defined]
        assert client.delete("/v1/documents/en.txt").status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        assert upload(client, "aiib.txt", AIIB, headers=auth).status_code == 201  # type: ignore[attr-defined]
        assert client.delete("/v1/documents/en.txt", headers=auth).status_code == 200
    assert sorted(fake_pipe.documents) == ["aiib.txt", "zh.md"]


def test_no_server_errors_on_generated_document_requests(app: FastAPI) -> None:
    """Schemathesis generates requests for the document routes from the app's OpenAPI schema; none may get a 5xx."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex=r"^/v1/documents")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} >= {
        ("POST", "/v1/documents"),
        ("DELETE", "/v1/documents/{name}"),
    }
    no_server_errors(operations)


def test_uploads_carry_tags_and_metadata_that_filters_select_by(client: TestClient) -> None:
    labels = {"tags": "bank, asia", "meta": json.dumps({"year": 2016, "members": 57})}
    r = upload(client, "aiib.txt", AIIB, data=labels)
    body = r.json()  # type: ignore[attr-defined]
    assert r.status_code == 201 and (body["tags"], body["meta"], body["title"]) == (  # type: ignore[attr-defined]
        ["bank", "asia"],
        {"year": 2016, "members": 57},
        "aiib",
    )
    planned = {"file": ("old.txt", b"The bank was planned in 2013.")}
    streamed = client.post("/v1/documents?stream=true", files=planned, data={"tags": "bank"})
    assert json.loads(streamed.text.split("event: done\ndata: ")[1])["tags"] == ["bank"]
    listing = {d["name"]: d for d in client.get("/v1/documents").json()}
    assert listing["en.txt"]["tags"] == [] and listing["aiib.txt"]["meta"]["year"] == 2016

    where = {"tags": ["bank"], "meta": {"year": {"gte": 2015}}}
    hits = client.post("/v1/search", json={"query": "bank", "filter": where}).json()["hits"]
    assert {h["doc"] for h in hits} == {"aiib.txt"}
    answer = client.post("/v1/ask", json={"question": "When did the bank open?", "filter": where}).json()
    assert answer["citations"] and {c["doc"] for c in answer["citations"] + answer["passages"]} == {"aiib.txt"}
    fund = [{"role": "user", "content": "When was the Silk Road Fund set up?"}]
    for kept, cites in ((["en*"], {"en.txt"}), (["old*", "aiib*"], set())):
        chat = {"messages": fund, "filter": {"documents": kept}}
        completion = client.post("/v1/chat/completions", json=chat).json()
        assert {c["doc"] for c in completion["citations"]} == cites, completion

    bad = client.post("/v1/search", json={"query": "bank", "filter": {"tags": ["bank"], "year": 2016}})
    assert bad.status_code == 422 and ["body", "filter", "year"] in [d["loc"] for d in bad.json()["error"]["detail"]]
    bad = client.post("/v1/ask", json={"question": "q", "filter": {"meta": {"year": {"after": 2016}}}})
    assert bad.status_code == 422 and "year: after: Extra inputs are not permitted" in bad.text
    refused = upload(client, "x.txt", b"Some text.", data={"meta": '{"year": {"gte": 1}}'})
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert "metadata year: a value is a string" in refused.json()["error"]["message"]  # type: ignore[attr-defined]
    assert "x.txt" not in {d["name"] for d in client.get("/v1/documents").json()}
