"""Sample records, errors, image/label IO and the three dataset base classes.

Shape letters (``car.__doc__``): ``H, W`` image height and width, ``F`` frames of a video.
"""
from __future__ import annotations

import threading
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


# ----------------------------------------------------------------------------------------- records
@dataclass(frozen=True, eq=False)
class SegSample:
    """One semantic-segmentation sample.

    Attributes:
        image: uint8 (H, W, 3) RGB, native resolution (no resizing anywhere, as official).
        gt: int64 (H, W) dataset label ids: 0 = background / unlabeled where the dataset has one,
            class index i <-> label i + 1, ``dataset.ignore_index`` (255, or 65535 for the large
            vocabularies) = ignore.
        name: unique sample id within the split (the image stem).
    """

    image: np.ndarray
    gt: np.ndarray
    name: str


@dataclass(frozen=True, eq=False)
class RefSample:
    """One referring-segmentation sample.

    Attributes:
        image: uint8 (H, W, 3) RGB.
        gt: bool (H, W) target mask; all False for a GRES no-target expression.
        sentences: the referring expressions, raw text as stored in the annotation file
            (RefCOCO family: all sentences of one object; GRES: exactly one).
        name: unique sample id (``ref_<ref_id>`` or ``ref_<ref_id>_sent_<sent_id>``).
    """

    image: np.ndarray
    gt: np.ndarray
    sentences: list[str]
    name: str


@dataclass(frozen=True, eq=False)
class VideoSample:
    """One referring-video sample (one expression of one object of one video).

    Attributes:
        frames: F uint8 (H, W, 3) RGB frames in time order.
        masks: F bool (H, W) ground-truth masks of the referred object.
        expression: the referring expression.
        name: ``<video>/<object id>/<annotation file tag>``.
    """

    frames: list[np.ndarray]
    masks: list[np.ndarray]
    expression: str
    name: str


@dataclass(frozen=True, eq=False)
class VideoSetSample:
    """One Ref-DAVIS (video, expression set) under the unsupervised protocol (ReferFormer's practice).

    Attributes:
        frames: F uint8 (H, W, 3) RGB frames in time order.
        expressions: one referring expression per object of the set, in object-id order.
        object_ids: the (semi-supervised) object ids the expressions were written for.
        gt_labels: F int64 (H, W) label maps of ``Annotations_unsupervised`` (0 background, k object k,
            255 void).
        expression_set: the set's tag (``annot1``, ``annot1_full_video``, ``annot2``, ``annot2_full_video``).
        name: ``<video>/<expression set>``.
    """

    frames: list[np.ndarray]
    expressions: list[str]
    object_ids: list[int]
    gt_labels: list[np.ndarray]
    expression_set: str
    name: str


# ------------------------------------------------------------------------------------------ errors
class DatasetNotFoundError(FileNotFoundError):
    """A dataset folder or index file is missing; the message names the expected layout."""


class SampleError(ValueError):
    """One sample cannot be read (corrupt image, size mismatch, missing label file).

    ``car.evaluate.evaluate`` records such samples in its ``skipped`` list and carries on.
    """


class AnnotationError(ValueError):
    """An annotation / expression file is malformed or has a bad encoding (message names the file)."""


def missing(what: str, path: Path, layout: str, source: str) -> DatasetNotFoundError:
    """Build the one-line "not found" error used by every reader."""
    return DatasetNotFoundError(
        f"{what} not found at {path}; expected layout: {layout}; obtain it from {source}"
    )


def require_dir(path: Path, what: str, layout: str, source: str) -> Path:
    if not path.is_dir():
        raise missing(what, path, layout, source)
    return path


def require_file(path: Path, what: str, layout: str, source: str) -> Path:
    if not path.is_file():
        raise missing(what, path, layout, source)
    return path


def find_root(root: str | Path, subpaths: Sequence[str], marker: str) -> Path:
    """Return the first of ``root / s`` (s in subpaths) that contains ``marker``, else ``root``.

    Lets users pass either the dataset folder itself or a parent folder (e.g. the folder holding
    ``VOCdevkit``).
    """
    root = Path(root).expanduser()
    for sub in subpaths:
        candidate = root / sub if sub else root
        if (candidate / marker).exists():
            return candidate
    return root


