"""The embedded store: a SQLite catalog (WAL) and FAISS files in the index folder, for one machine.

A commit, under a file lock held across processes: applies the write to copies of the current vector indexes,
saves them as the next generation's files, and commits the catalog (which names their checksums) in one SQLite
transaction. Until then every reader sees the state before; a crash at any point leaves one of the two. Files of
other generations are removed afterwards (the one before is kept for readers still loading it), and orphans of a
killed write at the next write. A vector file that is missing or damaged is rebuilt from the catalog's raw vectors,
without the model.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from rag.catalog import Catalog, CatalogState
from rag.centring import LanguageMeans, centre
from rag.checksum import sha256_file
from rag.errors import IndexCorruptError
from rag.settings import Settings
from rag.store import Commit, VectorIndex, new_vector_index
from rag.store.faiss_index import FaissIndex

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.sqlite"
LOCK_FILE = ".write.lock"
VECTOR_FILES = {"chunks": "chunks-{gen}.faiss", "sentences": "sentences-{gen}.faiss"}
# What an index of the earlier format (one JSON-and-FAISS build per corpus) left; replaced by the first commit.
LEGACY_FILES = ("vectors.faiss", "chunks.json", "sentences.faiss", "sentences.json", "means.json", "manifest.json")


class LocalStore:
    """A collection in one index folder (`settings.index_dir`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.index_dir
        self.catalog = Catalog(self.folder / CATALOG_FILE)
        self.where = str(self.folder)

    def generation(self) -> int:
        """The committed generation."""
        return self.catalog.generation()

    def read(self) -> CatalogState:
        """The committed generation, from one read transaction."""
        return self.catalog.read()

    def raw_vectors(self, table: str) -> tuple[np.ndarray, np.ndarray]:
        """Ids and raw vectors of a table, in id order."""
        return self.catalog.vectors(table)

    def skipped(self) -> dict[str, tuple[int, float, str]]:
        """Unreadable folder files, as the last sync found them."""
        return self.catalog.skipped()

    def set_skipped(self, skipped: dict[str, tuple[int, float, str]]) -> None:
        """Replace the record of unreadable folder files."""
        self.catalog.set_skipped(skipped)

    def reset(self) -> str:
        """Move an unreadable catalog aside, under the write lock."""
        with self.lock():
            return str(self.catalog.move_aside())

    def indexes(
        self, state: CatalogState, means: LanguageMeans, settings: Settings, dim: int
    ) -> tuple[VectorIndex, VectorIndex, bool]:
        """The generation's FAISS files, each rebuilt from the raw vectors when missing or damaged."""
        chunks, repaired = self._vectors(state, "chunks", means.passage, dim)
        sentences, repaired_s = self._vectors(state, "sentences", means.sentence, dim)
        return chunks, sentences, repaired or repaired_s

    def _vectors(
        self, state: CatalogState, table: str, means: dict[str, list[float]], dim: int
    ) -> tuple[VectorIndex, bool]:
        rows = state.chunks if table == "chunks" else state.sentences
        if state.generation == 0:
            return new_vector_index(self.settings, np.zeros(0, np.int64), np.zeros((0, dim))), False
        path = self.folder / VECTOR_FILES[table].format(gen=state.generation)
        want = state.meta.get("files", {}).get(path.name)
        if not path.is_file() and self.generation() != state.generation:
            raise FileNotFoundError(path)
        problem = None
        if not path.is_file():
            problem = "is missing"
        elif sha256_file(path) != want:
            problem = "does not match its checksum"
        else:
            try:
                index = FaissIndex.load(path, self.settings)
            except IndexCorruptError:
                problem = "cannot be read"
            else:
                if index.count() == len(rows):
                    return index, False
                problem = f"holds {index.count()} vectors for {len(rows)} rows"
        log.warning("%s %s; rebuilt it from the catalog (the next write saves it)", path, problem)
        ids, raw = self.catalog.vectors(table)
        order = {int(i): n for n, i in enumerate(ids)}
        raw = raw[[order[r.id] for r in rows]] if rows else np.zeros((0, dim), np.float32)
        vectors = centre(raw, [r.language for r in rows], means) if self.settings.center_embeddings else raw
        return new_vector_index(self.settings, np.asarray([r.id for r in rows], np.int64), vectors), True

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive across processes (and threads); the OS releases it when its holder dies."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / LOCK_FILE).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def commit(self, change: Commit, base: tuple[VectorIndex, VectorIndex]) -> None:
        """Save the next generation's vector files, then commit the catalog naming them (under `lock`)."""
        self._clear_orphans()
        files = {}
        for table, before in zip(("chunks", "sentences"), base, strict=True):
            update = change.updates[table]
            if update.full:
                index = new_vector_index(self.settings, update.ids, update.vectors)
            else:
                index = before.for_write()
                index.delete(update.deleted)
                index.add(update.ids, update.vectors)
            path = self.folder / VECTOR_FILES[table].format(gen=change.generation)
            if not isinstance(index, FaissIndex):
                raise TypeError(f"the local store saves FAISS indexes, not {type(index).__name__}")
            index.save(path)
            files[path.name] = sha256_file(path)
        self.catalog.write(change.generation, change.meta | {"files": files}, change.add, change.remove)
        self._drop_generations(keep={change.generation, change.generation - 1})

    def _clear_orphans(self) -> None:
        """Remove what a killed write left: vector files of generations never committed, temporary files."""
        committed = self.generation()
        if committed == 0:
            for name in LEGACY_FILES:
                (self.folder / name).unlink(missing_ok=True)
        for path in self.folder.glob("*.faiss*"):
            gen = _generation_of(path)
            if path.name.endswith(".tmp") or (gen is not None and gen > committed):
                path.unlink(missing_ok=True)

    def _drop_generations(self, keep: set[int]) -> None:
        for path in self.folder.glob("*.faiss*"):
            gen = _generation_of(path)
            if gen is not None and gen not in keep:
                path.unlink(missing_ok=True)


def _generation_of(path: Path) -> int | None:
    """The generation in a vector file's name (`chunks-12.faiss`, `...faiss.tombstones`, `...faiss.tmp`)."""
    stem = path.name.split(".", 1)[0]
    _, _, number = stem.rpartition("-")
    return int(number) if number.isdigit() else None
