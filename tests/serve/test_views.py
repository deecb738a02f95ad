from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageChops
from pydantic import SecretStr

from rag import Pipeline
from rag.page_image import line_boxes, locate
from rag.serve.app import create_app
from rag.serve.views import document_page, page_viewer

from ..conftest import serving
from ..test_ingest import make_pdf
from ..test_ui import WAIT_S, ask_in_browser, chromium

NAME = "two.pdf"
RAILWAY = "The railway to Mombasa was finished in 2017 by a Chinese company."
PAGES = [
    ["The harbour of Gwadar opened in 2007 after a long build.", "Ships of many nations call there."],
    [RAILWAY, "It carries freight and people."],
]
# Where make_pdf draws a page's first line: its baseline at 720 pt on an A4 page (841.89 pt high), drawn here at
# the default scale of 1.5 pixels a point.
FIRST_BASELINE_PX = (841.89 - 720) * 1.5
# Made once: reportlab stamps each file it writes with the time, so two calls give two documents' bytes.
PDF = make_pdf(PAGES)


@pytest.fixture
def client(fake_pipe: Pipeline) -> Iterator[TestClient]:
    with TestClient(create_app(fake_pipe, with_ui=False), follow_redirects=False) as c:
        assert c.post("/v1/documents", files={"file": (NAME, PDF, "application/pdf")}).status_code == 201
        yield c


def _railway(fake_pipe: Pipeline) -> tuple[int, int]:
    start = fake_pipe.documents[NAME].text.index(RAILWAY)
    return start, start + len(RAILWAY)


def _png(response: object) -> Image.Image:
    image = Image.open(io.BytesIO(response.content))  # type: ignore[attr-defined]
    image.load()
    return image.convert("RGB")


def test_a_pdf_citation_opens_its_page_with_the_span_lit(client: TestClient, fake_pipe: Pipeline) -> None:
    start, end = _railway(fake_pipe)
    link = client.get(f"/view/{NAME}?start={start}&end={end}")
    assert link.status_code == 303 and link.headers["location"] == f"/view/{NAME}/page/2?start={start}&end={end}"
    viewer = client.get(link.headers["location"])
    assert viewer.status_code == 200 and "Page 2 of 2" in viewer.text and 'id="note"' not in viewer.text
    assert f'src="/view/{NAME}/page/2.png?start={start}&amp;end={end}"' in viewer.text
    assert f'href="/view/{NAME}/page/1?start={start}&amp;end={end}"' in viewer.text and 'id="next"' not in viewer.text

    lit = client.get(f"/view/{NAME}/page/2.png?start={start}&end={end}")
    plain = client.get(f"/view/{NAME}/page/2.png")
    assert lit.headers["content-type"] == "image/png" and lit.headers["x-span"] == "lit"
    assert plain.headers["x-span"] == "elsewhere"
    changed = ImageChops.difference(_png(lit), _png(plain)).getbbox()
    assert changed is not None
    left, top, right, bottom = changed
    height = _png(plain).height
    # The highlight covers the first line, where the span is drawn, and nothing in the lower half of the page.
    assert top < FIRST_BASELINE_PX < bottom + 5 and bottom < height / 2 and right - left > 200


def test_the_page_the_span_is_not_on_is_shown_unlit(client: TestClient, fake_pipe: Pipeline) -> None:
    start, end = _railway(fake_pipe)
    assert client.get(f"/view/{NAME}/page/1.png?start={start}&end={end}").headers["x-span"] == "elsewhere"
    viewer = client.get(f"/view/{NAME}/page/1?start={start}&end={end}").text
    assert "not on this page" in viewer and 'id="next"' in viewer


def test_pages_and_names_outside_the_collection_are_404(client: TestClient) -> None:
    for path in ("page/3.png", "page/0.png", "page/3", "page/0"):
        assert client.get(f"/view/{NAME}/{path}").status_code == 404, path
    for path in ("nope.pdf/page/1.png", "nope.pdf/page/1", "..%2Fcatalog.sqlite/page/1.png", "en.txt/page/1.png"):
        assert client.get(f"/view/{path}").status_code == 404, path


def test_documents_without_pages_keep_the_text_view(client: TestClient, fake_pipe: Pipeline) -> None:
    page = client.get("/view/en.txt?start=0&end=10")
    assert page.status_code == 200 and '<mark id="cite">' in page.text
    start, end = _railway(fake_pipe)
    text = client.get(f"/view/{NAME}?start={start}&end={end}&text=1")
    assert text.status_code == 200 and f'<mark id="cite">{RAILWAY}</mark>' in text.text


def test_the_original_is_kept_by_its_sha256_and_goes_with_its_document(client: TestClient, settings: object) -> None:
    kept = Path(settings.index_dir) / "originals"  # type: ignore[attr-defined]
    sha = client.get("/v1/documents").json()
    (pdf,) = [d["sha256"] for d in sha if d["name"] == NAME]
    assert [p.name for p in kept.iterdir()] == [f"{pdf}.pdf"]
    assert client.delete(f"/v1/documents/{NAME}").status_code == 200
    assert list(kept.iterdir()) == []
    assert client.get(f"/view/{NAME}/page/1.png").status_code == 404


