"""The corpus folder: its files, and how they differ from the documents synced from it before.

A sync adds what is new, replaces what changed and deletes what went; files that could not be read are
remembered with their size and time, so that an unchanged one is not read again at every sync.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rag.checksum import sha256_file
from rag.errors import CorpusError
from rag.ingest import SUPPORTED
from rag.store.records import DocumentRecord

# A file that could not be read: name → (size, mtime, why).
Skipped = dict[str, tuple[int, float, str]]


@dataclass(frozen=True)
class FolderChanges:
    """How a corpus folder differs from the documents synced from it before."""

    new: list[Path]
    changed: list[Path]
    gone: list[str]
    unsupported: list[Path]
    # (name, why) of files that could not be read when last tried and have not changed since.
    failing: list[tuple[str, str]] = field(default_factory=list)

    @property
    def any(self) -> bool:
        """Whether a sync would change the collection."""
        return bool(self.new or self.changed or self.gone)

    def summary(self) -> str:
        """One line for a log or a terminal."""
        return f"{len(self.new)} new, {len(self.changed)} changed, {len(self.gone)} gone"


def folder_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """The files of a corpus folder: those of a supported type, and the others (hidden files ignored)."""
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {folder} does not exist; set RAG_CORPUS_DIR or --corpus")
    root = folder.resolve()
    supported: list[Path] = []
    other: list[Path] = []
    for p in sorted(folder.iterdir()):
        # A symlink that leads out of the corpus folder is not part of the corpus.
        if p.name.startswith(".") or not p.is_file() or not p.resolve().is_relative_to(root):
            continue
        (supported if p.suffix.lower() in SUPPORTED else other).append(p)
    return supported, other


def unsupported(paths: Iterable[Path]) -> list[tuple[str, str]]:
    """(name, why) of files of a type no reader takes."""
    return [(p.name, f"unsupported type {p.suffix or '(none)'}") for p in paths]


def folder_changes(folder: Path, documents: list[DocumentRecord], skipped: Skipped) -> FolderChanges:
    """New, changed and vanished files of `folder` against `documents` (those of a store) and its `skipped`.

    Size and modification time decide first; a file whose size or time differs is hashed, and counts as
    changed only when its bytes did.
    """
    supported, other = folder_files(folder)
    state_docs = {r.name: r for r in documents}
    new, changed, failing = [], [], []
    for path in supported:
        # Stored names are in NFC; a file named in another form (macOS writes NFD) is the same document.
        record = state_docs.get(unicodedata.normalize("NFC", path.name))
        stat = path.stat()
        if record is None:
            known = skipped.get(path.name)
            if known and known[:2] == (stat.st_size, stat.st_mtime):
                failing.append((path.name, known[2]))
            else:
                new.append(path)
            continue
        if record.size == stat.st_size and record.mtime == stat.st_mtime:
            continue
        if sha256_file(path) != record.sha256:
            changed.append(path)
    names = {unicodedata.normalize("NFC", p.name) for p in supported}
    gone = [n for n, r in state_docs.items() if r.source == "folder" and n not in names]
    return FolderChanges(new, changed, gone, other, failing)


def still_skipped(changes: FolderChanges, tried: list[Path], failed: dict[str, str], before: Skipped) -> Skipped:
    """The record of unreadable files after a sync: those still failing unchanged, and those that failed now."""
    known = {n: v for n, v in before.items() if n in dict(changes.failing)}
    for path in tried:
        if path.name in failed:
            stat = path.stat()
            known[path.name] = (stat.st_size, stat.st_mtime, failed[path.name])
    return known
