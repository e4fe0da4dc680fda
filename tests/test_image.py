"""Any photo a user has (car.image): EXIF orientation, every image mode, unreadable files, the working size.

Every image is generated here, in the test's temporary folder.
"""
from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from car import CaR
from car.image import (ImageReadError, load_image, resize_masks, resize_to_working, save_labels, to_rgb_uint8,
                       working_shape)

ORIENTATION = 0x0112  # the EXIF tag


def _marked(h: int = 20, w: int = 40) -> np.ndarray:
    """A gray image with a red block in its top-left corner (as stored by the sensor)."""
    img = np.full((h, w, 3), 128, np.uint8)
    img[:6, :6] = (230, 20, 20)
    return img


def _is_red(pixel: np.ndarray) -> bool:
    return pixel[0] > 180 and pixel[1] < 80 and pixel[2] < 80


# --------------------------------------------------------------------------- EXIF orientation
@pytest.mark.parametrize("orientation, shape, corner", [
    (1, (20, 40), (0, 0)),     # as stored
    (3, (20, 40), (-1, -1)),   # rotated 180°
    (6, (40, 20), (0, -1)),    # phone held upright: the stored image is turned 90° clockwise for display
    (8, (40, 20), (-1, 0)),    # turned 90° counter-clockwise
])
def test_exif_orientation_is_applied(tmp_path, orientation, shape, corner) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    path = tmp_path / "phone.jpg"
    Image.fromarray(_marked()).save(path, quality=95, exif=exif)
    image = load_image(path)
    assert image.shape == (*shape, 3) and image.dtype == np.uint8
    row, col = (2 if c == 0 else -3 for c in corner)
    assert _is_red(image[row, col]) and not _is_red(image[-1 - row, -1 - col])
    with Image.open(path) as im:  # a PIL image handed to the API directly is turned the same way
        assert np.array_equal(to_rgb_uint8(im), image)


def test_car_segments_a_pil_photo_upright(clip_tiny, tmp_path) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(_marked(24, 48)).save(path, quality=95, exif=exif)
    with Image.open(path) as im:
        result = CaR(clip_tiny, clip_tiny, "voc")(im, ["cat", "red square"])
    assert result.labels.shape == (48, 24) and result.masks.shape == (2, 48, 24)


# --------------------------------------------------------------------------- modes
def _save(tmp_path, name: str, im: Image.Image, **kw) -> np.ndarray:
    path = tmp_path / name
    im.save(path, **kw)
    return load_image(path)


def test_grayscale_and_bilevel(tmp_path) -> None:
    gray = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (8, 1))  # (8, 25)
    out = _save(tmp_path, "gray.png", Image.fromarray(gray, "L"))
    assert out.shape == (8, 25, 3) and np.array_equal(out[..., 0], gray) and np.array_equal(out[..., 2], gray)
    bilevel = Image.fromarray(np.eye(8, dtype=bool).repeat(2, 0))
    out = _save(tmp_path, "bits.png", bilevel)
    assert out.shape == (16, 8, 3) and set(np.unique(out)) == {0, 255}


def test_rgba_is_composited_over_white(tmp_path) -> None:
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., :3] = (10, 200, 30)
    rgba[:, :4, 3] = 255  # left half opaque green, right half fully transparent
    rgba[:, 4:, :3] = 0  # hidden black under the transparent half
    out = _save(tmp_path, "cutout.png", Image.fromarray(rgba, "RGBA"))
    assert (out[:, :4] == (10, 200, 30)).all() and (out[:, 4:] == 255).all()
    half = rgba.copy()
    half[..., 3] = 128
    mixed = to_rgb_uint8(half)  # numpy RGBA takes the same rule
    assert abs(int(mixed[0, 0, 1]) - round(200 * 128 / 255 + 255 * 127 / 255)) <= 1
    la = Image.fromarray(np.stack([np.full((4, 4), 50, np.uint8), np.zeros((4, 4), np.uint8)], -1), "LA")
    assert (to_rgb_uint8(la) == 255).all()