# ---------------------------------------------------------------------------------------------- IO
def read_image(path: Path) -> np.ndarray:
    """Read an image as uint8 (H, W, 3) RGB (``PIL.Image.open(path).convert("RGB")``, as official).

    Raises:
        SampleError: the file is missing, truncated or not an image (the message names it).
    """
    try:
        with Image.open(path) as img:
            return np.array(img.convert("RGB"), dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise SampleError(f"cannot read image {path}: {e}") from e


def read_label(path: Path) -> np.ndarray:
    """Read a single-channel label map (palette/L PNG, 16-bit TIF) as int64 (H, W).

    Raises:
        SampleError: missing, corrupt, or multi-channel (colour-coded) file.
    """
    try:
        with Image.open(path) as img:
            arr = np.array(img)
    except (OSError, SyntaxError, ValueError) as e:
        raise SampleError(f"cannot read label map {path}: {e}") from e
    if arr.ndim != 2:
        raise SampleError(
            f"label map {path} has shape {arr.shape}; expected one channel of label ids "
            "(a palette/grayscale PNG or 16-bit TIF, not a colour-coded RGB image)"
        )
    return arr.astype(np.int64)


def check_same_size(image: np.ndarray, label: np.ndarray, image_path: Path, label_path: Path) -> None:
    if image.shape[:2] != label.shape[:2]:
        raise SampleError(
            f"label {label_path} is {label.shape[1]}x{label.shape[0]} but image {image_path} is "
            f"{image.shape[1]}x{image.shape[0]} (W x H); they must match"
        )


# -------------------------------------------------------------------------------- dataset classes
class BaseDataset(Sequence):
    """Common attributes of every dataset (a ``Sequence`` of samples).

    Attributes:
        name: registry name (``"voc"``, ``"refcoco"`` ...).
        kind: ``"semantic"``, ``"refer"`` or ``"video"``.
        split: the split read (``"val"``, ``"validation"``, ``"testA"`` ...).
        root: the folder the files are read from.
        class_names: the queries (semantic datasets); ``[]`` for refer / video (queries per sample).
        stuff: per class index, True if it belongs to the stuff pass (Context, ADE, PC-459);
            None for single-pass datasets.
        num_classes: size of the confusion matrix, background / unlabeled label 0 included.
        has_background: True when label 0 is a background / unlabeled label and class index i is
            painted as label i + 1 (every real dataset of the paper); False when class i is label i.
        ignore_index: label of ignored pixels (outside [0, num_classes)).
        ignore_background: the paper's evaluation setting for this name (VOC-20, PC-59, A-150,
            A-847, PC-459: True); ``car.evaluate`` uses it unless the config says otherwise.
        label_names: num_classes names for result tables (label id -> name).
    """

    kind: str = ""

    def __init__(
        self,
        *,
        name: str,
        split: str,
        root: Path,
        num_samples: int,
        class_names: list[str] | None = None,
        stuff: list[bool] | None = None,
        num_classes: int = 0,
        has_background: bool = False,
        ignore_index: int = 255,
        ignore_background: bool = False,
        label_names: list[str] | None = None,
    ) -> None:
        if num_samples == 0:
            raise ValueError(f"dataset {name!r}: split {split!r} under {root} is empty (0 samples)")
        self.name = name
        self.split = split
        self.root = Path(root)
        self.class_names = list(class_names or [])
        self.stuff = stuff
        self.num_classes = num_classes
        self.has_background = has_background
        self.ignore_index = ignore_index
        self.ignore_background = ignore_background
        self.label_names = list(label_names or [])
        self._num_samples = num_samples

    def __len__(self) -> int:
        return self._num_samples

    def _index(self, index: int) -> int:
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"{self.name}: index must be an int, got {type(index).__name__}")
        i = int(index) + (self._num_samples if index < 0 else 0)
        if not 0 <= i < self._num_samples:
            raise IndexError(f"{self.name}: index {index} out of range for {self._num_samples} samples")
        return i

    def sample_name(self, index: int) -> str:
        """Name of sample ``index`` without reading any file (readers override it with the file stem)."""
        return f"{self.name}_{self._index(index):06d}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, samples={len(self)})"


class SemanticDataset(BaseDataset):
    """Images + label maps listed up front and read lazily.

    Labels outside ``[0, num_classes)`` that are not ``ignore_index`` are set to ``ignore_index``
    (the official confusion matrix ignores them too); their pixel count is kept in
    ``unknown_label_pixels`` (a Counter label -> pixels) and one ``UserWarning`` is issued.
    """

    kind = "semantic"

    def __init__(
        self,
        *,
        items: list[tuple[str, Path, Path]],
        label_transform: Callable[[np.ndarray], np.ndarray] | None = None,
        **attrs: Any,
    ) -> None:
        super().__init__(num_samples=len(items), **attrs)
        if not 0 < self.num_classes:
            raise ValueError(f"dataset {self.name!r}: num_classes must be positive")
        if 0 <= self.ignore_index < self.num_classes:
            raise ValueError(f"dataset {self.name!r}: ignore_index {self.ignore_index} lies inside "
                             f"[0, {self.num_classes})")
        self.items = items
        self.label_transform = label_transform
        self.unknown_label_pixels: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._warned = False

    def sample_name(self, index: int) -> str:
        return self.items[self._index(index)][0]

    def __getitem__(self, index: int) -> SegSample:
        name, image_path, label_path = self.items[self._index(index)]
        if not label_path.is_file():
            raise SampleError(f"label file {label_path} for image {image_path} is missing")
        image = read_image(image_path)
        gt = read_label(label_path)
        check_same_size(image, gt, image_path, label_path)
        if self.label_transform is not None:
            gt = self.label_transform(gt)
        return SegSample(image=image, gt=self._clean(gt, label_path), name=name)

    def _clean(self, gt: np.ndarray, label_path: Path) -> np.ndarray:
        bad = ((gt < 0) | (gt >= self.num_classes)) & (gt != self.ignore_index)
        if bad.any():
            values, counts = np.unique(gt[bad], return_counts=True)
            with self._lock:
                self.unknown_label_pixels.update(dict(zip(values.tolist(), counts.tolist())))
                first = not self._warned
                self._warned = True
            if first:
                warnings.warn(
                    f"{self.name}: {label_path} holds label(s) {values.tolist()[:10]} outside "
                    f"[0, {self.num_classes}); treated as ignore ({self.ignore_index}); see "
                    "dataset.unknown_label_pixels for the running count",
                    UserWarning,
                    stacklevel=3,
                )
            gt = np.where(bad, self.ignore_index, gt)
        return gt.astype(np.int64, copy=False)
