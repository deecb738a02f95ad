"""Read a file's text in a child process bounded in memory and time, so that no file can take the service down.

Drawing a PDF's page (`rag.page_image`) runs the same way: it decodes the images that reading text skips.

A decompression bomb the measures in `rag.ingest` miss, a parser's runaway allocation, a pathological page or a
native library's abort (pdfium's, when an allocation fails) ends that child, not the service; the caller gets a
TooLargeError or UnreadableDocumentError naming the file and the limit. Every file gets a child of its own that
exits once it has answered, so the memory a big file took goes back to the system at once.

Children are forked from a forkserver: a fresh interpreter that imports the readers once (about 0.4 s, at the
first file), after which a child starts in about 5 ms. Forking the service itself would copy its model threads'
state into the child, which a fork cannot do safely. Neither the forkserver nor a child runs the main script, as
multiprocessing would by default: a script that calls `Pipeline.load()` at its top level, with no
`if __name__ == "__main__":` guard, would otherwise load a pipeline again for every file it reads.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import resource
import signal
import sys
import threading
import traceback
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar, cast

from rag.errors import RagError, TooLargeError, UnreadableDocumentError
from rag.ingest import READER_MODULES, Extracted, format_of, read_bytes
from rag.settings import Settings

log = logging.getLogger(__name__)

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([*READER_MODULES, "rag.page_image"])
_STARTING = threading.Lock()


@contextmanager
def _without_main_script() -> Iterator[None]:
    """Start a child with the main script out of sight.

    Multiprocessing runs `__main__.__file__` in the forkserver and in each child; nothing a child runs lives
    there (readers are module-level functions of packages).
    """
    with _STARTING:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = main


Reader = Callable[[bytes, str, Settings], Extracted]
T = TypeVar("T")


def read_isolated(data: bytes, name: str, settings: Settings, reader: Reader = read_bytes) -> Extracted:
    """The text `reader` extracts, read in a child process limited to `parse_memory_bytes` and `parse_timeout_s`.

    `reader` must be a module-level function: the child imports it by name.
    """
    format_of(name)  # an unsupported file needs no child
    return run_isolated(reader, (data, name, settings), name, settings)


def run_isolated(task: Callable[..., T], args: tuple[Any, ...], name: str, settings: Settings) -> T:
    """`task(*args)` run in a child process under the limits of `read_isolated`, on the file called `name`.

    `task` must be a module-level function, and its arguments and result picklable.
    """
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(target=_child, args=(sender, task, args, settings), name="rag-reader", daemon=True)
    with _without_main_script():
        child.start()
    sender.close()  # else the child's death would not end the parent's wait: the parent would hold the pipe open
    try:
        if not receiver.poll(settings.parse_timeout_s):
            raise _timed_out(name, settings)
        try:
            kind, payload = receiver.recv()
        except EOFError:
            child.join()
            raise _died(name, child.exitcode, settings) from None
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()
        child.close()
    return cast(T, _outcome(kind, payload, name, settings))


def _outcome(kind: str, payload: Any, name: str, settings: Settings) -> Any:
    """The child's answer as the parent's result or exception."""
    if kind == "result":
        return payload
    if kind == "error":
        raise cast(RagError, payload)
    if kind == "memory":
        raise _out_of_memory(name, settings)
    log.error("the reader failed on %s:\n%s", name, payload)
    raise UnreadableDocumentError(
        f"{name} could not be read ({payload.strip().splitlines()[-1]}); check that it opens in its own "
        "application, save it again and upload it"
    )


def _child(sender: Connection, task: Callable[..., Any], args: tuple[Any, ...], settings: Settings) -> None:
    """Run the task under the limits and send back ("result", its result), ("error", RagError) or a failure."""
    # On top of what the child holds when it starts, which depends on what the main script imported.
    memory = _address_space() + settings.parse_memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # A native abort must not leave a core file of up to parse_memory_bytes on the service's disk.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # The parent kills a child at the timeout; this stops one whose parent died first (the CPU time a child
    # uses never exceeds its wall time, so it never fires before the parent's kill).
    cpu = math.ceil(settings.parse_timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    outcome: tuple[str, Any]
    try:
        outcome = ("result", task(*args))
    except RagError as exc:
        outcome = ("error", exc)
    except MemoryError:
        outcome = ("memory", None)
    except Exception as exc:  # a parser's bug: the parent logs it with its traceback and refuses the file
        outcome = ("failed", "".join(traceback.format_exception(exc)))
    sender.send(outcome)
    sender.close()


def _address_space() -> int:
    """The virtual memory size of the calling process in bytes, which is what RLIMIT_AS bounds."""
    pages = int(Path("/proc/self/statm").read_text().split()[0])
    return pages * resource.getpagesize()


def _out_of_memory(name: str, settings: Settings) -> TooLargeError:
    return TooLargeError(
        f"reading {name} needs more than the {settings.parse_memory_bytes / 2**20:.0f} MiB a file may take here "
        "(RAG_PARSE_MEMORY_BYTES); split it into smaller files and upload those"
    )


def _timed_out(name: str, settings: Settings) -> UnreadableDocumentError:
    return UnreadableDocumentError(
        f"reading {name} took over {settings.parse_timeout_s:g} s (RAG_PARSE_TIMEOUT_S) and was stopped; split "
        "it into smaller files, or save its text as .txt, and upload those"
    )


def _died(name: str, exitcode: int | None, settings: Settings) -> RagError:
    """The error for a child that ended without answering: killed by a signal, or exited by a native library."""
    if exitcode == -signal.SIGXCPU:
        return _timed_out(name, settings)
    how = f"signal {signal.Signals(-exitcode).name}" if exitcode is not None and exitcode < 0 else f"exit {exitcode}"
    return UnreadableDocumentError(
        f"the reader stopped on {name} ({how}): the file is damaged, or reading it needs more than the "
        f"{settings.parse_memory_bytes / 2**20:.0f} MiB a file may take here (RAG_PARSE_MEMORY_BYTES); check "
        "that it opens in its own application, save it again and upload it"
    )
