"""Against a real Milvus server binary: PyPI's `milvus` 2.3.5, the newest that installs here (older than 2.5)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.settings import Settings
from rag.store.milvus import MilvusError, MilvusStore, check_server, connect


@pytest.fixture(scope="module")
def old_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from milvus import MilvusServer

    # It picks free ports itself, but for its embedded etcd's peer port (2380): one such server per machine at a time.

    server = MilvusServer()
    server.set_base_dir(str(tmp_path_factory.mktemp("milvus-2.3")))
    server.start()
    try:
        yield f"http://127.0.0.1:{server.listen_port}"
    finally:
        server.stop()


def test_a_server_older_than_2_5_is_refused_before_anything_is_written(old_server: str, tmp_path: Path) -> None:
    settings = Settings(vector_store="milvus", milvus_uri=old_server, index_dir=tmp_path, milvus_collection="smoke")
    client = connect(settings)
    assert client.get_server_version().startswith("v2.3.")
    with pytest.raises(MilvusError, match=r"Milvus v2\.3\.\S+ at .* is too old: this store needs Milvus 2\.5"):
        MilvusStore(settings)
    assert client.list_collections() == []


@pytest.mark.parametrize("version", ["milvus_lite-3.2.2", "v2.5.0", "v2.6.4", "2.5.10", "v3.0.0-beta", "unknown"])
def test_servers_from_2_5_on_and_unknown_versions_are_taken(version: str) -> None:
    check_server(version, "here")


@pytest.mark.parametrize("version", ["v2.4.15", "v2.3.5-lite", "2.2.0"])
def test_servers_before_2_5_are_refused(version: str) -> None:
    with pytest.raises(MilvusError, match="too old"):
        check_server(version, "here")
