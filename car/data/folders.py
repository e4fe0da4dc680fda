"""One reader for the benchmarks stored as an image folder beside a label folder, with an id map.

ADE-150, PC-459, ADE-847, COCO-Object, COCO-Stuff-164k and Cityscapes share one shape on disk:
``<images>/<split>/[<sub>/]<id><tag>.<ext>`` beside ``<labels>/<split>/[<sub>/]<id><label suffix>``, and a table
(or a formula) that turns the stored ids into the house's label ids (``car/data/__init__.py``). A
:class:`FolderLayout` says where the two folders are and how a label file is named; :func:`read_folders` pairs the
files, refuses a folder whose labels are all missing (a half-downloaded or unconverted dataset) with one line
naming what is missing and where to get it, and returns the :class:`car.data.base.SemanticDataset`.

Shape letters: ``H, W`` label map size.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from car.data.base import SemanticDataset, find_root, missing, require_dir

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class FolderLayout:
    """Where one benchmark keeps its images and label maps.

    Attributes:
        title: the benchmark's name in messages ("COCO-Stuff-164k").
        roots: sub-folders of the given root that may hold the dataset folder ("" = the root itself).
        images: the image folder under the dataset folder, ``{split}`` filled in ("images/{split}").
        labels: the label folder under the dataset folder ("annotations/{split}").
        label_suffix: appended to a sample's id to name its label file (".png", "_labelTrainIds.png").
        source: where the data is obtained (a URL and, where one is needed, the conversion script).
        image_tag: the end of an image stem that is not part of the id ("_leftImg8bit"); images without it are
            not samples.
        nested: the images sit in sub-folders (Cityscapes' cities) that the label folder mirrors.
        note: what the label values mean, appended to the layout text of error messages.
    """

    title: str
    roots: tuple[str, ...]
    images: str
    labels: str
    label_suffix: str
    source: str
    image_tag: str = ""
    nested: bool = False
    note: str = ""

    def layout(self, label_suffix: str | None = None) -> str:
        """The expected layout, one line: ``<root>/{<images>/<id>.jpg, <labels>/<id><suffix>}``."""
        top = next((r for r in self.roots if r), "<root>")
        sub = "<sub>/" if self.nested else ""
        text = (f"{top}/{{{self.images.format(split='<split>')}/{sub}<id>{self.image_tag}.jpg|png, "
                f"{self.labels.format(split='<split>')}/{sub}<id>{label_suffix or self.label_suffix}}}")
        return f"{text} ({self.note})" if self.note else text

    def base(self, root: str | Path, split: str) -> Path:
        """The dataset folder: the first of ``root / r`` (r in :attr:`roots`) holding the split's images."""
        return find_root(root, self.roots, self.images.format(split=split))

    def pairs(self, base: Path, split: str, label_suffix: str | None = None) -> list[tuple[str, Path, Path]]:
        """``(id, image path, label path)`` of every image of ``split``, sorted by path; label files may be missing.

        Raises:
            car.data.DatasetNotFoundError: the image or label folder is missing.
        """
        suffix = label_suffix or self.label_suffix
        images = require_dir(base / self.images.format(split=split), f"{self.title} images",
                             self.layout(suffix), self.source)
        labels = require_dir(base / self.labels.format(split=split), f"{self.title} labels",
                             self.layout(suffix), self.source)
        found = images.rglob("*") if self.nested else images.iterdir()
        out = []
        for p in sorted(found):
            if p.suffix.lower() not in IMAGE_SUFFIXES or not p.stem.endswith(self.image_tag):
                continue
            key = p.stem[: len(p.stem) - len(self.image_tag)]
            out.append((key, p, labels / p.parent.relative_to(images) / f"{key}{suffix}"))
        return out


def read_folders(
    layout: FolderLayout,
    root: str | Path,
    split: str,
    *,
    label_suffix: str | None = None,
    label_transform: Callable[[np.ndarray], np.ndarray] | None = None,
    **attrs: Any,
) -> SemanticDataset:
    """Open a benchmark stored in ``layout``: every image of ``split`` with its label map.

    Args:
        layout: where the images and labels are.
        root: the dataset folder or a parent of it (one of ``layout.roots``).
        split: the split folder name ("val", "validation", "val2017" via ``layout.images``).
        label_suffix: overrides ``layout.label_suffix`` (a dataset stored with another kind of label file).
        label_transform: stored ids -> the house's label ids, int64 (H, W) -> int64 (H, W) (an :class:`IdMap`).
        **attrs: the :class:`car.data.base.SemanticDataset` attributes (name, class_names, num_classes, ...).

    Raises:
        car.data.DatasetNotFoundError: the image or label folder is missing, or no image has its label file.
        ValueError: the split holds no image.
    """
    base = layout.base(root, split)
    suffix = label_suffix or layout.label_suffix
    items = layout.pairs(base, split, suffix)
    _check_labels(layout, items, suffix)
    return SemanticDataset(items=items, label_transform=label_transform, split=split, root=base, **attrs)


def first_label_suffix(layout: FolderLayout, root: str | Path, split: str, suffixes: tuple[str, ...]) -> str:
    """The first of ``suffixes`` whose label file exists for the split's first image: the kind of label files a
    dataset folder holds, e.g. converted ``_labelTrainIds.png`` before the raw download's ``.png``. When none does,
    the last one (the download's own kind, whose absence the reader then reports)."""
    base = layout.base(root, split)
    first = next(iter(layout.pairs(base, split, suffixes[0])), None)
    if first is not None:
        for suffix in suffixes:
            if first[2].with_name(f"{first[0]}{suffix}").is_file():
                return suffix
    return suffixes[-1]


def _check_labels(layout: FolderLayout, items: list[tuple[str, Path, Path]], suffix: str) -> None:
    """No label at all: the one-line "not found" error; some missing: one warning (those samples are skipped)."""
    absent = [label for _, _, label in items if not label.is_file()]
    if not items or not absent:
        return
    if len(absent) == len(items):
        raise missing(f"{layout.title} label files (*{suffix}, none of the {len(items)} images has one, e.g. "
                      f"{absent[0].name})", absent[0].parent, layout.layout(suffix), layout.source)
    warnings.warn(f"{layout.title}: {len(absent)} of {len(items)} label files are missing (e.g. {absent[0]}); "
                  f"those samples are skipped; the download looks incomplete, see {layout.source}",
                  UserWarning, stacklevel=3)


# ------------------------------------------------------------------------------------------- id maps
@dataclass(frozen=True, eq=False)
class IdMap:
    """A lookup table from stored label ids to the house's label ids.

    ``IdMap.from_pairs({7: 1, 8: 2}, default=255)(raw)`` sends 7 -> 1, 8 -> 2, every other id of the table's range
    to 255, and ids past the table (or listed with ``None``) to -1, which the dataset reports as unknown labels
    (``SemanticDataset.unknown_label_pixels``, one warning) and ignores.

    Attributes:
        table: int64 (V,), the new id of each stored id 0..V-1 (-1 = unknown).
    """

    table: np.ndarray

    @classmethod
    def from_pairs(cls, pairs: Mapping[int, int | None], *, default: int | None, size: int = 256) -> IdMap:
        """The map that sends each key of ``pairs`` to its value and every other id below ``size`` to ``default``
        (None = unknown)."""
        table = np.full(size, -1 if default is None else default, dtype=np.int64)
        for raw, new in pairs.items():
            table[raw] = -1 if new is None else new
        return cls(table)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """int (H, W) stored ids -> int64 (H, W) label ids."""
        raw = np.asarray(raw, dtype=np.int64)
        inside = (raw >= 0) & (raw < len(self.table))
        return np.where(inside, self.table[np.clip(raw, 0, len(self.table) - 1)], -1)
