"""Readers of the paper's semantic-segmentation datasets in their standard on-disk layouts.

Every reader returns a :class:`car.data.base.SemanticDataset` whose ``gt`` follows the official
label space (``data/*.py``, ``evaluate.py``): 0 = background / unlabeled, class index i <-> label i + 1, ignore =
``dataset.ignore_index``. Ground truth stays at native resolution. VOC and Pascal Context list their
samples in a split file; ADE-150, PC-459 and ADE-847 are image + label folders read by
:func:`car.data.folders.read_folders` (as are COCO-Object and COCO-Stuff, :mod:`car.data.cocostuff`, and
Cityscapes, :mod:`car.data.cityscapes`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from car.data import classes as C
from car.data.base import SemanticDataset, find_root, require_dir, require_file
from car.data.folders import FolderLayout, read_folders

LARGE_IGNORE = 65535  # ignore label of PC-459 / ADE-847, whose label ids pass 255


def _read_split_file(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ------------------------------------------------------------------------------------- Pascal VOC
VOC_LAYOUT = ("VOCdevkit/VOC2012/{JPEGImages/<id>.jpg, SegmentationClass/<id>.png, "
              "ImageSets/Segmentation/<split>.txt}")
VOC_SOURCE = "the PASCAL VOC 2012 site (host.robots.ox.ac.uk/pascal/VOC/voc2012, VOCtrainval_11-May-2012.tar)"


def load_voc(root: str | Path, split: str | None = None, *, ignore_background: bool = False,
             name: str = "voc") -> SemanticDataset:
    """Pascal VOC 2012 segmentation (torchvision ``VOCSegmentation`` layout), 21 labels.

    GT: 0 background, 1-20 classes (``VOC_CLASSES``), 255 border. ``voc20`` is the same data with
    ``ignore_background=True`` (paper Table J / VOC-20).
    """
    split = split or "val"
    base = find_root(root, ["", "VOCdevkit/VOC2012", "VOC2012"], "ImageSets/Segmentation")
    split_file = require_file(base / "ImageSets" / "Segmentation" / f"{split}.txt",
                              f"VOC split file '{split}'", VOC_LAYOUT, VOC_SOURCE)
    images = require_dir(base / "JPEGImages", "VOC JPEGImages", VOC_LAYOUT, VOC_SOURCE)
    labels = require_dir(base / "SegmentationClass", "VOC SegmentationClass", VOC_LAYOUT, VOC_SOURCE)
    items = [(i, images / f"{i}.jpg", labels / f"{i}.png") for i in _read_split_file(split_file)]
    return SemanticDataset(
        items=items, name=name, split=split, root=base, class_names=list(C.VOC_CLASSES), stuff=None,
        num_classes=21, has_background=True, ignore_index=255, ignore_background=ignore_background,
        label_names=["background", *C.VOC_CLASSES_PLAIN],
    )


# -------------------------------------------------------------------------------- Pascal Context
CONTEXT_LAYOUT = ("VOCdevkit/VOC2010/{JPEGImages/<id>.jpg, SegmentationClassContext/<id>.png, "
                  "ImageSets/SegmentationContext/<split>.txt}")
CONTEXT_SOURCE = ("VOC2010 trainval (host.robots.ox.ac.uk/pascal/VOC/voc2010) + trainval_merged.json "
                  "(cs.stanford.edu/~roozbeh/pascal-context), converted by mmsegmentation's "
                  "tools/dataset_converters/pascal_context.py")


def load_context(root: str | Path, split: str | None = None, *, ignore_background: bool = False,
                 name: str = "context") -> SemanticDataset:
    """Pascal Context 59/60 (mmseg preparation): 0 background ("other"), 1-59 classes.

    ``context`` is PC-60 (background counted, the official config); ``context59`` is the same data
    with ``ignore_background=True`` (PC-59). Two passes: things, then stuff (``stuff`` flags).
    """
    split = split or "val"
    base = find_root(root, ["", "VOCdevkit/VOC2010", "VOC2010"], "SegmentationClassContext")
    split_file = require_file(base / "ImageSets" / "SegmentationContext" / f"{split}.txt",
                              f"Pascal Context split file '{split}'", CONTEXT_LAYOUT, CONTEXT_SOURCE)
    images = require_dir(base / "JPEGImages", "VOC2010 JPEGImages", CONTEXT_LAYOUT, CONTEXT_SOURCE)
    labels = require_dir(base / "SegmentationClassContext", "SegmentationClassContext",
                         CONTEXT_LAYOUT, CONTEXT_SOURCE)
    items = [(i, images / f"{i}.jpg", labels / f"{i}.png") for i in _read_split_file(split_file)]
    return SemanticDataset(
        items=items, name=name, split=split, root=base, class_names=list(C.PASCAL_CONTEXT_CLASSES),
        stuff=C.stuff_flags(59, C.PASCAL_CONTEXT_STUFF_CLASS_ID), num_classes=60, has_background=True,
        ignore_index=255, ignore_background=ignore_background,
        label_names=["background", *C.PASCAL_CONTEXT_CLASSES],
    )


# -------------------------------------------------------------------------------------- ADE20K-150
ADE150 = FolderLayout(
    title="ADE-150", roots=("", "ADEChallengeData2016"), images="images/{split}", labels="annotations/{split}",
    label_suffix=".png", source="ADEChallengeData2016.zip (sceneparsing.csail.mit.edu)",
    note="0 = unlabeled, 1-150 classes")


def load_ade150(root: str | Path, split: str | None = None, *, ignore_background: bool = True,
                name: str = "ade150") -> SemanticDataset:
    """ADE20K SceneParsing (150 classes): 0 unlabeled, 1-150 classes; evaluated without label 0."""
    return read_folders(
        ADE150, root, split or "validation", name=name, class_names=list(C.ADE150_CLASSES),
        stuff=C.stuff_flags(150, C.ADE150_STUFF_CLASS_ID), num_classes=151, has_background=True,
        ignore_index=255, ignore_background=ignore_background, label_names=["unlabeled", *C.ADE150_CLASSES],
    )


# -------------------------------------------------------------------------------- Pascal Context 459
PC459 = FolderLayout(
    title="PC-459", roots=("", "pascal_ctx_d2"), images="images/{split}", labels="annotations_ctx459/{split}",
    label_suffix=".tif", note="uint16, 65535 = ignore",
    source=("the FC-CLIP / ODISE preparation of Pascal Context full (github.com/bytedance/fc-clip, "
            "datasets/README.md, prepare_pascal_ctx_full_sem_seg.py)"))


def _pc459_labels(raw: np.ndarray) -> np.ndarray:
    # official: tif + 1, so ignore 65535 becomes 65536 and falls outside the range; we keep 65535.
    return np.where(raw == LARGE_IGNORE, LARGE_IGNORE, raw + 1)


def load_pascal459(root: str | Path, split: str | None = None, *, ignore_background: bool = True,
                   name: str = "context459") -> SemanticDataset:
    """Pascal Context 459: GT = tif + 1 (1-459), label 0 unused, 65535 ignore (official ``data/pascal459.py``)."""
    names = C.load_class_names("pascal459")
    return read_folders(
        PC459, root, split or "validation", label_transform=_pc459_labels, name=name, class_names=names,
        stuff=C.stuff_flags(459, C.PASCAL459_STUFF_CLASS_ID), num_classes=460, has_background=True,
        ignore_index=LARGE_IGNORE, ignore_background=ignore_background, label_names=["unlabeled", *names],
    )


# -------------------------------------------------------------------------------------- ADE20K-847
ADE847 = FolderLayout(
    title="ADE-847", roots=("", "ADE20K_2021_17_01"), images="images_detectron2/{split}",
    labels="annotations_detectron2/{split}", label_suffix=".tif", note="uint16, 65535 = unlabeled",
    source=("ADE20K_2021_17_01 (groups.csail.mit.edu/vision/datasets/ADE20K) converted by "
            "prepare_ade20k_full_sem_seg.py (github.com/bytedance/fc-clip, datasets/README.md)"))


def _ade847_labels(raw: np.ndarray) -> np.ndarray:
    # official ade847.py: tif + 1, then values > 847 (the 65535 "unlabeled") -> 0
    gt = raw + 1
    gt[gt > 847] = 0
    return gt


def load_ade847(root: str | Path, split: str | None = None, *, ignore_background: bool = True,
                name: str = "ade847") -> SemanticDataset:
    """ADE20K-full (847 classes): GT = tif + 1 (1-847), 0 = unlabeled; 848 labels.

    The official config uses ``n_class`` 847, which drops label 847 ("adding machine") from the
    confusion matrix (an off-by-one: the ledger's "ADE-847 classes" row); we count all 848 labels.
    """
    names = C.load_class_names("ade847")
    return read_folders(
        ADE847, root, split or "validation", label_transform=_ade847_labels, name=name, class_names=names,
        stuff=C.stuff_flags(847, C.ADE847_STUFF_CLASS_ID), num_classes=848, has_background=True,
        ignore_index=LARGE_IGNORE, ignore_background=ignore_background, label_names=["unlabeled", *names],
    )