def test_the_same_bytes_again_keep_the_file_of_a_pdf_added_before_files_were(
    client: TestClient, fake_pipe: Pipeline
) -> None:
    for path in (Path(fake_pipe.settings.index_dir) / "originals").iterdir():
        path.unlink()
    fresh = TestClient(create_app(fake_pipe, with_ui=False), follow_redirects=False)  # an empty page cache
    gone = fresh.get(f"/view/{NAME}/page/1.png")
    assert gone.status_code == 404 and "upload the same file again" in gone.json()["error"]["message"]
    assert fresh.get(f"/view/{NAME}?start=0&end=5").status_code == 200  # the text view stands in
    again = fresh.post("/v1/documents", files={"file": (NAME, PDF, "application/pdf")})
    assert again.status_code == 200  # nothing changed in the collection
    assert fresh.get(f"/view/{NAME}/page/1.png").status_code == 200


def test_a_folder_pdf_is_drawn_from_its_kept_copy_or_the_corpus_folder(fake_pipe: Pipeline) -> None:
    folder = fake_pipe.settings.corpus_dir
    (folder / "folder.pdf").write_bytes(PDF)
    fake_pipe.collection.sync(folder)
    for path in (Path(fake_pipe.settings.index_dir) / "originals").iterdir():
        path.unlink()
    with TestClient(create_app(fake_pipe, with_ui=False)) as c:
        assert c.get("/view/folder.pdf/page/2.png").status_code == 200
        (folder / "folder.pdf").write_bytes(make_pdf(PAGES[::-1]))  # changed since its sync: its bytes differ
        assert c.get("/view/folder.pdf/page/1.png").status_code == 404


def test_the_page_routes_need_the_token(fake_pipe: Pipeline) -> None:
    guarded = fake_pipe.derived(settings=fake_pipe.settings.model_copy(update={"api_token": SecretStr("s3cret")}))
    ok = {"Authorization": "Bearer s3cret"}
    with TestClient(create_app(guarded, with_ui=False), follow_redirects=False) as c:
        files = {"file": (NAME, PDF, "application/pdf")}
        assert c.post("/v1/documents", files=files, headers=ok).status_code == 201
        for path in (f"/view/{NAME}?start=0&end=5", f"/view/{NAME}/page/1", f"/view/{NAME}/page/1.png"):
            assert c.get(path).status_code == 401, path
            assert c.get(path, headers=ok).status_code in (200, 303), path


def test_a_span_is_found_in_pdfium_text_that_differs_from_the_stored_text() -> None:
    chars = "Intro line\r\nThe infor\ufffemation age\r\nbegan. The information age ended."
    assert locate(chars, "Intro line\nThe", 0.0) == (0, 15)  # pdfium ends lines with \r\n
    a, b = locate(chars, "The information age\nbegan.", 0.0) or (0, 0)
    assert chars[a:b] == "The infor\ufffemation age\r\nbegan."
    a, b = locate(chars, "the information age ended", 0.9) or (0, 0)
    assert chars[a:b] == "The information age ended"  # the later occurrence, where the span sits
    assert locate(chars, "Nothing of the sort", 0.0) is None
    assert locate(chars, "  ", 0.0) is None


def test_a_spans_glyph_boxes_become_one_box_per_line() -> None:
    boxes = np.asarray([[10, 10, 20, 30], [0, 0, 0, 0], [22, 12, 30, 28], [10, 40, 18, 60]], np.int32)
    assert line_boxes(boxes) == [(10, 10, 30, 30), (10, 40, 18, 60)]


def test_the_viewer_escapes_the_name_and_says_when_the_span_is_not_found() -> None:
    page = page_viewer('<img src=x onerror="alert(1)">.pdf', "zh", 1, 1, 0, 5, "not found")
    assert "<img src=x" not in page and "&lt;img src=x" in page
    assert "%3Cimg%20src%3Dx%20onerror%3D%22alert%281%29%22%3E.pdf/page/1.png" in page
    assert "找不到引用的段落" in page and 'id="previous"' not in page


@pytest.mark.e2e
def test_browser_follows_a_pdf_citation_to_its_lit_page(fake_pipe: Pipeline) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    fake_pipe.add_document(PDF, NAME)
    with serving(create_app(fake_pipe)) as url, chromium() as browser:
        wait = WebDriverWait(browser, WAIT_S)
        browser.get(url)
        ask_in_browser(browser, wait, "When was the railway to Mombasa finished?")
        wait.until(lambda b: f"{NAME}, p. 2" in b.find_element(By.CSS_SELECTOR, "#chat").text)
        link = next(
            a for a in browser.find_elements(By.CSS_SELECTOR, "#chat a") if f"/view/{NAME}?" in a.get_attribute("href")
        )
        browser.get(link.get_attribute("href"))
        image = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "img#page")))
        wait.until(lambda b: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
        assert "/page/2" in browser.current_url and "Page 2 of 2" in browser.page_source
        assert not browser.find_elements(By.CSS_SELECTOR, "#note")


def test_the_document_page_marks_the_cited_span(fake_pipe: Pipeline) -> None:
    doc = fake_pipe.documents["en.txt"]
    start = doc.text.index("It invests")
    page = document_page(doc, start, start + 10)
    assert '<mark id="cite">It invests</mark>' in page and "set up in 2014" in page
    assert '<mark id="cite"></mark>' in document_page(doc, 10**6, 10**6 + 5)  # out of range: clamped
