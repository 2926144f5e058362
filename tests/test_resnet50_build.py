"""The ResNet50 ONNX build: parity with TF.js, the graph's interface, and the Keras→ONNX converter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from embedengine.runtime import cache_dir, make_session
from models.fetch import RESNET_PACKAGE
from models.resnet50 import TfjsPackage, convert, parse_labels, read_package, same_pads, write_model


@pytest.fixture(scope="module")
def reference(fixtures_dir):
    return np.load(fixtures_dir / "resnet50_tfjs_reference.npz")


@pytest.fixture(scope="module")
def session(models_dir):
    return make_session(models_dir / "resnet50.onnx", providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def outputs(session, reference):
    return session.run(["embedding", "probs"], {"image": reference["inputs_rgb_u8_nhwc"]})


def test_embedding_matches_tfjs_reference(outputs, reference):
    embedding, _ = outputs
    assert embedding.shape == (6, 2048) and embedding.dtype == np.float32
    assert np.abs(embedding - reference["tfjs_embedding"]).max() <= 1e-4


def test_top1_matches_tfjs_on_all_photos(outputs, reference, models_dir):
    _, probs = outputs
    assert np.array_equal(probs.argmax(1), reference["tfjs_probs"].argmax(1))
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    labels = json.loads((models_dir / "labels.json").read_text())
    top1 = {str(name): labels[i] for name, i in zip(reference["names"], probs.argmax(1))}
    china = next(name for name in top1 if name.endswith("china"))
    assert (top1["chelsea"], top1["coffee"], top1[china]) == ("Egyptian cat", "espresso", "palace")


def test_model_interface_and_batch_independence(models_dir, session, reference):
    model = onnx.load(str(models_dir / "resnet50.onnx"), load_external_data=False)
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) == 17
    (image,) = session.get_inputs()
    assert (image.name, image.type, image.shape[1:]) == ("image", "tensor(uint8)", [224, 224, 3])
    assert [o.name for o in session.get_outputs()] == ["embedding", "probs"]
    one = session.run(["embedding"], {"image": reference["inputs_rgb_u8_nhwc"][2:3]})[0]
    three = session.run(["embedding"], {"image": reference["inputs_rgb_u8_nhwc"][:3]})[0]
    assert np.abs(one[0] - three[2]).max() < 1e-4


def test_labels_file_has_readable_imagenet_names(models_dir):
    labels = json.loads((models_dir / "labels.json").read_text())
    assert len(labels) == 1000 and len(set(labels)) >= 998
    assert labels[0] == "tench" and labels[285] == "Egyptian cat"
    assert not any("_" in name for name in labels)


def test_parse_labels_orders_numeric_keys():
    raw = {str(i): f"class_{9 - i}" for i in range(10)}
    assert parse_labels(raw)[:2] == ["class 9", "class 8"]
    assert parse_labels(["a_b", "c"]) == ["a b", "c"]


@pytest.mark.parametrize(
    "size, kernel, stride, expected",
    [(224, 3, 1, (1, 1)), (224, 3, 2, (0, 1)), (225, 3, 2, (1, 1)), (224, 1, 2, (0, 0)), (7, 7, 2, (3, 3)), (8, 7, 2, (2, 3))],
)
def test_same_padding_puts_the_odd_pixel_after(size, kernel, stride, expected):
    assert same_pads(size, kernel, stride) == expected


# --------------------------------------------------------------------------- converter on a small graph

def _layer(name: str, kind: str, inbound: list[str], **config) -> dict:
    nodes = [[[source, 0, 0, {}] for source in inbound]] if inbound else []
    return {"name": name, "class_name": kind, "config": {"name": name, **config}, "inbound_nodes": nodes}


def _conv_nhwc(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int, pads: tuple) -> np.ndarray:
    """Plain numpy convolution, NHWC with an HWIO kernel; pads = (top, bottom, left, right)."""
    top, bottom, left, right = pads
    x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(x, kernel.shape[:2], axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("nijcab,abco->nijo", windows, kernel) + bias


def _small_package(rng: np.random.Generator) -> tuple[TfjsPackage, dict]:
    """Input → ZeroPadding → Conv(valid) → BN → ReLU → MaxPool → Conv(same, stride 2) + skip → GAP → Dense softmax."""
    conv = dict(padding="valid", strides=[1, 1], use_bias=True, activation="linear", dilation_rate=[1, 1])
    layers = [
        _layer("input_1", "InputLayer", [], batch_input_shape=[None, 20, 21, 3]),
        _layer("pad", "ZeroPadding2D", ["input_1"], padding=[[1, 1], [2, 2]]),
        _layer("c1", "Conv2D", ["pad"], filters=4, kernel_size=[3, 3], **conv),
        _layer("bn1", "BatchNormalization", ["c1"], axis=[3], epsilon=1e-3, center=True, scale=True),
        _layer("relu1", "Activation", ["bn1"], activation="relu"),
        _layer("pool", "MaxPooling2D", ["relu1"], pool_size=[2, 2], strides=[2, 2], padding="valid"),
        _layer("c2", "Conv2D", ["pool"], filters=4, kernel_size=[3, 3], **{**conv, "padding": "same", "strides": [2, 2]}),
        _layer("c3", "Conv2D", ["pool"], filters=4, kernel_size=[1, 1], **{**conv, "strides": [2, 2]}),
        _layer("sum", "Add", ["c2", "c3"]),
        _layer("avg_pool", "GlobalAveragePooling2D", ["sum"]),
        _layer("fc", "Dense", ["avg_pool"], units=5, activation="softmax", use_bias=True),
    ]
    weights = {
        "c1/kernel": rng.normal(size=(3, 3, 3, 4)), "c1/bias": rng.normal(size=4),
        "bn1/gamma": rng.uniform(0.5, 2, 4), "bn1/beta": rng.normal(size=4),
        "bn1/moving_mean": rng.normal(size=4), "bn1/moving_variance": rng.uniform(0.5, 2, 4),
        "c2/kernel": rng.normal(size=(3, 3, 4, 4)), "c2/bias": rng.normal(size=4),
        "c3/kernel": rng.normal(size=(1, 1, 4, 4)), "c3/bias": rng.normal(size=4),
        "fc/kernel": rng.normal(size=(4, 5)) * 0.01, "fc/bias": rng.normal(size=5),
    }
    weights = {k: v.astype(np.float32) for k, v in weights.items()}
    return TfjsPackage(layers, "fc", weights, [f"class {i}" for i in range(5)]), weights


def _small_reference(image: np.ndarray, w: dict) -> tuple[np.ndarray, np.ndarray]:
    x = image[..., ::-1].astype(np.float64) - np.array([103.939, 116.779, 123.68])
    x = _conv_nhwc(x, w["c1/kernel"], w["c1/bias"], 1, (1, 1, 2, 2))
    x = (x - w["bn1/moving_mean"]) / np.sqrt(w["bn1/moving_variance"] + 1e-3) * w["bn1/gamma"] + w["bn1/beta"]
    x = np.maximum(x, 0)
    n, h, wd, c = x.shape
    x = x[:, :h // 2 * 2, :wd // 2 * 2].reshape(n, h // 2, 2, wd // 2, 2, c).max(axis=(2, 4))
    same = (*same_pads(x.shape[1], 3, 2), *same_pads(x.shape[2], 3, 2))  # TF: odd padding goes bottom/right
    x = _conv_nhwc(x, w["c2/kernel"], w["c2/bias"], 2, same) + _conv_nhwc(x, w["c3/kernel"], w["c3/bias"], 2, (0, 0, 0, 0))
    features = x.mean(axis=(1, 2))
    logits = features @ w["fc/kernel"] + w["fc/bias"]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    return features, probs / probs.sum(1, keepdims=True)


def test_converter_matches_numpy_keras_semantics(tmp_path):
    rng = np.random.default_rng(0)
    package, weights = _small_package(rng)
    model, folded = convert(package)
    assert folded == 1
    assert "BatchNormalization" not in {node.op_type for node in model.graph.node}
    path = tmp_path / "small.onnx"
    onnx.save(model, str(path))
    image = rng.integers(0, 256, size=(2, 20, 21, 3), dtype=np.uint8)
    embedding, probs = make_session(path, providers=["CPUExecutionProvider"]).run(["embedding", "probs"], {"image": image})
    expected_embedding, expected_probs = _small_reference(image, weights)
    scale = np.abs(expected_embedding).max()
    assert np.abs(embedding - expected_embedding).max() <= 1e-4 * scale
    assert np.abs(probs - expected_probs).max() <= 1e-4


def test_converter_rejects_unknown_layers():
    package, _ = _small_package(np.random.default_rng(1))
    package.layers.insert(1, _layer("mystery", "LSTM", ["input_1"]))
    with pytest.raises(NotImplementedError, match="LSTM"):
        convert(package)


# --------------------------------------------------------------------------- the real package

@pytest.fixture(scope="module")
def package_file() -> Path:
    path = cache_dir() / "packages" / RESNET_PACKAGE.filename
    if not path.exists():
        pytest.skip(f"{path} is absent (the models were built from elsewhere with --from)")
    return path


@pytest.fixture(scope="module")
def package(package_file) -> TfjsPackage:
    return read_package(package_file)


def test_read_package_slices_all_320_tensors(package):
    assert len(package.weights) == 320
    assert sum(w.size for w in package.weights.values()) == 25_636_712
    assert package.weights["conv1/kernel"].shape == (7, 7, 3, 64)
    assert package.weights["fc1000/kernel"].shape == (2048, 1000)
    assert package.output_layer == "fc1000" and len(package.labels) == 1000


def test_write_model_leaves_model_labels_and_parity(package, tmp_path, fixtures_dir, monkeypatch):
    import models.resnet50 as resnet50

    check = resnet50.parity_against_fixture  # checks against the copy in tests/fixtures, not ../shared
    monkeypatch.setattr(resnet50, "parity_against_fixture", lambda model_path, labels: check(
        model_path, labels, fixture=fixtures_dir / "resnet50_tfjs_reference.npz"))
    messages = []
    info = write_model(package, tmp_path, lambda p: messages.append(p.message))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.json", "resnet50.onnx"]  # no temp files left
    assert info["batchnorms_folded"] == 53 and info["opset"] == 17
    assert info["parity"]["embedding_max_abs"] <= 1e-4 and info["parity"]["top1_agree"] == 6
    assert messages and all(isinstance(m, str) and m for m in messages)
