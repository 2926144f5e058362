"""ImageEncoder on real files the tests write: modes, EXIF, broken files, batching, order, cancel."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from embedengine.errors import UserError
from embedengine.image import (
    FAITHFUL_DRAFT_SIDE,
    HEIC,
    IMAGE_EXTENSIONS,
    KNOWN_IMAGE_EXTENSIONS,
    RAW,
    ImageEncoder,
    ImageLoadError,
    decode_image,
    get_image_encoder,
    load_image,
    make_thumbnail,
    preprocess,
)
from embedengine.tasks import CancelToken, Cancelled

ORIENTATION = 0x0112
ROOT = Path(__file__).resolve().parents[1]
DEMO_PHOTOS = ROOT / "resources" / "images"


@pytest.fixture(scope="module")
def encoder(models_dir) -> ImageEncoder:
    return ImageEncoder(providers=["CPUExecutionProvider"], threads=2)


@pytest.fixture(scope="module")
def photos(fixtures_dir) -> dict[str, np.ndarray]:
    """The six reference photos (224×224 RGB) by short name."""
    data = np.load(fixtures_dir / "resnet50_tfjs_reference.npz")
    return {str(name).replace("sklearn_", ""): array for name, array in zip(data["names"], data["inputs_rgb_u8_nhwc"])}


@pytest.fixture(scope="module")
def files(tmp_path_factory, photos) -> dict[str, Path]:
    """Good and bad image files, written once for the module."""
    folder = tmp_path_factory.mktemp("images")
    written = {}
    for name in ("chelsea", "coffee", "china"):
        written[name] = folder / f"{name}.png"
        Image.fromarray(photos[name]).save(written[name])
    written.update(_bad_files(folder, photos["coffee"]))
    return written


def _bad_files(folder: Path, pixels: np.ndarray) -> dict[str, Path]:
    good_jpeg = _jpeg_bytes(Image.fromarray(pixels).resize((480, 480)))
    png = folder / "source.png"
    Image.fromarray(pixels).save(png)
    raw = bytearray(png.read_bytes())
    idat = raw.index(b"IDAT")
    raw[idat + 40: idat + 400] = bytes(360)  # zeros inside the compressed pixel data
    contents = {
        "corrupt": ("corrupt.png", bytes(raw)),
        "truncated": ("truncated.jpg", good_jpeg[: len(good_jpeg) // 2]),
        "empty": ("empty.jpg", b""),
        "text": ("notes.jpg", b"This is a shopping list, not a photo.\n" * 20),
        "bomb": ("bomb.png", _png_header_only(40_000, 40_000)),
    }
    written = {}
    for key, (name, data) in contents.items():
        written[key] = folder / name
        written[key].write_bytes(data)
    return written


def _jpeg_bytes(image: Image.Image, **options) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, **options)
    return buffer.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG file claiming a huge size: the classic decompression bomb."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


def cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --------------------------------------------------------------------------- labels and preprocessing

def test_labels_from_files_name_the_photos(encoder, files):
    labels = encoder.labels_for([files["chelsea"], files["coffee"], files["china"]], k=3)
    assert [top[0][0] for top in labels] == ["Egyptian cat", "espresso", "palace"]
    for top in labels:
        scores = [score for _, score in top]
        assert len(top) == 3 and scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0001


def test_preprocess_centre_crops_without_resizing_at_256(photos):
    canvas = np.asarray(Image.fromarray(photos["china"]).resize((320, 256)))
    out = preprocess(Image.fromarray(canvas))
    assert out.dtype == np.uint8 and out.shape == (224, 224, 3)
    assert np.array_equal(out, canvas[16:240, 48:272])


@pytest.mark.parametrize("size", [(1000, 300), (300, 1000), (224, 224), (50, 40)])
def test_preprocess_any_aspect_gives_model_input(size):
    image = Image.new("RGB", size, (10, 200, 30))
    out = preprocess(image)
    assert out.shape == (224, 224, 3) and (out == (10, 200, 30)).all()


@pytest.mark.parametrize("size", [(640, 480), (480, 640), (3000, 2000), (257, 1000), (50, 900), (7, 3)])
def test_preprocess_resizing_only_the_crop_matches_resize_then_crop(photos, size):
    """Only the region under the centre crop is resized (no huge intermediate image), with the same pixels."""
    image = Image.fromarray(photos["china"]).resize(size, Image.Resampling.BILINEAR)
    scale = 256 / min(size)
    resized = image.resize((max(224, round(size[0] * scale)), max(224, round(size[1] * scale))),
                           Image.Resampling.BILINEAR)
    left, top = (resized.width - 224) // 2, (resized.height - 224) // 2
    expected = np.asarray(resized.crop((left, top, left + 224, top + 224)), dtype=np.int16)
    assert np.abs(preprocess(image).astype(np.int16) - expected).max() <= 1


def test_thumbnail_keeps_aspect():
    thumb = make_thumbnail(Image.new("RGB", (800, 400)), 128)
    assert thumb.size == (128, 64)


# --------------------------------------------------------------------------- modes

def test_png_alpha_is_composited_on_white(encoder, photos, tmp_path):
    rgba = np.dstack([photos["coffee"], np.full((224, 224), 255, np.uint8)])
    rgba[:, :100, :3] = (0, 0, 255)  # hidden colour under full transparency
    rgba[:, :100, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    flat = photos["coffee"].copy()
    flat[:, :100] = 255
    Image.fromarray(flat).save(tmp_path / "flat.png")
    loaded = load_image(tmp_path / "alpha.png")
    assert loaded.mode == "RGB" and loaded.getpixel((10, 10)) == (255, 255, 255)
    vectors = encoder.encode([tmp_path / "alpha.png", tmp_path / "flat.png"])
    assert cosine_distance(*vectors) < 1e-6


def test_palette_with_transparency_and_la(photos, tmp_path):
    grey = Image.fromarray(photos["chelsea"]).convert("L")
    la = Image.merge("LA", (grey, Image.new("L", grey.size, 0)))
    la.save(tmp_path / "la.png")
    palette = Image.fromarray(photos["chelsea"]).quantize(16)
    palette.info["transparency"] = 0
    palette.save(tmp_path / "p.png", transparency=0)
    assert load_image(tmp_path / "la.png").getpixel((5, 5)) == (255, 255, 255)
    image = load_image(tmp_path / "p.png")
    assert image.mode == "RGB" and image.size == (224, 224)


def test_cmyk_jpeg_matches_its_rgb_version(encoder, photos, tmp_path):
    rgb = Image.fromarray(photos["coffee"]).resize((448, 448))
    (tmp_path / "rgb.jpg").write_bytes(_jpeg_bytes(rgb, subsampling=0))
    (tmp_path / "cmyk.jpg").write_bytes(_jpeg_bytes(rgb.convert("CMYK")))
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    assert load_image(tmp_path / "cmyk.jpg").mode == "RGB"
    vectors = encoder.encode([tmp_path / "rgb.jpg", tmp_path / "cmyk.jpg"])
    assert cosine_distance(*vectors) < 0.005
    labels = encoder.labels_for([tmp_path / "cmyk.jpg"], k=1)[0]
    assert labels[0][0] == "espresso"


def test_exif_rotated_jpeg_equals_upright(encoder, photos, tmp_path):
    upright = Image.fromarray(photos["chelsea"]).resize((320, 480))  # portrait, multiples of 16
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a sideways camera writes
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # "rotate 90° clockwise to display"
    (tmp_path / "upright.jpg").write_bytes(_jpeg_bytes(upright, subsampling=0))
    (tmp_path / "rotated.jpg").write_bytes(_jpeg_bytes(stored, subsampling=0, exif=exif.tobytes()))
    assert Image.open(tmp_path / "rotated.jpg").size == (480, 320)
    assert load_image(tmp_path / "rotated.jpg").size == (320, 480)
    outcomes = list(encoder.iter_encode([tmp_path / "upright.jpg", tmp_path / "rotated.jpg"]))
    assert [(o.width, o.height) for o in outcomes] == [(320, 480), (320, 480)]
    assert cosine_distance(outcomes[0].embedding, outcomes[1].embedding) <= 1e-3


def test_grayscale_and_16_bit_png(encoder, photos, tmp_path):
    grey = np.asarray(Image.fromarray(photos["china"]).convert("L"))
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    as_rgb = np.asarray(load_image(tmp_path / "grey16.png"))
    assert np.array_equal(as_rgb, np.dstack([grey] * 3))
    vectors = encoder.encode([tmp_path / "grey.png", tmp_path / "grey16.png", Image.fromarray(np.dstack([grey] * 3))])
    assert vectors.shape == (3, 2048) and vectors.dtype == np.float32
    assert cosine_distance(vectors[0], vectors[1]) < 1e-6 and cosine_distance(vectors[0], vectors[2]) < 1e-6


@pytest.mark.parametrize(
    "mode, value, grey",
    [("F", 0.5, 128), ("I", 40000, 156), ("I;16", 65535, 255), ("1", 1, 255), ("YCbCr", (100, 128, 128), 100),
     ("LAB", (255, 128, 128), 255), ("P", 7, None)],
)
def test_every_mode_becomes_rgb(mode, value, grey):
    image = load_image(Image.new(mode, (8, 6), value))
    assert image.mode == "RGB" and image.size == (8, 6)
    if grey is not None:
        assert all(abs(channel - grey) <= 2 for channel in image.getpixel((3, 3)))


def test_large_jpeg_uses_draft_decoding(encoder, photos, tmp_path):
    big = Image.fromarray(photos["coffee"]).resize((1600, 1200), Image.Resampling.BICUBIC)
    (tmp_path / "big.jpg").write_bytes(_jpeg_bytes(big))
    drafted = load_image(tmp_path / "big.jpg")
    assert FAITHFUL_DRAFT_SIDE <= min(drafted.size) < 1200
    full = load_image(tmp_path / "big.jpg", draft_side=0)
    assert full.size == (1600, 1200)
    (outcome,) = encoder.iter_encode([tmp_path / "big.jpg"])
    assert (outcome.width, outcome.height) == (1600, 1200)


@pytest.fixture(scope="module")
def demo_photos_and_big_jpegs(tmp_path_factory) -> list[Path]:
    """The demo photos as shipped, and each upscaled ×1.5 to ×4 (drafts down to 1/8), saved as JPEG quality 90."""
    folder = tmp_path_factory.mktemp("big-jpegs")
    paths = []
    for path in sorted(DEMO_PHOTOS.iterdir()):
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        paths.append(path)
        image = Image.open(path).convert("RGB")
        for scale in (1.5, 2, 3, 4):
            target = folder / f"{path.stem}-x{scale}.jpg"
            size = (round(image.width * scale), round(image.height * scale))
            image.resize(size, Image.Resampling.BICUBIC).save(target, quality=90)
            paths.append(target)
    return paths


def test_pipeline_embeddings_match_a_full_decode_of_real_photos(encoder, demo_photos_and_big_jpegs):
    """Draft (DCT-scaled) JPEG decoding keeps every embedding within cosine 0.999 of decoding the whole file."""
    paths = demo_photos_and_big_jpegs
    drafted = [p for p in paths if load_image(p).size != Image.open(p).size]
    assert {p for p in paths if p.stem.endswith(("-x3", "-x4"))} <= set(drafted)  # the big JPEGs are drafted
    pipeline = np.stack([o.embedding for o in encoder.iter_encode(paths)])
    full = encoder.encode([load_image(p, draft_side=0) for p in paths])
    cosines = np.sum(pipeline * full, axis=1) / (np.linalg.norm(pipeline, axis=1) * np.linalg.norm(full, axis=1))
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.999, f"{paths[worst].name}: cosine {cosines.min():.5f} to its full decode"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_drafted_jpeg_is_cropped_where_its_full_decode_is(orientation):
    """1923×1283 drafts to 962×642 with half a pixel of padding, which lands on the side each EXIF turn puts it."""
    picture = Image.open(DEMO_PHOTOS / "china.jpg").resize((1923, 1283), Image.Resampling.BICUBIC)
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    data = _jpeg_bytes(picture, exif=exif.tobytes())
    drafted, full = decode_image(data), decode_image(data, draft_side=0)
    assert max(drafted.image.size) == 962 and drafted.size == full.size == full.image.size
    difference = preprocess(drafted.image, drafted.content).astype(float) - preprocess(full.image).astype(float)
    assert np.abs(difference).mean() < 1.0  # ignoring the padding (content box = whole image): 1.7


# --------------------------------------------------------------------------- bad files

@pytest.mark.parametrize(
    "key, reason",
    [("corrupt", "corrupt or truncated"), ("truncated", "corrupt or truncated"), ("empty", "empty file"),
     ("text", "not an image"), ("bomb", "too large (decompression bomb)")],
)
def test_bad_file_raises_one_clear_error(files, key, reason):
    with pytest.raises(ImageLoadError) as caught:
        load_image(files[key])
    error = caught.value
    assert isinstance(error, UserError)
    assert error.reason == reason and error.path == str(files[key])
    assert str(files[key]) in str(error) and reason in str(error) and error.hint


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bomb_in_pillows_warning_band_is_an_error(monkeypatch, tmp_path):
    Image.new("L", (40, 40)).save(tmp_path / "wide.png")  # 1600 px: above the limit, below 2× (Pillow only warns)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        load_image(tmp_path / "wide.png")


def test_missing_file_and_folder_are_unreadable(tmp_path):
    with pytest.raises(ImageLoadError, match="unreadable: No such file"):
        load_image(tmp_path / "gone.jpg")
    with pytest.raises(ImageLoadError, match="unreadable"):
        load_image(tmp_path)


def test_batch_with_bad_files_keeps_order_and_good_vectors(encoder, files):
    keys = ["chelsea", "corrupt", "coffee", "empty", "truncated", "text", "china", "bomb"]
    sources = [files[k] for k in keys]
    reports = []
    outcomes = list(encoder.iter_encode(sources, batch_size=3, thumbnail_size=64, progress=reports.append))
    assert [o.index for o in outcomes] == list(range(len(keys)))
    assert [o.source for o in outcomes] == sources
    good = {k: o for k, o in zip(keys, outcomes) if o.error is None}
    assert sorted(good) == ["chelsea", "china", "coffee"]
    for key, outcome in zip(keys, outcomes):
        if key in good:
            assert outcome.embedding.shape == (2048,) and outcome.probs.shape == (1000,)
            assert outcome.thumbnail.size == (64, 64) and (outcome.width, outcome.height) == (224, 224)
        else:
            assert outcome.embedding is None and str(files[key]) in str(outcome.error)
    alone = encoder.encode([files["chelsea"], files["coffee"], files["china"]])
    together = np.stack([good[k].embedding for k in ("chelsea", "coffee", "china")])
    assert np.abs(alone - together).max() < 1e-4
    assert [r.done for r in reports] == [3, 6, 8]
    assert all(r.stage == "images" and r.total == 8 and r.unit == "images" and r.rate > 0 for r in reports)


def test_encode_raises_for_the_first_bad_image(encoder, files):
    with pytest.raises(ImageLoadError) as caught:
        encoder.encode([files["coffee"], files["text"], files["empty"]])
    assert caught.value.path == str(files["text"])


def test_encode_empty_list_single_source_and_array_batch(encoder, files, photos):
    assert encoder.encode([]).shape == (0, 2048)
    single = encoder.encode(files["coffee"])
    assert single.shape == (1, 2048)
    batch = np.stack([photos["coffee"], photos["chelsea"]])
    from_arrays = encoder.encode(batch)
    assert from_arrays.shape == (2, 2048) and np.abs(from_arrays[0] - single[0]).max() < 1e-4


# --------------------------------------------------------------------------- cancel, labels, cache

def test_cancel_stops_between_batches(encoder, photos):
    images = [Image.fromarray(a) for a in photos.values()]
    token = CancelToken()
    seen = []
    with pytest.raises(Cancelled):
        for outcome in encoder.iter_encode(images, batch_size=2, cancel=token):
            seen.append(outcome.index)
            token.cancel()
    assert seen == [0, 1]


def test_cancel_interrupts_a_running_batch(encoder, photos):
    pixels = np.concatenate([np.stack(list(photos.values()))] * 4)  # 24 images: seconds of work on a laptop
    token = CancelToken()
    timer = threading.Timer(0.2, token.cancel)
    started = time.perf_counter()
    timer.start()
    with pytest.raises(Cancelled):
        encoder.run_model(pixels, cancel=token)
    assert time.perf_counter() - started < 1.5
    embedding, _ = encoder.run_model(pixels[:1], cancel=CancelToken())  # the session still works
    assert embedding.shape == (1, 2048)


def test_top_labels_ranks_probabilities(encoder):
    probs = np.zeros(1000, np.float32)
    probs[[285, 967, 3]] = [0.2, 0.7, 0.1]
    assert encoder.top_labels(probs, k=2) == [("espresso", pytest.approx(0.7)), ("Egyptian cat", pytest.approx(0.2))]
    assert len(encoder.top_labels(probs, k=5000)) == 1000


def test_shared_encoder_is_cached(models_dir):
    first = get_image_encoder()
    assert first is get_image_encoder()
    assert first.dim == 2048 and len(first.labels) == 1000 and first.provider_label


# --------------------------------------------------------------------------- pipeline

def test_next_batch_is_encoded_while_the_caller_handles_this_one(encoder, photos, monkeypatch):
    """The model runs in its own thread: it encodes batch 2 while the caller still holds batch 1."""
    model_threads: list[str] = []
    second_batch_done = threading.Event()
    run_model = encoder.run_model

    def recording_run_model(pixels, cancel=None):
        result = run_model(pixels, cancel)
        model_threads.append(threading.current_thread().name)
        if len(model_threads) == 2:
            second_batch_done.set()
        return result

    monkeypatch.setattr(encoder, "run_model", recording_run_model)
    outcomes = encoder.iter_encode([Image.fromarray(a) for a in photos.values()], batch_size=2)
    first = next(outcomes)  # the caller now works on batch 1 and asks for nothing more
    assert second_batch_done.wait(timeout=120), "batch 2 waited for the caller"
    rest = list(outcomes)
    assert [o.index for o in [first, *rest]] == list(range(6)) and all(o.ok for o in rest)
    assert len(model_threads) == 3 and all(name.startswith("image-model") for name in model_threads)


def test_leaving_early_stops_the_pipeline_threads(encoder, photos):
    outcomes = encoder.iter_encode([Image.fromarray(a) for a in photos.values()] * 3, batch_size=2)
    assert next(outcomes).index == 0
    outcomes.close()
    assert not [t.name for t in threading.enumerate() if t.name.startswith(("image-model", "image-decode"))]


# --------------------------------------------------------------------------- HEIC and RAW (optional extras)

HEIF_START = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"  # the first box of an iPhone photo


def test_heic_photo_embeds_like_its_original_or_is_skipped_naming_the_extra(encoder, tmp_path):
    original = DEMO_PHOTOS / "astronaut.jpg"
    heic, misnamed = tmp_path / "astronaut.heic", tmp_path / "exported.jpg"  # phones' exports keep HEIC inside .jpg
    if HEIC.installed:
        import pillow_heif

        pillow_heif.from_pillow(Image.open(original)).save(heic, quality=90)
        misnamed.write_bytes(heic.read_bytes())
        assert {".heic", ".heif"} <= IMAGE_EXTENSIONS
        from_heic, from_misnamed, from_jpeg = encoder.iter_encode([heic, misnamed, original])
        assert from_heic.ok and from_misnamed.ok and (from_heic.width, from_heic.height) == (512, 512)
        assert cosine_distance(from_heic.embedding, from_jpeg.embedding) <= 0.005  # measured: 0.0002
        assert encoder.top_labels(from_heic.probs, 1)[0][0] == encoder.top_labels(from_jpeg.probs, 1)[0][0]
    else:
        heic.write_bytes(HEIF_START + bytes(200))
        misnamed.write_bytes(heic.read_bytes())
        assert ".heic" not in IMAGE_EXTENSIONS and ".heic" in KNOWN_IMAGE_EXTENSIONS
        reasons = [o.error.reason for o in encoder.iter_encode([heic, misnamed])]
        assert reasons == [HEIC.missing_reason] * 2 == ["HEIC needs: pip install 'embed-studio[heic]'"] * 2


def test_raw_photo_develops_like_its_original_or_is_skipped_naming_the_extra(encoder, tmp_path):
    original = DEMO_PHOTOS / "chelsea.png"
    dng = tmp_path / "chelsea.dng"
    _write_dng(dng, Image.open(original).convert("RGB"))
    if RAW.installed:
        assert {".dng", ".cr2", ".nef", ".arw", ".rw2", ".orf"} <= IMAGE_EXTENSIONS
        from_raw, from_png = encoder.iter_encode([dng, original])
        assert from_raw.ok and (from_raw.width, from_raw.height) == (450, 300)  # the full size, decoded at half
        assert cosine_distance(from_raw.embedding, from_png.embedding) <= 0.07  # measured 0.036: LibRaw's tone curve
        top_labels = [encoder.top_labels(outcome.probs, 1)[0][0] for outcome in (from_raw, from_png)]
        assert top_labels == ["Egyptian cat", "Egyptian cat"]
    else:
        assert ".dng" not in IMAGE_EXTENSIONS and ".dng" in KNOWN_IMAGE_EXTENSIONS
        (outcome,) = encoder.iter_encode([dng])
        assert outcome.error.reason == RAW.missing_reason == "RAW needs: pip install 'embed-studio[raw]'"


def test_without_the_extras_heic_and_raw_files_are_skipped_with_the_reason(tmp_path):
    """In a process where pillow_heif and rawpy cannot be imported (as when the extras are not installed)."""
    heic, misnamed, dng = tmp_path / "photo.heic", tmp_path / "exported.jpg", tmp_path / "photo.dng"
    for path in (heic, misnamed):
        path.write_bytes(HEIF_START + bytes(200))
    _write_dng(dng, Image.open(DEMO_PHOTOS / "chelsea.png").convert("RGB"))
    script = (
        "import json, sys\n"
        "sys.modules['pillow_heif'] = sys.modules['rawpy'] = None  # import fails: not installed\n"
        "from embedengine.image import IMAGE_EXTENSIONS, ImageLoadError, load_image\n"
        "reasons = []\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        load_image(path)\n"
        "        reasons.append('decoded')\n"
        "    except ImageLoadError as error:\n"
        "        reasons.append(error.reason)\n"
        "print(json.dumps({'reasons': reasons, 'extensions': sorted(IMAGE_EXTENSIONS)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(heic), str(misnamed), str(dng)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["reasons"] == ["HEIC needs: pip install 'embed-studio[heic]'"] * 2 + [
        "RAW needs: pip install 'embed-studio[raw]'"]
    assert result["extensions"] == [".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"]


XYZ_TO_LINEAR_SRGB = [3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570]


def _write_dng(path: Path, image: Image.Image) -> None:
    """A minimal uncompressed DNG, as a camera writes it: the photo's linear light as a 16-bit RGGB mosaic."""
    light = np.asarray(image, np.float64) / 255
    light = np.where(light <= 0.04045, light / 12.92, ((light + 0.055) / 1.055) ** 2.4)  # sRGB → linear
    height, width = light.shape[0] // 2 * 2, light.shape[1] // 2 * 2
    mosaic = np.empty((height, width))
    for row, column, channel in ((0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 2)):  # R G / G B
        mosaic[row::2, column::2] = light[row:height:2, column:width:2, channel]
    pixels = np.round(mosaic * 65535).astype("<u2").tobytes()
    ascii_, short, long_, rational, srational, byte = 2, 3, 4, 5, 10, 1
    tags = [  # (tag, type, values): baseline TIFF, then the CFA and DNG tags LibRaw reads
        (254, long_, [0]), (256, long_, [width]), (257, long_, [height]), (258, short, [16]), (259, short, [1]),
        (262, short, [32803]), (271, ascii_, b"Embed Studio\0"), (272, ascii_, b"Test camera\0"),
        (273, long_, [0]), (274, short, [1]), (277, short, [1]), (278, long_, [height]),
        (279, long_, [len(pixels)]), (284, short, [1]), (33421, short, [2, 2]), (33422, byte, [0, 1, 1, 2]),
        (50706, byte, [1, 4, 0, 0]), (50708, ascii_, b"Embed Studio Test camera\0"), (50714, long_, [0]),
        (50717, long_, [65535]), (50721, srational, [(round(v * 10000), 10000) for v in XYZ_TO_LINEAR_SRGB]),
        (50728, rational, [(1, 1)] * 3), (50778, short, [21]),
    ]
    layout = {byte: "B", ascii_: "B", short: "H", long_: "I", rational: "II", srational: "ii"}
    encoded = [(tag, kind, len(values), bytes(values) if kind == ascii_ else
                b"".join(struct.pack("<" + layout[kind], *(v if isinstance(v, tuple) else (v,))) for v in values))
               for tag, kind, values in tags]
    extra_at = 8 + 2 + 12 * len(encoded) + 4
    pixels_at = extra_at + sum(len(raw) + len(raw) % 2 for *_, raw in encoded if len(raw) > 4)
    directory, extra = struct.pack("<H", len(encoded)), b""
    for tag, kind, count, raw in encoded:
        raw = struct.pack("<I", pixels_at) if tag == 273 else raw
        if len(raw) <= 4:
            directory += struct.pack("<HHI", tag, kind, count) + raw.ljust(4, b"\0")
        else:
            directory += struct.pack("<HHII", tag, kind, count, extra_at + len(extra))
            extra += raw + b"\0" * (len(raw) % 2)
    path.write_bytes(b"II*\0" + struct.pack("<I", 8) + directory + struct.pack("<I", 0) + extra + pixels)
