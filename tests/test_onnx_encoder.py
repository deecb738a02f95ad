from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from rag.embedding import FastQueryEmbedder, load_embedder
from rag.onnx_encoder import INT8_FILE, ONNX_FILE
from rag.settings import Settings

WORDS = ["<unk>", "<pad>", "silk", "road", "fund", "trade", "丝", "路", "基", "金", "query:"]
DIM = 64  # wide enough that int8 rounding averages out per output channel, as in a real model
QUESTIONS = [
    "When was the Silk Road Fund set up?",
    "How much did trade between China and the countries along the route grow?",
    "丝路基金是哪一年成立的？",
    "亚投行批准了多少个项目？",
]


def _tiny_model(folder: Path) -> None:
    """A converted-model folder whose export is a small mean-pooled embedding with one linear layer."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder.mkdir(parents=True)
    (folder / "modules.json").write_text("[]")
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(folder / "tokenizer.json"))
    rng = np.random.default_rng(0)
    table = numpy_helper.from_array(rng.normal(size=(len(WORDS), DIM)).astype(np.float32), "table")
    weight = numpy_helper.from_array(rng.normal(size=(DIM, DIM)).astype(np.float32), "weight")
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["emb"]),
        helper.make_node("MatMul", ["emb", "weight"], ["hidden"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "last"], ["mask3"]),
        helper.make_node("Mul", ["hidden", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axes"], ["summed"], keepdims=0),
        helper.make_node("LpNormalization", ["summed"], ["embedding"], axis=-1, p=2),
    ]
    last = numpy_helper.from_array(np.array([-1], np.int64), "last")
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", DIM])],
        [table, weight, axes, last],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    # The IR version of the opset, not the newest onnx knows: ONNX Runtime may read only older ones.
    model.ir_version = 8
    onnx.save(model, str(folder / ONNX_FILE))


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny model as the converted e5-small; its folder."""
    folder = tmp_path / "model"
    _tiny_model(folder)
    monkeypatch.setattr("rag.embedding.converted_e5_path", lambda settings: folder)
    return folder


def test_the_setting_selects_the_int8_copy(tiny: Path) -> None:
    fp32 = load_embedder(Settings(cache_dir=tiny.parent))
    int8 = load_embedder(Settings(cache_dir=tiny.parent, query_engine="int8"))
    assert isinstance(fp32, FastQueryEmbedder) and isinstance(int8, FastQueryEmbedder)
    assert fp32.queries.path == tiny / ONNX_FILE and int8.queries.path == tiny / INT8_FILE
    a, b = fp32.encode_queries(["silk road fund"]), int8.encode_queries(["silk road fund"])
    assert a.shape == b.shape == (1, DIM) and not np.array_equal(a, b)
    assert float(a[0] @ b[0]) > 0.95


def test_the_int8_copy_is_made_once_then_reused(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime.quantization

    calls: list[Any] = []
    quantize = onnxruntime.quantization.quantize_dynamic

    def counted(*args: Any, **kwargs: Any) -> None:
        calls.append(args)
        quantize(*args, **kwargs)

    monkeypatch.setattr(onnxruntime.quantization, "quantize_dynamic", counted)
    settings = Settings(cache_dir=tiny.parent, query_engine="int8")
    load_embedder(settings)
    made = (tiny / INT8_FILE).stat()
    again = load_embedder(settings)
    assert len(calls) == 1 and (tiny / INT8_FILE).stat().st_mtime_ns == made.st_mtime_ns
    assert again.encode_queries(["trade"]).shape == (1, DIM)
    # Written beside the export under a temporary name and renamed into place: nothing else is left.
    assert sorted(p.name for p in tiny.iterdir()) == sorted(["modules.json", "tokenizer.json", ONNX_FILE, INT8_FILE])


def test_int8_is_refused_for_another_embedder() -> None:
    with pytest.raises(ValidationError, match="RAG_QUERY_ENGINE=int8"):
        Settings(embedder="e5-small-q4", query_engine="int8")


@pytest.mark.e2e
def test_int8_vectors_stay_close_to_fp32_in_both_languages() -> None:
    fp32 = load_embedder(Settings()).encode_queries(QUESTIONS)
    int8 = load_embedder(Settings(query_engine="int8")).encode_queries(QUESTIONS)
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-4)
    assert float((fp32 * int8).sum(axis=1).min()) >= 0.98


@pytest.mark.e2e
def test_a_batch_of_question_and_translation_gives_the_vectors_of_two_calls() -> None:
    embedder = load_embedder(Settings())
    pair = ["丝路基金是哪一年成立的？", "silk road fund year founded"]
    together = embedder.encode_queries(pair)
    alone = np.vstack([embedder.encode_queries([text]) for text in pair])
    assert np.abs(together - alone).max() <= 1e-5