def test_palette_with_and_without_transparency(tmp_path) -> None:
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[:, :6] = (200, 10, 10)
    rgb[:, 6:] = (10, 10, 200)
    pal = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    out = _save(tmp_path, "pal.png", pal)
    assert _is_red(out[0, 0]) and out[0, -1, 2] > 180
    idx = np.asarray(pal)[0, -1]  # make the blue entry transparent: it must come out white
    out = _save(tmp_path, "pal.gif", pal, transparency=int(idx))
    assert _is_red(out[0, 0]) and (out[:, 6:] == 255).all()


def test_cmyk_jpeg(tmp_path) -> None:
    cmyk = Image.new("CMYK", (16, 8), (0, 255, 255, 0))  # full magenta + yellow = red
    out = _save(tmp_path, "print.jpg", cmyk, quality=95)
    assert out.shape == (8, 16, 3) and _is_red(out[4, 8])


def test_sixteen_bit_gray_is_scaled_not_clipped(tmp_path) -> None:
    g16 = np.array([[0, 257 * 100, 65535, 257 * 200]], np.uint16).repeat(3, 0)  # (3, 4)
    path = tmp_path / "scan16.png"
    assert cv2.imwrite(str(path), g16)
    with Image.open(path) as im:
        assert im.mode.startswith("I")  # Pillow keeps 16 bits here
    out = load_image(path)
    assert out.shape == (3, 4, 3) and list(out[0, :, 0]) == [0, 100, 255, 200]


def test_sixteen_bit_rgb_png_and_tiff(tmp_path) -> None:
    bgr16 = np.zeros((4, 5, 3), np.uint16)
    bgr16[..., 2] = 257 * 220  # OpenCV writes BGR: a red image
    bgr16[..., 1] = 257 * 30
    for name in ("camera16.png", "camera16.tif"):
        path = tmp_path / name
        assert cv2.imwrite(str(path), bgr16)
        out = load_image(path)
        assert out.shape == (4, 5, 3) and abs(int(out[0, 0, 0]) - 220) <= 1 and abs(int(out[0, 0, 1]) - 30) <= 1
    assert to_rgb_uint8(bgr16[..., ::-1]).max() == 220  # numpy uint16 RGB: the same scale


def test_numpy_inputs_keep_working() -> None:
    assert to_rgb_uint8(np.ones((3, 4), bool)).max() == 255
    assert to_rgb_uint8(np.full((3, 4, 1), 0.5, np.float32)).max() == 128
    with pytest.raises(ValueError, match="NaN"):
        to_rgb_uint8(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="shape"):
        to_rgb_uint8(np.zeros((3, 3, 2), np.uint8))


def test_the_one_implementation_lives_in_car_image_and_is_imported_from_there() -> None:
    import re

    from car import backbones

    package = Path(__file__).resolve().parents[1] / "car"
    defined = [p.name for p in package.rglob("*.py") if re.search(r"^def to_rgb_uint8\b", p.read_text(), re.M)]
    assert defined == ["image.py"]
    elsewhere = [p.name for p in package.rglob("*.py")
                 if re.search(r"from car\.(?!image\b)[\w.]+ import [^\n]*\bto_rgb_uint8\b", p.read_text())]
    assert elsewhere == [], f"import to_rgb_uint8 from car.image, not through {elsewhere}"
    assert not hasattr(backbones, "to_rgb_uint8")  # no re-export shim


# --------------------------------------------------------------------------- unreadable files: one line each
def _one_line_error(exc: type[BaseException], source, match: str) -> None:
    with pytest.raises(exc, match=match) as info:
        load_image(source)
    assert "\n" not in str(info.value)


def test_missing_path(tmp_path) -> None:
    _one_line_error(FileNotFoundError, tmp_path / "missing.jpg", "does not exist")


