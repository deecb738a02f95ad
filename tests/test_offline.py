from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

from rag.offline import ENCODING_SHA256, install_tiktoken_encodings, tiktoken_cache_name


def test_tiktoken_loads_with_the_network_blocked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    install_tiktoken_encodings(tmp_path)
    import tiktoken

    for name in ENCODING_SHA256:
        enc = tiktoken.get_encoding(name)
        assert enc.decode(enc.encode("Belt and Road 一带一路")) == "Belt and Road 一带一路"


def test_tampered_cache_file_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / tiktoken_cache_name("cl100k_base")
    target.write_bytes(b"not an encoding")
    install_tiktoken_encodings(tmp_path)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == ENCODING_SHA256["cl100k_base"]


def test_cache_name_is_sha1_of_url() -> None:
    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    assert tiktoken_cache_name("o200k_base") == hashlib.sha1(url.encode()).hexdigest()
