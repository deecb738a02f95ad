"""Storage faults: a full disk, a read-only file system and a permission error are told apart from damage, reads
keep answering from the committed state, a write fails with its own status and leaves nothing behind, and a
rebuild never drops an upload it was not allowed to."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rag import Pipeline, Settings, storage
from rag.catalog import Catalog
from rag.cli import app as cli_app
from rag.collection import Collection
from rag.errors import (
    StorageError,
    StorageFullError,
    StoragePermissionError,
    StorageReadOnlyError,
)
from rag.serve.app import create_app
from rag.store.local import CATALOG_FILE

from .conftest import FakeEmbedder

AIIB = b"The Asian Infrastructure Investment Bank opened in Beijing in 2016 with 57 founding members."
RAIL = "铁路货运班列自2011年起连接重庆与杜伊斯堡，主要运输笔记本电脑。".encode()
FUND = b"The Silk Road Fund invests in ports, railways and power plants along the route since 2014."
DISK_BYTES = 8 * 2**20
MARGIN = 256 * 1024


def sqlite_error(message: str, code: int | None = None) -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError(message)
    if code is not None:
        exc.sqlite_errorcode = code
    return exc


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), StorageFullError),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), StorageFullError),
        (OSError(errno.EROFS, "Read-only file system"), StorageReadOnlyError),
        (OSError(errno.EACCES, "Permission denied"), StoragePermissionError),
        (OSError(errno.EPERM, "Operation not permitted"), StoragePermissionError),
        (sqlite_error("database or disk is full"), StorageFullError),
        (sqlite_error("anything", 13), StorageFullError),
        (sqlite_error("access permission denied", 3), StoragePermissionError),
    ],
)
def test_errors_that_say_which_fault_they_are(exc: BaseException, kind: type[StorageError], tmp_path: Path) -> None:
    problem = storage.fault(exc, tmp_path)
    assert type(problem) is kind
    assert str(tmp_path) in str(problem)


def test_a_full_disk_names_the_path_and_the_free_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "free_bytes", lambda path: 400 * 1024)
    problem = storage.fault(OSError(errno.ENOSPC, "No space left on device"), tmp_path)
    assert f"the disk holding {tmp_path} is full (400.0 KiB free)" in str(problem)
    with pytest.raises(StorageFullError, match=r"400\.0 KiB free; this write needs about 1\.0 MiB plus the 64\.0 MiB"):
        storage.check_room(tmp_path, 2**20, 64 * 2**20)
    storage.check_room(tmp_path, 100 * 1024, 300 * 1024)


@pytest.mark.parametrize(
    "exc",
    [sqlite_error("disk I/O error"), sqlite_error("unable to open database file"), sqlite_error("x", 4874)],
)
def test_sqlite_errors_that_do_not_say_are_settled_by_the_folder(
    exc: sqlite3.Error, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 4874 is SQLITE_IOERR_SHMSIZE: the shared-memory file cannot grow, which is how a full disk first shows.
    monkeypatch.setattr(storage, "free_bytes", lambda path: 0)
    assert isinstance(storage.fault(exc, tmp_path / "catalog.sqlite"), StorageFullError)
    monkeypatch.setattr(storage, "free_bytes", lambda path: 10 * 2**30)
    assert type(storage.fault(exc, tmp_path / "catalog.sqlite")) is StorageError

    class ReadOnlyMount:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(storage.os, "statvfs", lambda path: ReadOnlyMount())
    assert isinstance(storage.fault(exc, tmp_path / "catalog.sqlite"), StorageReadOnlyError)


def test_damage_and_bugs_are_no_storage_fault(tmp_path: Path) -> None:
    for exc in (sqlite3.DatabaseError("file is not a database"), sqlite_error("malformed", 11)):
        assert storage.fault(exc, tmp_path) is None and storage.is_damage(exc)
    for other in (sqlite3.IntegrityError("UNIQUE constraint failed"), OSError(errno.EIO, "I/O"), ValueError("x")):
        assert storage.fault(other, tmp_path) is None


def test_a_catalog_on_a_full_disk_is_not_called_corrupt(
    fake_pipe: Pipeline, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = Catalog(settings.index_dir / CATALOG_FILE)
    real = sqlite3.connect

    def no_room(*args: object, **kwargs: object) -> sqlite3.Connection:
        raise sqlite_error("database or disk is full", 13)

    monkeypatch.setattr(sqlite3, "connect", no_room)
    with pytest.raises(StorageFullError, match="is full"):
        catalog.generation()
    monkeypatch.setattr(sqlite3, "connect", real)
    assert catalog.generation() == 1


def test_storage_faults_get_507_or_503_with_retry_after(
    fake_pipe: Pipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client = TestClient(create_app(fake_pipe, with_ui=False))
    for problem, status in (
        (storage.full(tmp_path), 507),
        (storage.read_only(tmp_path), 503),
        (storage.no_permission(tmp_path, "Permission denied"), 503),
    ):

        def refuse(*args: object, _problem: StorageError = problem, **kwargs: object) -> None:
            raise _problem

        monkeypatch.setattr(fake_pipe.collection.store, "commit", refuse)
        r = client.post("/v1/documents", files={"file": ("aiib.txt", AIIB)})
        assert r.status_code == status, r.text
        assert r.json()["error"]["type"] == type(problem).__name__
        assert r.headers["retry-after"] == str(fake_pipe.settings.storage_retry_after_s)
    assert client.get("/v1/status").status_code == 200


def test_rag_index_rebuild_asks_before_it_sets_a_damaged_catalog_aside(
    settings: Settings, fake_pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = settings.index_dir / CATALOG_FILE
    for extra in path.parent.glob(CATALOG_FILE + "-*"):
        extra.unlink()
    path.write_bytes(b"not a database" * 100)
    monkeypatch.setattr("rag.embedding.load_embedder", lambda s: FakeEmbedder())
    for name, value in (("CORPUS_DIR", settings.corpus_dir), ("INDEX_DIR", settings.index_dir)):
        monkeypatch.setenv(f"RAG_{name}", str(value))
    monkeypatch.setenv("RAG_CACHE_DIR", str(settings.cache_dir))
    monkeypatch.setenv("RAG_MIN_LANGUAGE_CHUNKS", "1")
    runner = CliRunner()
    refused = runner.invoke(cli_app, ["index", "--rebuild"])
    assert refused.exit_code == 2
    assert "is damaged" in refused.output and "uploaded or added with `rag add`" in refused.output
    assert "run again with --yes" in refused.output
    assert path.is_file() and not list(settings.index_dir.glob(CATALOG_FILE + ".damaged-*"))
    done = runner.invoke(cli_app, ["index", "--rebuild", "--yes"])
    assert done.exit_code == 0, done.output
    assert "index ready: 2 documents" in done.output
    assert len(list(settings.index_dir.glob(CATALOG_FILE + ".damaged-*"))) == 1


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of DISK_BYTES mounted at a fresh folder (needs root: the suite runs as root in CI)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs the suite as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """A file that takes all the room on `disk` but `leave` bytes; remove it to free the room."""
    filler = disk / "filler"
    block = b"\0" * 65536
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            try:
                os.write(fd, block if len(block) > 1 else b"\0")
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                if len(block) == 1:
                    break
                block = block[: len(block) // 2]
    finally:
        os.close(fd)
    if leave:
        os.truncate(filler, os.path.getsize(filler) - leave)
    return filler


def leftovers(index: Path, generation: int) -> list[str]:
    """Temporary files, and vector files of generations never committed."""
    return sorted(
        p.name
        for p in index.iterdir()
        if p.name.endswith(".tmp") or (p.suffix == ".faiss" and int(p.stem.rpartition("-")[2]) > generation)
    )


def test_a_full_disk_loses_nothing(
    small_disk: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The probe's case: fill the index's disk, ask, upload, restart, rebuild; free the room; all is there."""
    settings = settings.model_copy(update={"index_dir": small_disk / "index", "min_free_bytes": MARGIN})
    pipe = Pipeline.load(settings, embedder=FakeEmbedder())
    client = TestClient(create_app(pipe, with_ui=False))
    assert client.post("/v1/documents", files={"file": ("aiib.txt", AIIB)}).status_code == 201
    acknowledged = {"en.txt", "zh.md", "aiib.txt"}
    question = {"question": "How many founding members did the bank have?"}
    answer = client.post("/v1/ask", json=question).json()
    generation = pipe.stored.generation

    filler = fill(small_disk)
    assert client.get("/v1/status").status_code == 200
    assert client.post("/v1/ask", json=question).json()["citations"] == answer["citations"]
    refused = client.post("/v1/documents", files={"file": ("rail.txt", RAIL)})
    assert refused.status_code == 507, refused.text
    assert refused.json()["error"]["type"] == "StorageFullError"
    assert f"the disk holding {settings.index_dir} is full (0 bytes free" in refused.json()["error"]["message"]
    assert "retry-after" in refused.headers
    assert leftovers(settings.index_dir, generation) == []

    # A restart on the full disk serves the committed state; the folder's new file waits for room.
    (settings.corpus_dir / "fund.txt").write_bytes(FUND)
    restarted = Pipeline.load(settings, embedder=FakeEmbedder())
    assert "could not sync" in caplog.text and "is full" in caplog.text
    assert set(restarted.documents) == acknowledged and restarted.stored.generation == generation
    with pytest.raises(StorageFullError):
        Collection(settings, FakeEmbedder()).rebuild(settings.corpus_dir)
    assert not list(settings.index_dir.glob(CATALOG_FILE + ".damaged-*"))

    # A write the room check lets through and the disk then refuses: it takes back what it wrote.
    filler.unlink()
    fill(small_disk, leave=MARGIN // 4)
    monkeypatch.setattr("rag.store.local.write_bytes", lambda *args: 0)
    tight = settings.model_copy(update={"min_free_bytes": 0})
    squeezed = Collection(tight, FakeEmbedder())
    before = storage.free_bytes(settings.index_dir)
    with pytest.raises(StorageFullError):
        squeezed.add_bytes(RAIL * 2000, "rail.txt")
    assert leftovers(settings.index_dir, generation) == []
    assert storage.free_bytes(settings.index_dir) >= before - MARGIN // 8
    monkeypatch.undo()

    (small_disk / "filler").unlink()
    assert client.post("/v1/documents", files={"file": ("rail.txt", RAIL)}).status_code == 201
    Collection(settings, FakeEmbedder()).rebuild(settings.corpus_dir)
    acknowledged |= {"rail.txt", "fund.txt"}
    assert {d["name"] for d in client.get("/v1/documents").json()} == acknowledged
    assert client.post("/v1/ask", json=question).json()["citations"][0]["doc"] == "aiib.txt"


def test_a_read_only_disk_answers_and_refuses_writes_by_name(small_disk: Path, settings: Settings) -> None:
    settings = settings.model_copy(update={"index_dir": small_disk / "index", "min_free_bytes": MARGIN})
    pipe = Pipeline.load(settings, embedder=FakeEmbedder())
    client = TestClient(create_app(pipe, with_ui=False))
    assert client.post("/v1/documents", files={"file": ("aiib.txt", AIIB)}).status_code == 201
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        restarted = Pipeline.load(settings, embedder=FakeEmbedder(), sync=False)
        assert set(restarted.documents) == {"en.txt", "zh.md", "aiib.txt"}
        assert client.get("/v1/status").status_code == 200
        refused = client.post("/v1/documents", files={"file": ("rail.txt", RAIL)})
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["type"] == "StorageReadOnlyError"
        assert "read-only file system" in refused.json()["error"]["message"]
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert client.post("/v1/documents", files={"file": ("rail.txt", RAIL)}).status_code == 201


def test_an_upload_spooled_to_a_full_temporary_disk_gets_507(
    fake_pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_room(self: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("rag.serve.uploads.MultiPartParser.parse", no_room)
    client = TestClient(create_app(fake_pipe, with_ui=False))
    r = client.post("/v1/documents", files={"file": ("aiib.txt", AIIB)})
    assert r.status_code == 507 and "is full" in r.json()["error"]["message"]
