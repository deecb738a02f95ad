"""Storage faults told apart (a full disk, a read-only file system, a permission, an I/O error), and room checked.

A file write says which fault it met by its errno. SQLite often does not: Python's `sqlite3` gives its result code
(`sqlite_errorcode`, from Python 3.11, and only on errors SQLite itself raised), and a full disk can surface as a
"disk I/O error" (its shared-memory file cannot grow) or "unable to open database file". Those codes are settled
by looking at the folder: its mount flags, its free space, its permissions. Damage (a file that is not a database,
a malformed page) is not a storage fault; the catalog reports it as `IndexCorruptError`.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.errors import StorageError, StorageFullError, StoragePermissionError, StorageReadOnlyError

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
PERMISSION_ERRNOS = frozenset({errno.EACCES, errno.EPERM})
# SQLite's primary result codes (the low byte of an extended code).
SQLITE_PERM = 3
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26
# SQLite's fixed texts of those codes, for an error that carries no code.
SQLITE_MESSAGES = {
    "attempt to write a readonly database": SQLITE_READONLY,
    "disk I/O error": SQLITE_IOERR,
    "database disk image is malformed": SQLITE_CORRUPT,
    "database or disk is full": SQLITE_FULL,
    "unable to open database file": SQLITE_CANTOPEN,
    "file is not a database": SQLITE_NOTADB,
}
# An I/O error of SQLite with less than this free is the disk being full: SQLite grows its files by pages and
# 32 KiB regions of its shared-memory file, so less than a MiB leaves it no room to work in.
NEARLY_FULL_BYTES = 2**20


def size(n: int) -> str:
    """A byte count for a message: `412.0 KiB`."""
    if n < 1024:
        return f"{n} bytes"
    amount, unit = n / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if amount < 1024:
            break
        amount, unit = amount / 1024, bigger
    return f"{amount:.1f} {unit}"


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged user may still write on the file system holding `path` (or its nearest parent)."""
    for folder in (path, *path.parents):
        if folder.exists():
            return shutil.disk_usage(folder).free
    raise FileNotFoundError(path)


def full(path: Path, need: int | None = None, margin: int | None = None) -> StorageFullError:
    """The error for a disk with no room at `path`, naming what is free (and, when known, what the write needed)."""
    wanted = ""
    if need is not None and margin is not None:
        wanted = f"; this write needs about {size(need)} plus the {size(margin)} kept free (RAG_MIN_FREE_BYTES)"
    return StorageFullError(
        f"the disk holding {path} is full ({size(free_bytes(path))} free{wanted}): free space on that disk and "
        "retry. Nothing of this write was kept; the documents indexed before are intact and still answer questions"
    )


def read_only(path: Path) -> StorageReadOnlyError:
    """The error for a write to a read-only file system."""
    return StorageReadOnlyError(
        f"{path} is on a read-only file system: remount it read-write to change the collection. Questions are "
        "answered from the documents indexed before"
    )


def no_permission(path: Path, why: str) -> StoragePermissionError:
    """The error for a folder or file this process may not use."""
    return StoragePermissionError(
        f"this process (uid {os.getuid()}) may not use {path} ({why}): give it read and write permission on the "
        "index folder, or run the service as the user that owns it"
    )


def sqlite_code(exc: sqlite3.Error) -> int | None:
    """SQLite's primary result code of `exc`, from its code or else its message."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    return SQLITE_MESSAGES.get(str(exc))


def is_damage(exc: sqlite3.Error) -> bool:
    """Whether `exc` says the file itself is damaged or is not a database."""
    return sqlite_code(exc) in (SQLITE_CORRUPT, SQLITE_NOTADB)


def fault(exc: BaseException, path: Path) -> StorageError | None:
    """The storage fault `exc` is, for a file in (or the folder) `path`; None when it is none (damage, a bug)."""
    if isinstance(exc, OSError):
        if exc.errno in FULL_ERRNOS:
            return full(path)
        if exc.errno == errno.EROFS:
            return read_only(path)
        if exc.errno in PERMISSION_ERRNOS:
            return no_permission(path, exc.strerror or "permission denied")
        return None
    if not isinstance(exc, sqlite3.Error):
        return None
    code = sqlite_code(exc)
    if code == SQLITE_FULL:
        return full(path)
    if code == SQLITE_PERM:
        return no_permission(path, str(exc))
    if code in (SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_IOERR):
        return _probe(path, exc)
    return None


def _probe(path: Path, exc: sqlite3.Error) -> StorageError:
    """Which fault an SQLite error that does not say is, from the state of the folder."""
    folder = path if path.is_dir() else path.parent
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        return read_only(path)
    if free_bytes(folder) < NEARLY_FULL_BYTES:
        return full(path)
    if not os.access(folder, os.R_OK | os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.R_OK | os.W_OK)):
        return no_permission(path, str(exc))
    return StorageError(f"the disk holding {path} failed a read or write ({exc}): check the disk and the system log")


def check_room(path: Path, need: int, margin: int) -> None:
    """StorageFullError unless the disk holding `path` has room for `need` bytes and `margin` more."""
    if free_bytes(path) < need + margin:
        raise full(path, need, margin)


@contextmanager
def storage_faults(path: Path) -> Iterator[None]:
    """Raise an OSError or sqlite3.Error of the block that is a storage fault as its `StorageError`."""
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        problem = fault(exc, path)
        if problem is None:
            raise
        raise problem from exc


@contextmanager
def removed_on_failure(paths: list[Path]) -> Iterator[None]:
    """Delete the files in `paths` (a list the block may still add to) when the block raises.

    So a failed write leaves nothing taking room.
    """
    try:
        yield
    except BaseException:
        for path in paths:
            path.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """`data` in `path`, synced and renamed into place from a temporary file that a failure removes."""
    tmp = path.with_name(path.name + ".tmp")
    with removed_on_failure([tmp]):
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
