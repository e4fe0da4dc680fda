"""Images in and out: reading a user's photo, converting any image to uint8 RGB, and the working resolution.

Any photo a user has goes through two functions:

* :func:`load_image` reads a file (a path or an open binary file): EXIF orientation applied
  (``PIL.ImageOps.exif_transpose``, so a phone photo comes out the way it was taken), then
  :func:`to_rgb_uint8`. Anything unreadable (a missing path, a file that is not an image, a truncated
  file) raises one exception with a one-line message;
* :func:`to_rgb_uint8` converts an in-memory image — a PIL image of any mode (gray, palette, RGBA, CMYK,
  16-bit, ...) or a numpy array — to uint8 (H, W, 3) RGB.

:class:`car.CaR` runs every CLIP pass and the dense CRF at a *working size* (``CaRConfig.working_size``,
the longer side in pixels, :func:`working_shape`) and returns its masks and label map at the input's
own size (:func:`resize_masks`), so a 12-megapixel photo costs about what a 640-pixel one does.

    >>> image = load_image("photo.jpg")          # uint8 (H, W, 3), upright
    >>> working_shape(image.shape, 640)          # e.g. (480, 640) for a 4000 x 3000 photo
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["ImageReadError", "load_image", "to_rgb_uint8", "working_shape", "resize_to_working", "resize_masks",
           "save_labels", "save_png_atomic", "MIN_SIDE"]

MIN_SIDE = 2  # CaR needs at least 2 pixels per side (a 1-pixel image has no patch grid to speak of)
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


class ImageReadError(ValueError):
    """A file that cannot be read as an image (not an image, truncated, unsupported mode)."""


def load_image(source: str | os.PathLike | BinaryIO, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as uint8 (H, W, 3) RGB, upright.

    The EXIF orientation tag is applied; the pixels are then converted by :func:`to_rgb_uint8`.

    Args:
        source: a path, or an open binary file.
        max_pixels: refuse an image with more pixels than this, read from its header before decoding (the demo's
            guard against a huge upload); None = Pillow's own decompression-bomb limit only.

    Raises:
        FileNotFoundError: the path does not exist.
        ImageReadError: a directory, not an image, a truncated or corrupt file, an unsupported mode, a side
            under :data:`MIN_SIDE` pixels, or more than ``max_pixels`` pixels — always one line naming the file.
    """
    name = str(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "<file>")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"image {path} does not exist")
        if path.is_dir():
            raise ImageReadError(f"cannot read {path} as an image: it is a directory")
    try:
        with Image.open(source) as im:
            if max_pixels is not None and im.width * im.height > max_pixels:
                raise ImageReadError(f"{name} is {im.width}x{im.height} pixels ({im.width * im.height / 1e6:.0f} "
                                     f"megapixels); the limit is {max_pixels / 1e6:g} megapixels: shrink it first")
            try:
                im.load()  # decode now: a truncated file fails here, not later
            except (OSError, SyntaxError, ValueError) as e:  # Pillow raises all three for bad data
                raise ImageReadError(f"cannot read {name} as an image: the file is truncated or corrupt "
                                     f"({_one_line(e)})") from e
            try:
                return to_rgb_uint8(im)
            except ValueError as e:
                raise ImageReadError(f"cannot use {name}: {e}") from e
    except UnidentifiedImageError as e:
        raise ImageReadError(f"cannot read {name} as an image: not an image format Pillow knows "
                             f"(JPEG, PNG, TIFF, WebP, BMP, GIF, ...)") from e
    except Image.DecompressionBombError as e:
        raise ImageReadError(f"cannot read {name}: {_one_line(e)}") from e
    except OSError as e:  # e.g. permission denied
        raise ImageReadError(f"cannot read {name}: {_one_line(e)}") from e


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def to_rgb_uint8(image) -> np.ndarray:
    """Any reasonable in-memory image → uint8 (H, W, 3) RGB, C-contiguous.

    Accepts PIL images of any mode — EXIF orientation applied; palette, gray, bilevel, CMYK, YCbCr converted;
    16-bit (``I;16*``, ``I``) scaled by 1/257; RGBA / LA / palette with transparency composited over white — and
    numpy arrays (H, W) gray, (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA (composited over white), of dtype uint8,
    uint16 (scaled by 1/257), bool, or float in [0, 1].

    Raises:
        ValueError: another shape or dtype, NaN values, an unconvertible PIL mode, or a side under
            :data:`MIN_SIDE` pixels.
    """
    if isinstance(image, Image.Image):
        image = _pil_to_array(image)
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"image must be (H, W), (H, W, 3) or (H, W, 4); got shape {arr.shape}")
    arr = _to_uint8(arr)
    if arr.shape[2] == 4:  # over white: transparent pixels show as a page shows them, not their hidden colour
        alpha = arr[..., 3:].astype(np.float32) / 255.0
        arr = (arr[..., :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    if min(arr.shape[:2]) < MIN_SIDE:
        raise ValueError(f"image is {arr.shape[1]}x{arr.shape[0]} pixels; CaR needs at least {MIN_SIDE} pixels "
                         f"per side")
    arr = np.ascontiguousarray(arr)
    return arr if arr.flags.writeable else arr.copy()  # PIL's buffers are read-only; torch wants to write


def _pil_to_array(im: Image.Image) -> np.ndarray:
    """A PIL image (any mode), upright, as a numpy array that :func:`_to_uint8` understands."""
    im = ImageOps.exif_transpose(im) or im
    if im.mode in _SIXTEEN_BIT_MODES:
        return np.asarray(im)  # uint16 / int32 (H, W): scaled below, not clipped by PIL's convert
    if im.mode == "F":
        return np.asarray(im)  # float32 (H, W), read as [0, 1] like a float array
    if im.mode in _ALPHA_MODES or (im.mode == "P" and "transparency" in im.info):
        return np.asarray(im.convert("RGBA"))
    try:
        return np.asarray(im.convert("RGB"))
    except ValueError as e:
        raise ValueError(f"cannot convert a {im.mode} image to RGB: {_one_line(e)}") from e


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16 or arr.dtype in (np.int32, np.int64) and arr.max(initial=0) > 255:
        return (arr.astype(np.float64) / 257.0).round().clip(0, 255).astype(np.uint8)
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        if np.isnan(arr).any():
            raise ValueError("image contains NaN values")
        return (arr.clip(0, 1) * 255).round().astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.clip(0, 255).astype(np.uint8)
    raise ValueError(f"unsupported image dtype {arr.dtype}; use uint8 RGB")


# --------------------------------------------------------------------------- the working resolution
def working_shape(shape: tuple[int, ...], working_size: int | None) -> tuple[int, int]:
    """The (h, w) at which CaR runs an image of ``shape`` (H, W, ...): the longer side at most ``working_size``.

    Images already within the size keep it (never upscaled); ``None`` keeps every image's own size (the official
    code's behaviour). The aspect ratio is kept, each side at least :data:`MIN_SIDE`.

    Raises:
        ValueError: ``working_size`` is not None and not an integer of at least :data:`MIN_SIDE`.
    """
    h, w = int(shape[0]), int(shape[1])
    if working_size is None:
        return h, w
    if isinstance(working_size, bool) or not isinstance(working_size, (int, np.integer)) or working_size < MIN_SIDE:
        raise ValueError(f"working_size must be None (the image's own size) or an integer >= {MIN_SIDE}; "
                         f"got {working_size!r}")
    longer = max(h, w)
    if longer <= working_size:
        return h, w
    scale = working_size / longer
    return max(MIN_SIDE, round(h * scale)), max(MIN_SIDE, round(w * scale))


def resize_to_working(image: np.ndarray, working_size: int | None) -> np.ndarray:
    """uint8 (H, W, 3) → uint8 (h, w, 3) at :func:`working_shape` (area interpolation: no aliasing); the same
    array when the size does not change."""
    h, w = working_shape(image.shape, working_size)
    if (h, w) == image.shape[:2]:
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


def resize_masks(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """bool (N, h, w) → bool (N, H, W): each mask bilinearly upsampled and thresholded at one half (smooth
    edges instead of nearest-neighbour blocks); the same array when the size does not change."""
    size = (int(size[0]), int(size[1]))
    if masks.shape[1:] == size:
        return masks
    out = np.zeros((len(masks), *size), bool)  # (N, H, W)
    for i, m in enumerate(masks):
        if m.any():
            up = cv2.resize(m.astype(np.uint8) * 255, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
            np.greater_equal(up, 128, out=out[i])
    return out


# --------------------------------------------------------------------------- out
def save_labels(path: str | os.PathLike | io.BytesIO, labels: np.ndarray) -> None:
    """Write a label map int (H, W) (-1 = background, i = query i) as a PNG of ``labels + 1``: 0 = background,
    i = query i - 1; 8-bit up to 254 queries, 16-bit beyond."""
    values = labels.astype(np.int64) + 1
    dtype = np.uint8 if values.max(initial=0) <= 255 else np.uint16
    save_png_atomic(path, Image.fromarray(values.astype(dtype)))


def save_png_atomic(path: str | os.PathLike | io.BytesIO, image: Image.Image, compress_level: int = 6) -> None:
    """Save ``image`` as a PNG so that no reader ever sees half a file (a temporary file beside it, then
    ``os.replace``); an in-memory buffer is written directly."""
    if isinstance(path, io.BytesIO):
        image.save(path, format="PNG", compress_level=compress_level)
        return
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        image.save(tmp, format="PNG", compress_level=compress_level)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
