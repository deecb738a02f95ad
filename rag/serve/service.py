"""The running service's pipeline: handed over ready, or loaded in the background while the server already listens.

`rag serve` binds its port at once and says `loading` on `/healthz` (503) while the index, the model and the
dictionaries load; routes that need the pipeline answer 503 with `Retry-After` meanwhile. Then `/healthz` says
`ready` (200), and the chat UI, which takes longest to import, is mounted after that.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from rag.errors import RagError
from rag.pipeline import Pipeline
from rag.settings import Settings

log = logging.getLogger(__name__)

RETRY_AFTER_S = 2


class ServiceUnavailableError(RagError):
    """The service is still loading (or failed to load) its pipeline."""


class Service:
    """Holds the pipeline the routes answer from, once there is one."""

    def __init__(self, settings: Settings, pipe: Pipeline | None = None) -> None:
        self.settings = settings
        self.pipe = pipe
        self.failure: str | None = None
        self.ui_ready = False
        self._thread: threading.Thread | None = None

    @property
    def status(self) -> str:
        """What `/healthz` says: ready, loading or failed."""
        if self.pipe is not None:
            return "ready"
        return "failed" if self.failure is not None else "loading"

    def __call__(self) -> Pipeline:
        """The pipeline; ServiceUnavailableError while there is none."""
        if self.pipe is None:
            why = f"it failed to load: {self.failure}" if self.failure else "it is loading the index"
            raise ServiceUnavailableError(f"the service is not ready: {why}; retry in a few seconds")
        return self.pipe

    def load_in_background(
        self, load: Callable[[Settings], Pipeline], then: Callable[[Pipeline], None], failed: Callable[[str], None]
    ) -> None:
        """Load the pipeline on a thread; call `then` with it, or `failed` with the reason."""

        def run() -> None:
            try:
                pipe = load(self.settings)
            except RagError as exc:
                self.failure = str(exc)
                failed(self.failure)
                return
            except Exception as exc:
                log.exception("loading the pipeline failed")
                self.failure = f"{type(exc).__name__} (the log has the details)"
                failed(self.failure)
                return
            self.pipe = pipe
            log.info("ready: %d documents, %d chunks", len(pipe.document_infos()), len(pipe.stored.chunks))
            then(pipe)

        self._thread = threading.Thread(target=run, name="load-pipeline", daemon=True)
        self._thread.start()
