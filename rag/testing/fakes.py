"""A fake embedder: deterministic vectors in microseconds, no model weights, no torch.

`RAG_EMBEDDER=fake-hash-64` selects it, so that a test can start `rag` processes that never load the real model.
Its vectors are a hashed bag of words and characters: similar wording retrieves, meaning and translation do not.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

FAKE_EMBEDDER = "fake-hash-64"
TOKEN = re.compile(r"[a-z0-9]+|[\u4e00-\u9fff]")


class FakeEmbedder:
    """A tiny deterministic embedder for fast tests: hashed bag of words and characters, unit length."""

    id = FAKE_EMBEDDER
    dim = 64
    max_tokens = 512

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for tok in TOKEN.findall(text.lower()):
            v[int(hashlib.md5(tok.encode()).hexdigest(), 16) % self.dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """One hashed unit vector per text (queries and passages alike)."""
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        """The same vectors as for queries: the fake has no prefixes."""
        return self.encode_queries(texts)

    def encode_passages_pooled(
        self, texts: list[str], spans: list[list[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passages, and each span's vector as the span's own (a bag of words has no context to read it in)."""
        pooled = [
            self.encode_passages([t[a:b] for a, b in s]).reshape(len(s), self.dim)
            for t, s in zip(texts, spans, strict=True)
        ]
        return self.encode_passages(texts), pooled

    def count_tokens(self, text: str) -> int:
        """Whitespace words plus the two special tokens a real model adds."""
        return len(text.split()) + 2
