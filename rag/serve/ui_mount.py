"""The chat UI on the service: found through the `rag.ui` entry point group, mounted at `/` once the pipeline loads.

`rag` never imports `ui`: the `ui` package registers its builder (`ui.app:build_ui`) in `pyproject.toml`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from importlib.metadata import entry_points
from typing import Any

from fastapi import FastAPI

from rag.errors import RagError
from rag.pipeline import Pipeline
from rag.serve.service import RETRY_AFTER_S

UI_GROUP = "rag.ui"


class NoUIError(RagError):
    """The service was asked for its UI, and no package registers one."""


def ui_builder() -> Callable[[Pipeline], Any]:
    """The function that builds the Gradio UI over a pipeline, from the first entry point of `UI_GROUP`."""
    found = sorted(entry_points(group=UI_GROUP), key=lambda e: e.name)
    if not found:
        raise NoUIError(
            f"no package registers a UI in the {UI_GROUP!r} entry point group: install this project "
            "(`make install`), or serve without the UI"
        )
    builder: Callable[[Pipeline], Any] = found[0].load()
    return builder


LOADING_PAGE = f"""<!doctype html><html><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{RETRY_AFTER_S}"><title>rag-bilingual · loading</title></head>
<body style="font:16px sans-serif;margin:15vh auto;max-width:30em">
<h1>Ask the documents · 向文档提问</h1><p>Loading the index and the model… · 正在加载索引和模型…</p></body></html>"""


def mount_ui(app: FastAPI, pipe: Pipeline, demo: Any = None) -> None:
    """Mount the Gradio UI (`demo`, or one built here) at `/`."""
    import gradio as gr

    demo = demo or ui_builder()(pipe)
    gr.mount_gradio_app(app, demo, path="/", max_file_size=pipe.settings.max_upload_bytes)
    # Gradio checks that a file handed to an event was uploaded by a user only once its app counts as
    # launched, which mounting alone does not set: without this, a call to the UI's `add` could name any file
    # on the server (/etc/…, the index) and have it read. `ui.app` checks the paths it is given as well.
    demo.has_launched = True


class LateUI:
    """Mounts the UI on a server that is already running, once the pipeline has loaded.

    Gradio starts its event queue from the lifespan of the app it is mounted on; that has run by then, so its
    start-up (and, at shutdown, its clean-up) is run here instead. The UI is built on the loading thread (Gradio
    takes seconds to import) and swapped in for the loading page on the server's loop.
    """

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.started = threading.Event()
        self.stack = contextlib.AsyncExitStack()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """The app's lifespan: remember the loop; close what a late mount opened."""
        self.loop = asyncio.get_running_loop()
        self.started.set()
        async with self.stack:
            yield

    def mount(self, app: FastAPI, pipe: Pipeline) -> None:
        """From the loading thread, once the server runs: build the UI, then mount and start it on the loop."""
        demo = ui_builder()(pipe)
        self.started.wait()
        if self.loop is None:
            raise RuntimeError("the server's loop is not running")
        asyncio.run_coroutine_threadsafe(self._mount(app, pipe, demo), self.loop).result()

    async def _mount(self, app: FastAPI, pipe: Pipeline, demo: Any) -> None:
        placeholder = [r for r in app.router.routes if getattr(r, "path", None) == "/"]
        mount_ui(app, pipe, demo)
        for route in placeholder:
            app.router.routes.remove(route)
        gradio_app = app.router.routes[-1].app  # type: ignore[attr-defined]
        await self.stack.enter_async_context(gradio_app.router.lifespan_context(gradio_app))
        blocks = gradio_app.get_blocks()
        blocks.run_startup_events()
        await blocks.run_extra_startup_events()
