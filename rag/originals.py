"""The original bytes of the collection's PDFs, kept so that a citation can show its page: one file per content.

The catalog stores a document's extracted text, not its file; a page is drawn from the file. Each PDF's bytes sit
in `index_dir/originals/<sha256>.pdf`, named by the sha256 of its bytes (the document's `sha256`), so a file is
found from the document's record alone and never from a name or path a user sends. The collection writes them
under its write lock, before the commit that adds their documents, and removes those no document names once the
commit is in; a killed write leaves a file no document names, which the next commit removes.

A document synced from the corpus folder can also be drawn from its file there, found by its stored name in
`corpus_dir`: any file is read only when its bytes hash to the document's sha256.
"""

from __future__ import annotations

import re
from pathlib import Path

from rag.checksum import sha256_bytes
from rag.settings import Settings
from rag.storage import storage_faults, write_atomic

FOLDER = "originals"
SUFFIX = ".pdf"
SHA256 = re.compile(r"[0-9a-f]{64}")
# The formats whose pages are drawn from their file.
KEPT_FORMATS = frozenset({"pdf"})


class Originals:
    """The folder of original files of one collection (`settings.index_dir / "originals"`)."""

    def __init__(self, settings: Settings) -> None:
        self.folder = settings.index_dir / FOLDER
        self.corpus = settings.corpus_dir

    def _path(self, sha256: str) -> Path:
        if not SHA256.fullmatch(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.folder / f"{sha256}{SUFFIX}"

    def write(self, sha256: str, data: bytes) -> None:
        """Keep `data` (whose sha256 is `sha256`), atomically: readers see the whole file or none."""
        if sha256_bytes(data) != sha256:
            raise ValueError("the bytes do not hash to the sha256 they are kept under")
        path = self._path(sha256)
        if path.exists():
            return
        with storage_faults(self.folder):
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data)

    def keep_only(self, shas: set[str]) -> None:
        """Remove every kept file whose sha256 is not in `shas`, and temporary files a killed write left."""
        if not self.folder.is_dir():
            return
        with storage_faults(self.folder):
            for path in self.folder.iterdir():
                if path.name.endswith(".tmp") or (path.suffix == SUFFIX and path.stem not in shas):
                    path.unlink(missing_ok=True)

    def kept(self, sha256: str) -> bool:
        """Whether a copy of these bytes is kept (written only once they hashed right, so without reading it)."""
        return self._path(sha256).is_file()

    def read(self, sha256: str, name: str) -> bytes | None:
        """The bytes of the document `name` whose sha256 is `sha256`: the kept copy, else the corpus folder's file.

        None when neither holds those bytes (a document added before files were kept, or a folder file changed
        since its last sync). `name` is a stored document name, a base name checked when it came in.
        """
        candidates = [self._path(sha256)]
        if Path(name).name == name:
            candidates.append(self.corpus / name)
        for path in candidates:
            try:
                data = path.read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                continue
            if sha256_bytes(data) == sha256:
                return data
        return None
