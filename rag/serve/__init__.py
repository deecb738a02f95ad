"""The serving stage: the HTTP service over a pipeline, and what stands at its edge.

- `app`: the FastAPI app, its `/v1` routes and `/healthz`, and the views citations open (`views`);
- `models`: the JSON bodies; `openai_compat`: the OpenAI-compatible routes;
- `service`: the pipeline, loaded in the background while the server already listens;
- `auth`, `browser_guard`, `limits`: the token gate, host and origin checks, body limit and admission;
- `errors`: each error's status and body; `uploads`: multipart uploads and their streamed progress;
- `ui_mount`: the chat UI, found through the `rag.ui` entry point group (`rag` never imports `ui`).
"""
