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

from rag.catalog import Catalog
from rag.centring import LanguageMeans, centre
from rag.checksum import sha256_file
from rag.errors import IndexCorruptError
from rag.feedback import Feedback
from rag.settings import Settings
from rag.storage import check_room, removed_on_failure, storage_faults
from rag.store import TABLES, VectorIndex, new_vector_index, raw_rows
from rag.store.faiss_index import FaissIndex
from rag.store.records import CatalogState, Commit

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.sqlite"
LOCK_FILE = ".write.lock"
VECTOR_FILES = {"chunks": "chunks-{gen}.faiss", "sentences": "sentences-{gen}.faiss"}
# Sizes for `write_bytes`: a float32, an int64 id or graph link; a document's text is stored about this many
# times over (the text, its chunks' clean text with their overlap, their tokens, its sentences).
FLOAT_BYTES = 4
ID_BYTES = 8
CATALOG_TEXT_COPIES = 5
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
        """Replace the record of unreadable folder files (when the disk keeps `min_free_bytes` free)."""
        with storage_faults(self.folder):
            check_room(self.folder, 0, self.settings.min_free_bytes)
            self.catalog.set_skipped(skipped)

    def add_feedback(self, item: Feedback) -> None:
        """Record a rating in the catalog (when the disk keeps `min_free_bytes` free), under the write lock.

        Under the lock, so that it cannot land in a catalog a rebuild is setting aside.
        """
        with self.lock(), storage_faults(self.folder):
            check_room(self.folder, 0, self.settings.min_free_bytes)
            self.catalog.add_feedback(item)

    def feedback(self) -> list[Feedback]:
        """Every rating in the catalog, oldest first."""
        return self.catalog.feedback()

    def reset(self) -> str:
        """Move an unreadable catalog aside, under the write lock."""
        with self.lock(), storage_faults(self.folder):
            return str(self.catalog.move_aside())

    def salvage(self) -> list[tuple[str, str]] | None:
        """Names and sources of the documents of an unreadable catalog, when that much of it reads."""
        return self.catalog.salvage()

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
        raw = raw_rows(self, table, rows, dim)
        vectors = centre(raw, [r.language for r in rows], means, self.settings.center_embeddings)
        return new_vector_index(self.settings, np.asarray([r.id for r in rows], np.int64), vectors), True

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive across processes (and threads); the OS releases it when its holder dies."""
        with storage_faults(self.folder):
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = (self.folder / LOCK_FILE).open("a")
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def commit(self, change: Commit, base: tuple[VectorIndex, VectorIndex]) -> None:
        """Save the next generation's vector files, then commit the catalog naming them (under `lock`).

        First the disk must have room for the write and `min_free_bytes` more; a write that fails all the same
        removes the files it wrote. Storage faults raise their `StorageError`.
        """
        with storage_faults(self.folder):
            self._clear_orphans()
            check_room(self.folder, write_bytes(change, base, self.settings), self.settings.min_free_bytes)
            files = {}
            written: list[Path] = []
            with removed_on_failure(written):
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
                    written += [path, path.with_name(path.name + ".tombstones")]
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


def write_bytes(change: Commit, base: tuple[VectorIndex, VectorIndex], settings: Settings) -> int:
    """About how many bytes `change` writes: the next generation's vector files, and its catalog rows twice.

    Twice, since SQLite writes a transaction's pages to the WAL first and into the catalog file at the next
    checkpoint. An estimate from above: a vector costs what an HNSW graph over floats stores for it.
    """
    vectors = 0
    for table, before in zip(TABLES, base, strict=True):
        update = change.updates[table]
        count = len(update.ids) if update.full else before.count() - len(update.deleted) + len(update.ids)
        dim = update.vectors.shape[1] if update.vectors.ndim == 2 else 0
        vectors += count * (dim * FLOAT_BYTES + ID_BYTES + 2 * settings.hnsw_m * ID_BYTES)
    rows = sum(
        len(d.record.text.encode()) * CATALOG_TEXT_COPIES + d.chunk_vectors.nbytes + d.sentence_vectors.nbytes
        for d in change.add
    )
    return vectors + 2 * rows


def _generation_of(path: Path) -> int | None:
    """The generation in a vector file's name (`chunks-12.faiss`, `...faiss.tombstones`, `...faiss.tmp`)."""
    stem = path.name.split(".", 1)[0]
    _, _, number = stem.rpartition("-")
    return int(number) if number.isdigit() else None
