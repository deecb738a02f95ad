"""The project's exceptions: one small hierarchy, each message saying what to do next."""

from __future__ import annotations


class RagError(Exception):
    """Base class: everything the package raises on purpose."""


class InputError(RagError):
    """A question, query or setting a user supplied is not usable as given."""


class CorpusError(RagError):
    """The corpus folder or one of its files cannot be read."""


class ModelError(RagError):
    """The embedding model or tokenizer files are missing, corrupt or incompatible."""


class IndexCorruptError(RagError):
    """A persisted index file fails its checksum or cannot be parsed; rebuild with `rag index --rebuild`."""


class IndexStaleError(RagError):
    """The persisted index was built from another corpus, model or chunk settings."""


class UnsupportedFormatError(InputError):
    """A file whose type no reader handles; the message names the formats that are supported."""


class UnreadableDocumentError(InputError):
    """A file of a supported type whose text cannot be extracted (encrypted, no text layer, corrupt)."""


class NotFoundError(InputError):
    """A document name that is not in the collection."""


class TooLargeError(InputError):
    """An upload over the size limit."""


class StorageError(RagError):
    """The disk under the index refused a read or a write; what was committed before is intact."""


class StorageFullError(StorageError):
    """No room on the disk holding the index for a write; the message names the path and the free space."""


class StorageReadOnlyError(StorageError):
    """The index is on a file system mounted read-only: questions are answered, writes are refused."""


class StoragePermissionError(StorageError):
    """The service's user may not write (or read) the index folder."""


class BusyError(RagError):
    """Every slot for work is taken and none freed up in time; the client retries after `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
