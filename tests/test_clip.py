"""Bring your own image–text model: a tiny OpenCLIP-style model in Immich's folder layout, built here.

The model is small but means something, so a search can be checked against arithmetic done in the test:
the visual encoder averages the normalised pixels per channel and maps (R, G, B) onto three orthonormal
directions of an 8-d space; the text encoder sums token vectors, and the words ``red``, ``green`` and
``blue`` are those three directions. So the text ``red`` scores an image by its mean normalised red over the
length of its mean colour vector. The visual model has Immich's fixed batch of one; the text model takes any.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from embedengine.clip import (
    ClipModel,
    ClipModelError,
    clip_method,
    clip_name,
    get_clip_model,
    image_to_image_scores,
    open_registered,
    text_to_image_scores,
    vector_settings,
)
from embedengine.errors import UserError
from embedengine.runtime import resources_dir
from embedengine.tasks import CancelToken, Cancelled
from models.cli import main as models_main

from clip_fixtures import (
    COLOURS,
    CONTEXT,
    DIM,
    MEAN,
    SIDE,
    STD,
    build_tiny_clip,
    build_visual,
    expected_colour_scores,
)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture
def models_folder(tmp_path, monkeypatch) -> Path:
    """An empty models folder of this test (add-clip writes its manifest there, not in the built models')."""
    folder = tmp_path / "models"
    monkeypatch.setenv("EMBEDSTUDIO_MODELS", str(folder))
    return folder


def cli(capsys, *argv) -> tuple[int, dict]:
    code = models_main(["models", *map(str, argv), "--json"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1, captured.out
    return code, json.loads(lines[0])


def demo_photos() -> list[Path]:
    return sorted(p for p in (resources_dir() / "images").iterdir() if p.suffix in (".jpg", ".png", ".webp"))


def solid(colour: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", (60, 40), colour)


# Pictures whose normalised mean colour lies on one axis (the other two channels at the dataset mean): the
# colour word scores them 1.0, above any photo.
PURE = {"red": (255, 117, 104), "green": (123, 255, 104), "blue": (123, 117, 255)}


# --------------------------------------------------------------------------- the whole path

def test_add_clip_then_text_to_image_search_ranks_real_photos(tiny_clip, models_folder, capsys):
    code, added = cli(capsys, "add-clip", tiny_clip, "--name", "tiny")
    assert code == 0, added
    assert added["added"] == "tiny" and added["model"]["dim"] == DIM and added["model"]["image_size"] == SIDE
    assert added["model"]["self_test"]["ok"] and added["model"]["context_length"] == CONTEXT
    record = json.loads((models_folder / "manifest.json").read_text())["clip_models"]["tiny"]
    assert record["folder"] == str(tiny_clip.resolve()) and not record["copied"]
    assert set(record["files"]) == {"config.json", "visual/model.onnx", "visual/preprocess_cfg.json",
                                    "textual/model.onnx", "textual/tokenizer.json", "textual/tokenizer_config.json"}

    code, info = cli(capsys, "info")
    assert code == 0 and info["clip_models"]["tiny"]["dim"] == DIM
    settings = vector_settings("tiny")
    assert settings["dim"] == DIM and len(settings["fingerprint"]) == 16
    assert info["clip_verification"]["tiny"] == {"ok": True, "problem": None}

    model = get_clip_model("tiny")
    assert model.method == "clip:tiny" and clip_name(model.method) == "tiny"
    photos = demo_photos()
    assert len(photos) >= 10
    vectors = model.encode_images(photos)  # real files: decoded, preprocessed, encoded
    assert vectors.shape == (len(photos), DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    for colour, word in enumerate(COLOURS):
        scores = text_to_image_scores(model, f"a {word.upper()}   photo", vectors)  # cleaned, lower-cased
        expected = [expected_colour_scores(Image.open(p), colour) for p in photos]
        # "a" and "photo" add small vectors of their own: the scores follow the photos' colours closely
        assert np.corrcoef(scores, expected)[0, 1] > 0.99, (word, scores, expected)
        plain = text_to_image_scores(model, word, vectors)
        assert np.max(np.abs(plain - expected)) < 0.02, (word, plain, expected)  # JPEG draft decoding differs a bit
        assert expected[int(np.argmax(plain))] > max(expected) - 0.02, word  # the best photo, or one as good
        assert expected[int(np.argmin(plain))] < min(expected) + 0.02, word


def test_each_colour_word_finds_its_own_picture(tiny_clip, models_folder):
    model = ClipModel.open(tiny_clip, "tiny")
    pictures = [*(solid(PURE[word]) for word in COLOURS), *demo_photos()]
    vectors = model.encode_images(pictures)
    for colour, word in enumerate(COLOURS):
        assert int(np.argmax(text_to_image_scores(model, word, vectors))) == colour, word
    # image → image: a darker copy of the blue picture is nearest the blue one
    scores = image_to_image_scores(model, solid((120, 110, 200)), vectors)
    assert int(np.argmax(scores)) == 2


def test_shortest_resize_keeps_the_centre(tiny_clip):
    """A wide picture, red in the middle third and blue at the sides: the centre crop sees only red."""
    model = ClipModel.open(tiny_clip)
    wide = np.zeros((40, 120, 3), np.uint8)
    wide[:, :, 2] = 220
    wide[:, 40:80] = (230, 20, 20)
    vector = model.encode_images([Image.fromarray(wide)])
    red, blue = (text_to_image_scores(model, word, vector)[0] for word in ("red", "blue"))
    assert red > 0.5 > blue


def test_fixed_batch_of_one_gives_the_same_vectors_as_any_batch(tiny_clip, tmp_path):
    """Immich exports take one image per call; a model taking any batch gives the same vectors."""
    shutil.copytree(tiny_clip, tmp_path / "any-batch")
    build_visual(tmp_path / "any-batch" / "visual" / "model.onnx", batch="N")
    one, many = ClipModel.open(tiny_clip), ClipModel.open(tmp_path / "any-batch")
    assert one.images.input.batch == 1 and many.images.input.batch is None
    photos = demo_photos()[:5]
    assert np.allclose(one.encode_images(photos), many.encode_images(photos, batch_size=4), atol=1e-6)


def test_progress_per_batch_and_cancel(tiny_clip):
    model = ClipModel.open(tiny_clip)
    reports = []
    model.encode_texts(["red"] * 5, progress=reports.append, batch_size=2)
    assert [(r.stage, r.done, r.total) for r in reports] == [("texts", 2, 5), ("texts", 4, 5), ("texts", 5, 5)]
    token = CancelToken()
    seen = []

    def cancel_after_first(report):
        seen.append(report.done)
        token.cancel()

    with pytest.raises(Cancelled):
        model.encode_images(demo_photos()[:3], progress=cancel_after_first, cancel=token)
    assert seen == [1]  # one image per call (Immich's fixed batch): stopped at the next one


def test_an_unreadable_image_is_reported_per_file(tiny_clip, tmp_path):
    model = ClipModel.open(tiny_clip)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    vectors, errors = model.encode_image_files([demo_photos()[0], broken])
    assert list(errors) == [1] and errors[1].reason == "not an image"
    assert np.linalg.norm(vectors[0]) == pytest.approx(1, abs=1e-5) and not vectors[1].any()


# --------------------------------------------------------------------------- wrong folders

@pytest.mark.parametrize("relative", ["visual/model.onnx", "textual/tokenizer.json", "visual/preprocess_cfg.json",
                                      "config.json", "textual/model.onnx"])
def test_a_missing_file_is_named(tiny_clip, tmp_path, relative):
    folder = shutil.copytree(tiny_clip, tmp_path / "model")
    (folder / relative).unlink()
    with pytest.raises(ClipModelError) as raised:
        ClipModel.open(folder)
    assert relative in str(raised.value) and raised.value.path == folder / relative
    assert "Immich" in raised.value.hint and "ONNX" in raised.value.hint


WRONG_FILES = {
    "visual side differs from preprocess": ("visual/model.onnx", lambda p: build_visual(p, side=48), "should be"),
    "visual width differs from embed_dim": ("visual/model.onnx", lambda p: build_visual(p, dim=12), "embed_dim"),
    "not an ONNX file": ("textual/model.onnx", lambda p: p.write_bytes(b"\x00garbage"), "cannot be loaded"),
    "tokenizer is not JSON": ("textual/tokenizer.json", lambda p: p.write_text("{"), "cannot be loaded"),
    "preprocess without mean": ("visual/preprocess_cfg.json", lambda p: p.write_text('{"size": 32, "std": 1}'),
                                "mean"),
    "unknown resize mode": ("visual/preprocess_cfg.json", lambda p: p.write_text(json.dumps(
        {"size": 32, "mean": MEAN, "std": STD, "resize_mode": "stretch"})), "resize_mode"),
    "context length differs": ("config.json", lambda p: p.write_text(json.dumps(
        {"embed_dim": DIM, "text_cfg": {"context_length": 77}})), "context length of 77 (config.json",
        "textual/model.onnx"),
    "pad token unknown": ("textual/tokenizer_config.json", lambda p: p.write_text('{"pad_token": "<pad>"}'),
                          "pad_token"),
}


@pytest.mark.parametrize("case", sorted(WRONG_FILES))
def test_a_wrong_file_is_named(tiny_clip, tmp_path, case):
    relative, change, fragment, *named = WRONG_FILES[case]
    folder = shutil.copytree(tiny_clip, tmp_path / "model")
    change(folder / relative)
    with pytest.raises(ClipModelError) as raised:
        ClipModel.open(folder)
    named_path = folder / (named[0] if named else relative)
    assert raised.value.path == named_path and str(named_path) in str(raised.value), str(raised.value)
    assert fragment in str(raised.value), str(raised.value)


def test_cli_refuses_a_bad_folder_with_exit_2_and_one_json_error(tiny_clip, tmp_path, models_folder, capsys):
    folder = shutil.copytree(tiny_clip, tmp_path / "model")
    (folder / "textual" / "model.onnx").unlink()
    code, error = cli(capsys, "add-clip", folder)
    assert code == 2
    assert error["type"] == "ClipModelError" and "textual/model.onnx is missing" in error["error"]
    assert error["path"] == str(folder / "textual" / "model.onnx") and "Immich" in error["hint"]
    assert not (models_folder / "manifest.json").exists()  # nothing recorded

    code, error = cli(capsys, "add-clip", tmp_path / "nowhere")
    assert code == 2 and "is not a folder" in error["error"]


# --------------------------------------------------------------------------- the record

def test_a_changed_file_is_caught_when_the_model_is_opened(tiny_clip, tmp_path, models_folder, capsys):
    folder = shutil.copytree(tiny_clip, tmp_path / "model")
    assert cli(capsys, "add-clip", folder, "--name", "mine")[0] == 0
    (folder / "visual" / "preprocess_cfg.json").write_text(json.dumps(
        {"size": SIDE, "mean": MEAN, "std": STD, "interpolation": "bilinear"}))
    with pytest.raises(ClipModelError, match="preprocess_cfg.json changed since the model was added"):
        open_registered("mine")
    code, info = cli(capsys, "info")
    assert code == 0 and not info["clip_verification"]["mine"]["ok"]
    assert "preprocess_cfg.json changed" in info["clip_verification"]["mine"]["problem"]


def test_copy_remove_and_names(tiny_clip, models_folder, capsys):
    code, added = cli(capsys, "add-clip", tiny_clip, "--name", "copied", "--copy")
    assert code == 0
    copy = Path(added["record"]["folder"])
    assert copy == models_folder / "clip" / "copied" and (copy / "visual" / "model.onnx").is_file()
    assert open_registered("copied").dim == DIM

    code, error = cli(capsys, "add-clip", tiny_clip.parent, "--name", "copied")
    assert code == 2  # the parent folder is no model (config.json missing)
    code, again = cli(capsys, "add-clip", tiny_clip, "--name", "bad/name")
    assert code == 2 and "cannot name" in again["error"]

    code, removed = cli(capsys, "remove-clip", "copied")
    assert code == 0 and removed["deleted_copy"] == str(copy) and not copy.exists()
    assert tiny_clip.joinpath("visual", "model.onnx").is_file()  # the user's folder is untouched
    code, error = cli(capsys, "remove-clip", "copied")
    assert code == 2 and "no CLIP model named 'copied'" in error["error"]
    with pytest.raises(UserError, match="no CLIP model named 'copied'") as raised:
        open_registered("copied")
    assert "models add-clip" in raised.value.hint


def test_a_name_taken_by_another_folder_needs_replace(tiny_clip, tmp_path, models_folder, capsys):
    other = shutil.copytree(tiny_clip, tmp_path / "other")
    assert cli(capsys, "add-clip", tiny_clip, "--name", "same")[0] == 0
    code, error = cli(capsys, "add-clip", other, "--name", "same")
    assert code == 2 and "already added" in error["error"]
    code, added = cli(capsys, "add-clip", other, "--name", "same", "--replace")
    assert code == 0 and added["record"]["folder"] == str(other.resolve())


def test_clip_method_names():
    assert clip_method("ViT-B-32__openai") == "clip:ViT-B-32__openai"
    assert clip_name("clip:ViT-B-32__openai") == "ViT-B-32__openai" and clip_name("resnet50") is None
