"""Parsed dictionaries kept under the cache folder in a form that loads in a fraction of the parse.

The query path reads jieba's word frequencies and CC-CEDICT in both directions. Parsing them takes seconds;
jieba's own cache (a marshal file in /tmp) takes 0.7 s to load. Here each is a string table: its words as one
UTF-8 blob split at newlines, with numpy arrays of counts or frequencies, in an uncompressed `.npz` (no pickle,
so a cache file can hold data only). A file is named by the sha256 of its source files and the version of the code
that parses them: a changed source or parser gets a new file, built once, and the old one is removed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import zipfile
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]

FOLDER = "dictionaries"
# Bumped when the layout of a cache file changes.
FORMAT = 1
SEPARATOR = "\n"
# jieba's prefix dictionary as jieba's own `gen_pfdict` makes it; bumped when what is kept of it changes.
JIEBA_VERSION = 1
_JIEBA_LOADING = threading.Lock()


def source_key(sources: Sequence[Path], version: str) -> str:
    """A short hex digest of the sources' bytes, the parser's `version` and this module's format."""
    digest = hashlib.sha256(f"{FORMAT}|{version}".encode())
    for path in sources:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def cached_arrays(
    cache_dir: Path, name: str, sources: Sequence[Path], version: str, build: Callable[[], Arrays]
) -> Arrays:
    """The arrays `build` makes from `sources`: from `<cache_dir>/dictionaries/<name>-<key>.npz` once it is there.

    A file that cannot be read is built again (it only saves time), with a warning that names it.
    """
    folder = cache_dir / FOLDER
    path = folder / f"{name}-{source_key(sources, version)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                return {key: stored[key] for key in stored.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            log.warning("the cached dictionary %s cannot be read (%s); parsing it again", path, exc)
    arrays = build()
    folder.mkdir(parents=True, exist_ok=True)
    # A name of this process's own: two processes building at once must not write into each other's file.
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    try:
        with tmp.open("wb") as out:
            np.savez(out, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    for old in folder.glob(f"{name}-*.npz"):
        if old != path:
            old.unlink(missing_ok=True)
    return arrays


def encode_words(words: Iterable[str]) -> np.ndarray:
    """Words as one UTF-8 blob (uint8), newline-separated; ValueError for a word that holds a newline."""
    listed = list(words)
    if any(SEPARATOR in w for w in listed):
        raise ValueError("a dictionary word holds a newline, which separates the words of a string table")
    return np.frombuffer(SEPARATOR.join(listed).encode(), dtype=np.uint8)


def decode_words(blob: np.ndarray, count: int) -> list[str]:
    """The `count` words of a blob made by `encode_words`."""
    return blob.tobytes().decode().split(SEPARATOR) if count else []


def encode_lists(mapping: dict[str, list[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A word → words mapping as its keys, the length of each key's list, and all the lists' words in order."""
    counts = np.fromiter((len(v) for v in mapping.values()), dtype=np.int64, count=len(mapping))
    return encode_words(mapping), counts, encode_words(w for v in mapping.values() for w in v)


def decode_lists(keys: np.ndarray, counts: np.ndarray, items: np.ndarray) -> dict[str, list[str]]:
    """The mapping `encode_lists` was given, in its order."""
    lengths = counts.tolist()
    words = decode_words(items, sum(lengths))
    ends = list(accumulate(lengths))
    starts = [end - n for end, n in zip(ends, lengths, strict=True)]
    heads = decode_words(keys, len(lengths))
    return {head: words[a:b] for head, a, b in zip(heads, starts, ends, strict=True)}


def jieba_dictionary() -> Path:
    """The dictionary file jieba's default tokenizer reads."""
    import jieba

    return Path(jieba.__file__).with_name(jieba.DEFAULT_DICT_NAME)


def _jieba_arrays() -> Arrays:
    import jieba

    with jieba_dictionary().open("rb") as source:
        freq, total = jieba.Tokenizer.gen_pfdict(source)
    values = np.fromiter(freq.values(), dtype=np.int64, count=len(freq))
    return {"words": encode_words(freq), "freq": values, "total": np.asarray(total, dtype=np.int64)}


def load_jieba(cache_dir: Path) -> None:
    """Give jieba's default tokenizer its prefix dictionary from the cache (made on first use) unless it has one.

    The same words and frequencies jieba parses from its `dict.txt`, so the same words come out of it.
    """
    import jieba

    tokenizer = jieba.dt
    with _JIEBA_LOADING:
        if tokenizer.initialized:
            return
        version = f"{jieba.__version__}-{JIEBA_VERSION}"
        arrays = cached_arrays(cache_dir, "jieba", [jieba_dictionary()], version, _jieba_arrays)
        freq = arrays["freq"].tolist()
        words = decode_words(arrays["words"], len(freq))
        with tokenizer.lock:
            tokenizer.FREQ = dict(zip(words, freq, strict=True))
            tokenizer.total = int(arrays["total"])
            tokenizer.initialized = True
