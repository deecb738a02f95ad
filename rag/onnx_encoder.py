"""The query encoder of the serving path: the converted e5 model exported once to ONNX, run with ONNX Runtime.

The same fp32 weights and the same tokenizer as the sentence-transformers model, so the vectors match it (cosine
1.0000 on the seeds' questions), at about half its time for a short query batch and without importing torch:
`rag serve` and `rag ask` load this, and torch only when passages are embedded. The export needs torch, once,
next to the converted model in the cache. Beside it, made once from it, a dynamically quantized int8 copy
(`RAG_QUERY_ENGINE=int8`): faster again on CPUs with int8 dot products, at a cosine of about 0.99 to fp32.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import ModelError

if TYPE_CHECKING:
    import onnxruntime as ort

log = logging.getLogger(__name__)

ONNX_FILE = "encoder.onnx"
# Named by its recipe, so that a copy made by an older one is not taken for it: the matrix products' weights
# quantized per output channel (the embedding tables and the rest stay fp32). Against the fp32 export on the eval
# questions, on a 2-core AVX2 machine: cosine 0.996 (min 0.991), where quantizing every op per tensor gave 0.989
# (min 0.983), at about the same speed (10.8–12.1 against 12.2–12.7 ms a question; fp32 20.4 ms).
INT8_FILE = "encoder-int8-matmul-pc.onnx"
OPSET = 17


def export_onnx(model_folder: Path) -> Path:
    """Write `encoder.onnx` (token ids and mask → mean-pooled, normalized vector) into a converted model's folder."""
    import torch
    from transformers import AutoModel

    target = model_folder / ONNX_FILE
    log.info("exporting the query encoder to %s (once)", target)
    model = AutoModel.from_pretrained(model_folder).eval()

    class Pooled(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    ids = torch.ones((2, 8), dtype=torch.int64)
    # A name of this process's own: two processes exporting at once must not rename each other's file away.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with torch.no_grad():
            torch.onnx.export(
                Pooled(model),
                (ids, torch.ones_like(ids)),
                str(tmp),
                input_names=["input_ids", "attention_mask"],
                output_names=["embedding"],
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}},
                opset_version=OPSET,
                dynamo=False,
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def quantize_int8(model_folder: Path) -> Path:
    """Write `INT8_FILE`: the fp32 export with its matrix products' weights in int8 per output channel.

    Activations are quantized per call (dynamic quantization), after ONNX Runtime's pre-processing (graph
    optimization; the symbolic shape pass cannot read the export's `Min(512, tokens)` and is skipped).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = model_folder / ONNX_FILE
    if not source.is_file():
        raise ModelError(f"{source} is missing; it is exported from the converted model on first use")
    target = model_folder / INT8_FILE
    log.info("quantizing the query encoder to int8 in %s (once)", target)
    # A name of this process's own: two processes quantizing at once must not write into each other's file.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    pre = target.with_name(f".{target.name}.{os.getpid()}.pre.tmp")
    try:
        quant_pre_process(str(source), str(pre), skip_symbolic_shape=True)
        quantize_dynamic(pre, tmp, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], per_channel=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        pre.unlink(missing_ok=True)
    return target


class OnnxEncoder:
    """Embeds texts with an ONNX export (`file` in the folder) and the model's own `tokenizer.json`.

    The prefix is the caller's.
    """

    def __init__(self, model_folder: Path, max_tokens: int, threads: int, file: str = ONNX_FILE) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.path = model_folder / file
        path = self.path
        if not path.is_file():
            raise ModelError(f"{path} is missing; it is made from the converted model on first use")
        options = ort.SessionOptions()
        # Threads as the cores we may use: more would fight each other for them under concurrent requests.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle threads that spin waiting for the next request take the cores from the rest of the request.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # Building the session (about 1 s: reading 470 MB, optimizing the graph) lets go of the interpreter lock,
        # so it runs on a thread of its own while this one, and the caller after it, load what needs the lock
        # (the tokenizer's 17 MB of JSON, the dictionaries).
        pool = ThreadPoolExecutor(1, thread_name_prefix="onnx-session")
        self._session = pool.submit(ort.InferenceSession, str(path), options, providers=["CPUExecutionProvider"])
        pool.shutdown(wait=False)  # its thread ends once the session is built
        self.tokenizer = Tokenizer.from_file(str(model_folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("<pad>") or 1)

    @property
    def session(self) -> ort.InferenceSession:
        """The ONNX Runtime session, once built; its error, should building it have failed."""
        return self._session.result()

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, one row per text."""
        if not texts:
            return np.zeros((0, 0), np.float32)
        batch = self.tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in batch], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in batch], dtype=np.int64)
        out = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return np.asarray(out, dtype=np.float32)