def test_not_an_image(tmp_path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("these are my notes, not a photo\n" * 5)
    _one_line_error(ImageReadError, path, "not an image format")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    _one_line_error(ImageReadError, empty, "not an image format")
    _one_line_error(ImageReadError, tmp_path, "directory")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file(tmp_path, fmt) -> None:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(buf, format=fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])  # a download that stopped halfway
    _one_line_error(ImageReadError, path, "truncated or corrupt")


def test_too_small_image(tmp_path) -> None:
    path = tmp_path / "dot.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(path)
    _one_line_error(ImageReadError, path, "1x1 pixels")


def test_open_binary_file_is_accepted(tmp_path) -> None:
    buf = io.BytesIO()
    Image.fromarray(_marked()).save(buf, format="PNG")
    buf.seek(0)
    assert load_image(buf).shape == (20, 40, 3)


# --------------------------------------------------------------------------- the working size
def test_working_shape() -> None:
    assert working_shape((3000, 4000, 3), 640) == (480, 640)
    assert working_shape((4000, 3000), 640) == (640, 480)
    assert working_shape((375, 500), 640) == (375, 500)  # never upscaled: VOC-sized images keep their size
    assert working_shape((3000, 4000), None) == (3000, 4000)  # None = the image's own size (official)
    assert working_shape((2, 9000), 640) == (2, 640)  # a sliver keeps at least 2 pixels
    for bad in (0, 1, 64.5, "640", True):
        with pytest.raises(ValueError, match="working_size"):
            working_shape((10, 10), bad)


def test_resize_to_working_and_masks_back() -> None:
    image = np.zeros((300, 400, 3), np.uint8)
    small = resize_to_working(image, 100)
    assert small.shape == (75, 100, 3)
    assert resize_to_working(small, 100) is small
    masks = np.zeros((2, 75, 100), bool)
    masks[0, 10:40, 20:60] = True
    up = resize_masks(masks, (300, 400))
    assert up.shape == (2, 300, 400) and up.dtype == bool and not up[1].any()
    assert abs(up[0].sum() / (16 * masks[0].sum()) - 1) < 0.05  # the area scales with the size
    assert up[0, 100, 160] and not up[0, 10, 10]
    assert resize_masks(masks, (75, 100)) is masks


def test_car_runs_at_the_working_size_and_answers_at_full_size(clip_tiny) -> None:
    rng = np.random.default_rng(0)
    small = np.zeros((48, 64, 3), np.uint8)
    small[:24] = (40, 80, 200)
    small[24:] = (40, 160, 60)
    small[8:30, 10:34] = (220, 30, 30)
    photo = cv2.resize(small, (640, 480), interpolation=cv2.INTER_NEAREST)
    photo = np.clip(photo.astype(int) + rng.integers(-3, 4, photo.shape), 0, 255).astype(np.uint8)
    queries = ["cat", "red square", "sky"]
    model = CaR(clip_tiny, clip_tiny, "voc", working_size=64)
    result = model(photo, queries)
    assert result.labels.shape == (480, 640) and result.masks.shape == (3, 480, 640)
    assert result.proposals.shape == (3, 48, 64) and result.steps[0].proposals.shape[1:] == (48, 64)
    # the same as segmenting the working-size copy and upsampling its masks
    ref = model(resize_to_working(photo, 64), queries)
    assert np.allclose(ref.scores, result.scores)
    assert np.array_equal(resize_masks(ref.masks, (480, 640)), result.masks)
    # None = the image's own size (official): the CAM sees every pixel
    native = CaR(clip_tiny, clip_tiny, "voc", working_size=None, crf=False)(photo[:96, :128], queries)
    assert native.proposals.shape == (3, 96, 128)


def test_save_labels_round_trip(tmp_path) -> None:
    labels = np.array([[-1, 0, 1], [2, -1, 0]], np.int64)
    path = tmp_path / "labels.png"
    save_labels(path, labels)
    back = np.array(Image.open(path))
    assert back.dtype == np.uint8 and np.array_equal(back.astype(np.int64) - 1, labels)
    many = np.arange(300, dtype=np.int64).reshape(1, 300)
    save_labels(path, many)
    assert np.array(Image.open(path)).max() == 300
