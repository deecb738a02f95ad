from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from pydantic import SecretStr

from rag import Pipeline
from rag.api import create_app
from ui.app import highlight

from .conftest import ROOT

SCREENSHOT = ROOT / "reports" / "ui-screenshot.png"
WAIT_S = 60


def test_highlight_marks_the_span_inside_its_paragraph(fake_pipe: Pipeline) -> None:
    doc = fake_pipe.documents["en.txt"]
    start = doc.text.index("It invests")
    html = highlight(doc, start, start + 10)
    assert "<mark>It invests</mark>" in html
    assert "set up in 2014" in html and "20 projects" not in html


@pytest.fixture(scope="module", params=[None, "s3cret"], ids=["open", "token"])
def server(request: pytest.FixtureRequest, pipe: Pipeline) -> Iterator[tuple[str, str | None]]:
    token: str | None = request.param
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    secret = SecretStr(token) if token else None
    guarded = pipe.derived(settings=pipe.settings.model_copy(update={"api_token": secret}))
    config = uvicorn.Config(create_app(guarded), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/", token
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.mark.e2e
def test_browser_asks_in_chinese_and_sees_sources(server: tuple[str, str | None]) -> None:
    """With a token set, the browser logs in once at /login; the UI's own calls then carry the session."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, "install Debian's chromium and chromium-driver (make test does, as root)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        url, token = server
        browser.get(url)
        wait = WebDriverWait(browser, WAIT_S)
        if token is not None:
            field = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "input[name=token]")))
            field.send_keys(token)
            field.submit()
        box = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#question textarea")))
        box.send_keys("中国是在哪一年正式加入世界贸易组织的？")
        browser.find_element(By.CSS_SELECTOR, "#ask").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#sources mark")))
        sources = browser.find_element(By.CSS_SELECTOR, "#sources").text
        assert "000_52703944bae284e8.txt" in sources and "2001" in sources
        assert "置信度" in sources  # the confidence, labelled in the question's language
        chat = browser.find_element(By.CSS_SELECTOR, "#chat").text
        assert "[1]" in chat and "以下依据来自英文文献" in chat
        SCREENSHOT.parent.mkdir(exist_ok=True)
        browser.save_screenshot(str(SCREENSHOT))
        assert SCREENSHOT.stat().st_size > 10_000
    finally:
        browser.quit()


def test_an_internal_fault_stays_in_the_log(fake_pipe: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail from /srv/internal/path")

    monkeypatch.setattr(fake_pipe, "ask", broken)
    monkeypatch.setattr(fake_pipe, "search", broken)
    with TestClient(create_app(fake_pipe)) as client:
        for route, data in (("respond", ["Why?", []]), ("search", ["road"])):
            event = client.post(f"/gradio_api/call/{route}", json={"data": data}).json()["event_id"]
            stream = client.get(f"/gradio_api/call/{route}/{event}").text
            assert "Something went wrong on the server" in stream, stream
            assert "secret detail" not in stream and "/srv/internal" not in stream
