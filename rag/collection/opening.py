"""Bringing a collection up to date before serving from it: build it if missing, sync or rebuild it, or warn."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rag.errors import CorpusError, IndexStaleError, StorageError
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.collection import Collection

log = logging.getLogger(__name__)


def open_collection(settings: Settings, collection: Collection, sync: bool, rebuild: bool) -> None:
    """Bring the collection up to date before serving from it.

    A missing collection is built from the corpus folder. `rebuild` re-embeds everything. With `sync`, the
    corpus folder's changes are applied (only what changed is embedded), and a collection made with other
    settings is rebuilt; without it, such a collection is an error that says what to run, and a folder that
    changed only gets a warning.
    """
    folder = settings.corpus_dir
    if rebuild:
        report = collection.rebuild(folder if folder.is_dir() else None)
        log.info("rebuilt the index at %s: %d documents", settings.index_dir, len(report.added))
        return
    if not collection.exists():
        log.info("no index at %s yet: indexing the documents in %s (this happens once)", settings.index_dir, folder)
        report = collection.sync(folder)
        if not collection.exists():
            raise CorpusError(f"nothing to index in {folder}: {report.summary()}; add documents")
        log.info("indexed %s: %s", folder, report.summary())
        return
    stale = collection.stale()
    if stale is not None:
        if not sync:
            raise IndexStaleError(
                f"the index at {settings.index_dir} was built with another {stale}; run `rag index --rebuild`"
            )
        log.warning("the index was built with another %s: rebuilding it (every document is embedded again)", stale)
        collection.rebuild(folder if folder.is_dir() else None)
        return
    if not folder.is_dir():
        log.warning("corpus folder %s does not exist; serving the index as it is", folder)
        return
    if sync:
        try:
            report = collection.sync(folder)
        except StorageError as exc:
            # The committed state is whole: serve it, and say why the folder's changes wait.
            log.warning("could not sync %s (%s); answering from the index as it is", folder, exc)
            return
        if report.changed or report.skipped:
            log.info("synced %s: %s", folder, report.summary())
        return
    changes = collection.folder_changes(folder)
    if changes.any:
        log.warning(
            "the corpus folder %s changed since the index was synced (%s); answering from the index as it is. "
            "Run `rag index` to sync it.",
            folder,
            changes.summary(),
        )
